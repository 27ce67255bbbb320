"""Forwarding through NATS JetStream: each spooled batch is published to `<prefix>.<site>.<lane>`.

The edge drops a batch from its spool once JetStream acknowledged the publish: from then on
the stream (file storage) holds it, and the platform's durable pull consumer
(`ifactory.connect.nats_ingest`) acknowledges each message only after the historian commit.
JetStream's publish acknowledgement is only as durable as the server makes it: a lossless
deployment needs `jetstream { sync_interval: always }` (nats-server >= 2.10) and replicas 3
(docs/edge.md, "NATS JetStream"); no client-side option can ask for an fsync per message.

`JetStreamClient` has the interface of `PlatformClient` (`send(batch, lane=...)` → `Receipt`,
`close()`), so the forwarder's two lanes use it unchanged; each lane gets its own connection
and its own event loop thread (nats-py is asyncio, the forwarder is threads).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsConnection
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from ifactory.edge.client import Receipt, SendError, TooLarge
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

DEFAULT_STREAM = "IFACTORY_TELEMETRY"
DEFAULT_PREFIX = "telemetry"
LANES = ("live", "backfill")
# JetStream drops a second publish with the same id inside this window: a publish whose ack
# was lost and that the forwarder sends again is stored once.
DUPLICATE_WINDOW_S = 120.0
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")

T = TypeVar("T")


def subject(prefix: str, site: str, lane: str) -> str:
    """The subject a batch of `site` in `lane` is published to."""
    return f"{prefix}.{site}.{lane}"


def check_token(value: str, what: str) -> str:
    """`value` if it is one NATS subject token (letters, digits, `_`, `-`), else ValueError."""
    if not _TOKEN.match(value):
        raise ValueError(f"the {what} must be letters, digits, '_' or '-', not {value!r}")
    return value


def stream_config(stream: str, prefix: str, *, replicas: int = 1) -> StreamConfig:
    """The telemetry stream: file storage, both lanes of every site, de-duplication window."""
    return StreamConfig(
        name=stream,
        subjects=[f"{prefix}.*.{lane}" for lane in LANES],
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream if it is missing (an existing one is left as the operator set it)."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created JetStream stream %s (%s)", config.name, config.subjects)


class JetStreamClient:
    """Publishes batches to JetStream and returns once the stream acknowledged them."""

    def __init__(
        self,
        url: str,
        *,
        site: str,
        stream: str = DEFAULT_STREAM,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 10.0,
    ) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise ValueError(f"the NATS URL must be nats://host:port or tls://..., not {url!r}")
        self.url = url
        self.site = check_token(site, "site")
        self.stream = stream
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NatsConnection | None = None
        self._js: JetStreamContext | None = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="edge-nats", daemon=True)
            self._thread.start()
            self._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s * 3)

    async def _connect(self) -> JetStreamContext:
        if self._js is None or self._nc is None or not self._nc.is_connected:
            if self._nc is not None:
                await self._nc.close()
            # No reconnect inside nats-py: a failure surfaces as SendError, and the
            # forwarder's backoff (with the spool keeping the data) does the retrying.
            self._nc = await nats.connect(
                self.url,
                connect_timeout=self.timeout_s,
                allow_reconnect=False,
                name=f"ifactory-edge-{self.site}",
            )
            self._js = self._nc.jetstream(timeout=self.timeout_s)
            await ensure_stream(self._js, stream_config(self.stream, self.prefix))
        return self._js

    async def _publish(self, body: bytes, lane: str) -> bool:
        js = await self._connect()
        assert self._nc is not None
        if len(body) > self._nc.max_payload:
            raise TooLarge(
                f"{len(body)} bytes exceed the server's max_payload {self._nc.max_payload}",
                retry=True,
            )
        msg_id = hashlib.sha256(body).hexdigest()[:32]
        ack = await js.publish(
            subject(self.prefix, self.site, lane),
            body,
            stream=self.stream,
            headers={"Nats-Msg-Id": msg_id},
        )
        return bool(ack.duplicate)

    def send(self, batch: TelemetryBatch, *, lane: str) -> Receipt:
        """Publish one batch; returns after JetStream's acknowledgement (the stream holds it)."""
        if lane not in LANES:
            raise ValueError(f"lane must be one of {LANES}, not {lane!r}")
        body = codec.encode(batch)
        try:
            duplicate = self._run(self._publish(body, lane))
        except SendError:
            raise
        except (NatsError, OSError, TimeoutError) as exc:
            # Unknown outcome: publishing again is safe (Nats-Msg-Id, idempotent historian).
            self.close()
            raise SendError(f"NATS: {type(exc).__name__}: {exc}", retry=True) from exc
        return Receipt(
            accepted=0 if duplicate else len(batch),
            duplicates=len(batch) if duplicate else 0,
            conflicts=0,
            rejected={},
        )

    def close(self) -> None:
        """Close the connection and stop the event loop thread (a new send starts them again)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            try:
                asyncio.run_coroutine_threadsafe(nc.close(), loop).result(self.timeout_s)
            except Exception:  # closing a broken connection: nothing left to save
                log.debug("closing the NATS connection failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(self.timeout_s)
            self._thread = None
        loop.close()
