"""The Modbus poller against a real pymodbus TCP server (the simulated plant's)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from ifactory.connect.modbus import (
    ModbusConnector,
    ModbusCoordinator,
    ModbusDevice,
    ModbusNotReady,
    ModbusPoint,
    ModbusSource,
    devices_from_plant,
)
from ifactory.connect.modbus.coordinator import BAD_CONFIGURATION_ERROR
from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import BAD_NO_COMMUNICATION, GOOD, TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.sim.modbus_server import SimModbusServer, generated_map


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def device(port: int, **kw: object) -> ModbusDevice:
    return ModbusDevice(host="127.0.0.1", port=port, timeout_s=1.0, **kw)


class CountingServer(SimModbusServer):
    """The sim server, counting read requests (to see block reads from the device's side)."""

    requests = 0

    def _device(self, unit_id, unit):  # type: ignore[no-untyped-def]
        dev = super()._device(unit_id, unit)
        inner = dev.action

        async def counting(fc, *args):  # type: ignore[no-untyped-def]
            if fc in (1, 2, 3, 4):
                self.requests += 1
            return await inner(fc, *args)  # type: ignore[misc]

        dev.action = counting
        return dev


def test_block_reads_decode_every_order_and_scale() -> None:
    sources = {
        f"f{i}": ModbusSource(
            address=2 * i, type="float32", word_order="little" if i % 2 else "big"
        )
        for i in range(150)
    }  # 300 registers: more than two reads' worth
    sources["temp"] = ModbusSource(address=400, type="int16", scale=0.1, offset=-40)
    sources["big"] = ModbusSource(address=401, type="float64", byte_order="little")
    sources["count"] = ModbusSource(table="input", address=0, type="uint32")
    sources["run"] = ModbusSource(table="coil", address=9)
    sources["door"] = ModbusSource(table="discrete", address=3)

    async def main() -> tuple[TelemetryBatch, int, int]:
        server = CountingServer(sources, port=free_port())
        await server.start()
        try:
            for i in range(150):
                server.set_value(f"f{i}", i * 1.5)
            server.set_value("temp", 21.7)
            server.set_value("big", 1e300)
            server.set_registers(1, sources["count"].table, 0, [0x0001, 0x86A0])  # 100000
            server.set_value("run", 1)
            server.set_value("door", 1)
            points = [ModbusPoint(k, s) for k, s in sources.items()]
            coordinator = ModbusCoordinator(device(server.port), points, lambda b: None)
            batch = await coordinator.poll_once()
            coordinator.client.close()
            return batch, server.requests, len(coordinator.blocks)
        finally:
            await server.stop()

    batch, requests, blocks = asyncio.run(main())
    got = dict(zip(batch.tags.tolist(), batch.values.tolist(), strict=True))
    assert all(got[f"f{i}"] == pytest.approx(i * 1.5) for i in range(150))
    assert got["temp"] == pytest.approx(21.7)
    assert got["big"] == 1e300
    assert got["count"] == 100000
    assert (got["run"], got["door"]) == (1.0, 1.0)
    assert (batch.quality == GOOD).all()
    assert len(set(batch.ts.tolist())) == 1  # one poll, one timestamp
    # 300 float registers + the block at 400 need 4 register reads, plus input, coil, discrete.
    assert requests == blocks == 7


def test_an_illegal_address_marks_only_its_tags_bad() -> None:
    good = ModbusSource(address=0, type="uint16")
    missing = ModbusSource(unit=1, address=50, type="uint16")

    async def main() -> TelemetryBatch:
        server = SimModbusServer({"ok": good}, port=free_port(), size=10)
        await server.start()
        try:
            server.set_value("ok", 42)
            points = [ModbusPoint("ok", good), ModbusPoint("gone", missing)]
            c = ModbusCoordinator(device(server.port), points, lambda b: None)
            batch = await c.poll_once()
            c.client.close()
            return batch
        finally:
            await server.stop()

    batch = asyncio.run(main())
    assert batch.values[0] == 42 and batch.quality[0] == GOOD
    assert np.isnan(batch.values[1]) and batch.quality[1] == BAD_CONFIGURATION_ERROR


def test_unreachable_device_is_not_ready() -> None:
    async def main() -> None:
        c = ModbusCoordinator(
            device(free_port()), [ModbusPoint("x", ModbusSource(address=0))], lambda b: None
        )
        await c.poll_once()

    with pytest.raises(ModbusNotReady, match="cannot connect"):
        asyncio.run(main())


def test_outage_is_marked_bad_once_then_polling_resumes() -> None:
    src = ModbusSource(address=0, type="uint16")
    port = free_port()
    batches: list[TelemetryBatch] = []

    async def main() -> None:
        server = SimModbusServer({"x": src}, port=port)
        await server.start()
        server.set_value("x", 1)
        dev = device(port, poll_interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.1)
        c = ModbusCoordinator(dev, [ModbusPoint("x", src)], batches.append)
        stop = asyncio.Event()
        task = asyncio.create_task(c.run(stop))
        while len(batches) < 3:
            await asyncio.sleep(0.02)
        await server.stop()
        while not any(b.quality[0] == BAD_NO_COMMUNICATION for b in batches):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)  # several failed attempts while the device is away
        server = SimModbusServer({"x": src}, port=port)
        await server.start()
        server.set_value("x", 2)
        while batches[-1].values[0] != 2:
            await asyncio.sleep(0.02)
        stop.set()
        await task
        await server.stop()

    asyncio.run(main())
    quality = [int(b.quality[0]) for b in batches]
    assert quality.count(BAD_NO_COMMUNICATION) == 1  # one marker per outage, not per attempt
    first_bad = quality.index(BAD_NO_COMMUNICATION)
    assert all(q == GOOD for q in quality[:first_bad] + quality[first_bad + 1 :])
    assert batches[-1].values[0] == 2


def test_writes_take_turns_with_polls() -> None:
    setpoint = ModbusSource(address=10, type="float32", word_order="little")
    pump = ModbusSource(table="coil", address=2)
    sensor = ModbusSource(table="input", address=0)

    async def main() -> list[float]:
        server = SimModbusServer({"sp": setpoint, "pump": pump, "in": sensor}, port=free_port())
        await server.start()
        try:
            points = [
                ModbusPoint("sp", setpoint),
                ModbusPoint("pump", pump),
                ModbusPoint("in", sensor),
            ]
            c = ModbusCoordinator(device(server.port), points, lambda b: None)
            # Interleave: every write lands between whole polls, never inside one.
            results = await asyncio.gather(
                c.poll_once(), c.write("sp", 37.5), c.write("pump", 1), c.poll_once()
            )
            with pytest.raises(InvalidInput, match="read-only"):
                await c.write("in", 1)
            c.client.close()
            last = results[-1]
            assert isinstance(last, TelemetryBatch)
            return [float(v) for v in last.values]
        finally:
            await server.stop()

    assert asyncio.run(main())[:2] == [37.5, 1.0]


def test_connector_polls_the_simulated_plant(example_plant: Plant) -> None:
    """End to end: the simulator's generated map served, read back by the plant-driven connector."""
    sources = generated_map(example_plant)
    port = free_port()
    received: list[TelemetryBatch] = []
    server = SimModbusServer(sources, port=port)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        key = next(k for k in sources if k.endswith("cnc1/spindle_speed"))
        server.set_value(key, 8123.5)
        devices = devices_from_plant(
            example_plant, overrides=sources, default=device(port, poll_interval_s=0.05)
        )
        conn = ModbusConnector(devices, received.append)
        conn.start()
        try:
            deadline = time.monotonic() + 20
            while not received and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            conn.stop()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    batch = received[0]
    values = dict(zip(batch.tags.tolist(), batch.values.tolist(), strict=True))
    assert values[key] == 8123.5
    assert len(batch) == len(sources) and (batch.quality == GOOD).all()
    assert len({s.unit for s in sources.values()}) == len(example_plant.machines())
