"""Throughput of the online detectors on one core, point by point (score, then learn).

    python benchmarks/detector_speed.py [--points 1000000]

Feeds a seeded random walk with spikes through a fresh detector: the batch path
(`score_learn_many`, what the pipeline calls per batch) and the single-point path
(`score_learn_one`). Other engineers' jobs may share the CPU; the load average is printed,
and each figure is also given in CPU time of this process (`*_cpu` lines), which other jobs on
the machine inflate much less than wall-clock time.

The convolutional autoencoder (`conv_ae`, needs PyTorch; skipped with a printed line without
it) runs as `ifactory eval skab --detector conv_ae` configures it: 8 features, windows of 60,
trained on the first 400 samples of a seeded synthetic multivariate stream, on one torch
thread. Its figures are the online cost per point after training: `score_one` and `learn_one`
point by point, `score_many` on a batch, and `score_learn_many` (the pipeline's batch path).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics.base import restore
from ifactory.analytics.detectors.cadose import ContextOseDetector
from ifactory.analytics.detectors.conv_ae import ConvAEDetector
from ifactory.analytics.detectors.knncad import KnnCadDetector
from ifactory.analytics.detectors.multivariate import MahalanobisDetector
from ifactory.analytics.detectors.sequence import SequenceLikelihoodDetector
from ifactory.analytics.detectors.univariate import LikelihoodDetector, RankDetector, ZScoreDetector
from ifactory.analytics.eval.skab import CONV_AE_SETTINGS, FEATURES, TRAIN_ROWS, make_detector
from ifactory.cli.eval import machine_lines

CONV_AE_POINTS = 5_000  # scored after training: each point is one forward pass of the network


def _rates(name: str, n: int, run: Callable[[], object]) -> list[str]:
    """`name` and `name_cpu` lines: n points over the wall-clock and the CPU time of `run`."""
    start, cpu = time.perf_counter(), time.process_time()
    run()
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return [f"{name}: {n / wall:.0f} points/s", f"{name}_cpu: {n / used:.0f} points/s"]


def _skab_like_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """n × 8 samples in SKAB's feature order: periodic sensors with noise, two drifting ones."""
    t = np.arange(n, dtype=float)
    rows = np.sin(t[:, None] / np.linspace(5.0, 40.0, len(FEATURES))) + rng.normal(
        scale=0.1, size=(n, len(FEATURES))
    )
    for i, name in enumerate(FEATURES):
        if name in (CONV_AE_SETTINGS.centered or ()):
            rows[:, i] = 60.0 + np.cumsum(rng.normal(scale=0.02, size=n))
    return rows


def conv_ae_lines(points: int) -> list[str]:
    """The Conv-AE's online cost per point after training (one torch thread), or a skip line."""
    try:
        import torch
    except ImportError:
        return ["conv_ae: skipped, PyTorch is not installed (pip install 'ifactory[ml]')"]
    torch.set_num_threads(1)  # the figures are per core, like the other detectors'
    n = min(points, CONV_AE_POINTS)
    # Generated at full length whatever --points says, so the network trained is always the same.
    rows = _skab_like_rows(TRAIN_ROWS + CONV_AE_POINTS, np.random.default_rng(0))
    train, stream = rows[:TRAIN_ROWS], list(rows[TRAIN_ROWS : TRAIN_ROWS + n])
    detector = make_detector(CONV_AE_SETTINGS, n, TRAIN_ROWS)
    assert isinstance(detector, ConvAEDetector)
    start = time.perf_counter()
    detector.learn_many(train)
    lines = [
        f"conv_ae_torch_threads: {torch.get_num_threads()} threads",
        f"conv_ae_train_{TRAIN_ROWS}_samples: {time.perf_counter() - start:.1f} s",
        f"conv_ae_train_epochs: {detector.epochs_run} epochs",
    ]
    batch = restore(detector.checkpoint())  # the trained detector, for the batch path
    score, learn = detector.score_one, detector.learn_one
    lines += _rates("conv_ae_score_one", n, lambda: [score(x) for x in stream])
    lines += _rates("conv_ae_learn_one", n, lambda: [learn(x) for x in stream])
    lines += _rates("conv_ae_score_many", n, lambda: detector.score_many(stream))
    lines += _rates("conv_ae_score_learn_many", n, lambda: batch.score_learn_many(stream))
    return lines


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
    for line in conv_ae_lines(args.points):
        print(line)
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
