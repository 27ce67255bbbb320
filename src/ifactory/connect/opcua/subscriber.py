"""OpcUaSubscriber: keeps one endpoint subscribed, reconnects after a loss, emits batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from asyncua import ua

from ifactory.connect.base import Sink, deliver_async
from ifactory.connect.opcua.client import OpcUaClient, status_name
from ifactory.connect.opcua.config import OpcUaEndpoint, OpcUaPoint
from ifactory.connect.opcua.errors import (
    OpcUaAuthFailed,
    OpcUaConfigInvalid,
    OpcUaNotReady,
    OpcUaReadFailed,
)
from ifactory.core.clock import Clock, SystemClock, from_datetime
from ifactory.historian.batch import BAD_NO_COMMUNICATION, TelemetryBatch

log = logging.getLogger(__name__)


def quality_of(status: ua.StatusCode | None) -> int:
    """The point's quality: the OPC UA status code itself (OPC 10000-4, 7.39), Good when absent."""
    return 0 if status is None else int(status.value) & 0xFFFFFFFF


def timestamp_of(value: ua.DataValue, received_us: int) -> int:
    """Source timestamp, else server timestamp, else the time it was received (µs UTC)."""
    for dt in (value.SourceTimestamp, value.ServerTimestamp):
        if isinstance(dt, datetime) and dt.year > 1601:  # 1601-01-01 is OPC UA's "null" time
            return from_datetime(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
    return received_us


class OpcUaSubscriber:
    """Subscribes every point of one endpoint and hands the values to `sink` in batches.

    On a lost connection (server restart, network) it marks every tag Bad_NoCommunication
    once, reconnects with exponential backoff and subscribes again; the server then sends
    the current value of every item, so the data resumes right after the outage.
    """

    def __init__(
        self,
        endpoint: OpcUaEndpoint,
        points: list[OpcUaPoint],
        sink: Sink,
        *,
        clock: Clock | None = None,
        flush_interval_s: float = 0.1,
        client_factory: Callable[[OpcUaEndpoint], OpcUaClient] = OpcUaClient,
    ) -> None:
        self.endpoint = endpoint
        self.points = points
        self.sink = sink
        self.clock = clock or SystemClock()
        self.flush_interval_s = flush_interval_s
        self.client_factory = client_factory
        self._keys = np.array([p.tag_key for p in points], dtype=object)
        self._pending: list[tuple[int, int, float, int, str | None]] = []
        self.connected = asyncio.Event()
        self.connects = 0
        self.values_received = 0
        self.last_error: Exception | None = None
        self._refused_logged: set[int] = set()

    @property
    def name(self) -> str:
        return self.endpoint.name or self.endpoint.url

    def _on_value(self, handle: int, value: ua.DataValue) -> None:
        now = self.clock.now_us()
        index = handle - 1
        if not 0 <= index < len(self.points):
            return
        raw: Any = value.Value.Value if value.Value is not None else None
        text: str | None = None
        if isinstance(raw, (bool, int | float)):
            number = float(raw)
        elif raw is None:
            number = float("nan")
        else:
            number, text = float("nan"), raw.Text if isinstance(raw, ua.LocalizedText) else str(raw)
        self._pending.append(
            (index, timestamp_of(value, now), number, quality_of(value.StatusCode), text)
        )
        self.values_received += 1

    def _take(self) -> TelemetryBatch | None:
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        index = np.fromiter((p[0] for p in pending), dtype=np.int64, count=len(pending))
        text = None
        if any(p[4] is not None for p in pending):
            text = np.array([p[4] for p in pending], dtype=object)
        return TelemetryBatch(
            self._keys[index],
            np.fromiter((p[1] for p in pending), dtype=np.int64, count=len(pending)),
            np.fromiter((p[2] for p in pending), dtype=np.float64, count=len(pending)),
            np.fromiter((p[3] for p in pending), dtype=np.uint32, count=len(pending)),
            self.clock.now_us(),
            f"opcua:{self.name}",
            text,
        )

    def _mark_lost(self) -> None:
        now = self.clock.now_us()
        for i in range(len(self.points)):
            self._pending.append((i, now, float("nan"), BAD_NO_COMMUNICATION, None))

    async def _flush(self) -> None:
        batch = self._take()
        while batch is not None:
            try:
                await deliver_async(self.sink, batch)
            except Exception:
                # Keep the points and retry: a value is never dropped because storage hiccuped.
                log.exception("opcua %s: storing %d values failed; retrying", self.name, len(batch))
                self._pending[:0] = _rows(batch, self._keys)
                await asyncio.sleep(1.0)
            batch = self._take()

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait(stop, self.flush_interval_s)
            await self._flush()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay subscribed until `stop` is set."""
        flusher = asyncio.create_task(self._flusher(stop))
        delay = self.endpoint.backoff_initial_s
        down_logged = False
        try:
            while not stop.is_set():
                client = self.client_factory(self.endpoint)
                lost = asyncio.Event()
                client.on_lost = lambda _exc, lost=lost: lost.set()
                try:
                    await client.connect()
                    refused = await client.subscribe(self.points, self._on_value)
                    now = self.clock.now_us()
                    for handle, code in refused:
                        # The tag gets the server's reason as its quality, so it shows as bad
                        # in the historian instead of silently having no data.
                        self._pending.append((handle - 1, now, float("nan"), code, None))
                        if handle not in self._refused_logged:
                            self._refused_logged.add(handle)
                            log.warning(
                                "opcua %s: %s not subscribed: %s",
                                self.name,
                                self.points[handle - 1].tag_key,
                                status_name(code),
                            )
                    self.connects += 1
                    self.last_error = None
                    if down_logged:
                        log.info("opcua %s: reconnected and subscribed again", self.name)
                    down_logged = False
                    delay = self.endpoint.backoff_initial_s
                    self.connected.set()
                    await _first(stop.wait(), lost.wait())
                    if lost.is_set() and not stop.is_set():
                        raise OpcUaNotReady(f"{self.endpoint.url}: connection lost")
                except (OpcUaAuthFailed, OpcUaConfigInvalid) as exc:
                    # A person has to fix this: say so clearly, then retry slowly.
                    self.last_error = exc
                    if not down_logged:
                        log.error("opcua %s: %s", self.name, exc.msg)
                        down_logged = True
                    delay = self.endpoint.backoff_max_s
                except (OpcUaNotReady, OpcUaReadFailed) as exc:
                    self.last_error = exc
                    if self.connected.is_set() or not down_logged:
                        log.warning("opcua %s: %s; reconnecting with backoff", self.name, exc.msg)
                        self._mark_lost()
                        down_logged = True
                finally:
                    self.connected.clear()
                    await client.disconnect()
                if not stop.is_set():
                    await _wait(stop, delay)
                    delay = min(delay * 2, self.endpoint.backoff_max_s)
        finally:
            await flusher
            await self._flush()


def _rows(
    batch: TelemetryBatch, keys: np.ndarray[Any, Any]
) -> list[tuple[int, int, float, int, str | None]]:
    index = {k: i for i, k in enumerate(keys.tolist())}
    text = batch.text if batch.text is not None else [None] * len(batch)
    return [
        (index[k], int(t), float(v), int(q), s)
        for k, t, v, q, s in zip(
            batch.tags.tolist(),
            batch.ts.tolist(),
            batch.values.tolist(),
            batch.quality.tolist(),
            list(text),
            strict=True,
        )
    ]


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
