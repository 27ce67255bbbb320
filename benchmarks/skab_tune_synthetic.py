"""Choose the SKAB detector's settings on the anomaly-free run with injected faults, never on SKAB's labels.

    python benchmarks/skab_tune_synthetic.py [--detector pca_t2q|mahalanobis] [--repeats 4] [--seed 0]

pca_t2q (the default of `ifactory eval skab`): prints, for the PCA configurations that were
weighed, label-free proxies only: the FAR on the clean anomaly-free chunks; F1 / FAR / MAR with
synthetic faults in those chunks; and a validation inside the labelled files' training parts
(the first 400 rows, which SKAB's protocol gives for training): fit on rows 0-249, score rows
250-399 clean (FAR) and with a synthetic fault from row 270-299 on. It also prints the von
Neumann ratio (mean squared successive difference / variance; ~2 for white noise, << 2 for a
drifting signal) of each sensor in every training part, the evidence for giving the thermal
channels a slow baseline. Each configuration is shown with SKAB's threshold rule (1.5 x q99)
and with the factor calibrated on anomaly-free.csv (`skab.calibrate`, FAR <= 10 %), the rule
`ifactory eval skab` uses. The choice was made by judgement on these figures (see
`skab.PCA_SETTINGS`); the test labels were scored four times on the way, listed in the
issue-6 report.

mahalanobis:
SKAB ships a normal-mode recording (data/anomaly-free/anomaly-free.csv, no anomaly) for
training. It is cut into experiment-sized chunks (400 training rows + the rest, as the labelled
files are); for each setting of a small grid the threshold factor is calibrated on the clean
chunks (FAR <= 10 %, `skab.calibrate`), then each chunk gets `--repeats` seeded synthetic
faults after its training part (a step or ramp of 2-6 training SDs in 1-3 random sensors, or
extra noise of 1-3 SDs, lasting 300-450 s) and SKAB's F1 / FAR / MAR are computed on them.
The chosen setting is the best F1 with a synthetic FAR under 15 % (the issue's FAR bound).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics.eval import skab
from ifactory.cli.eval import machine_lines


def inject(chunk: skab.SkabFile, rng: np.random.Generator) -> skab.SkabFile:
    """A copy of a clean chunk with one synthetic fault after its training rows, labelled."""
    values = chunk.values.copy()
    labels = np.zeros(len(values), dtype=int)
    start = int(rng.integers(500, 650))
    end = min(start + int(rng.integers(300, 450)), len(values))
    sd = values[: skab.TRAIN_ROWS].std(axis=0)
    feats = rng.choice(values.shape[1], int(rng.integers(1, 4)), replace=False)
    step = rng.integers(0, 2) == 0
    ramp = np.minimum(1.0, np.arange(end - start) / int(rng.integers(1, 30)))
    for f in feats:
        if step:
            values[start:end, f] += rng.choice([-1, 1]) * rng.uniform(2, 6) * sd[f] * ramp
        else:
            values[start:end, f] += rng.normal(0, rng.uniform(1, 3) * sd[f], end - start)
    labels[start:end] = 1
    return skab.SkabFile(chunk.name, values, labels)


VALIDATION_FIT = 250  # rows of each training part the model learns in the validation


def inject_validation(part: skab.SkabFile, rng: np.random.Generator) -> skab.SkabFile:
    """A training part (400 normal rows) with a synthetic fault from row 270-299 to its end."""
    values = part.values.copy()
    labels = np.zeros(len(values), dtype=int)
    start = int(rng.integers(270, 300))
    sd = values[:VALIDATION_FIT].std(axis=0)
    feats = rng.choice(values.shape[1], int(rng.integers(1, 4)), replace=False)
    step = rng.integers(0, 2) == 0
    n = len(values) - start
    ramp = np.minimum(1.0, np.arange(n) / int(rng.integers(1, 30)))
    for f in feats:
        if step:
            values[start:, f] += rng.choice([-1, 1]) * rng.uniform(2, 6) * sd[f] * ramp
        else:
            values[start:, f] += rng.normal(0, rng.uniform(1, 3) * sd[f], n)
    labels[start:] = 1
    return skab.SkabFile(part.name, values, labels)


def pca_report(data: Path, normal: skab.SkabFile, repeats: int, seed: int) -> None:
    """Label-free proxies of the PCA configurations weighed for `skab.PCA_SETTINGS`."""
    files = skab.load_files(data)
    # Only the first 400 rows, with the anomaly column ignored (zeros): SKAB's training part.
    parts = [
        skab.SkabFile(f.name, f.values[: skab.TRAIN_ROWS], np.zeros(skab.TRAIN_ROWS, dtype=int))
        for f in files
    ]
    for p in parts:
        x = p.values
        ratio = np.var(np.diff(x, axis=0), axis=0) / np.var(x, axis=0)
        print(f"von_neumann_ratio {p.name}: " + " ".join(f"{v:.2f}" for v in ratio))
    print("von_neumann_ratio columns: " + " ".join(skab.FEATURES))
    rng = np.random.default_rng(seed)
    faulty_parts = [inject_validation(p, rng) for _ in range(repeats) for p in parts]
    rng = np.random.default_rng(seed)
    faulty_chunks = [inject(c, rng) for _ in range(repeats) for c in skab._chunks(normal)]
    base = skab.PCA_SETTINGS
    configs = {
        "lags=0 no-baseline": replace(base, lags=0, track=0.0),
        "lags=3 no-baseline": replace(base, track=0.0),
        "lags=3 thermal-baseline (preset)": base,
    }
    for label, settings in configs.items():
        for rule, s in (("skab-rule", settings), ("calibrated", skab.calibrate(normal, settings))):
            clean = skab.false_alarm_rate_on_normal(normal, s)
            syn = skab.evaluate(faulty_chunks, s)
            val_clean = skab.evaluate(parts, s, VALIDATION_FIT)
            val = skab.evaluate(faulty_parts, s, VALIDATION_FIT)
            print(
                f"pca {label} {rule} factor={s.factor:g}: anomaly-free FAR {clean:.1f} %, "
                f"synthetic F1 {syn.f1:.3f} ratio FAR {syn.far_pct:.1f} % MAR {syn.mar_pct:.1f} %, "
                f"validation FAR {val_clean.far_pct:.1f} %, validation-synthetic F1 {val.f1:.3f} "
                f"ratio MAR {val.mar_pct:.1f} %",
                flush=True,
            )


def main() -> None:
    """Print each setting's synthetic F1 / FAR / MAR, the chosen one, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/skab"))
    parser.add_argument("--detector", choices=("pca_t2q", "mahalanobis"), default="pca_t2q")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    normal = skab.load_anomaly_free(args.data)
    if normal is None:
        raise SystemExit(f"{args.data}/data/anomaly-free/anomaly-free.csv not found")
    if args.detector == "pca_t2q":
        start = time.perf_counter()
        pca_report(args.data, normal, args.repeats, args.seed)
        print(f"synthetic_grid_seconds: {time.perf_counter() - start:.1f} s")
        for line in machine_lines():
            print(line)
        return
    chunks = skab._chunks(normal)
    smoothings, releases, wander_scales = (0.1, 0.3), (1.0, 0.5), (0.0, 1.0, 2.0)
    horizons: tuple[float | None, ...] = (None, 0.0)
    best: tuple[float, str] | None = None
    start = time.perf_counter()
    for smoothing, release, scale, horizon in itertools.product(
        smoothings, releases, wander_scales, horizons
    ):
        base = skab.SkabSettings(smoothing=smoothing, release=release, drift_horizon=horizon)
        settings = skab.calibrate(normal, base, wander_scale=scale)
        label = (
            f"smoothing={smoothing} release={release} wander_scale={scale} drift_horizon={horizon}"
        )
        rng = np.random.default_rng(args.seed)
        faulty = [inject(c, rng) for _ in range(args.repeats) for c in chunks]
        m = skab.evaluate(faulty, settings)
        print(
            f"synthetic {label} factor={settings.factor:g}: "
            f"F1 {m.f1:.3f} ratio, FAR {m.far_pct:.1f} %, MAR {m.mar_pct:.1f} %"
        )
        if m.far_pct < 15.0 and (best is None or m.f1 > best[0]):
            best = (m.f1, label)
    if best is not None:
        print(f"synthetic_best_f1: {best[0]:.3f} ratio with {best[1]}")
    print(f"synthetic_grid_seconds: {time.perf_counter() - start:.1f} s")
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
