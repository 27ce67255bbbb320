"""OPC UA subscription throughput: value changes/s received from one subscription.

The server (the simulated plant's SimOpcUaServer, asyncua) runs in its own process and
changes every variable of one machine-sized address space as fast as it can; the client is the
production OpcUaSubscriber (one subscription, values batched into TelemetryBatches).
Run: python benchmarks/opcua_subscribe.py [--tags 200] [--seconds 10]
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

from ifactory.connect.opcua import OpcUaEndpoint, OpcUaPoint, OpcUaSource, OpcUaSubscriber
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant, expand, parse
from ifactory.sim.opcua_server import node_id_of


def plant(tags: int) -> Plant:
    tag_lines = "\n".join(f"                - {{name: v{i}}}" for i in range(tags))
    return expand(
        parse(
            "enterprise:\n  id: acme\n  level: enterprise\n  children:\n"
            "    - id: site\n      level: site\n      children:\n"
            "        - id: area\n          level: area\n          children:\n"
            "            - id: m1\n              level: work_unit\n              tags:\n"
            + tag_lines
            + "\n"
        )
    )


def serve(port: int, tags: int, seconds: float, ready: object, written: object) -> None:
    from ifactory.sim.opcua_server import SimOpcUaServer

    async def main() -> None:
        the_plant = plant(tags)
        keys = [t.key for t in the_plant.tags()]
        server = SimOpcUaServer(the_plant, port=port)
        await server.start()
        ready.set()  # type: ignore[attr-defined]
        await asyncio.sleep(2.0)  # the client connects and subscribes
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            now = time.time_ns() // 1000
            batch = TelemetryBatch.of(
                keys, [now] * len(keys), [float(n)] * len(keys), received_us=now
            )
            n += await server.write_batch(batch)
            await asyncio.sleep(0)  # let the publish loop run
        written.value = n / (time.perf_counter() - t0)  # type: ignore[attr-defined]
        await asyncio.sleep(3.0)
        await server.stop()

    asyncio.run(main())


async def subscribe(port: int, tags: int, seconds: float) -> tuple[float, int]:
    received = 0

    def sink(batch: TelemetryBatch) -> None:
        nonlocal received
        received += len(batch)

    keys = [t.key for t in plant(tags).tags()]
    points = [
        OpcUaPoint(k, OpcUaSource(node_id=node_id_of(k), sampling_interval_ms=0, queue_size=100))
        for k in keys
    ]
    endpoint = OpcUaEndpoint(url=f"opc.tcp://127.0.0.1:{port}/ifactory/", publishing_interval_ms=50)
    sub = OpcUaSubscriber(endpoint, points, sink, flush_interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(sub.run(stop))
    await sub.connected.wait()
    await asyncio.sleep(1.5)
    start = received
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (received - start) / (time.perf_counter() - t0)
    stop.set()
    await task
    return rate, sub.values_received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = mp.Event()
    written = mp.Value("d", 0.0)
    server = mp.Process(target=serve, args=(port, args.tags, args.seconds + 1.0, ready, written))
    server.start()
    ready.wait(120)
    try:
        rate, _received = asyncio.run(subscribe(port, args.tags, args.seconds))
    finally:
        server.join(args.seconds + 30)
        if server.is_alive():
            server.terminate()
    print(
        f"opcua_subscription_changes: {rate:,.0f} value changes/s ({args.tags} items, one subscription)"
    )
    print(
        f"opcua_server_writes: {written.value:,.0f} value changes/s (what the asyncua server produced)"
    )
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
