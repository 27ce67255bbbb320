"""Choose the NAB detector's hyperparameters on synthetic NAB-like files, never on NAB's labels.

    python benchmarks/nab_tune_synthetic.py [--files 24] [--seed 0]

Generates seeded series of the kinds NAB holds (daily seasonality, random walks, spiky
utilisation, step-like rates), injects 1-3 anomalies each (spike, level shift, variance burst,
flat-line, lost seasonality), labels windows the way NAB's labeler does (10 % of the file
length shared among its anomalies, centred on each onset), then scores a small grid of
settings of one detector with the NAB scorer (threshold swept per profile, as NAB does).
Prints each setting's normalised standard / low-FP / low-FN score and the best one.

    --detector rank     RankDetector: alpha, history, cooldown
    --detector seqlik   SequenceLikelihoodDetector's sequence memory: bins, order, min_count,
                        share; run per file as `ifactory eval nab` runs it (the file's value
                        range, learning period + estimation samples = the probationary period)
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ifactory.analytics.detectors.univariate import RankDetector
from ifactory.analytics.eval import nab
from ifactory.cli.eval import machine_lines


def synthetic_file(rng: np.random.Generator, k: int, temporal: bool = False) -> nab.NabFile:
    """One labelled synthetic series.

    With `temporal`, two purely temporal anomaly kinds join the draw (Lavin & Ahmad 2015 name
    temporal anomalies, whose values are all ordinary, next to spatial ones): 300 points played
    backwards, and 300 points at double speed. They keep the values' distribution, so only a
    detector with a memory of sequences can see them.
    """
    n = int(rng.integers(3000, 12000))
    t = np.arange(n)
    kind = k % 4
    if kind == 0:
        base = 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1.0, n)
    elif kind == 1:
        base = np.cumsum(rng.normal(0, 0.3, n))
    elif kind == 2:
        base = 20 + rng.gamma(1.5, 2.0, n)
        spikes = rng.random(n) < 0.01
        base[spikes] += rng.uniform(10, 30, spikes.sum())
    else:
        base = np.repeat(rng.normal(50, 5, n // 50 + 1), 50)[:n] + rng.normal(0, 0.5, n)
    values = base.copy()
    scale = float(np.std(np.diff(base))) + float(np.std(base)) * 0.1
    n_anom = int(rng.integers(1, 4))
    lo = int(0.2 * n)
    onsets = np.sort(rng.choice(np.arange(lo, n - 200), size=n_anom, replace=False))
    for o in onsets:
        what = int(rng.integers(0, 7 if temporal else 5))
        if what == 0:
            values[o : o + 3] += rng.choice([-1, 1]) * 8 * scale
        elif what == 1:
            values[o:] += rng.choice([-1, 1]) * 4 * scale
        elif what == 2:
            values[o : o + 150] += rng.normal(0, 4 * scale, len(values[o : o + 150]))
        elif what == 3:
            values[o : o + 200] = values[o]
        elif what == 4:
            values[o : o + 300] = np.mean(values[max(0, o - 300) : o]) + rng.normal(
                0, scale, len(values[o : o + 300])
            )
        elif what == 5:
            values[o : o + 300] = values[o : o + 300][::-1].copy()
        else:
            fast = values[o : o + 600 : 2].copy()
            values[o : o + len(fast)] = fast
    width = int(0.1 * n / n_anom)
    windows: list[tuple[int, int]] = []
    for o in onsets:
        s, e = max(0, o - width // 2), min(n - 1, o + width // 2)
        if windows and s <= windows[-1][1]:
            windows[-1] = (windows[-1][0], e)
        else:
            windows.append((s, e))
    stamps = np.datetime64("2020-01-01T00:00") + t * np.timedelta64(5, "m")
    return nab.NabFile(f"synthetic/{k}.csv", stamps, values, windows)


def main() -> None:
    """Print the grid's scores, the chosen setting, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", choices=("rank", "seqlik"), default="rank")
    parser.add_argument(
        "--temporal", action="store_true", help="add the two purely temporal anomaly kinds"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    files = [synthetic_file(rng, k, args.temporal) for k in range(args.files)]
    grid: dict[str, tuple[float, ...]]
    if args.detector == "rank":
        grid = {
            "alpha": (0.003, 0.01, 0.03),
            "history": (2000, 5000, 20000),
            "cooldown": (50, 200, 500),
        }
    else:
        # A first grid (bins 8/16/32/64, order 1/2/4, min_count 1/3, share 0.02/0.1) put
        # bins 16-32, order 1-2, min_count 1 and share 0.1 ahead; this grid refines around it.
        # Seeds 0 and 1 (order 1-3): the best mean standard score, bins 16, order 1, min_count 1,
        # share 0.1 (63.83 and 54.62), gave the defaults. With --temporal (order 1-4) the same
        # setting scores 40.67 and 39.96, the best (share 0.2) 41.30 and 43.08, within the
        # spread between seeds and tied with it over all four runs (49.74 vs 49.77): unchanged.
        grid = {
            "bins": (16, 24, 32, 48),
            "order": (1, 2, 3, 4),
            "min_count": (1,),
            "share": (0.05, 0.1, 0.2),
        }
    best: tuple[float, dict[str, float]] | None = None
    start = time.perf_counter()
    for combo in itertools.product(*grid.values()):
        params = dict(zip(grid, combo, strict=True))
        if args.detector == "rank":
            scores = nab.run_detector(files, lambda p=params: RankDetector(**p))  # type: ignore[misc]
        else:
            scores = nab.run_detector_per_file(
                files,
                lambda f, p=params: nab.sequence_detector_for_file(f, **p),  # type: ignore[misc]
            )
        result = nab.score_detector(files, scores)
        figures = [result[p].normalized for p in nab.PROFILES]
        print(
            f"synthetic_{'_'.join(f'{k}={v}' for k, v in params.items())}: "
            + " / ".join(f"{x:.2f}" for x in figures)
            + " points"
        )
        if best is None or figures[0] > best[0]:
            best = (figures[0], params)
    assert best is not None
    print(f"synthetic_best_standard: {best[0]:.2f} points with {best[1]}")
    print(f"synthetic_grid_seconds: {time.perf_counter() - start:.1f} s")
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
