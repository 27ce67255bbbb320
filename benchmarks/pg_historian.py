"""Write rate and aggregate latency of the PostgreSQL historian store.

    python benchmarks/pg_historian.py                    # 2M points, 10,000 tags
    python benchmarks/pg_historian.py --points 200000    # a quick run

Writes `--points` points of `--tags` tags (each tag sampled every 10 s, values a random walk)
in batches of `--batch` into a fresh schema of the PostgreSQL server at `--url`; in every
batch `--replay` of the points repeat points of the previous batch (a redelivery), so the
duplicate path runs too. Each write is a committed transaction. Then times a 1-minute
aggregate over the whole time range of 100 tags (median of 5 runs) and drops the schema.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.cli.eval import machine_lines
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.postgres import PostgresStore

S = 1_000_000
M = 60 * S
START_US = 1_750_000_000 * S - (1_750_000_000 * S) % M
PERIOD_US = 10 * S
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def batches(points: int, tags: int, size: int, replay: float, seed: int = 7):
    """Batches of `size` points: new points in time order, then a few of the previous batch."""
    rng = np.random.default_rng(seed)
    level = rng.normal(50, 10, tags)
    n_replay = round(size * replay)
    fresh = size - n_replay
    k = 0
    previous: TelemetryBatch | None = None
    written = 0
    while written < points:
        take = min(fresh, points - written)
        idx = np.arange(k, k + take, dtype=np.int64)
        k += take
        tag = (idx % tags).astype(np.int32)
        ts = START_US + (idx // tags) * PERIOD_US + tag.astype(np.int64) * 100
        level[tag] += rng.normal(0, 0.5, take)
        b = TelemetryBatch.of(tag, ts, np.round(level[tag], 3), received_us=int(ts[-1]))
        out = b
        room = min(n_replay, points - written - take)
        if previous is not None and room > 0:
            again = previous.take(rng.choice(len(previous), room, replace=False))
            out = TelemetryBatch.concat([b, again])
        previous = b
        written += len(out)
        yield out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--replay", type=float, default=0.01)
    parser.add_argument(
        "--url",
        default=os.environ.get("IFACTORY_TEST_PG_URL", DEFAULT_URL),
        help="PostgreSQL URL (libpq or SQLAlchemy form)",
    )
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = PostgresStore(args.url, schema=schema)
    try:
        inserted = duplicates = conflicts = written = 0
        started = time.perf_counter()
        for b in batches(args.points, args.tags, args.batch, args.replay):
            r = store.write(b)
            inserted += r.inserted
            duplicates += r.duplicates
            conflicts += r.conflicts
            written += len(b)
        elapsed = time.perf_counter() - started

        per_tag = -(-(written - duplicates) // args.tags)
        end = START_US + per_tag * PERIOD_US + M
        hundred = np.arange(100, dtype=np.int32)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            agg = store.aggregate(hundred, START_US, end, M)
            runs.append((time.perf_counter() - t0) * 1e3)
        print(f"pg_write: {written / elapsed:,.0f} points/s")
        print(f"pg_aggregate_1m_100tags: {statistics.median(runs):.1f} ms")
        print(f"points_written: {written:,}")
        print(f"points_inserted: {inserted:,}")
        print(f"duplicates: {duplicates:,}")
        print(f"conflicts: {conflicts:,}")
        print(f"write_seconds: {elapsed:.1f}")
        print(
            f"aggregate_buckets: {agg.count.shape[1]} x 100 tags, {int(agg.count.sum()):,} points"
        )
        print(f"aggregate_runs_ms: {', '.join(f'{t:.1f}' for t in runs)}")
        with psycopg.connect(store_url(args.url)) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            print(f"postgresql: {row[0] if row else 'unknown'}")
        for line in machine_lines():
            print(line)
    finally:
        store.close()
        with psycopg.connect(store_url(args.url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def store_url(url: str) -> str:
    """The libpq form of `url` (benchmarks accept the SQLAlchemy form tests use)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


if __name__ == "__main__":
    main()
