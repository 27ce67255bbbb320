"""ModbusCoordinator: polls one device in block reads and emits one TelemetryBatch per poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import numpy as np

from ifactory.connect.base import Sink, deliver_async
from ifactory.connect.modbus.client import ModbusClient
from ifactory.connect.modbus.errors import ModbusNotReady, ModbusReadFailed
from ifactory.connect.modbus.registers import (
    Block,
    ModbusDevice,
    ModbusPoint,
    RegisterType,
    Table,
    decode,
    encode,
    plan_blocks,
)
from ifactory.core.clock import Clock, SystemClock
from ifactory.core.errors import InvalidInput, NotFound
from ifactory.historian.batch import BAD_NO_COMMUNICATION, GOOD, TelemetryBatch

log = logging.getLogger(__name__)

# OPC 10000-4, 7.39 status codes for what a Modbus read can go wrong with.
BAD_CONFIGURATION_ERROR = 0x80890000  # illegal function / address / value: the map is wrong
BAD_DEVICE_FAILURE = 0x808B0000  # the device answered with a failure or busy exception
_CONFIGURATION_EXCEPTIONS = {1, 2, 3}


class ModbusCoordinator:
    """Owns one device: plans block reads, polls at the device's interval, serialises writes."""

    def __init__(
        self,
        device: ModbusDevice,
        points: list[ModbusPoint],
        sink: Sink,
        *,
        clock: Clock | None = None,
        client: ModbusClient | None = None,
    ) -> None:
        if not points:
            raise InvalidInput(f"modbus device {device.name or device.host} has no tags")
        self.device = device
        self.points = points
        self.sink = sink
        self.clock = clock or SystemClock()
        self.client = client or ModbusClient(device)
        self.blocks: list[Block] = plan_blocks(points, device)
        self._by_key = {p.tag_key: p for p in points}
        self._keys = np.array([p.tag_key for p in points], dtype=object)
        # One request at a time on the connection: polls and writes take turns.
        self._lock = asyncio.Lock()
        self._failing_blocks: set[int] = set()
        self._unreachable = False
        self.polls = 0
        self.registers_read = 0

    @property
    def name(self) -> str:
        return self.device.name or f"{self.device.host}:{self.device.port}"

    async def poll_once(self) -> TelemetryBatch:
        """Read every block once; a block that fails marks its tags bad. Raises ModbusNotReady."""
        n = len(self.points)
        values = np.full(n, np.nan)
        quality = np.full(n, BAD_NO_COMMUNICATION, dtype=np.uint32)
        async with self._lock:
            ts = self.clock.now_us()
            for b, block in enumerate(self.blocks):
                try:
                    regs = await self.client.read(
                        block.unit, block.table, block.address, block.count
                    )
                except ModbusReadFailed as exc:
                    code = (
                        BAD_CONFIGURATION_ERROR
                        if exc.exception_code in _CONFIGURATION_EXCEPTIONS
                        else BAD_DEVICE_FAILURE
                    )
                    quality[list(block.points)] = code
                    if b not in self._failing_blocks:
                        self._failing_blocks.add(b)
                        log.warning("%s (tags marked bad until it succeeds)", exc.msg)
                    continue
                if b in self._failing_blocks:
                    self._failing_blocks.discard(b)
                    log.info(
                        "modbus %s: block %s %d+%d reads again",
                        self.name,
                        block.table.value,
                        block.address,
                        block.count,
                    )
                self.registers_read += block.count
                for i in block.points:
                    src = self.points[i].source
                    at = src.address - block.address
                    if src.register_type == RegisterType.bool:
                        values[i] = float(regs[at])
                    else:
                        values[i] = decode(regs[at : at + src.width], src)
                    quality[i] = GOOD
        if self._unreachable:
            self._unreachable = False
            log.info("modbus %s: reachable again", self.name)
        self.polls += 1
        return TelemetryBatch(
            self._keys.copy(),
            np.full(n, ts, dtype=np.int64),
            values,
            quality,
            self.clock.now_us(),
            f"modbus:{self.name}",
        )

    def unreachable_batch(self) -> TelemetryBatch:
        """Every tag with Bad_NoCommunication at now: the historian shows the outage."""
        n = len(self.points)
        now = self.clock.now_us()
        return TelemetryBatch(
            self._keys.copy(),
            np.full(n, now, dtype=np.int64),
            np.full(n, np.nan),
            np.full(n, BAD_NO_COMMUNICATION, dtype=np.uint32),
            now,
            f"modbus:{self.name}",
        )

    async def write(self, tag_key: str, value: float) -> None:
        """Write a tag's value to its holding register(s) or coil, between two polls."""
        point = self._by_key.get(tag_key)
        if point is None:
            raise NotFound(f"modbus {self.name} has no tag '{tag_key}'", loc=["tag"])
        src = point.source
        if src.table not in (Table.holding, Table.coil):
            raise InvalidInput(
                f"'{tag_key}' is in the read-only {src.table.value} table", loc=["tag"]
            )
        async with self._lock:
            if src.table == Table.coil:
                await self.client.write_coil(src.unit, src.address, bool(value))
            else:
                try:
                    words = encode(value, src)
                except ValueError as exc:
                    raise InvalidInput(str(exc), loc=["value"]) from None
                await self.client.write_registers(src.unit, src.address, words)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; back off exponentially while the device is unreachable."""
        loop = asyncio.get_running_loop()
        interval = self.device.poll_interval_s
        delay = self.device.backoff_initial_s
        next_at = loop.time()
        while not stop.is_set():
            try:
                batch = await self.poll_once()
            except ModbusNotReady as exc:
                if not self._unreachable:
                    self._unreachable = True
                    log.warning(
                        "%s; retrying with backoff up to %gs", exc.msg, self.device.backoff_max_s
                    )
                    await self._deliver(self.unreachable_batch(), stop)
                else:
                    log.debug("%s", exc.msg)
                self.client.close()
                await _wait(stop, delay)
                delay = min(delay * 2, self.device.backoff_max_s)
                next_at = loop.time()
                continue
            delay = self.device.backoff_initial_s
            await self._deliver(batch, stop)
            next_at += interval
            now = loop.time()
            if next_at < now:  # a slow poll or sink: skip the missed slots, do not burst
                next_at = now
            await _wait(stop, next_at - now)
        self.client.close()

    async def _deliver(self, batch: TelemetryBatch, stop: asyncio.Event) -> None:
        """Hand the batch to the sink (off the event loop); retry until it is stored or stopped."""
        delay = self.device.backoff_initial_s
        while True:
            try:
                await deliver_async(self.sink, batch)
                return
            except Exception:
                log.exception("modbus %s: storing a poll failed; retrying", self.name)
                if stop.is_set():
                    return
                await _wait(stop, delay)
                delay = min(delay * 2, self.device.backoff_max_s)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
