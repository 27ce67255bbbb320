"""Throughput of the online detectors on one core, point by point (score, then learn).

    python benchmarks/detector_speed.py [--points 1000000]

Feeds a seeded random walk with spikes through a fresh detector: the batch path
(`score_learn_many`, what the pipeline calls per batch) and the single-point path
(`score_learn_one`). Other engineers' jobs may share the CPU; the load average is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics.detectors.multivariate import MahalanobisDetector
from ifactory.analytics.detectors.univariate import LikelihoodDetector, RankDetector, ZScoreDetector
from ifactory.cli.eval import machine_lines


def main() -> None:
    """Print `name: number unit` lines, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=args.points))
    values[::997] += 25.0
    for detector in (RankDetector(), LikelihoodDetector(), ZScoreDetector()):
        start = time.perf_counter()
        detector.score_learn_many(values)
        batch = args.points / (time.perf_counter() - start)
        fresh = detector.clone()
        one = fresh.score_learn_one
        n = min(args.points, 200_000)
        start = time.perf_counter()
        for v in values[:n].tolist():
            one(v)
        single = n / (time.perf_counter() - start)
        print(f"{detector.name}_score_learn_many: {batch:.0f} points/s")
        print(f"{detector.name}_score_learn_one: {single:.0f} points/s")
    rows = rng.normal(size=(20_000, 8))
    mv = MahalanobisDetector()
    start = time.perf_counter()
    mv.score_learn_many(rows)
    print(
        f"mahalanobis_8_tags_score_learn_many: {len(rows) / (time.perf_counter() - start):.0f} samples/s"
    )
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
