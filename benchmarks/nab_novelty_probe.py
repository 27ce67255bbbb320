"""A probe, not a product detector: does windowed-pattern novelty with masking help on NAB?

    python benchmarks/nab_novelty_probe.py --synthetic 0 1      # the choice, on synthetic files
    python benchmarks/nab_novelty_probe.py --nab ../shared/data/nab   # NAB look 9 (docs/eval-nab.md)

The idea is ARTime's (the best published NAB detector): a new pattern at the scale of a window
is an anomaly, and after one the detector rests. Here, per file:
- three scales: windows spanning 1/4, 1/16 and 1/64 of the probationary period, each of w = 8
  means over consecutive blocks, the values scaled by the file's range (NAB's runner gives it);
- a pattern is new when its L∞ distance to every stored prototype exceeds rho = 0.05 of the range
  (it then becomes a prototype, as fuzzy ART creates a category); its score is
  min(1, d / (2·rho)), the maximum over scales;
- the output is the maximum of that score and seqlik's, 0 in the probationary period, and 0 for
  0.2 · probation points after an output of at least 0.9 (CAD OSE's wrapper rests
  probation / 5 points the same way).
The settings were chosen on synthetic files only (benchmarks/nab_tune_synthetic.py --temporal,
24 files a seed), before NAB's labels were read: first the novelty alone on seed 0, over
rho 0.05/0.1/0.2, spans (4,16,64)/(16,)/(8,16,64), the score direct or through HTM's likelihood,
rest 0/0.2 and level 0.5/0.9 (best: these settings, 51.79); then its maximum with seqlik on
seeds 0 and 1 over rest 0/0.1/0.2/0.4 and level 0.5/0.9/0.99/0.999 (best mean standard score:
rest 0.2, level 0.9, 52.90 and 47.43; seqlik alone 40.67 and 39.96). Only then was it run on NAB, once:
48.07 / 36.51 / 54.86 against seqlik's 44.63 and HTM's 55.47 on the same files, so it stays a
probe. It prints the normalised scores per profile, then the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nab_tune_synthetic import synthetic_file

from ifactory.analytics.eval import nab
from ifactory.cli.eval import machine_lines

WIDTH = 8  # means per pattern
SPANS = (4, 16, 64)  # a pattern spans probation / span points
RHO = 0.05  # vigilance: a new prototype beyond this L∞ distance (share of the range)
REST = 0.2  # rest this share of the probationary period after an output >= LEVEL
LEVEL = 0.9


def novelty(values: np.ndarray, probation: int) -> np.ndarray:
    """Per point: how far the current pattern, at the most novel scale, is from every earlier one."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    x = (values - lo) / ((hi - lo) or 1.0)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    blocks = [max(1, max(WIDTH, round(probation / s)) // WIDTH) for s in SPANS]
    protos = [np.empty((0, WIDTH)) for _ in blocks]
    seen: list[set[tuple[int, ...]]] = [set() for _ in blocks]
    lags = np.arange(WIDTH)[::-1]
    out = np.zeros(len(x))
    for t in range(len(x)):
        for k, b in enumerate(blocks):
            if t + 1 < WIDTH * b:
                continue
            ends = t + 1 - b * lags
            f = (csum[ends] - csum[ends - b]) / b
            key = tuple(np.floor(f / RHO).astype(int))
            if key in seen[k]:
                continue  # a cell already known: not new
            seen[k].add(key)
            p = protos[k]
            d = float(np.min(np.max(np.abs(p - f), axis=1))) if len(p) else 1.0
            if d > RHO:
                protos[k] = np.vstack([p, f])
                out[t] = max(out[t], min(1.0, d / (2 * RHO)))
    return out


def probe(files: list[nab.NabFile]) -> dict[str, np.ndarray]:
    """The probe's output per file: max(novelty, seqlik), silent in probation, resting after a hit."""
    scores: dict[str, np.ndarray] = {}
    for f in files:
        probation = int(nab.probationary_length(len(f.values)))
        seq = nab.sequence_detector_for_file(f).score_learn_many(f.values)
        out = np.maximum(seq, novelty(np.asarray(f.values, dtype=float), probation))
        out[:probation] = 0.0
        rest, until = int(REST * probation), -1
        for t in range(len(out)):
            if t <= until:
                out[t] = 0.0
            elif out[t] >= LEVEL:
                until = t + rest
        scores[f.name] = out
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, help="NAB checkout (data/, labels/)")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[], help="synthetic seeds")
    args = parser.parse_args()
    sets: list[tuple[str, list[nab.NabFile]]] = []
    for seed in args.synthetic:
        rng = np.random.default_rng(seed)
        sets.append((f"synthetic_seed{seed}", [synthetic_file(rng, k, True) for k in range(24)]))
    if args.nab is not None:
        sets.append(("nab", nab.load_corpus(args.nab)))
    if not sets:
        parser.error("give --nab DIR and/or --synthetic SEED ...")
    for name, files in sets:
        result = nab.score_detector(files, probe(files))
        for profile, r in result.items():
            print(f"{name}_{profile}: {r.normalized:.2f} points (threshold {r.threshold:.4g})")
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
