"""False-alarm rate of each Western Electric and Nelson rule on in-control normal noise.

Independent N(0, 1) points are charted against the true centre (0) and σ (1), so the rate of
each rule is the probability that an in-control point signals it; for a single point beyond
3σ that is 2·(1 − Φ(3)) = 0.27 %. A second pass estimates the limits the way a plant does,
from an I-MR baseline of 25 points (σ̂ = MR̄/1.128), and averages over many baselines: the
estimation error raises the rates. Printed as `name: number unit` lines, then the machine.

    python benchmarks/spc_false_alarms.py [--points 2000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import describe

from ifactory.quality import spc
from ifactory.quality.rules import NELSON, RULES, WESTERN_ELECTRIC, evaluate


def rates(x: np.ndarray, center: float, sigma: float, rules: tuple[str, ...]) -> dict[str, float]:
    """Signalling points / points for each rule, and for the union of `rules`."""
    out: dict[str, float] = {}
    union = np.zeros(len(x), dtype=bool)
    for rule in rules:
        hits = np.array([v.index for v in evaluate(x, center, sigma, [rule])], dtype=np.int64)
        out[rule] = len(hits) / len(x)
        union[hits] = True
    out["any"] = float(union.mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baselines", type=int, default=400, help="estimated-limit repetitions")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()

    x = rng.normal(0.0, 1.0, args.points)
    for family, rules in (("western_electric", WESTERN_ELECTRIC), ("nelson", NELSON)):
        found = rates(x, 0.0, 1.0, rules)
        for rule in rules:
            print(f"spc_false_alarm_known_{rule}: {100 * found[rule]:.4f} %")
            print(f"spc_arl0_known_{rule}: {1 / found[rule]:.0f} points")
        print(f"spc_false_alarm_known_{family}_any: {100 * found['any']:.4f} %")
    print(
        f"spc_false_alarm_theory_we1: {100 * 2 * (1 - float(spc._phi(np.array([3.0]))[0])):.4f} %"
    )

    # Limits estimated from a 25-point I-MR baseline, then 1000 points charted against them.
    per = 1000
    totals = dict.fromkeys([*RULES, "any_we", "any_nelson"], 0.0)
    for _ in range(args.baselines):
        series = rng.normal(0.0, 1.0, 25 + per)
        chart = spc.imr(series, baseline=25)
        center, sigma = float(chart.limits.center[0]), chart.sigma_hat
        tail = series[25:]
        we = rates(tail, center, sigma, WESTERN_ELECTRIC)
        ne = rates(tail, center, sigma, NELSON)
        for rule in RULES:
            totals[rule] += (we | ne)[rule]
        totals["any_we"] += we["any"]
        totals["any_nelson"] += ne["any"]
    for key, total in totals.items():
        print(f"spc_false_alarm_estimated25_{key}: {100 * total / args.baselines:.4f} %")
    print(f"spc_false_alarm_points: {args.points} points")
    print(f"spc_false_alarm_runtime: {time.perf_counter() - t0:.1f} s")
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
