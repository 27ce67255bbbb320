"""Tune the failure-alarm policy on the simulated plant's tuning seeds, in minutes, not hours.

`ifactory eval plant` simulates every seed on every run (one to three minutes per seed). The
alarm policy acts only on the hourly RUL estimates, and those depend only on the machines' hourly
condition summaries. So this script simulates each seed once and stores its summaries and ground
truth in a cache directory (numpy .npz and JSON, no pickle); then it trains the models on the
training seeds exactly as `ifactory eval plant` does (`FeatureCollector`, `add_run`,
`train_classes`), replays the tuning seeds through the platform's `OnlineEstimator`, and scores
every alarm policy of a grid with `evaluation.score` (the same scoring as the eval).

    python benchmarks/plant_policy_tune.py --cache /tmp/plant-cache
    python benchmarks/plant_policy_tune.py --cache /tmp/plant-cache --train 1-3 --threshold 72

It refuses the evaluated seeds (101-105 by default): nothing here may look at them. Each grid
point prints `share_48h[...]` (failures with a precursor predicted at least 48 h ahead) and
`false_alarms[...]` (per machine-month) on their own lines, then the machine it ran on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ifactory.analytics.prognostics.estimator import AlarmPolicy, AlarmState, OnlineEstimator
from ifactory.analytics.prognostics.evaluation import AlarmEpisode, lead_times, score
from ifactory.analytics.prognostics.features import (
    HOUR_US,
    HourSummary,
    MachineTags,
    machine_tags,
    summarize_hours,
)
from ifactory.analytics.prognostics.labels import GroundTruthLabels
from ifactory.analytics.prognostics.registry import LoadedModel
from ifactory.analytics.prognostics.training import (
    ClassData,
    FeatureCollector,
    add_run,
    train_classes,
)
from ifactory.cli.eval import machine_lines
from ifactory.cli.eval_plant import (
    DAY_US,
    DEFAULT_EVAL_SEED,
    START,
    US,
    run_hours,
    simulated_plant,
)

STEP_S = 10.0
EVAL_SEEDS = range(DEFAULT_EVAL_SEED, DEFAULT_EVAL_SEED + 5)


def parse_seeds(text: str) -> list[int]:
    """'1-3,7' -> [1, 2, 3, 7]."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def cache_seed(cache: Path, seed: int, days: int) -> None:
    """Simulate `days` of one seed; store each machine's hourly summaries and the ground truth."""
    path = cache / f"seed{seed}-{days}d.npz"
    if path.exists():
        return
    t0 = time.perf_counter()
    start_us = int(START.timestamp()) * US
    with simulated_plant(seed, step_s=STEP_S, start_us=start_us) as run:
        machines = machine_tags(run.registry)
        ids = np.array(sorted({t for m in machines for t in m.tag_ids}), np.int32)
        hours: dict[int, list[HourSummary]] = {m.machine_id: [] for m in machines}

        def each_hour(t: int) -> None:
            # What the online estimator reads each hour: the hour just completed.
            h = t // HOUR_US - 1
            rows = run.store.rollups(ids, h * HOUR_US, (h + 1) * HOUR_US)
            for m in machines:
                hours[m.machine_id] += summarize_hours(m, rows, h, h)

        run_hours(run, days * 24, each_hour)
        truth = run.sim.ground_truth.to_dict()
    arrays: dict[str, Any] = {}
    for mid, hs in hours.items():
        arrays[f"{mid}.hour"] = np.array([h.hour for h in hs], dtype=np.int64)
        arrays[f"{mid}.levels"] = np.vstack([h.levels for h in hs])
        arrays[f"{mid}.counts"] = np.array(
            [(h.exec_minutes, h.down, h.maintenance, h.cycles, h.scrap) for h in hs],
            dtype=np.float64,
        )
    np.savez_compressed(path, **arrays)
    (cache / f"seed{seed}-{days}d.json").write_text(
        json.dumps({"start_us": start_us, "days": days, "truth": truth})
    )
    print(f"# seed {seed}: {days} days simulated in {time.perf_counter() - t0:.0f} s", flush=True)


def load_seed(
    cache: Path, seed: int, days: int, machines: list[MachineTags]
) -> tuple[dict[int, list[HourSummary]], dict[str, Any]]:
    """The cached summaries per machine id, and the run's metadata with its ground truth."""
    meta = json.loads((cache / f"seed{seed}-{days}d.json").read_text())
    with np.load(cache / f"seed{seed}-{days}d.npz") as z:
        out = {
            m.machine_id: [
                HourSummary(int(h), lv, int(c[0]), bool(c[1]), bool(c[2]), float(c[3]), float(c[4]))
                for h, lv, c in zip(
                    z[f"{m.machine_id}.hour"],
                    z[f"{m.machine_id}.levels"],
                    z[f"{m.machine_id}.counts"],
                    strict=True,
                )
            ]
            for m in machines
        }
    return out, meta


def plant_machines() -> list[MachineTags]:
    """The example plant's machines as the features read them (ids as in every scratch run)."""
    with simulated_plant(0, step_s=STEP_S, start_us=int(START.timestamp()) * US) as run:
        return machine_tags(run.registry)


def train(
    cache: Path, seeds: list[int], days: int, cache_days: int, machines: list[MachineTags]
) -> dict[str, Any]:
    """One model per class, trained on the first `days` of each seed, as `eval plant` trains."""
    data: dict[str, ClassData] = {}
    for seed in seeds:
        hours, meta = load_seed(cache, seed, cache_days, machines)
        collector = FeatureCollector(machines, start_us=meta["start_us"])
        end = meta["start_us"] + days * DAY_US
        for mid, hs in hours.items():
            for h in hs:
                if h.hour < end // HOUR_US:
                    collector.add(mid, h)
        add_run(data, collector, GroundTruthLabels(meta["truth"]), data_end_us=end)
    return train_classes(data)


def estimate_trace(
    cache: Path,
    seed: int,
    cache_days: int,
    models: dict[str, Any],
    machines: list[MachineTags],
) -> tuple[dict[str, list[tuple[int, float | None]]], dict[str, Any], int]:
    """Per machine, (hour end, compared quantile or None when down) from the online estimator."""
    hours, meta = load_seed(cache, seed, cache_days, machines)
    loaded = {
        cls: LoadedModel(i, f"rul.{cls}", cls, 1, m)
        for i, (cls, (m, _)) in enumerate(sorted(models.items()))
    }
    scored = [m for m in machines if m.machine_class in loaded]
    estimator = OnlineEstimator(scored, loaded)
    first = meta["start_us"] // HOUR_US
    estimates, _ = estimator.estimate_hours(
        first, {m.machine_id: hours[m.machine_id] for m in scored}
    )
    low = {(e.machine_key, e.ts_us): e.low_h for e in estimates}
    trace: dict[str, list[tuple[int, float | None]]] = {}
    for m in scored:
        trace[m.machine_key] = [
            ((h.hour + 1) * HOUR_US, low.get((m.machine_key, (h.hour + 1) * HOUR_US)))
            for h in hours[m.machine_id]
        ]
    return trace, meta, len(scored)


def replay(
    trace: dict[str, list[tuple[int, float | None]]], policy: AlarmPolicy, lo: int, hi: int
) -> list[AlarmEpisode]:
    """The alarms `policy` raises over a trace of the 10 % quantile; a down hour ends an episode."""
    alarms = []
    for key, rows in trace.items():
        state = AlarmState()
        for ts, value in rows:
            if value is None:
                state = AlarmState()
            elif policy.step(state, value, ts) and lo <= ts < hi:
                alarms.append(AlarmEpisode(key, ts))
    return alarms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True, help="directory for simulated seeds")
    ap.add_argument("--train", default="1-3,7-15", help="training seeds, e.g. 1-3,7-15")
    ap.add_argument("--tune", default="4-6", help="tuning seeds")
    ap.add_argument("--train-days", type=int, default=90)
    ap.add_argument("--warmup-days", type=int, default=14)
    ap.add_argument("--days", type=int, default=90, help="scored days per tuning seed")
    ap.add_argument("--threshold", default="72,84,96", help="raise_below_h values")
    ap.add_argument("--confirm", default="1,2,3")
    ap.add_argument("--expire", default="36,48,72")
    a = ap.parse_args()
    train_seeds, tune_seeds = parse_seeds(a.train), parse_seeds(a.tune)
    banned = sorted(set(train_seeds + tune_seeds) & set(EVAL_SEEDS))
    if banned or set(train_seeds) & set(tune_seeds):
        sys.exit(f"error: seeds {banned or sorted(set(train_seeds) & set(tune_seeds))} overlap")
    cache_days = max(a.train_days, a.warmup_days + a.days)
    a.cache.mkdir(parents=True, exist_ok=True)
    for seed in train_seeds + tune_seeds:
        cache_seed(a.cache, seed, cache_days)
    machines = plant_machines()
    t0 = time.perf_counter()
    models = train(a.cache, train_seeds, a.train_days, cache_days, machines)
    print(f"train_time: {time.perf_counter() - t0:.1f} s")
    runs = []
    for seed in tune_seeds:
        trace, meta, n = estimate_trace(a.cache, seed, cache_days, models, machines)
        lo = meta["start_us"] + a.warmup_days * DAY_US
        hi = lo + a.days * DAY_US
        runs.append((trace, GroundTruthLabels(meta["truth"]).failures(lo, hi), lo, hi, n))
    grid = itertools.product(
        [float(v) for v in a.threshold.split(",")],
        [int(v) for v in a.confirm.split(",")],
        [float(v) for v in a.expire.split(",")],
    )
    default = AlarmPolicy()
    for threshold, confirm, expire in grid:
        policy = AlarmPolicy(
            release_h=max(default.release_h, threshold),
            confirm=confirm,
            expire_h=expire,
            raise_below_h=threshold,
        )
        k = n_pre = false = 0
        months = 0.0
        modes: dict[str, list[int]] = {}
        for trace, failures, lo, hi, n in runs:
            alarms = replay(trace, policy, lo, hi)
            s = score(failures, alarms, machines=n, days=a.days)
            k += s.predicted_48h_with_precursor.k
            n_pre += s.predicted_48h_with_precursor.n
            false += s.false_alarms
            months += s.machine_months
            leads = lead_times(failures, alarms, horizon_h=policy.horizon_h, tolerance_h=24.0)
            for f, lead in zip(failures, leads, strict=True):
                m = modes.setdefault(f.mode, [0, 0])
                m[0] += 1
                m[1] += lead is not None and lead >= 48.0
        name = f"[below={threshold:g}h,confirm={confirm},expire={expire:g}h]"
        detail = " ".join(f"{mode} {v[1]}/{v[0]}" for mode, v in sorted(modes.items()))
        share = k / n_pre if n_pre else float("nan")
        print(f"share_48h{name}: {share:.3f} ratio ({k}/{n_pre}; {detail})")
        print(f"false_alarms{name}: {false / months:.3f} per machine-month")
    for line in machine_lines():
        print(line)


if __name__ == "__main__":
    main()
