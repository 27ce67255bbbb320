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
  of synthetic state history (runs of 2-60 min, idles, setups, breakdowns, no-data gaps: the
  `synthetic_history` of benchmarks/_plant_history.py that benchmarks/oee.py uses too), on the
  arrays as they come from the state table (the database read is not included). That history is a stress case: about 23,000 spans and 1,400 failures per
  machine-year (a failure every 6 h), printed as `mtbf_mttr_state_spans` / failures.
- `mtbf_mttr_50_machines_1_year_end_to_end_sqlite` / `_postgres` (with `--pg URL`): what a
  user of `reliability.machines` (the API) waits for: the state history, downtime events,
  their bookings and the linked corrective work orders are read from a real database (a
  SQLite file in a temp dir; a throwaway schema on the PostgreSQL server, dropped afterwards)
  and the KPIs computed. Median of 7 runs, each in a fresh session, after one warm-up run.
  The year of history has a realistic density per machine (`realistic_history`): runs of
  15-150 min; between them minor stops (idle 1-15 min, 78 %), changeovers (setup 15-60 min,
  17 %), no-data gaps (1-30 min, 4 %), about 12 planned maintenance stops (2-4 h) and about
  24 breakdowns ("down", time to restoration lognormal, median 1.5 h, 15 min to 12 h): about
  11,000 state spans and 5,200 stops per machine-year. Every stop has its downtime event (as
  production derives them); stops of 5 min or more are booked to a reason (minor stop, setup,
  planned maintenance, breakdown; 10 % of the breakdowns stay unbooked, and about 2 idle stops
  a year are booked to tool breakage), and every booked breakdown has a closed corrective work
  order linked to its event.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _plant_history import alternating_spans, synthetic_history
from ingest import describe

from ifactory.core import migrate
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database, utcnow
from ifactory.historian.embedded import EmbeddedStore
from ifactory.maintenance import pm, reliability
from ifactory.maintenance.models import WorkOrder, WorkOrderDowntime
from ifactory.maintenance.pm_models import PMPlan, PMTrigger
from ifactory.plant import service as plant_service
from ifactory.plant.loader import load_plant
from ifactory.plant.models import PlantNode
from ifactory.production import oee
from ifactory.production.models import DowntimeEvent
from ifactory.stream.models import MachineStateInterval

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
# Monday 2026-11-23 06:00 Europe/Berlin.
T0 = 1_795_410_000_000_000


def _plans(
    rng: np.random.Generator, n: int, machines: list[int], now_us: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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


MINUTE_US = 60 * US
STATE_NAMES = oee.STATES
MINOR_REASONS = ["MIN-STARVED", "MIN-BLOCKED", "MIN-JAM", "MIN-SENSOR"]
SETUP_REASONS = ["SET-CHG", "SET-TOOL", "SET-ADJ"]
BREAKDOWN_REASONS = ["BRK-MECH", "BRK-ELEC", "BRK-HYD"]


def realistic_history(rng: np.random.Generator, start_us: int, end_us: int) -> oee.Spans:
    """A machine-year of realistic density (module docstring): ~11,000 spans, ~24 breakdowns."""
    n = int((end_us - start_us) / (80 * MINUTE_US)) + 16
    run = rng.uniform(15, 150, n) * MINUTE_US
    kind = rng.choice(
        [oee.IDLE, oee.SETUP, oee.UNKNOWN, oee.MAINTENANCE, oee.DOWN],
        n,
        p=[0.7834, 0.17, 0.04, 0.0022, 0.0044],
    )
    ttr = np.clip(rng.lognormal(np.log(90), 0.8, n), 15, 720)
    stop = (
        np.select(
            [kind == oee.IDLE, kind == oee.SETUP, kind == oee.UNKNOWN, kind == oee.MAINTENANCE],
            [
                rng.uniform(1, 15, n),
                rng.uniform(15, 60, n),
                rng.uniform(1, 30, n),
                rng.uniform(120, 240, n),
            ],
            ttr,
        )
        * MINUTE_US
    )
    return alternating_spans(start_us, end_us, run, kind, stop)


def _write_history(
    db: Database, n_machines: int, seed: int, start: int, end: int
) -> tuple[list[int], int, int]:
    """Write machines, state history, downtime events, bookings and corrective work orders.

    Returns the machine ids, the number of state spans and of downtime events written.
    """
    rng = np.random.default_rng(seed)
    with db.session() as session:
        plant_service.seed(session, load_plant(), user="bench")
    with db.session() as session:
        parent = session.scalars(select(PlantNode).where(PlantNode.level == "work_center")).first()
        assert parent is not None
        parent_id, parent_key, parent_uns = parent.id, parent.key, parent.uns_path
        base = session.scalars(select(PlantNode.id).order_by(PlantNode.id.desc())).first() or 0
    ids = [base + 1 + i for i in range(n_machines)]
    nodes = [
        {
            "id": mid,
            "key": f"{parent_key}/bench{i:03d}",
            "parent_id": parent_id,
            "position": 100 + i,
            "level": "work_unit",
            "name": f"Bench machine {i}",
            "equipment_class": "cnc_mill",
            "uns_path": f"{parent_uns}/bench{i:03d}",
            "attributes": {},
        }
        for i, mid in enumerate(ids)
    ]
    spans: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for mid in ids:
        h = realistic_history(rng, start, end)
        spans.extend(
            {
                "machine_id": mid,
                "state": STATE_NAMES[int(s)],
                "start_us": int(a),
                "end_us": int(b),
                "source": "tag",
            }
            for s, a, b in zip(h.state, h.start, h.end, strict=True)
        )
        stop = (h.state != oee.EXECUTING) & (h.state != oee.UNKNOWN)
        for s, a, b in zip(h.state[stop], h.start[stop], h.end[stop], strict=True):
            code, length = int(s), int(b - a)
            reason = None
            if length >= 5 * MINUTE_US:
                if code == oee.IDLE:
                    reason = "BRK-TOOL" if rng.random() < 0.0007 else str(rng.choice(MINOR_REASONS))
                elif code == oee.SETUP:
                    reason = str(rng.choice(SETUP_REASONS))
                elif code == oee.MAINTENANCE:
                    reason = "PLN-PM"
                elif rng.random() < 0.9:
                    reason = str(rng.choice(BREAKDOWN_REASONS))
            eid = len(events) + 1
            events.append(
                {
                    "id": eid,
                    "machine_id": mid,
                    "start_us": int(a),
                    "end_us": int(b),
                    "states": STATE_NAMES[code],
                    "reason_code": reason,
                    "reason_source": "operator" if reason else None,
                    "comment": "",
                }
            )
            if reason is not None and reason.startswith("BRK") and reason != "BRK-TOOL":
                wid = len(orders) + 1
                orders.append(
                    {
                        "id": wid,
                        "number": f"MWO-{wid:06d}",
                        "machine_id": mid,
                        "type": "corrective",
                        "title": f"Breakdown {reason}",
                        "state": "closed",
                        "started_us": int(a),
                        "completed_us": int(b),
                        "closed_us": int(b),
                    }
                )
                links.append({"work_order_id": wid, "downtime_id": eid, "linked_by": "bench"})
    with db.session() as session:
        session.execute(insert(PlantNode), nodes)
        for i in range(0, len(spans), 50_000):
            session.execute(insert(MachineStateInterval), spans[i : i + 50_000])
        for i in range(0, len(events), 50_000):
            session.execute(insert(DowntimeEvent), events[i : i + 50_000])
        session.execute(insert(WorkOrder), orders)
        session.execute(insert(WorkOrderDowntime), links)
    with db.session() as session:  # statistics for the planner, as after a day of operation
        session.execute(text("ANALYZE"))
    return ids, len(spans), len(events)


def _time_end_to_end(db: Database, ids: list[int], start: int, end: int) -> tuple[float, int]:
    """Median seconds of `reliability.machines` over the machines, and the failures found."""

    def run() -> tuple[float, int]:
        with db.session() as session:
            t0 = time.perf_counter()
            res = reliability.machines(
                session, machine_ids=ids, start_us=start, end_us=end, now_us=end
            )
            elapsed = time.perf_counter() - t0
        return elapsed, sum(r.failures for r in res)

    run()  # warm-up (connection pool, statement caches)
    times, failures = zip(*(run() for _ in range(7)), strict=True)
    return statistics.median(times), failures[0]


@contextmanager
def _pg_schema(url: str) -> Iterator[str]:
    """A throwaway schema on the PostgreSQL server (dropped afterwards); yields its URL."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_reliability_end_to_end(n_machines: int, seed: int, pg_url: str | None) -> None:
    """Time `reliability.machines` on a year of realistic history read from SQLite (and PostgreSQL)."""
    start, end = T0 - 365 * DAY_US, T0

    def measure(url: str, name: str) -> None:
        migrate.upgrade(url)
        db = Database(url)
        try:
            ids, n_spans, n_events = _write_history(db, n_machines, seed, start, end)
            elapsed, failures = _time_end_to_end(db, ids, start, end)
        finally:
            db.dispose()
        print(
            f"mtbf_mttr_{n_machines}_machines_1_year_end_to_end_{name}: {elapsed * 1000:.0f} ms "
            f"({n_spans} spans, {n_events} downtime events, {failures} failures)"
        )

    with tempfile.TemporaryDirectory() as tmp:
        measure(f"sqlite:///{tmp}/bench.db", "sqlite")
    if pg_url:
        with _pg_schema(pg_url) as url:
            measure(url, "postgres")


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="also time the end-to-end read on this PostgreSQL server (a throwaway schema), "
        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--only-reliability", action="store_true", help="skip the PM generation benchmarks"
    )
    args = parser.parse_args()
    if not args.only_reliability:
        bench_generation(args.plans, args.seed)
    bench_reliability(args.machines, args.seed)
    bench_reliability_end_to_end(args.machines, args.seed, args.pg)
    for line in describe():
        print(line)


if __name__ == "__main__":
    main()
