"""How fast the simulated plant produces telemetry: simulated days of the example plant.

    PYTHONPATH=src python benchmarks/sim_speed.py [--days 1] [--step 1] [--chunk-s 3600]

Prints the machine it ran on, then `sim: N points/s` and the wall time per simulated day.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from ifactory.core.clock import US, from_datetime
from ifactory.plant.loader import load_plant
from ifactory.sim import PlantSimulator


def cpu_model() -> str:
    """The CPU model name, as the OS reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--step", type=float, default=1.0, help="sample step, seconds")
    parser.add_argument("--chunk-s", type=float, default=3600.0, help="sim seconds per advance()")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ids", action="store_true", help="int32 tag ids instead of keys")
    args = parser.parse_args()

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    )
    print(f"python: {sys.version.split()[0]}, numpy {np.__version__}")
    plant = load_plant()
    tags = [t.key for m in plant.machines() for t in m.tags]
    start = from_datetime(datetime(2026, 3, 2, 5, 0, tzinfo=UTC))  # a Monday, 06:00 site time
    ids = {k: i for i, k in enumerate(tags)} if args.ids else None
    t0 = time.perf_counter()
    sim = PlantSimulator(plant, seed=args.seed, start_us=start, step_s=args.step, tag_ids=ids)
    end = start + round(args.days * 86_400 * US)
    points = 0
    t = start
    while t < end:
        t = min(t + round(args.chunk_s * US), end)
        points += len(sim.advance(t))
    elapsed = time.perf_counter() - t0
    modes = Counter(f.mode for f in sim.ground_truth.failures)
    print(
        f"plant: {len(plant.machines())} machines, {len(tags)} tags, step {args.step:g} s, "
        f"{args.days:g} day(s), chunks of {args.chunk_s:g} s, tags as {'ids' if ids else 'keys'}"
    )
    print(f"sim: {points / elapsed:,.0f} points/s")
    print(
        f"sim: {points:,} points in {elapsed:.2f} s ({elapsed / args.days:.2f} s per simulated day)"
    )
    by_mode = ", ".join(f"{mode} {n}" for mode, n in sorted(modes.items()))
    print(f"sim: {sum(modes.values())} failures ({by_mode or 'none'})")


if __name__ == "__main__":
    main()
