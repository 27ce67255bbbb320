"""Throughput of the online detectors on one core, point by point (score, then learn).

    python benchmarks/detector_speed.py [--points 1000000]

Feeds a seeded random walk with spikes through a fresh detector: the batch path
(`score_learn_many`, what the pipeline calls per batch) and the single-point path
(`score_learn_one`). Other engineers' jobs may share the CPU; the load average is printed,
and each figure is also given in CPU time of this process (`*_cpu` lines), which other jobs on
the machine inflate much less than wall-clock time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics.detectors.cadose import ContextOseDetector
from ifactory.analytics.detectors.knncad import KnnCadDetector
from ifactory.analytics.detectors.multivariate import MahalanobisDetector
from ifactory.analytics.detectors.sequence import SequenceLikelihoodDetector
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
    # The sequence detector as `ifactory eval nab` runs it: the value range given, probation 750.
    seqlik = SequenceLikelihoodDetector(
        min_value=float(values.min()),
        max_value=float(values.max()),
        learning_period=375,
        estimation_samples=375,
    )
    for detector in (seqlik, RankDetector(), LikelihoodDetector(), ZScoreDetector()):
        start, cpu = time.perf_counter(), time.process_time()
        detector.score_learn_many(values)
        batch = args.points / (time.perf_counter() - start)
        batch_cpu = args.points / (time.process_time() - cpu)
        fresh = detector.clone()
        one = fresh.score_learn_one
        n = min(args.points, 200_000)
        start, cpu = time.perf_counter(), time.process_time()
        for v in values[:n].tolist():
            one(v)
        single = n / (time.perf_counter() - start)
        single_cpu = n / (time.process_time() - cpu)
        print(f"{detector.name}_score_learn_many: {batch:.0f} points/s")
        print(f"{detector.name}_score_learn_many_cpu: {batch_cpu:.0f} points/s")
        print(f"{detector.name}_score_learn_one: {single:.0f} points/s")
        print(f"{detector.name}_score_learn_one_cpu: {single_cpu:.0f} points/s")
    knn = KnnCadDetector()
    n = min(args.points, 50_000)
    start, cpu = time.perf_counter(), time.process_time()
    knn.score_learn_many(values[:n])
    print(f"knncad_score_learn_many: {n / (time.perf_counter() - start):.0f} points/s")
    print(f"knncad_score_learn_many_cpu: {n / (time.process_time() - cpu):.0f} points/s")
    # CAD OSE with its NAB settings (value range of the data, rest period 750 / 5).
    n = min(args.points, 50_000)
    cad = ContextOseDetector(
        min_value=float(values[:n].min()), max_value=float(values[:n].max()), rest_period=150
    )
    start, cpu = time.perf_counter(), time.process_time()
    cad.score_learn_many(values[:n])
    print(f"cadose_score_learn_many: {n / (time.perf_counter() - start):.0f} points/s")
    print(f"cadose_score_learn_many_cpu: {n / (time.process_time() - cpu):.0f} points/s")
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
