"""Label-free proxies behind the SKAB Conv-AE settings (the proxy table of docs/eval-skab.md).

    python benchmarks/skab_tune_conv_ae.py --data DIR [--variant NAME ...] [--repeats 4]
        [--validation-repeats 2] [--seed 0]

Reads only data/anomaly-free/anomaly-free.csv and rows 0-399 of the labelled files (SKAB's
training parts), and of every file only the eight sensor columns: the `anomaly` and
`changepoint` columns are never read (asserted on each header). For each variant, networks
seeded 0 (`skab.SkabSettings.seed`):

- anomaly-free: the run cut into `skab.CHUNK_ROWS` chunks, each fitted on its first 400 rows
  and scored clean (FAR) and with `--repeats` x chunks synthetic faults
  (`skab_tune_synthetic.inject`; F1 / FAR / MAR);
- training parts: each labelled file's rows 0-399, fitted on rows 0-249 and scored on rows
  250-399 clean (FAR) and with `--validation-repeats` x files synthetic faults
  (`skab_tune_synthetic.inject_validation`; F1 / MAR).

The injection seeds are the ones of skab_tune_synthetic.py, so the synthetic figures are
comparable with its PCA lines. Each variant is shown at SKAB's factor 1.5 and at the factor
calibrated on the clean anomaly-free chunks (FAR <= 10 %, as `skab.calibrate`); the factor the
training-part calibration (`skab.calibrate_on_training_parts`, FAR <= 5 %) would choose is
printed too. The scores do not depend on the factor, and a network depends only on its
training rows (the faults come after them), so each chunk and part is fitted once and its
clean and faulty stretches are scored by restored copies; the first one is checked against
`skab.score_file`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from skab_tune_synthetic import VALIDATION_FIT, inject, inject_validation

from ifactory.analytics.base import restore
from ifactory.analytics.detectors.conv_ae import ConvAEDetector
from ifactory.analytics.eval import skab
from ifactory.cli.eval import machine_lines

LABEL_COLUMNS = frozenset({"anomaly", "changepoint"})
SKAB_FACTOR = 1.5  # SKAB's UCL rule: 1.5 x the 0.99 quantile of the training errors
ANOMALY_FREE_FAR_PCT = 10.0  # target of `skab.calibrate`
TRAINING_PART_FAR_PCT = 5.0  # target of `skab.calibrate_on_training_parts`

_RECIPE = skab.SkabSettings(detector="conv_ae", quantile=0.99, release=1.0)
# The rows of the proxy table, in its order.
VARIANTS: dict[str, skab.SkabSettings] = {
    "recipe": _RECIPE,  # SKAB's recipe: absolute error, persistence 1
    "recipe_persistence_59": replace(_RECIPE, persistence=59),  # SKAB's rule, causal
    "noise": replace(_RECIPE, noise=1.0),  # denoising, input noise SD 1.0
    "centred": replace(_RECIPE, centered=skab.THERMAL),
    "preset": skab.CONV_AE_SETTINGS,  # centred + squared error
    "squared": replace(_RECIPE, error="squared"),  # squared error, not centred
    "pca_t2q": skab.PCA_SETTINGS,  # for scale
}

Scored = list[tuple[np.ndarray, float]]


def read_sensors(path: Path, name: str, rows: int | None = None) -> skab.SkabFile:
    """The eight sensor columns of a SKAB CSV (the first `rows` rows), labels all zero.

    `skab.read_file` also reads the anomaly column; this reader takes only the sensor columns,
    so no label of a labelled file reaches the proxies.
    """
    with path.open(newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = next(reader)
        missing = [c for c in skab.FEATURES if c not in header]
        if missing:
            raise skab.SkabDataError(f"{path}: missing columns {missing}")
        cols = [header.index(c) for c in skab.FEATURES]
        # A raise, not an `assert`: `python -O` must not drop the guard.
        if LABEL_COLUMNS & {header[j] for j in cols}:
            raise AssertionError(f"{path}: a label column would be read")
        values = [
            [float(row[j]) if row[j] != "" else np.nan for j in cols]
            for row in itertools.islice(filter(None, reader), rows)
        ]
    if rows is not None and len(values) != rows:
        raise skab.SkabDataError(f"{path}: fewer than {rows} rows")
    return skab.SkabFile(name, np.asarray(values, dtype=float), np.zeros(len(values), dtype=int))


def read_inputs(data: Path) -> tuple[skab.SkabFile, list[skab.SkabFile]]:
    """anomaly-free.csv whole, and rows 0-399 of every labelled file (sensor columns only)."""
    root = data / "data"
    normal_path = root / "anomaly-free" / "anomaly-free.csv"
    if not normal_path.exists():
        raise SystemExit(f"{normal_path} not found")
    normal = read_sensors(normal_path, "anomaly-free/anomaly-free.csv")
    paths = sorted(p for p in root.glob("*/*.csv") if p.parent.name != "anomaly-free")
    if not paths:
        raise SystemExit(f"no labelled SKAB files under {root}")
    parts = [read_sensors(p, p.relative_to(root).as_posix(), skab.TRAIN_ROWS) for p in paths]
    return normal, parts


def score_after_one_fit(
    train: np.ndarray, tests: Sequence[np.ndarray], settings: skab.SkabSettings
) -> Scored:
    """(scores, training quantile) of each test stretch after one fit on `train`.

    As `skab.score_file` for each test, but a Conv-AE is fitted once and scored by restored
    copies (same network: training is deterministic for its rows and seed); the cheap
    detectors go through `skab.score_file` itself.
    """
    n = len(train)
    if settings.detector != "conv_ae":
        return [
            skab.score_file(
                skab.SkabFile("", np.vstack([train, t]), np.zeros(n + len(t), dtype=int)),
                settings,
                n,
            )
            for t in tests
        ]
    detector = skab.make_detector(settings, len(tests[0]), n)
    assert isinstance(detector, ConvAEDetector)
    detector.learn_many(train)
    # SKAB's rule, as `skab.score_file`: the quantile of the in-sample window errors.
    base = float(np.quantile(detector.training_errors, settings.quantile))
    blob = detector.checkpoint()
    return [(restore(blob).score_learn_many(t), base) for t in tests]


def fit_and_score(
    files: Sequence[skab.SkabFile],
    faulty: Sequence[Sequence[skab.SkabFile]],
    settings: skab.SkabSettings,
    train_rows: int,
) -> tuple[Scored, Scored, list[np.ndarray]]:
    """Scores of the clean test stretches, of the faulty ones, and the faults' labels.

    `faulty[r][i]` is file i with the r-th injected fault (after its first `train_rows` rows).
    The fit-once scores of the first clean file are checked against `skab.score_file`.
    """
    clean: Scored = []
    with_faults: Scored = []
    labels: list[np.ndarray] = []
    for i, f in enumerate(files):
        copies = [r[i] for r in faulty]
        scored = score_after_one_fit(
            f.values[:train_rows], [c.values[train_rows:] for c in [f, *copies]], settings
        )
        if i == 0:
            scores, base = skab.score_file(f, settings, train_rows)
            if base != scored[0][1] or not np.array_equal(scores, scored[0][0]):
                raise SystemExit(f"{f.name}: fit-once scores differ from skab.score_file")
        clean.append(scored[0])
        with_faults += scored[1:]
        labels += [c.anomaly[train_rows:] for c in copies]
    return clean, with_faults, labels


def metrics(
    scored: Scored, labels: Sequence[np.ndarray], settings: skab.SkabSettings
) -> skab.BinaryMetrics:
    """SKAB's binary metrics of the alarm of `settings` on the stored scores."""
    flags = [skab.alarm(scores, base, settings)[0] for scores, base in scored]
    return skab.binary_metrics(np.concatenate(labels), np.concatenate(flags))


def run_variant(
    name: str,
    settings: skab.SkabSettings,
    normal: skab.SkabFile,
    parts: list[skab.SkabFile],
    repeats: int,
    validation_repeats: int,
    seed: int,
) -> None:
    """Fit, score and print one variant's proxies at SKAB's factor and the calibrated one."""
    start = time.perf_counter()
    chunks = skab._chunks(normal)
    rng = np.random.default_rng(seed)  # the order of skab_tune_synthetic.py: repeat-major
    faulty = [[inject(c, rng) for c in chunks] for _ in range(repeats)]
    rng = np.random.default_rng(seed)
    faulty_parts = [[inject_validation(p, rng) for p in parts] for _ in range(validation_repeats)]
    clean, syn, syn_labels = fit_and_score(chunks, faulty, settings, skab.TRAIN_ROWS)
    part_clean, part_syn, part_labels = fit_and_score(parts, faulty_parts, settings, VALIDATION_FIT)
    zeros = [np.zeros(len(scores), dtype=int) for scores, _ in clean]
    part_zeros = [np.zeros(len(scores), dtype=int) for scores, _ in part_clean]
    calibrated = skab._most_sensitive(clean, settings, ANOMALY_FREE_FAR_PCT)
    for rule, s in (
        ("skab_rule", replace(settings, factor=SKAB_FACTOR)),
        ("calibrated", calibrated),
    ):
        on_normal = metrics(clean, zeros, s)
        on_faults = metrics(syn, syn_labels, s)
        on_parts = metrics(part_clean, part_zeros, s)
        on_part_faults = metrics(part_syn, part_labels, s)
        key = f"{name}.{rule}"
        print(f"{key}.factor: {s.factor:g} x")
        print(f"{key}.anomaly_free_far: {on_normal.far_pct:.1f} %")
        print(f"{key}.synthetic_f1: {on_faults.f1:.3f} ratio")
        print(f"{key}.synthetic_far: {on_faults.far_pct:.1f} %")
        print(f"{key}.synthetic_mar: {on_faults.mar_pct:.1f} %")
        print(f"{key}.training_part_far: {on_parts.far_pct:.1f} %")
        print(f"{key}.training_part_synthetic_f1: {on_part_faults.f1:.3f} ratio")
        print(f"{key}.training_part_synthetic_mar: {on_part_faults.mar_pct:.1f} %")
    factor = skab._most_sensitive(part_clean, settings, TRAINING_PART_FAR_PCT).factor
    print(f"{name}.training_part_calibrated_factor: {factor:g} x")
    print(f"{name}.seconds: {time.perf_counter() - start:.0f} s", flush=True)


def main() -> None:
    """Print each variant's proxy figures, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the SKAB checkout")
    parser.add_argument(
        "--variant",
        action="append",
        choices=tuple(VARIANTS),
        help="a row of the table (repeatable; default: all)",
    )
    parser.add_argument("--repeats", type=int, default=4, help="faults per anomaly-free chunk")
    parser.add_argument(
        "--validation-repeats", type=int, default=2, help="faults per training part"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injection")
    args = parser.parse_args()
    try:
        import torch

        # One thread, as `ifactory eval skab`: the sums do not depend on the machine.
        torch.set_num_threads(1)
    except ImportError:  # only pca_t2q runs without PyTorch
        pass
    normal, parts = read_inputs(args.data)
    for name in args.variant or VARIANTS:
        run_variant(
            name,
            VARIANTS[name],
            normal,
            parts,
            args.repeats,
            args.validation_repeats,
            args.seed,
        )
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
