"""Forecast of upcoming PM work for the next N weeks, placed into the machines' planned stops.

Calendar triggers are projected exactly (grid, holidays, skip rules); meter triggers from
the meter's recent rate (the last two weeks); condition triggers cannot be foreseen and are
left out. Each occurrence is assumed done on its due date (which starts a floating cycle).

Each job is then placed into a planned stop of its machine: time the site calendar does not
plan for production (breaks, nights and weekends without shifts, holidays, planned stops of
the machine, its line or the site). The latest stop before the due date with room for the
job's duration is taken (work is done as late as is safe, the way a planner keeps the most
life from a part), and its time is used up, so two jobs do not share the same hour. A job
that fits nowhere before its due date is flagged "no fitting stop".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from ifactory.maintenance import pm
from ifactory.maintenance.pm_models import PMPlan
from ifactory.maintenance.triggers import Cycle, combine, evaluate
from ifactory.plant.registry import PlantRegistry
from ifactory.production import oee

US = 1_000_000
WEEK_US = 7 * 86_400 * US
MAX_JOBS_PER_TARGET = 500
PLACED = "planned stop"
NO_STOP = "no fitting stop"
SKIPPED = "skipped"


class ProjectionContext:
    """Meters extrapolated from their recent rate; conditions unknown (not foreseeable)."""

    def __init__(self, base: pm.HistorianContext) -> None:
        self.base = base
        self.now_us = base.now_us

    def meter_value(
        self, machine_id: int, meter: str, tag_name: str | None, at_us: int
    ) -> float | None:
        """The meter at `at_us`: read up to now, projected at the recent rate after."""
        if at_us <= self.now_us:
            return self.base.meter_value(machine_id, meter, tag_name, at_us)
        now = self.base.meter_value(machine_id, meter, tag_name, self.now_us)
        rate = self.base.meter_rate(machine_id, meter, tag_name)
        if now is None:
            return None
        return now + (rate or 0.0) * (at_us - self.now_us) / US

    def meter_rate(self, machine_id: int, meter: str, tag_name: str | None) -> float | None:
        """The recent rate per second."""
        return self.base.meter_rate(machine_id, meter, tag_name)

    def condition_window(self, *args: Any) -> dict[str, Any] | None:
        """Conditions are not projected."""
        return None

    def rearmed(self, *args: Any) -> bool:
        """Thresholds are not projected."""
        return False

    def signal(self, *args: Any) -> dict[str, Any] | None:
        """Events are not projected."""
        return None


@dataclass
class Job:
    """One forecast PM job on a machine, with the planned stop it was placed in."""

    plan_id: int
    plan_name: str
    machine_id: int
    seq: int
    due_us: int
    projected: bool
    duration_s: int
    estimated_hours: float
    skipped: bool
    trigger: str
    slot_start_us: int | None = None
    slot_end_us: int | None = None
    placement: str = NO_STOP


def node_ids(registry: PlantRegistry, machine_id: int) -> set[str]:
    """The ids a calendar's planned stop may name for this machine (itself and its ancestors)."""
    ids = {registry.nodes[machine_id].key.rsplit("/", 1)[-1]}
    ids |= {a.key.rsplit("/", 1)[-1] for a in registry.ancestors(machine_id)}
    return ids


def planned_stops(
    registry: PlantRegistry, machine_id: int, start_us: int, end_us: int
) -> list[oee.Interval]:
    """Time in [start, end) the calendar does not plan for production on this machine."""
    cal = registry.calendar_for(machine_id)
    if cal is None:
        return [(start_us, end_us)]
    planned = oee.normalize(cal.planned_intervals(start_us, end_us, node_ids(registry, machine_id)))
    return oee.subtract([(start_us, end_us)], planned)


def project(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    now_us: int,
    end_us: int,
    plans: Sequence[PMPlan],
) -> list[Job]:
    """Every occurrence of `plans` due before `end_us` (overdue ones due now)."""
    cycles = pm.load_cycles(session, plans=plans)
    ctx = ProjectionContext(pm.HistorianContext(session, registry, store, now_us))
    jobs: list[Job] = []
    for plan in plans:
        rows = pm.trigger_rows(plan)
        if not rows:
            continue
        for machine_id in pm.targets(session, plan=plan, registry=registry):
            if machine_id not in registry.nodes:
                continue
            clock = pm.wall_clock(registry, machine_id, plan.holidays or [])
            cycle = pm.cycle_of(cycles, plan, machine_id)
            if cycle.seq and cycle.last_completed_us is None:
                # The open work order is assumed done on its due date.
                cycle = replace(cycle, last_completed_us=cycle.last_due_us)
            for _ in range(MAX_JOBS_PER_TARGET):
                dues = evaluate(rows, cycle, machine_id, ctx, clock, plan.holiday_rule)
                decision = combine(dues, plan.combine, 0, now_us)
                if decision.due_us is None or decision.due_us >= end_us:
                    break
                seq = cycle.seq + 1
                skipped = bool(plan.skip_every) and seq % int(plan.skip_every or 1) == 0
                jobs.append(
                    Job(
                        plan_id=plan.id,
                        plan_name=plan.name,
                        machine_id=machine_id,
                        seq=seq,
                        due_us=max(decision.due_us, now_us),
                        projected=decision.projected,
                        duration_s=plan.duration_s,
                        estimated_hours=plan.estimated_hours,
                        skipped=skipped,
                        trigger=",".join(sorted({d.kind for d in decision.fired})),
                        placement=SKIPPED if skipped else NO_STOP,
                    )
                )
                baselines = pm.next_baselines(
                    plan, rows, cycle, decision, dues, machine_id, ctx, clock
                )
                due = decision.due_us
                cycle = Cycle(
                    start_us=plan.start_us,
                    seq=seq,
                    last_nominal_us=decision.nominal_us,
                    last_due_us=due,
                    last_generated_us=max(due, now_us),
                    last_completed_us=due,
                    baselines=baselines,
                )
    jobs.sort(key=lambda j: (j.due_us, j.machine_id, j.plan_id))
    return jobs


def place(registry: PlantRegistry, jobs: list[Job], *, now_us: int, end_us: int) -> list[Job]:
    """Put each job into the latest planned stop of its machine that fits before its due date."""
    free: dict[int, list[list[int]]] = {}  # machine -> [[start, end, used_until]]
    for job in sorted(jobs, key=lambda j: (j.due_us, j.machine_id, j.plan_id)):
        if job.skipped:
            continue
        if job.machine_id not in free:
            free[job.machine_id] = [
                [s, e, s] for s, e in planned_stops(registry, job.machine_id, now_us, end_us)
            ]
        need = job.duration_s * US
        for window in reversed(free[job.machine_id]):
            _start, end, used = window
            begin = max(used, now_us)
            finish = begin + need
            if begin >= job.due_us:
                continue
            if finish <= min(end, job.due_us):
                job.slot_start_us, job.slot_end_us = begin, finish
                job.placement = PLACED
                window[2] = finish
                break
    return jobs


def forecast(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    now_us: int,
    weeks: int,
    plans: Sequence[PMPlan],
    machine_id: int | None = None,
) -> list[Job]:
    """Upcoming PM jobs of the next `weeks` weeks, each placed into a planned stop if one fits."""
    end_us = now_us + weeks * WEEK_US
    jobs = project(
        session, registry=registry, store=store, now_us=now_us, end_us=end_us, plans=plans
    )
    if machine_id is not None:
        jobs = [j for j in jobs if j.machine_id == machine_id]
    return place(registry, jobs, now_us=now_us, end_us=end_us)
