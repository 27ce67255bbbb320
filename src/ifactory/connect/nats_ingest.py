"""Ingest from NATS JetStream: durable pull consumers hand each message to the platform's sink.

Edge gateways publish batches to `<prefix>.<site>.live` and `<prefix>.<site>.backfill`
(`ifactory.edge.nats_forwarder`). One durable pull consumer per lane reads them; the live
consumer is always asked first, so a replay never delays the live view. A message is
acknowledged (and waits for the server's confirmation of the ack) only after the sink returned,
i.e. after the historian commit; if the platform dies before that, JetStream redelivers it and
the historian's idempotent writes on (tag, timestamp) make the redelivery harmless.

Connectors know nothing of the historian or the wire format: the sink (the ingest pipeline)
and the payload decoder are handed in by the composition side.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import TelemetryBatch

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)

LIVE = "live"
BACKFILL = "backfill"


@dataclass(frozen=True, slots=True)
class NatsNames:
    """Where the telemetry lives in JetStream (stream, subject prefix, durable consumer stem)."""

    stream: str = "IFACTORY_TELEMETRY"
    prefix: str = "telemetry"
    durable: str = "ifactory-ingest"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that cannot be decoded: kept whole with the reason (never dropped silently)."""

    subject: str
    payload: bytes
    reason: str
    received_us: int


class JetStreamIngest:
    """A background service (`start()`/`stop()`) draining the telemetry stream into `sink`."""

    def __init__(
        self,
        url: str,
        sink: Callable[[TelemetryBatch], object],
        decode: Callable[[bytes], TelemetryBatch],
        *,
        names: NatsNames | None = None,
        on_rejected: Callable[[Rejected], None] | None = None,
        live_batch: int = 64,
        backfill_batch: int = 4,
        ack_wait_s: float = 60.0,
        retry_s: float = 1.0,
    ) -> None:
        self.url = url
        self.sink = sink
        self.decode = decode
        self.names = names or NatsNames()
        self.on_rejected = on_rejected
        self.live_batch = live_batch
        self.backfill_batch = backfill_batch
        self.ack_wait_s = ack_wait_s
        self.retry_s = retry_s
        self.stored_messages = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start consuming in a thread of its own (with its own event loop)."""
        self._stopping.clear()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="nats-ingest", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the message in hand is stored and acknowledged."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # --- the consumer loop ---------------------------------------------------------------

    async def _main(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._session()
                failures = 0
            except (TimeoutError, NatsError, OSError, NotFoundError) as exc:
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "NATS ingest: %s: %s; retrying (JetStream keeps the messages)",
                    type(exc).__name__,
                    exc,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                await asyncio.sleep(min(10.0, self.retry_s * failures))

    async def _session(self) -> None:
        nc = await nats.connect(self.url, allow_reconnect=False, name=self.names.durable)
        try:
            js = nc.jetstream()
            live = await self._subscribe(js, LIVE)
            backfill = await self._subscribe(js, BACKFILL)
            log.info("NATS ingest: consuming %s from %s", self.names.stream, self.url)
            while not self._stopping.is_set():
                if not nc.is_connected:
                    raise NatsError("connection lost")
                # Live first: the backfill consumer is asked only when no live message waits.
                if await self._drain(live, self.live_batch, 0.2):
                    continue
                await self._drain(backfill, self.backfill_batch, 0.2)
        finally:
            await nc.close()

    async def _subscribe(self, js: JetStreamContext, lane: str) -> Any:
        n = self.names
        return await js.pull_subscribe(
            f"{n.prefix}.*.{lane}",
            durable=f"{n.durable}-{lane}",
            stream=n.stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_s,
                max_ack_pending=1024,
            ),
        )

    async def _drain(self, sub: Any, batch: int, timeout: float) -> bool:
        try:
            msgs: list[Msg] = await sub.fetch(batch, timeout=timeout)
        except TimeoutError:  # nats' own TimeoutError is one too: nothing waiting
            return False
        for msg in msgs:
            await self._handle(msg)
        return bool(msgs)

    async def _handle(self, msg: Msg) -> None:
        loop = asyncio.get_running_loop()
        try:
            batch = self.decode(msg.data)
        except InvalidInput as exc:
            rejected = Rejected(msg.subject, msg.data, exc.msg, time.time_ns() // 1000)
            if self.on_rejected is not None:
                # Durably kept as a dead letter first, then taken off the stream for good.
                await loop.run_in_executor(None, self.on_rejected, rejected)
            log.error("NATS ingest: undecodable message on %s: %s", msg.subject, exc.msg)
            await msg.term()
            return
        batch = TelemetryBatch(
            batch.tags,
            batch.ts,
            batch.values,
            batch.quality,
            batch.received_us,
            f"nats:{msg.subject}" + (f":{batch.source}" if batch.source else ""),
            batch.text,
        )
        try:
            # The durable write is CPU and disk work: a worker thread, never the event loop.
            await loop.run_in_executor(None, self.sink, batch)
        except Exception:
            log.exception("NATS ingest: the batch could not be stored; JetStream redelivers it")
            await msg.nak(delay=self.retry_s)
            return
        # Acknowledge only now (stored), and wait for the server to confirm the ack, so a
        # lost ack means a harmless redelivery rather than a silent gap.
        await msg.ack_sync()
        self.stored_messages += 1


def attach_nats(
    platform: Any,
    url: str,
    decode: Callable[[bytes], TelemetryBatch],
    *,
    names: NatsNames | None = None,
    on_rejected: Callable[[Rejected], None] | None = None,
) -> JetStreamIngest:
    """Add a JetStream ingest service for `url` to `platform.extras` (started with it)."""

    def ingest(batch: TelemetryBatch) -> object:
        return platform.pipeline.ingest(batch)

    service = JetStreamIngest(url, ingest, decode, names=names, on_rejected=on_rejected)
    platform.extras.append(service)
    return service


def install(platform: Platform) -> None:
    """Feature installer: consume the edge's JetStream stream when `nats_url` is set."""
    url = platform.settings.nats_url
    if not url:
        return
    from ifactory.connect.mqtt.connector import Undecodable
    from ifactory.connect.mqtt_install import dead_letter_writer
    from ifactory.historian import wire

    write = dead_letter_writer(platform, "nats")

    def rejected(r: Rejected) -> None:
        write([Undecodable(r.subject, r.payload, r.reason, r.received_us)])

    attach_nats(platform, url, wire.decode, on_rejected=rejected)
