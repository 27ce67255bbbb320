"""What online anomaly detection costs the ingest path, and what it finds on the simulated plant.

    python benchmarks/anomaly_online.py [--hours 24] [--seed 1] [--dir /tmp/ifactory-anomaly]

Simulates the example plant (1 Hz samples of every tag, one-minute batches) and feeds the same
batches twice through the real platform (IngestPipeline, EmbeddedStore, SQLite, the installed
consumers): once without and once with the anomaly detection consumer (default configuration:
likelihood per analog tag, Mahalanobis per machine, executing-only). Only the `ingest` calls are
timed, not the simulator. Then lists the alerts raised, per machine, next to the simulator's
ground truth: which machines had a degradation under way (a precursor of a failure).
Other engineers' jobs may share the CPU; the load average is printed with the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics import alert_service
from ifactory.cli.eval import machine_lines
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.plant.loader import load_plant
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator
from ifactory.stream import anomaly

US = 1_000_000
HOUR_US = 3600 * US


def run(
    hours: float,
    seed: int,
    data_dir: Path,
    *,
    detect: bool,
    config: anomaly.AnomalyConfig | None = None,
) -> tuple[int, float, Platform, anomaly.AnomalyDetection | None, PlantSimulator]:
    """Ingest `hours` of the simulated plant; returns points, ingest seconds and the parts."""
    shutil.rmtree(data_dir, ignore_errors=True)
    plant = load_plant()
    start = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC
    clock = ManualClock(start)
    settings = Settings(environment="test", data_dir=data_dir, state_stale_after_s=1e9)
    platform = Platform.open(settings, clock=clock, plant=plant)
    detection = anomaly.install(platform, config=config) if detect else None
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(plant, seed=seed, start_us=start, tag_ids=ids)
    t, end = start, start + int(hours * HOUR_US)
    points, spent = 0, 0.0
    while t < end:
        t = min(t + 60 * US, end)
        batch = sim.advance(t)
        clock.set(t)
        t0 = time.perf_counter()
        platform.pipeline.ingest(batch)
        spent += time.perf_counter() - t0
        points += len(batch)
        platform.tracker.tick(t)
    if detection is not None:
        detection.flush()
    return points, spent, platform, detection, sim


def main() -> None:
    """Print `name: number unit` lines, the alerts against the ground truth, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/ifactory-anomaly-bench"))
    parser.add_argument(
        "--on-delay-s",
        type=float,
        default=None,
        help="alert on-delay in seconds (default: the platform's AnomalyConfig default)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = None
    if args.on_delay_s is not None:
        base = anomaly.AnomalyConfig()
        policy = replace(base.policy, on_delay_us=int(args.on_delay_s * US))
        config = replace(base, policy=policy)

    points, base_s, platform, _, _ = run(args.hours, args.seed, args.dir / "off", detect=False)
    platform.stop()
    _, with_s, platform, detection, sim = run(
        args.hours, args.seed, args.dir / "on", detect=True, config=config
    )
    assert detection is not None
    print(f"simulated_hours: {args.hours:g} h")
    print(f"alert_on_delay: {detection.config.policy.on_delay_us / US:g} s")
    print(f"points: {points} points")
    print(f"ingest_without_detection: {points / base_s:.0f} points/s")
    print(f"ingest_with_detection: {points / with_s:.0f} points/s")
    print(f"detection_overhead: {100 * (with_s - base_s) / base_s:.0f} %")
    print(
        f"detection_cost_per_scored_point: {1e6 * (with_s - base_s) / max(detection.scored_points, 1):.2f} us"
    )
    print(f"scored_points: {detection.scored_points} points")
    start = time.perf_counter()
    saved = detection.save_checkpoints()
    print(f"checkpoint_save: {1000 * (time.perf_counter() - start):.0f} ms for {saved} detectors")

    truth = sim.ground_truth
    end_us = platform.clock.now_us()
    degrading = {
        d.machine
        for d in truth.degradations
        if d.onset_us < end_us
        and (d.end_us is None or d.end_us > end_us - int(args.hours * HOUR_US))
    }
    with platform.db.session() as session:
        alerts, total = alert_service.get_all(session, limit=10_000)
        per_machine = Counter(platform.registry.nodes[a.machine_id].key for a in alerts)
    machines = len(platform.registry.machines())
    on_degrading = sum(n for key, n in per_machine.items() if key in degrading)
    print(f"alerts: {total} alerts")
    print(f"alerts_per_machine_day: {total / machines / (args.hours / 24):.2f} alerts")
    print(f"alerts_on_degrading_machines: {on_degrading} alerts")
    print(f"degrading_machines: {len(degrading)} of {machines} machines")
    for node in platform.registry.machines():
        flag = "degrading" if node.key in degrading else "healthy"
        print(
            f"  {node.key.rsplit('/', 1)[-1]:<12} {flag:<10} {per_machine.get(node.key, 0)} alerts"
        )
    platform.stop()
    for line in machine_lines():
        print(line)
    print(f"load_average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
