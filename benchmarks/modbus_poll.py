"""Modbus TCP polling throughput: registers/s read from one pymodbus server with block reads.

The server (the simulated plant's SimModbusServer) runs in its own process, as a device would;
the client is the production ModbusCoordinator (block planning, decoding, one batch per poll).
Run: python benchmarks/modbus_poll.py [--tags 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest import describe

from ifactory.connect.modbus import ModbusCoordinator, ModbusDevice, ModbusPoint, ModbusSource


def sources(tags: int) -> dict[str, ModbusSource]:
    """`tags` float32 values packed from address 0 of unit 1 (2 registers each)."""
    return {f"t{i}": ModbusSource(address=2 * i, type="float32") for i in range(tags)}


def serve(port: int, tags: int, ready: object) -> None:
    from ifactory.sim.modbus_server import SimModbusServer

    async def main() -> None:
        server = SimModbusServer(sources(tags), port=port)
        await server.start()
        for i in range(tags):
            server.set_value(f"t{i}", i * 0.5)
        ready.set()  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    asyncio.run(main())


async def poll(port: int, tags: int, seconds: float, max_regs: int) -> tuple[float, float, int]:
    points = [ModbusPoint(k, s) for k, s in sources(tags).items()]
    device = ModbusDevice(host="127.0.0.1", port=port, max_registers_per_read=max_regs)
    coordinator = ModbusCoordinator(device, points, lambda b: None)
    await coordinator.poll_once()  # connect and warm up
    coordinator.registers_read = 0
    polls = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        batch = await coordinator.poll_once()
        polls += 1
    elapsed = time.perf_counter() - t0
    assert batch.values[-1] == (tags - 1) * 0.5
    coordinator.client.close()
    return coordinator.registers_read / elapsed, polls * tags / elapsed, len(coordinator.blocks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=1000, help="float32 tags (2 registers each)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = mp.Event()
    server = mp.Process(target=serve, args=(port, args.tags, ready), daemon=True)
    server.start()
    ready.wait(60)
    try:
        regs, points, blocks = asyncio.run(poll(port, args.tags, args.seconds, 125))
        print(f"modbus_block_reads: {regs:,.0f} registers/s ({blocks} reads of <=125 per poll)")
        print(f"modbus_block_points: {points:,.0f} points/s decoded")
        regs1, _, blocks1 = asyncio.run(poll(port, args.tags, min(args.seconds, 5.0), 2))
        print(f"modbus_one_value_per_read: {regs1:,.0f} registers/s ({blocks1} reads per poll)")
    finally:
        server.terminate()
        server.join(5)
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
