"""Query latency of the embedded historian.

    python benchmarks/query.py --store /tmp/ifactory-bench [--runs 11]

Builds (once; reused) STORE/query: 10M points of 100 tags (1 Hz for ~27.8 h), then times a
1-minute time-weighted aggregate over all of it (median and p95 of several runs), wider
buckets, raw range queries, and the same aggregate with 1M unflushed points in the head.
If STORE/ingest (from benchmarks/ingest.py) exists, also times a 1-minute aggregate of 100
of its tags, whose points are spread over many small blocks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ingest import describe, dir_bytes

from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore

S = 1_000_000
M = 60 * S
START_US = 1_700_000_000 * S - (1_700_000_000 * S) % M
N_TAGS = 100
PER_TAG = 100_000


def build(path: Path, head_points: int) -> None:
    marker = path / "query.json"
    if marker.exists() and json.loads(marker.read_text()).get("points") == N_TAGS * PER_TAG:
        return
    if path.exists():
        shutil.rmtree(path)
    print(f"building {N_TAGS * PER_TAG:,} points of {N_TAGS} tags in {path} ...", flush=True)
    rng = np.random.default_rng(3)
    store = EmbeddedStore(path, head_points=head_points)
    level = rng.normal(50, 10, N_TAGS)
    per_batch_s = 100  # 100 tags x 100 s = 10,000 points per batch, in time order
    for sec in range(0, PER_TAG, per_batch_s):
        secs = np.arange(sec, sec + per_batch_s, dtype=np.int64)
        tags = np.tile(np.arange(N_TAGS, dtype=np.int32), len(secs))
        ts = START_US + np.repeat(secs, N_TAGS) * S + tags.astype(np.int64) * 1000
        steps = rng.normal(0, 0.5, (len(secs), N_TAGS)).cumsum(axis=0)
        values = np.round((level + steps).ravel(), 3)
        level = level + steps[-1]
        store.write(TelemetryBatch.of(tags, ts, values, received_us=int(ts[-1])))
    store.close()
    marker.write_text(json.dumps({"points": N_TAGS * PER_TAG}))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, float, object]:
    """(first, median, p95) in ms, and the last result."""
    times = []
    result: object = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    arr = np.array(times)
    return times[0], float(np.median(arr)), float(np.percentile(arr, 95)), result


def report(name: str, fn: Callable[[], object], runs: int) -> object:
    first, median, p95, result = timed(fn, runs)
    print(f"{name}_median: {median:.1f} ms")
    print(f"{name}_p95: {p95:.1f} ms")
    print(f"{name}_first: {first:.1f} ms")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--head-points", type=int, default=4_000_000)
    args = ap.parse_args()

    path = args.store / "query"
    build(path, args.head_points)
    store = EmbeddedStore(path, head_points=args.head_points)
    tags = np.arange(N_TAGS)
    end = START_US + PER_TAG * S

    agg = report(
        "aggregate_1min_twa_10M_points_100_tags",
        lambda: store.aggregate(tags, START_US, end, M),
        args.runs,
    )
    buckets = agg.count.shape[1]  # type: ignore[attr-defined]
    points = int(agg.count.sum())  # type: ignore[attr-defined]
    print(f"aggregate_points_covered: {points:,} points")
    print(f"aggregate_buckets: {buckets:,} buckets x {N_TAGS} tags")
    report(
        "aggregate_1h_twa_10M_points_100_tags",
        lambda: store.aggregate(tags, START_US, end, 60 * M),
        args.runs,
    )
    report(
        "aggregate_1min_twa_1_tag_1h", lambda: store.aggregate([7], end - 60 * M, end, M), args.runs
    )
    report("raw_1_tag_1h", lambda: store.raw([7], end - 60 * M, end), args.runs)
    report("raw_100_tags_10min", lambda: store.raw(tags, end - 10 * M, end), args.runs)
    full = report("raw_1_tag_100k_points", lambda: store.raw([7], START_US, end), args.runs)
    print(f"raw_1_tag_points: {len(full):,} points")  # type: ignore[arg-type]
    report("latest_100_tags", lambda: store.latest(tags), args.runs)

    print(f"query_store_disk: {dir_bytes(path) / (N_TAGS * PER_TAG):.2f} bytes/point")
    store.close()

    # 1M more points (10,000 s of the 100 tags) left unflushed in the head, on a copy of the
    # store so that later runs start from the same 10M points.
    head_path = args.store / "query-head"
    if head_path.exists():
        shutil.rmtree(head_path)
    shutil.copytree(path, head_path, ignore=shutil.ignore_patterns("LOCK"))
    store = EmbeddedStore(head_path, head_points=args.head_points)
    rng = np.random.default_rng(4)
    secs = np.arange(PER_TAG, PER_TAG + 10_000, dtype=np.int64)
    head_tags = np.tile(np.arange(N_TAGS, dtype=np.int32), len(secs))
    ts = START_US + np.repeat(secs, N_TAGS) * S + head_tags.astype(np.int64) * 1000
    for lo in range(0, len(ts), 10_000):
        sl = slice(lo, lo + 10_000)
        store.write(
            TelemetryBatch.of(head_tags[sl], ts[sl], rng.normal(50, 5, len(ts[sl])), received_us=0)
        )
    end2 = START_US + (PER_TAG + 10_000) * S
    print(f"head_points: {store.stats()['head_points']:,} points")
    report(
        "aggregate_1min_twa_11M_points_1M_in_head",
        lambda: store.aggregate(tags, START_US, end2, M),
        args.runs,
    )
    store.close()
    shutil.rmtree(head_path)

    ingest = args.store / "ingest"
    if (ingest / "prefill.json").exists():
        big = EmbeddedStore(ingest, head_points=args.head_points)
        stats = big.stats()
        sel = np.arange(0, 10_000, 100)
        first = big.raw(sel[:1], 0, 2**62, limit=1).ts
        last = big.latest(sel).ts.max()
        start = int(first[0]) - int(first[0]) % M if len(first) else START_US
        agg2 = report(
            "aggregate_1min_twa_100_of_10k_tags",
            lambda: big.aggregate(sel, start, int(last) + 1, M),
            args.runs,
        )
        print(f"aggregate_100_of_10k_tags_points: {int(agg2.count.sum()):,} points")  # type: ignore[attr-defined]
        print(f"ingest_store_points: {stats['disk_points'] + stats['head_points']:,} points")
        print(f"ingest_store_blocks: {stats['blocks']:,} blocks")
        big.close()
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
