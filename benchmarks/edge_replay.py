"""Edge replay after an outage: time to drain the backlog while live values stay current.

A real `ifactory serve` (subprocess) and an edge gateway (this process) with a synthetic source
of `--rate` points/s (100 float tags of the example plant at rate/100 Hz, wall-clock stamps).
The outage is reproduced by writing `--outage-s` seconds of that source's data into the spool
first (with their original timestamps), exactly what the spool holds after such an outage;
`--real-outage` instead runs the source against an unreachable platform for that long.
Then the platform becomes reachable; the script prints how long the backfill lane took to
drain the backlog and how far behind the live values were on the platform meanwhile.

    python benchmarks/edge_replay.py                 # 10 min at 10,000 points/s
    python benchmarks/edge_replay.py --outage-s 60   # a quick run
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.ingest import describe
from tests.edge.harness import free_port, seed_platform, start_platform

from ifactory.core.settings import Settings
from ifactory.edge.client import PlatformClient
from ifactory.edge.forwarder import BACKFILL, LIVE, Forwarder
from ifactory.edge.gateway import Gateway
from ifactory.edge.source import Sink, SourceFactory
from ifactory.edge.spool import Spool
from ifactory.historian.batch import TelemetryBatch
from ifactory.platform import Platform

US = 1_000_000
TICK_S = 0.1


class Synthetic:
    """`len(keys)` tags sampled at `hz`, one batch per tick, stamped on a wall-clock grid."""

    def __init__(self, keys: list[str], hz: float, sink: Sink, start_us: int | None = None) -> None:
        self.keys = np.array(keys, dtype=object)
        self.step_us = round(US / hz)
        self.sink = sink
        self.next_us = (
            start_us if start_us is not None else _grid(time.time_ns() // 1000, self.step_us)
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def batch_until(self, end_us: int) -> TelemetryBatch | None:
        ts = np.arange(self.next_us, end_us, self.step_us, dtype=np.int64)
        if not len(ts):
            return None
        self.next_us = int(ts[-1]) + self.step_us
        n = len(self.keys)
        return TelemetryBatch(
            np.tile(self.keys, len(ts)),
            np.repeat(ts, n),
            np.sin(np.repeat(ts, n) / 1e7) + np.tile(np.arange(n, dtype=float), len(ts)),
            np.zeros(n * len(ts), dtype=np.uint32),
            int(ts[-1]),
            "synthetic",
        )

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            b = self.batch_until(time.time_ns() // 1000)
            if b is not None:
                self.sink(b)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _grid(t: int, step: int) -> int:
    return t - t % step


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=10_000, help="points/s of the source")
    ap.add_argument("--outage-s", type=float, default=600)
    ap.add_argument("--backfill-rate", type=float, default=200_000, help="points/s")
    ap.add_argument("--real-outage", action="store_true", help="wait out the outage for real")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.dir or Path(tempfile.mkdtemp(prefix="edge-replay-"))
    data, spool_dir = work / "platform", work / "spool"
    token = seed_platform(data)
    p = Platform.open(Settings(environment="test", data_dir=data))
    keys = [t.key for t in p.registry.tags.values() if t.data_type == "float"][:100]
    p.stop()
    hz = args.rate / len(keys)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spool = Spool(spool_dir, max_bytes=8 << 30)
    now = time.time_ns() // 1000
    step = round(US / hz)
    src_start = _grid(now - int(args.outage_s * US), step)
    server = None
    if not args.real_outage:
        # The spool as the outage left it: every tick of the source, fsync'd one by one.
        filler = Synthetic(keys, hz, lambda b: None, start_us=src_start)
        t = src_start
        t0 = time.perf_counter()
        while t < now:
            t = min(t + int(TICK_S * US), now)
            b = filler.batch_until(t)
            if b is not None:
                spool.append(b, cursor=("synthetic", int(b.ts.max())))
        src_start = filler.next_us
        print(f"# spooled the backlog in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    else:
        src_start = None  # type: ignore[assignment]
    backlog_points = spool.stats().points
    forwarder = Forwarder(
        spool, lambda: PlatformClient(url, token), backfill_rate=args.backfill_rate, backoff_max_s=1
    )
    factory = SourceFactory("synthetic", lambda sink, _cursor: Synthetic(keys, hz, sink, src_start))
    if args.real_outage:
        gateway = Gateway(spool, forwarder, [factory])
        gateway.start()  # the platform is not running: everything piles up in the spool
        time.sleep(args.outage_s)
        backlog_points = spool.stats().points
        server = start_platform(data, port, work / "platform.log")
    else:
        server = start_platform(data, port, work / "platform.log")
        gateway = Gateway(spool, forwarder, [factory])
        gateway.start()
    boundary = forwarder.live_next if not args.real_outage else spool.next_seq
    t_up = time.perf_counter()
    live_key = keys[0]
    lags: list[float] = []
    http = httpx.Client(base_url=url, timeout=10)
    node = live_key.rsplit("/", 1)[0]
    drained_at = None
    first_live: float | None = None
    try:
        while time.perf_counter() - t_up < 1800:
            r = http.get("/api/values/latest", params={"node": node})
            latest = {v["key"]: v for v in r.json()["values"]}[live_key]
            live_sent = forwarder.stats().sent_points[LIVE] > 0
            if live_sent and first_live is None:
                first_live = time.perf_counter() - t_up
            if live_sent and latest["ts_us"] is not None:
                lags.append((time.time_ns() // 1000 - latest["ts_us"]) / US)
            if not spool.pending(below=boundary):
                drained_at = time.perf_counter() - t_up
                break
            time.sleep(0.25)
    finally:
        gateway.stop()
        server.stop()
        http.close()
    stats = forwarder.stats()
    print(f"outage: {args.outage_s:g} s")
    print(f"source_rate: {args.rate:g} points/s")
    print(f"backlog: {backlog_points} points")
    print(f"backfill_rate_limit: {args.backfill_rate:g} points/s")
    if drained_at is None:
        print("drain_time: not drained within 1800 s")
    else:
        print(f"drain_time: {drained_at:.1f} s")
        print(f"drain_throughput: {backlog_points / drained_at:.0f} points/s")
    if first_live is not None:
        print(f"first_live_batch_stored_after: {first_live:.1f} s")
    if lags:
        print(f"live_lag_median_during_drain: {statistics.median(lags):.2f} s")
        print(f"live_lag_max_during_drain: {max(lags):.2f} s")
    print(f"backfill_points_sent: {stats.sent_points[BACKFILL]} points")
    print(f"send_errors: {stats.errors} count")
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
