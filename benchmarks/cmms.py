"""CMMS benchmark: PM generation for 10,000 plans, and MTBF/MTTR over a year for 50 machines.

Prints `name: number unit` lines, then the machine.

- `pm_generation_10000_plans`: one generation pass (what the platform runs every minute) over
  10,000 active plans on the example plant (SQLite): every plan's triggers are evaluated and
  the occurrences due in that minute are raised as work orders. The plans are a mix of fixed
  and floating calendars (daily to monthly, phases spread over the interval) and run-hour /
  cycle meters. Every plan has been generated before, so this is the steady state.
- `pm_generation_catch_up_10000_plans`: the first pass after the platform was down for a day:
  every occurrence that fell due meanwhile is raised (reported with the count).
- `mtbf_mttr_50_machines_1_year`: MTBF, MTTR, availability and TBF of 50 machines from a year
  of synthetic state history (runs of 2-60 min, idles, setups, breakdowns, no-data gaps, shaped
  as in benchmarks/oee.py), on the arrays as they come from the state table (the database read
  is not included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import describe
from oee import synthetic_history

from ifactory.core import migrate
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database, utcnow
from ifactory.historian.embedded import EmbeddedStore
from ifactory.maintenance import pm, reliability
from ifactory.maintenance.pm_models import PMPlan, PMTrigger
from ifactory.plant import service as plant_service
from ifactory.plant.loader import load_plant
from ifactory.stream.models import MachineStateInterval

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
# Monday 2026-11-23 06:00 Europe/Berlin.
T0 = 1_795_410_000_000_000


def _plans(
    rng: np.random.Generator, n: int, machines: list[int], now_us: int
) -> tuple[list[dict], list[dict]]:
    plans, triggers = [], []
    at = utcnow()
    for i in range(n):
        kind = rng.choice(
            ["daily", "weekly", "monthly", "floating", "run_hours", "cycles"],
            p=[0.1, 0.45, 0.15, 0.1, 0.1, 0.1],
        )
        if kind == "daily":
            spec, period = {"every": 1, "unit": "days", "mode": "fixed"}, DAY_US
        elif kind == "weekly":
            spec, period = {"every": 7, "unit": "days", "mode": "fixed"}, 7 * DAY_US
        elif kind == "monthly":
            spec, period = {"every": 1, "unit": "months", "mode": "fixed"}, 30 * DAY_US
        elif kind == "floating":
            spec, period = {"every": 14, "unit": "days", "mode": "floating"}, 14 * DAY_US
        elif kind == "run_hours":
            spec, period = (
                {"meter": "run_hours", "mode": "every", "value": float(rng.integers(200, 2000))},
                0,
            )
        else:
            spec, period = (
                {"meter": "cycles", "mode": "every", "value": float(rng.integers(10_000, 200_000))},
                0,
            )
        # Phases spread over the interval, so due points fall on every minute of it.
        start = now_us - int(rng.uniform(0, period)) if period else now_us - 30 * DAY_US
        plans.append(
            {
                "id": i + 1,
                "name": f"plan {i + 1} ({kind})",
                "description": "",
                "machine_id": machines[i % len(machines)],
                "equipment_class": None,
                "asset_id": None,
                "work_order_type": "preventive",
                "priority": "medium",
                "tasks": [],
                "estimated_hours": 1.0,
                "duration_s": 3600,
                "combine": "any",
                "lead_time_s": 0,
                "holiday_rule": "next_working_day",
                "holidays": [],
                "skip_every": None,
                "start_us": start,
                "active": True,
                "created_at": at,
                "created_by": "bench",
                "updated_at": at,
                "updated_by": "bench",
            }
        )
        triggers.append(
            {
                "plan_id": i + 1,
                "position": 0,
                "kind": "meter" if "meter" in spec else "calendar",
                "params": spec,
            }
        )
    return plans, triggers


def bench_generation(n_plans: int, seed: int) -> None:
    """Time the steady-state and the catch-up generation pass over `n_plans` plans."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        db = Database(url)
        plant = load_plant()
        with db.session() as session:
            plant_service.seed(session, plant, user="bench")
        with db.session() as session:
            registry = plant_service.registry(session)
        store = EmbeddedStore.open(Path(tmp) / "historian")
        machines = [m.id for m in registry.machines()]
        # Every machine executing for the last 30 days (run-hour meters move).
        with db.session() as session:
            for m in machines:
                session.add(
                    MachineStateInterval(
                        machine_id=m, state="executing", start_us=T0 - 30 * DAY_US, end_us=None
                    )
                )
        plans, triggers = _plans(rng, n_plans, machines, T0)
        with db.session() as session:
            session.execute(insert(PMPlan), plans)
            session.execute(insert(PMTrigger), triggers)
        clock = ManualClock(T0)

        def run() -> tuple[float, pm.GenerationResult]:
            with db.session() as session:
                t0 = time.perf_counter()
                result = pm.generate(session, registry=registry, store=store, now_us=clock.now_us())
                session.flush()
                elapsed = time.perf_counter() - t0
            return elapsed, result

        first, res0 = run()  # the plans' first occurrences (their due points were in the past)
        clock.advance(60 * US)
        steady, res1 = run()  # the next minute: steady state
        clock.advance(DAY_US)  # the platform is down for a day
        catch_up, res2 = run()
        print(
            f"pm_generation_{n_plans}_plans: {steady * 1000:.0f} ms ({res1.generated} work orders raised, {res1.plans_evaluated} plans evaluated)"
        )
        print(
            f"pm_generation_catch_up_{n_plans}_plans: {catch_up * 1000:.0f} ms ({res2.generated} work orders raised after a day down)"
        )
        print(
            f"pm_generation_first_pass_{n_plans}_plans: {first * 1000:.0f} ms ({res0.generated} work orders raised)"
        )
        store.close()
        db.dispose()


def bench_reliability(n_machines: int, seed: int) -> None:
    """Time MTBF/MTTR of `n_machines` machines over a year of state history."""
    rng = np.random.default_rng(seed)
    start, end = T0 - 365 * DAY_US, T0
    parts = [synthetic_history(rng, start, end) for _ in range(n_machines)]
    states = reliability.StateArrays(
        np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)]),
        np.concatenate([p.state for p in parts]),
        np.concatenate([p.start for p in parts]),
        np.concatenate([p.end for p in parts]),
    )
    reliability.compute(states, n_machines, start_us=start, end_us=end, now_us=end)  # warm-up
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        res = reliability.compute(states, n_machines, start_us=start, end_us=end, now_us=end)
        for i in range(n_machines):
            reliability.kpis(float(res.operating_h[i]), int(res.failures[i]), float(res.ttr_h[i]))
    elapsed = (time.perf_counter() - t0) / reps
    print(f"mtbf_mttr_state_spans: {len(states)} spans")
    print(
        f"mtbf_mttr_{n_machines}_machines_1_year: {elapsed * 1000:.1f} ms ({int(res.failures.sum())} failures)"
    )


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    bench_generation(args.plans, args.seed)
    bench_reliability(args.machines, args.seed)
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
