"""Ingest throughput of the embedded historian through the real IngestPipeline.

    python benchmarks/ingest.py --store /tmp/ifactory-bench [--duration 120] [--points N] [--keys]

Builds (once; reused on later runs) a store of >= 100M points over >= 10,000 tags in
STORE/ingest, then feeds batches of 1,000-10,000 points (1 Hz samples of every tag, round
robin) through validation, the durable write and the machine-state tracker (1,000 machines of
10 tags, one of them the state tag), one batch durable before the next; 1% of the batches are
replays of a recent batch, which must all come back as duplicates.
Data time runs on a ManualClock that follows the data (the feed is ~100x faster than 1 Hz).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import contextlib

from ifactory.core import migrate
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.deadletter import DeadLetterStore
from ifactory.historian.embedded import EmbeddedStore
from ifactory.plant.models import PlantNode
from ifactory.plant.registry import NodeInfo, PlantRegistry, TagInfo
from ifactory.plant.spec import Level
from ifactory.stream.pipeline import IngestPipeline
from ifactory.stream.state import MachineStateTracker
from ifactory.stream.tagtable import TagRecord, TagTable


def describe() -> list[str]:
    """Lines `name: value` describing CPU, cores, memory and Python."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    return [
        f"cpu: {cpu}",
        f"cores: {os.cpu_count()}",
        f"ram: {mem}",
        f"python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"platform: {platform.platform()}",
    ]


def peak_rss_mib() -> float:
    """Peak resident set size of this process since start or the last `reset_peak_rss`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start a new peak-RSS measurement (Linux: clear_refs 5 resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def dir_bytes(path: Path) -> int:
    """Bytes of all files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


S = 1_000_000
START_US = 1_700_000_000 * S  # data time of the prefill's first sample (minute-aligned)
COUNTER_EVERY = 10  # every 10th tag is a counter
TAGS_PER_MACHINE = 10  # tag i belongs to machine i // 10; tag 10k+1 is its state tag
STATE_EVERY_S = 600  # each machine changes state every 10 minutes of data time
STATE_ENUM = {0: "idle", 1: "executing", 2: "setup", 3: "down", 4: "maintenance"}


def is_state_tag(i: np.ndarray | int) -> np.ndarray | bool:
    return np.asarray(i) % TAGS_PER_MACHINE == 1


class Feed:
    """1 Hz samples of every tag in round-robin order: random walks, every 10th tag a counter."""

    def __init__(self, n_tags: int, start_us: int, seed: int) -> None:
        self.n_tags = n_tags
        self.rng = np.random.default_rng(seed)
        self.level = self.rng.normal(50.0, 10.0, n_tags)
        self.counter = (np.arange(n_tags) % COUNTER_EVERY) == 0
        self.cell = 0  # index of the next (second, tag) cell
        self.start_us = start_us

    def next(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cells = self.cell + np.arange(k, dtype=np.int64)
        self.cell += k
        tags = (cells % self.n_tags).astype(np.int32)
        ts = self.start_us + (cells // self.n_tags) * S + (tags.astype(np.int64) * 37) % 1000
        step = self.rng.normal(0.0, 0.5, k)
        step = np.where(self.counter[tags], np.abs(step) * 4, step)
        np.add.at(self.level, tags, step)
        values = np.round(self.level[tags], 3)
        # State tags carry an enum code that changes every STATE_EVERY_S per machine.
        state = is_state_tag(tags)
        seconds = cells // self.n_tags
        codes = ((seconds // STATE_EVERY_S) + tags // TAGS_PER_MACHINE) % len(STATE_ENUM)
        values = np.where(state, codes, values)
        return tags, ts, values

    @property
    def time_us(self) -> int:
        return self.start_us + (self.cell // self.n_tags) * S


def tag_table(n_tags: int) -> TagTable:
    return TagTable(
        TagRecord(
            i,
            f"plant/site/area{i // 1000}/line{i // 100 % 10}/m{i // 10 % 10}/t{i}",
            "enum" if is_state_tag(i) else "float",
            enum=STATE_ENUM if is_state_tag(i) else None,
            counter_max=1e9 if i % COUNTER_EVERY == 0 else None,
        )
        for i in range(n_tags)
    )


def prefill(path: Path, n_points: int, n_tags: int, head_points: int) -> dict[str, int]:
    marker = path / "prefill.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info["points"] >= n_points and info["tags"] >= n_tags:
            return dict(info)
        shutil.rmtree(path)
    print(
        f"building the prefill store: {n_points:,} points over {n_tags:,} tags in {path} ...",
        flush=True,
    )
    started = time.perf_counter()
    table = tag_table(n_tags)
    store = EmbeddedStore(path, head_points=head_points, counter_max=table.counter_max_map())
    feed = Feed(n_tags, START_US, seed=1)
    written = 0
    while written < n_points:
        k = min(200_000, n_points - written)
        tags, ts, values = feed.next(k)
        store.write(TelemetryBatch.of(tags, ts, values, received_us=ts[-1]))
        written += k
    store.close()
    info = {"points": written, "tags": n_tags, "next_cell": feed.cell, "level_seed": 1}
    marker.write_text(json.dumps(info))
    print(
        f"prefill: {written / (time.perf_counter() - started):,.0f} points/s (store.write direct)",
        flush=True,
    )
    return info


def state_tracker(path: Path, n_tags: int) -> MachineStateTracker:
    """The real machine-state tracker over a synthetic plant of n_tags / 10 machines (SQLite)."""
    db_file = path / "plant.db"
    db_file.unlink(missing_ok=True)
    url = f"sqlite:///{db_file}"
    migrate.upgrade(url)
    db = Database(url)
    n_machines = n_tags // TAGS_PER_MACHINE
    nodes = [NodeInfo(1, "bench", None, Level.enterprise, "bench", None, None, "bench", None)]
    with db.session() as session:
        session.add(PlantNode(id=1, key="bench", level="enterprise", uns_path="bench"))
        for m in range(n_machines):
            key = f"bench/m{m}"
            session.add(PlantNode(id=m + 2, key=key, parent_id=1, level="work_unit", uns_path=key))
            nodes.append(NodeInfo(m + 2, key, 1, Level.work_unit, key, None, None, key, None))
    tags = [
        TagInfo(
            id=i,
            key=f"bench/m{i // TAGS_PER_MACHINE}/t{i}",
            node_id=i // TAGS_PER_MACHINE + 2,
            name=f"t{i}",
            data_type="enum" if is_state_tag(i) else "float",
            unit="",
            role="state" if is_state_tag(i) else "measurement",
            enum=STATE_ENUM if is_state_tag(i) else None,
            counter_max=None,
            limits=None,
            sample_interval_s=1.0,
        )
        for i in range(n_machines * TAGS_PER_MACHINE)
    ]
    return MachineStateTracker(PlantRegistry(nodes, tags, {}), db)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", required=True, type=Path, help="benchmark directory (reused)")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of live ingest")
    ap.add_argument("--points", type=int, default=0, help="stop after this many live points")
    ap.add_argument("--prefill", type=int, default=100_000_000, help="points stored beforehand")
    ap.add_argument("--tags", type=int, default=10_000)
    ap.add_argument("--head-points", type=int, default=4_000_000)
    ap.add_argument("--keys", action="store_true", help="send tag keys (UNS paths), not ids")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    path = args.store / "ingest"
    if args.build_only:
        prefill(path, args.prefill, args.tags, args.head_points)
        return
    if not (path / "prefill.json").exists():
        # A separate process, so the peak RSS below is the live phase's alone.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--store",
                str(args.store),
                "--build-only",
                "--prefill",
                str(args.prefill),
                "--tags",
                str(args.tags),
                "--head-points",
                str(args.head_points),
            ],
            check=True,
        )
    info = prefill(path, args.prefill, args.tags, args.head_points)
    table = tag_table(args.tags)
    key_of = np.array([table.records[i].key for i in range(args.tags)], dtype=object)

    reset_peak_rss()
    store = EmbeddedStore(path, head_points=args.head_points, counter_max=table.counter_max_map())
    stored_before = store.stats()["disk_points"] + store.stats()["head_points"]
    dead = DeadLetterStore(path / "dead_letters.db")
    feed = Feed(args.tags, START_US, seed=args.seed)
    # Continue after everything stored so far (earlier runs added to the prefill).
    newest = int(store.latest().ts.max())
    feed.cell = max(int(info["next_cell"]), ((newest - START_US) // S + 1) * args.tags)
    clock = ManualClock(feed.time_us)
    tracker = state_tracker(path, args.tags)
    pipeline = IngestPipeline(table, store, dead, clock, consumers=[tracker])
    rng = np.random.default_rng(args.seed)
    recent: list[TelemetryBatch] = []

    latencies: list[float] = []
    fed = replayed_points = batches = replays = 0
    duplicates = inserted = 0
    started = time.perf_counter()
    deadline = started + args.duration
    while True:
        now = time.perf_counter()
        if now >= deadline or (args.points and fed >= args.points):
            break
        if recent and rng.random() < 0.01:
            b = recent[int(rng.integers(len(recent)))]
            replays += 1
            replayed_points += len(b)
        else:
            k = int(rng.integers(1_000, 10_001))
            tags, ts, values = feed.next(k)
            b = TelemetryBatch.of(
                key_of[tags] if args.keys else tags,
                ts,
                values,
                received_us=int(ts[-1]),
                source="bench",
            )
            recent.append(b)
            if len(recent) > 50:
                recent.pop(0)
        clock.set(feed.time_us)
        t0 = time.perf_counter()
        result = pipeline.ingest(b)
        latencies.append(time.perf_counter() - t0)
        fed += len(b)
        batches += 1
        duplicates += result.duplicates
        inserted += result.inserted
    elapsed = time.perf_counter() - started
    rss = peak_rss_mib()
    stats = store.stats()
    flush_wait_started = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - flush_wait_started
    dead.close()
    counters = pipeline.counters()
    total_points = stored_before + inserted
    lat = np.array(latencies) * 1e3

    print(f"ingest: {fed / elapsed:,.0f} points/s")
    print(f"ingest_new_points: {inserted / elapsed:,.0f} points/s")
    print(f"batches: {batches / elapsed:,.1f} batches/s")
    print(f"batch_size_mean: {fed / max(batches, 1):,.0f} points")
    print(f"batch_latency_p50: {np.percentile(lat, 50):.2f} ms")
    print(f"batch_latency_p99: {np.percentile(lat, 99):.2f} ms")
    print(f"batch_latency_max: {lat.max():.2f} ms")
    print(f"duration: {elapsed:.1f} s")
    print(f"points_fed: {fed:,} points")
    print(f"replayed_batches: {replays} batches")
    print(f"duplicates_expected: {replayed_points:,} points")
    print(f"duplicates_detected: {duplicates:,} points")
    print(f"conflicts: {counters.conflicts} points")
    print(f"rejected: {sum(counters.rejected.values())} points")
    print(f"state_changes: {tracker.changes:,} changes")
    print(f"machines: {len(tracker.machines):,} machines")
    print(f"peak_rss: {rss:,.0f} MiB")
    print(f"flushes: {stats['flushes']} flushes")
    print(f"flush_mean: {stats['flush_ms_total'] / max(stats['flushes'], 1):,.0f} ms")
    print(f"writer_stall_total: {stats['stall_ms_total'] / 1000:.1f} s")
    print(f"close_flush: {close_s:.2f} s")
    print(f"stored_points: {total_points:,} points")
    print(f"disk: {dir_bytes(path) / max(total_points, 1):.2f} bytes/point")
    print(f"tags: {args.tags:,} tags")
    print(f"tag_form: {'keys' if args.keys else 'ids'}")
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
