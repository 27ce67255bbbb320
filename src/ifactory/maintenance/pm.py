"""Preventive maintenance plans (create, read, change, delete) and work-order generation.

Generation is idempotent and never misses. Each pass reads, per plan and machine, the last
recorded occurrence and evaluates the plan's triggers from there (`triggers.py`), so a plan
that fell due while the platform was stopped is raised at the next start (catch-up), every
missed calendar point once. An occurrence is claimed by inserting its row (unique on plan and
key, ON CONFLICT DO NOTHING) before its work order is created with the source key
"pm:<plan>:<key>"; a second generator (another process, or a restart replaying the same
pass) finds the key taken and creates nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, Text, and_, bindparam, delete, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ifactory.core.audit import SYSTEM, UserRef, record, stamp
from ifactory.core.db import get_or_not_found
from ifactory.core.errors import IFactoryError, InvalidInput, NotFound
from ifactory.core.events import Event
from ifactory.historian.store import MINUTE_US
from ifactory.maintenance import execution
from ifactory.maintenance import service as work_orders
from ifactory.maintenance.evidence import historian_window
from ifactory.maintenance.meters import METERS, MeterReader, floor_minute
from ifactory.maintenance.models import Asset, WorkOrder, WorkOrderTask
from ifactory.maintenance.pm_models import PMOccurrence, PMPlan, PMSignal, PMTrigger
from ifactory.maintenance.triggers import (
    Cycle,
    Decision,
    TriggerDue,
    WallClock,
    combine,
    evaluate,
    next_meter_baseline,
)
from ifactory.plant.registry import PlantRegistry
from ifactory.plant.spec import ALL_DAYS

log = logging.getLogger(__name__)
US = 1_000_000
CONDITION_LOOKBACK_US = 31 * 86_400 * US
SIGNAL_BEFORE_US = 3600 * US
SIGNAL_AFTER_US = 600 * US
ANY_MACHINE = -1  # cycle key of a plan across machines (a plan on an asset)
MAX_PER_TARGET = 100  # occurrences one pass may raise for one plan on one machine
CLOSED_STATES = ("completed", "closed")


# --- plans -----------------------------------------------------------------------------------


def get_plan(session: Session, *, plan_id: int) -> PMPlan:
    """A PM plan (NotFound otherwise)."""
    return get_or_not_found(
        session, PMPlan, plan_id, f"no PM plan {plan_id}", loc=["path", "plan_id"]
    )


def get_all_plans(
    session: Session,
    *,
    machine_id: int | None = None,
    active: bool | None = None,
    registry: PlantRegistry | None = None,
) -> list[PMPlan]:
    """PM plans by name; with `machine_id`, those that apply to that machine."""
    query = select(PMPlan).order_by(PMPlan.name, PMPlan.id)
    if active is not None:
        query = query.where(PMPlan.active.is_(active))
    plans = list(session.scalars(query).all())
    if machine_id is None:
        return plans
    return [p for p in plans if machine_id in targets(session, plan=p, registry=registry)]


def _check_target(
    session: Session,
    registry: PlantRegistry | None,
    machine_id: int | None,
    equipment_class: str | None,
    asset_id: int | None,
) -> None:
    if machine_id is not None:
        work_orders.get_machine(session, machine_id=machine_id, loc=["body", "machine_id"])
    if asset_id is not None and session.get(Asset, asset_id) is None:
        raise NotFound(f"no asset {asset_id}", loc=["body", "asset_id"])
    if (
        equipment_class is not None
        and registry is not None
        and not any(m.equipment_class == equipment_class for m in registry.machines())
    ):
        raise InvalidInput(
            f"no machine of equipment class '{equipment_class}'",
            loc=["body", "equipment_class"],
            type="unknown_equipment_class",
        )


def _check_triggers(
    session: Session,
    registry: PlantRegistry | None,
    plan: PMPlan,
    specs: Sequence[dict[str, Any]],
) -> None:
    """Meter and condition tags must exist on the plan's machines."""
    if registry is None:
        return
    machines = targets(session, plan=plan, registry=registry)
    for i, spec in enumerate(specs):
        name = spec.get("tag_name")
        if not name:
            continue
        for mid in machines:
            if mid in registry.nodes and not any(
                t.name == name for t in registry.machine_tags(mid)
            ):
                raise InvalidInput(
                    f"machine '{registry.nodes[mid].key}' has no tag '{name}'",
                    loc=["body", "triggers", i, "tag_name"],
                    type="unknown_tag",
                )


def _set_triggers(plan: PMPlan, specs: Sequence[dict[str, Any]]) -> None:
    plan.triggers.clear()
    for i, spec in enumerate(specs):
        params = {k: v for k, v in spec.items() if k != "kind" and v is not None}
        plan.triggers.append(PMTrigger(position=i, kind=spec["kind"], params=params))


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "holidays" in out and out["holidays"] is not None:
        out["holidays"] = sorted({str(d) for d in out["holidays"]})
    return out


def create_plan(
    session: Session,
    *,
    fields: dict[str, Any],
    user: UserRef,
    now_us: int,
    registry: PlantRegistry | None = None,
) -> PMPlan:
    """Create a plan with its triggers (validated schema fields: `PlanCreate.model_dump()`)."""
    fields = _plain(fields)
    specs = fields.pop("triggers")
    _check_target(
        session,
        registry,
        fields.get("machine_id"),
        fields.get("equipment_class"),
        fields.get("asset_id"),
    )
    if fields.get("start_us") is None:
        fields["start_us"] = now_us
    plan = PMPlan(**fields)
    _set_triggers(plan, specs)
    _check_triggers(session, registry, plan, specs)
    stamp(plan, user=user)
    session.add(plan)
    session.flush()
    record(session, user=user, action="create", entity="pm_plan", entity_id=plan.id)
    return plan


def update_plan(
    session: Session,
    *,
    plan: PMPlan,
    changes: dict[str, Any],
    user: UserRef,
    registry: PlantRegistry | None = None,
) -> PMPlan:
    """Change a plan; new triggers replace the old ones (the cycle continues from the last occurrence)."""
    changes = _plain(changes)
    specs = changes.pop("triggers", None)
    for key, value in changes.items():
        if value is None and key not in ("skip_every",):
            continue
        setattr(plan, key, value)
    if specs is not None:
        _check_triggers(session, registry, plan, specs)
        _set_triggers(plan, specs)
    stamp(plan, user=user)
    record(
        session,
        user=user,
        action="update",
        entity="pm_plan",
        entity_id=plan.id,
        details={"fields": sorted(changes) + (["triggers"] if specs is not None else [])},
    )
    session.flush()
    return plan


def delete_plan(session: Session, *, plan: PMPlan, user: UserRef) -> None:
    """Delete a plan and its occurrence records (its work orders stay, with their history)."""
    record(session, user=user, action="delete", entity="pm_plan", entity_id=plan.id)
    session.delete(plan)
    session.flush()


def get_occurrences(
    session: Session, *, plan_id: int, offset: int = 0, limit: int = 100
) -> Sequence[PMOccurrence]:
    """A plan's occurrences, newest first."""
    return session.scalars(
        select(PMOccurrence)
        .where(PMOccurrence.plan_id == plan_id)
        .order_by(PMOccurrence.generated_us.desc(), PMOccurrence.seq.desc())
        .offset(offset)
        .limit(limit)
    ).all()


# --- targets and calendars -------------------------------------------------------------------


def targets(session: Session, *, plan: AnyPlan, registry: PlantRegistry | None) -> list[int]:
    """The machines a plan applies to now (an asset's plan: the machine it is installed in)."""
    if plan.machine_id is not None:
        return [plan.machine_id]
    if plan.asset_id is not None:
        asset = session.get(Asset, plan.asset_id)
        return [asset.machine_id] if asset is not None and asset.machine_id is not None else []
    if registry is None or plan.equipment_class is None:
        return []
    return [m.id for m in registry.machines() if m.equipment_class == plan.equipment_class]


_CLOCKS: dict[tuple[str, tuple[str, ...], tuple[int, ...] | None], WallClock] = {}


def wall_clock(
    registry: PlantRegistry | None, machine_id: int, extra_holidays: Sequence[Any]
) -> WallClock:
    """The machine's site time zone, holidays (site and plan) and working weekdays (shared)."""
    plan_days = [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in extra_holidays]
    cal = registry.calendar_for(machine_id) if registry and machine_id in registry.nodes else None
    if cal is None:
        zone, days, weekdays = "UTC", plan_days, None
    else:
        spec = cal.settings.calendar
        on = tuple(i for i, d in enumerate(ALL_DAYS) if any(d in s.days for s in spec.shifts))
        zone, days, weekdays = (
            cal.settings.timezone,
            [*spec.holidays, *plan_days],
            (on if spec.shifts else None),
        )
    key = (zone, tuple(sorted({str(d) for d in days})), weekdays)
    clock = _CLOCKS.get(key)
    if clock is None:
        if len(_CLOCKS) > 1000:
            _CLOCKS.clear()
        clock = _CLOCKS[key] = WallClock(zone, days, weekdays)
    return clock


# --- the evaluation context (historian, meters, signals) --------------------------------------


class HistorianContext:
    """Triggers read meters and conditions through this: historian, state history, signals."""

    def __init__(self, session: Session, registry: PlantRegistry, store: Any, now_us: int) -> None:
        self.session = session
        self.registry = registry
        self.store = store
        self.now_us = now_us
        self.meters = MeterReader(session, registry, store, now_us)
        self._rates: dict[tuple[int, str, str | None], float | None] = {}
        self._blocks: dict[int, tuple[Any, Any, Any, int]] = {}  # tag -> prefetched minutes

    def meter_value(
        self, machine_id: int, meter: str, tag_name: str | None, at_us: int
    ) -> float | None:
        """A meter's value at `at_us` (a cumulative meter, or the value of a tag)."""
        return self.meters.value(machine_id, meter, tag_name, at_us)

    def meter_rate(self, machine_id: int, meter: str, tag_name: str | None) -> float | None:
        """Recent growth per second of a meter."""
        key = (machine_id, meter, tag_name)
        if key not in self._rates:
            self._rates[key] = self.meters.rate_per_s(machine_id, meter, tag_name)
        return self._rates[key]

    def prefetch_conditions(self, requests: Iterable[tuple[int, str, int]]) -> None:
        """Read the 1-minute rollups of every condition tag of a pass in one historian query.

        `requests` are (machine, tag name, since). Each historian query scans the in-memory
        head, so one query from the earliest start serves all conditions of the pass.
        """
        ids: set[int] = set()
        start = None
        for machine_id, tag_name, since_us in requests:
            tag = self.meters.tag_named(machine_id, tag_name)
            if tag is None:
                continue
            ids.add(tag.id)
            first = floor_minute(max(since_us, self.now_us - CONDITION_LOOKBACK_US))
            start = first if start is None else min(start, first)
        end = floor_minute(self.now_us) + MINUTE_US
        if not ids or start is None or end <= start:
            return
        agg = self.store.aggregate(np.array(sorted(ids), dtype=np.int32), start, end, MINUTE_US)
        for i, tag_id in enumerate(agg.tags.tolist()):
            self._blocks[int(tag_id)] = (agg.count[i], agg.min[i], agg.max[i], start)

    def _minutes(
        self, machine_id: int, tag_name: str, since_us: int
    ) -> tuple[Any, Any, Any, Any, int] | None:
        """(count, min, max per minute, tag, first minute) of a tag from `since_us` to now."""
        tag = self.meters.tag_named(machine_id, tag_name)
        if tag is None:
            return None
        start = floor_minute(max(since_us, self.now_us - CONDITION_LOOKBACK_US))
        end = floor_minute(self.now_us) + MINUTE_US
        if end <= start:
            return None
        block = self._blocks.get(tag.id)
        if block is not None and block[3] <= start:
            skip = (start - block[3]) // MINUTE_US
            return block[0][skip:], block[1][skip:], block[2][skip:], tag, start
        agg = self.store.aggregate(np.array([tag.id], dtype=np.int32), start, end, MINUTE_US)
        return agg.count[0], agg.min[0], agg.max[0], tag, start

    def condition_window(
        self,
        machine_id: int,
        tag_name: str,
        operator: str,
        limit: float,
        duration_s: float,
        since_us: int,
    ) -> dict[str, Any] | None:
        """The first run of minutes, after `since_us`, with the tag beyond `limit` for `duration_s`.

        Evaluated on the historian's 1-minute rollups: a minute counts when all its samples
        are beyond the limit (its min above, or its max below); a minute without samples
        keeps the previous minute's verdict, because a sampled value holds until the next.
        """
        got = self._minutes(machine_id, tag_name, since_us)
        if got is None:
            return None
        count, vmin, vmax, tag, start = got
        if operator == "above":
            beyond = np.where(count > 0, vmin > limit, False)
        else:
            beyond = np.where(count > 0, vmax < limit, False)
        # Forward-fill the verdict over minutes without samples.
        has = count > 0
        idx = np.where(has, np.arange(len(count)), -1)
        np.maximum.accumulate(idx, out=idx)
        verdict = np.where(idx >= 0, beyond[np.maximum(idx, 0)], False)
        need = max(1, int(np.ceil(duration_s * US / MINUTE_US)))
        # Run lengths of consecutive True minutes.
        padded = np.concatenate(([False], verdict, [False]))
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        starts, ends = edges[::2], edges[1::2]
        long_enough = np.flatnonzero(ends - starts >= need)
        if len(long_enough) == 0:
            return None
        i = int(long_enough[0])
        s, e = int(starts[i]), int(ends[i])
        s_us = start + s * MINUTE_US
        e_us = min(start + e * MINUTE_US, self.now_us)
        sel = slice(s, e)
        peak_arr = vmax[sel] if operator == "above" else vmin[sel]
        peak = float(np.nanmax(peak_arr) if operator == "above" else np.nanmin(peak_arr))
        return {
            "tag_id": tag.id,
            "tag": tag.key,
            "start_us": s_us,
            "end_us": e_us,
            "due_us": s_us + need * MINUTE_US,
            "peak": peak if np.isfinite(peak) else None,
            "limit": limit,
            "historian": history_link(tag.id, s_us, e_us),
            "view": historian_window(
                self.registry, machine_id=machine_id, start_us=s_us, end_us=e_us, tag_ids=[tag.id]
            ),
        }

    def rearmed(
        self, machine_id: int, tag_name: str, operator: str, value: float, since_us: int
    ) -> bool:
        """True when the tag came back to the normal side of `value` since `since_us`."""
        tag = self.meters.tag_named(machine_id, tag_name)
        if tag is None:
            return False
        start, end = floor_minute(since_us), floor_minute(self.now_us) + MINUTE_US
        agg = self.store.aggregate(np.array([tag.id], dtype=np.int32), start, end, end - start)
        if operator == "above":
            low = float(np.nanmin(agg.min[0])) if np.isfinite(agg.min[0]).any() else np.inf
            return low <= value
        high = float(np.nanmax(agg.max[0])) if np.isfinite(agg.max[0]).any() else -np.inf
        return high >= value

    def signal(self, machine_id: int, event_type: str, since_us: int) -> dict[str, Any] | None:
        """The first recorded event of `event_type` about the machine after `since_us`."""
        row = self.session.scalars(
            select(PMSignal)
            .where(
                PMSignal.machine_id == machine_id,
                PMSignal.event_type == event_type,
                PMSignal.at_us > since_us,
            )
            .order_by(PMSignal.at_us)
            .limit(1)
        ).first()
        if row is None:
            return None
        return {
            "event_id": row.event_id,
            "event_type": row.event_type,
            "at_us": row.at_us,
            "payload": row.payload,
            # The machine's history around the event: the run-up and what followed.
            "view": historian_window(
                self.registry,
                machine_id=machine_id,
                start_us=row.at_us - SIGNAL_BEFORE_US,
                end_us=row.at_us + SIGNAL_AFTER_US,
            ),
        }


def history_link(tag_id: int, start_us: int, end_us: int) -> str:
    """API link to the historian window (1-minute buckets) a piece of evidence refers to."""
    return f"/api/history/aggregate?tag_id={tag_id}&start_us={start_us}&end_us={end_us}&bucket_s=60"


# --- cycles ------------------------------------------------------------------------------------


def load_cycles(session: Session, *, plans: Sequence[Any]) -> dict[tuple[int, int], Cycle]:
    """The current cycle of every (plan, machine) that has occurrences, read in bulk."""
    if not plans:
        return {}
    by_id = {p.id: p for p in plans}
    latest = (
        select(
            PMOccurrence.plan_id,
            PMOccurrence.machine_id,
            func.max(PMOccurrence.seq).label("seq"),
        )
        .group_by(PMOccurrence.plan_id, PMOccurrence.machine_id)
        .subquery()
    )
    occ = PMOccurrence
    rows = session.execute(
        select(
            occ.plan_id,
            occ.machine_id,
            occ.seq,
            occ.status,
            occ.work_order_id,
            occ.due_us,
            occ.nominal_us,
            occ.generated_us,
            sql_cast(occ.baselines, Text).label("baselines"),
        ).join(
            latest,
            and_(
                occ.plan_id == latest.c.plan_id,
                occ.machine_id == latest.c.machine_id,
                occ.seq == latest.c.seq,
            ),
        )
    ).all()
    rows = [r for r in rows if r.plan_id in by_id]
    wo_ids = [r.work_order_id for r in rows if r.work_order_id is not None]
    done: dict[int, tuple[str, int | None]] = {}
    for i in range(0, len(wo_ids), 900):
        chunk = wo_ids[i : i + 900]
        for wid, wo_state, wo_completed in session.execute(
            select(WorkOrder.id, WorkOrder.state, WorkOrder.completed_us).where(
                WorkOrder.id.in_(chunk)
            )
        ):
            done[int(wid)] = (str(wo_state), wo_completed)
    out = {}
    for r in rows:
        completed: int | None
        if r.status == "skipped":
            completed = r.due_us  # a skipped job counts as done on its due date
        elif r.work_order_id is None:
            completed = r.due_us  # its work order was deleted: do not wait for it forever
        else:
            state, when = done.get(r.work_order_id, ("cancelled", None))
            if state in CLOSED_STATES and when is not None:
                completed = int(when)
            elif state == "cancelled":
                completed = r.due_us
            else:
                completed = None
        cycle = Cycle(
            start_us=by_id[r.plan_id].start_us,
            seq=r.seq,
            last_nominal_us=r.nominal_us,
            last_due_us=r.due_us,
            last_generated_us=r.generated_us,
            last_completed_us=completed,
            baselines=dict(_json(r.baselines) or {}),
        )
        out[(r.plan_id, r.machine_id)] = cycle
        # An asset's plan runs one cycle wherever the asset is: keep its latest occurrence too.
        plan_wide = out.get((r.plan_id, ANY_MACHINE))
        if plan_wide is None or plan_wide.seq < cycle.seq:
            out[(r.plan_id, ANY_MACHINE)] = cycle
    return out


def cycle_of(cycles: dict[tuple[int, int], Cycle], plan: Any, machine_id: int) -> Cycle:
    """The current cycle of a plan on a machine (an asset's plan: wherever the asset was)."""
    key = (plan.id, ANY_MACHINE if plan.asset_id is not None else machine_id)
    return cycles.get(key) or Cycle(start_us=plan.start_us)


@dataclass(frozen=True)
class TriggerView:
    """A trigger as the generator reads it (no ORM object: 10,000 plans load in one query)."""

    id: int
    kind: str
    params: dict[str, Any]


@dataclass
class PlanView:
    """The fields of a plan generation needs, read with plain column queries."""

    id: int
    name: str
    description: str
    machine_id: int | None
    equipment_class: str | None
    asset_id: int | None
    work_order_type: str
    priority: str
    estimated_hours: float
    duration_s: int
    combine: str
    lead_time_s: int
    holiday_rule: str
    holidays: list[Any]
    skip_every: int | None
    start_us: int
    triggers: list[TriggerView] = field(default_factory=list)
    tasks: list[Any] | None = None  # read when a work order is raised


AnyPlan = PMPlan | PlanView
_DECODED: dict[str, Any] = {}


def _json(raw: Any) -> Any:
    """Decode a JSON column read as text, remembering it: plans rarely change between passes.

    The decoded values are shared: callers copy them before changing anything.
    """
    if not isinstance(raw, str):
        return raw
    found = _DECODED.get(raw)
    if found is None:
        if len(_DECODED) > 100_000:
            _DECODED.clear()
        found = _DECODED[raw] = json.loads(raw)
    return found


def load_plan_views(
    session: Session, *, plan_ids: Sequence[int] | None = None, active: bool = True
) -> list[PlanView]:
    """Active plans with their triggers, as plain rows (two queries)."""
    cols = (
        PMPlan.id,
        PMPlan.name,
        PMPlan.description,
        PMPlan.machine_id,
        PMPlan.equipment_class,
        PMPlan.asset_id,
        PMPlan.work_order_type,
        PMPlan.priority,
        PMPlan.estimated_hours,
        PMPlan.duration_s,
        PMPlan.combine,
        PMPlan.lead_time_s,
        PMPlan.holiday_rule,
        sql_cast(PMPlan.holidays, Text),
        PMPlan.skip_every,
        PMPlan.start_us,
    )
    query = select(*cols).where(PMPlan.active.is_(active)).order_by(PMPlan.id)
    tquery = (
        select(PMTrigger.plan_id, PMTrigger.id, PMTrigger.kind, sql_cast(PMTrigger.params, Text))
        .join(PMPlan, PMPlan.id == PMTrigger.plan_id)
        .where(PMPlan.active.is_(active))
        .order_by(PMTrigger.plan_id, PMTrigger.position, PMTrigger.id)
    )
    if plan_ids is not None:
        query = query.where(PMPlan.id.in_(list(plan_ids)))
        tquery = tquery.where(PMTrigger.plan_id.in_(list(plan_ids)))
    views: dict[int, PlanView] = {}
    for r in session.execute(query).all():
        plan = cast(Any, PlanView)(*r)
        plan.holidays = _json(plan.holidays)
        views[plan.id] = plan
    for plan_id, tid, kind, params in session.execute(tquery).all():
        found = views.get(plan_id)
        if found is not None:
            found.triggers.append(TriggerView(tid, kind, _json(params)))
    return list(views.values())


def trigger_rows(plan: Any) -> list[tuple[int, str, dict[str, Any]]]:
    """(id, kind, params) of a plan's triggers."""
    return [(t.id, t.kind, dict(t.params)) for t in plan.triggers]


def next_baselines(
    plan: AnyPlan,
    rows: list[tuple[int, str, dict[str, Any]]],
    cycle: Cycle,
    decision: Decision,
    dues: list[TriggerDue],
    machine_id: int,
    ctx: Any,
    clock: WallClock,
) -> dict[str, Any]:
    """What each trigger counts from in the next cycle, after an occurrence at the decision's due."""
    assert decision.due_us is not None
    fired = {d.trigger_id for d in decision.fired}
    by_id = {d.trigger_id: d for d in dues}
    out = dict(cycle.baselines)
    # Readings at the due point (a context clamps to now what it cannot know; a projection
    # extrapolates); a fired meter counts from its reading when the job is raised.
    at = decision.due_us
    at_fired = max(decision.due_us, ctx.now_us)
    for tid, kind, params in rows:
        key = str(tid)
        if kind == "calendar" and params.get("mode") == "fixed":
            due = by_id.get(tid)
            k_fired = due.evidence.get("grid_index") if due is not None and tid in fired else None
            k_at = clock.index_at_or_before(
                plan.start_us,
                float(params["every"]),
                str(params.get("unit", "days")),
                decision.nominal_us or decision.due_us,
            )
            out[key] = max(int(cycle.baselines.get(key, 0)), int(k_fired or 0), k_at)
        elif kind == "meter":
            due = by_id.get(tid)
            previous = due.evidence.get("baseline") if due is not None else cycle.baselines.get(key)
            reading = ctx.meter_value(
                machine_id,
                params["meter"],
                params.get("tag_name"),
                at_fired if tid in fired else at,
            )
            out[key] = next_meter_baseline(params, previous, reading, tid in fired)
    return out


def _evidence(
    plan: AnyPlan, key: str, decision: Decision, registry: PlantRegistry, machine_id: int
) -> dict[str, Any]:
    node = registry.nodes.get(machine_id)
    return {
        "source": "pm_plan",
        "plan_id": plan.id,
        "plan": plan.name,
        "occurrence": key,
        "combine": plan.combine,
        "due_us": decision.due_us,
        "projected": decision.projected,
        "machine_page": f"/machines/{node.key}" if node is not None else None,
        "triggers": [dict(d.evidence, trigger_id=d.trigger_id) for d in decision.fired],
    }


_OCCURRENCE = cast(Table, PMOccurrence.__table__)
# Built once per dialect: values are bound per call, so the compiled statement is reused.
_CLAIM = {
    name: insert_fn(_OCCURRENCE)
    .on_conflict_do_nothing(index_elements=["plan_id", "key"])
    .returning(_OCCURRENCE.c.id)
    for name, insert_fn in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_LINK = (
    update(_OCCURRENCE)
    .where(_OCCURRENCE.c.id == bindparam("occurrence_id"))
    .values(work_order_id=bindparam("wo_id"))
)


def _insert_occurrence(session: Session, values: dict[str, Any]) -> int | None:
    """Claim an occurrence: INSERT ... ON CONFLICT DO NOTHING (None when already taken)."""
    stmt = _CLAIM["postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"]
    row = session.execute(stmt, values).first()
    return None if row is None else int(row[0])


def _description(plan: Any, tasks: list[Any]) -> str:
    lines = [plan.description.strip()] if plan.description.strip() else []
    for i, task in enumerate(tasks, start=1):
        text = task.get("description", "") if isinstance(task, dict) else str(task)
        lines.append(f"{i}. {text}")
    return "\n".join(lines)


@dataclass
class GenerationResult:
    """What a pass did: occurrences raised as work orders, skipped by rule, already taken."""

    generated: int = 0
    skipped: int = 0
    conflicts: int = 0
    errors: int = 0
    work_order_ids: list[int] = field(default_factory=list)
    plans_evaluated: int = 0


def generate(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    now_us: int,
    plan_ids: Sequence[int] | None = None,
    actor: UserRef = SYSTEM,
    max_per_target: int = MAX_PER_TARGET,
) -> GenerationResult:
    """Raise the work orders of every active plan that is due (including missed ones) now."""
    plans = load_plan_views(session, plan_ids=plan_ids)
    cycles = load_cycles(session, plans=plans)
    ctx = HistorianContext(session, registry, store, now_us)
    result = GenerationResult(plans_evaluated=len(plans))
    clocks: dict[tuple[str | None, tuple[str, ...]], WallClock] = {}  # per pass: no key work
    metered: set[tuple[int, str]] = set()
    conditions: list[tuple[int, str, int]] = []
    starts: set[tuple[int, str, int]] = set()
    work: list[tuple[Any, list[tuple[int, str, dict[str, Any]]], int, WallClock, Cycle]] = []
    for plan in plans:
        rows = trigger_rows(plan)
        if not rows:
            continue
        for machine_id in targets(session, plan=plan, registry=registry):
            node = registry.nodes.get(machine_id)
            if node is None:
                continue
            cycle = cycle_of(cycles, plan, machine_id)
            for _, kind, params in rows:
                if kind == "meter" and params["meter"] in METERS:
                    metered.add((machine_id, params["meter"]))
                    if cycle.seq == 0 and plan.start_us <= now_us:
                        starts.add((machine_id, params["meter"], plan.start_us))
                if kind == "condition" and params.get("tag_name"):
                    conditions.append((machine_id, params["tag_name"], cycle.since_us))
            ck = (node.site_key, tuple(str(h) for h in plan.holidays or ()))
            if ck not in clocks:
                clocks[ck] = wall_clock(registry, machine_id, plan.holidays or [])
            work.append((plan, rows, machine_id, clocks[ck], cycle))
    for machine_id, meter, start_us in sorted(starts):
        ctx.meters.ensure_checkpoint(machine_id, meter, start_us)
    ctx.meters.prefetch(metered)
    ctx.prefetch_conditions(conditions)
    for plan, rows, machine_id, clock, cycle in work:
        try:
            _generate_target(
                session,
                plan,
                rows,
                machine_id,
                cycle,
                ctx,
                clock,
                registry,
                actor,
                now_us,
                max_per_target,
                result,
            )
        except IFactoryError as exc:
            result.errors += 1
            log.warning("PM plan %s on machine %s: %s", plan.id, machine_id, exc.msg)
    # Meter checkpoints keep readings cheap (increase since the last one) and give the rate.
    for machine_id, meter in sorted(metered):
        ctx.meters.checkpoint(machine_id, meter)
    return result


def _generate_target(
    session: Session,
    plan: AnyPlan,
    rows: list[tuple[int, str, dict[str, Any]]],
    machine_id: int,
    cycle: Cycle,
    ctx: HistorianContext,
    clock: WallClock,
    registry: PlantRegistry,
    actor: UserRef,
    now_us: int,
    max_per_target: int,
    result: GenerationResult,
) -> None:
    lead_us = plan.lead_time_s * US
    for _ in range(max_per_target):
        dues = evaluate(rows, cycle, machine_id, ctx, clock, plan.holiday_rule)
        decision = combine(dues, plan.combine, lead_us, now_us)
        if not decision.fire or decision.due_us is None:
            return
        seq = cycle.seq + 1
        key = f"m{machine_id}-{seq}"
        skipped = bool(plan.skip_every) and seq % int(plan.skip_every or 1) == 0
        baselines = next_baselines(plan, rows, cycle, decision, dues, machine_id, ctx, clock)
        evidence = _evidence(plan, key, decision, registry, machine_id)
        if skipped:
            evidence["skipped"] = f"every {plan.skip_every}th occurrence is skipped"
        occ_id = _insert_occurrence(
            session,
            {
                "plan_id": plan.id,
                "machine_id": machine_id,
                "key": key,
                "seq": seq,
                "due_us": decision.due_us,
                "nominal_us": decision.nominal_us or decision.due_us,
                "generated_us": now_us,
                "status": "skipped" if skipped else "generated",
                "work_order_id": None,
                "evidence": evidence,
                "baselines": baselines,
            },
        )
        if occ_id is None:
            # Another generator raised this occurrence: continue from its record next pass.
            result.conflicts += 1
            return
        if skipped:
            result.skipped += 1
        else:
            try:
                wo = _raise_work_order(
                    session, plan, machine_id, key, decision, evidence, actor, now_us
                )
            except IFactoryError:
                session.execute(delete(PMOccurrence).where(PMOccurrence.id == occ_id))
                raise
            session.execute(_LINK, {"occurrence_id": occ_id, "wo_id": wo.id})
            result.generated += 1
            result.work_order_ids.append(wo.id)
        cycle = Cycle(
            start_us=plan.start_us,
            seq=seq,
            last_nominal_us=decision.nominal_us,
            last_due_us=decision.due_us,
            last_generated_us=now_us,
            last_completed_us=decision.due_us if skipped else None,
            baselines=baselines,
        )


def _raise_work_order(
    session: Session,
    plan: AnyPlan,
    machine_id: int,
    key: str,
    decision: Decision,
    evidence: dict[str, Any],
    actor: UserRef,
    now_us: int,
) -> WorkOrder:
    tasks: list[Any] = list(plan.tasks) if plan.tasks is not None else []
    if plan.tasks is None:
        tasks = list(session.scalar(select(PMPlan.tasks).where(PMPlan.id == plan.id)) or [])
    wo = work_orders.create_work_order(
        session,
        machine_id=machine_id,
        type=plan.work_order_type,
        title=plan.name,
        description=_description(plan, tasks),
        priority=plan.priority,
        actor=actor,
        asset_id=plan.asset_id,
        due_us=decision.due_us,
        pm_plan_id=plan.id,
        source_key=f"pm:{plan.id}:{key}",
        evidence=evidence,
        state="approved",
        now_us=now_us,
        estimated_hours=plan.estimated_hours,
    )
    has_tasks = bool(tasks) and session.scalar(
        select(func.count()).select_from(WorkOrderTask).where(WorkOrderTask.work_order_id == wo.id)
    )
    if tasks and not has_tasks:  # a work order found by its source key already has its checklist
        for task in tasks:
            item = task if isinstance(task, dict) else {"description": str(task)}
            execution.add_task(
                session,
                work_order=wo,
                description=str(item.get("description", "")),
                actor=actor,
                kind=str(item.get("kind", "check")),
                unit=str(item.get("unit", "")),
                lower=_number(item.get("lower")),
                upper=_number(item.get("upper")),
            )
    return wo


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# --- next due ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextDue:
    """The next due point of a plan on one machine."""

    plan_id: int
    machine_id: int
    seq: int
    due_us: int | None
    nominal_us: int | None
    projected: bool
    triggers: list[dict[str, Any]]


def next_due(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    now_us: int,
    plans: Sequence[AnyPlan],
) -> list[NextDue]:
    """For each plan and machine: when the next occurrence falls due (lead time not applied)."""
    cycles = load_cycles(session, plans=plans)
    ctx = HistorianContext(session, registry, store, now_us)
    out = []
    for plan in plans:
        rows = trigger_rows(plan)
        for machine_id in targets(session, plan=plan, registry=registry):
            if machine_id not in registry.nodes:
                continue
            clock = wall_clock(registry, machine_id, plan.holidays or [])
            cycle = cycle_of(cycles, plan, machine_id)
            dues = evaluate(rows, cycle, machine_id, ctx, clock, plan.holiday_rule)
            decision = combine(dues, plan.combine, 0, now_us)
            out.append(
                NextDue(
                    plan.id,
                    machine_id,
                    cycle.seq + 1,
                    decision.due_us,
                    decision.nominal_us,
                    decision.projected,
                    [dict(d.evidence, trigger_id=d.trigger_id, due_us=d.due_us) for d in dues],
                )
            )
    return out


# --- the generator service -----------------------------------------------------------------------

GENERATE_EVERY_S = 60.0


class PMGenerator:
    """Runs generation at start (catch-up) and every `every_s`; records condition events."""

    def __init__(self, platform: Any, *, every_s: float = GENERATE_EVERY_S) -> None:
        self.platform = platform
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Any] = []
        self.last: GenerationResult | None = None
        self._types: set[str] = set()
        self._watched_at = float("-inf")

    def run_once(self) -> GenerationResult:
        """One generation pass in its own transaction."""
        p = self.platform
        with p.db.session() as session:
            result = generate(session, registry=p.registry, store=p.store, now_us=p.clock.now_us())
        if result.generated:
            p.relay.notify()
            log.info(
                "PM: raised %d work orders (%d skipped by rule)", result.generated, result.skipped
            )
        self.last = result
        return result

    def on_event(self, event: Event) -> None:
        """Keep a bus event about a machine as a signal that condition triggers can match."""
        machine_id = getattr(event, "machine_id", None)
        if not isinstance(machine_id, int):
            return
        with self.platform.db.session() as session:
            record_signal(
                session,
                event=event,
                machine_id=machine_id,
                at_us=event_time(event) or self.platform.clock.now_us(),
            )

    def start(self) -> None:
        """Subscribe to the events conditions may use, catch up, then run on the interval."""
        self._unsubscribe.append(self.platform.bus.subscribe("*", self._maybe_signal))
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pm-generator", daemon=True)
        self._thread.start()

    def _maybe_signal(self, event: Event) -> None:
        if event.type in self._watched():
            self.on_event(event)

    def _watched(self) -> set[str]:
        now = time.monotonic()
        if now - self._watched_at > 30.0:
            with self.platform.db.session() as session:
                self._types = watched_event_types(session)
            self._watched_at = now
        return self._types

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("PM generation failed; retrying at the next interval")
            if self._stop.wait(self.every_s):
                return

    def stop(self) -> None:
        """Stop the interval loop and the subscriptions."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


EVENT_TIME_FIELDS = ("at_us", "detected_at_us", "estimated_at_us", "window_end_us")


def event_time(event: Event) -> int | None:
    """The data time an event is about (UTC µs), from its first time field that is set."""
    for name in EVENT_TIME_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def watched_event_types(session: Session) -> set[str]:
    """Event types named by the condition triggers of active plans."""
    rows = session.execute(
        select(PMTrigger.params)
        .join(PMPlan, PMPlan.id == PMTrigger.plan_id)
        .where(PMTrigger.kind == "condition", PMPlan.active.is_(True))
    ).all()
    return {str(r[0]["event_type"]) for r in rows if r[0].get("event_type")}


def record_signal(session: Session, *, event: Event, machine_id: int, at_us: int) -> bool:
    """Store a bus event about a machine once (by event id); False when it was stored before."""
    table = cast(Table, PMSignal.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    stmt = stmt.values(
        event_id=str(event.event_id),
        machine_id=machine_id,
        event_type=event.type,
        at_us=at_us,
        payload=event.model_dump(mode="json"),
    ).on_conflict_do_nothing(index_elements=["event_id", "machine_id"])
    return session.execute(stmt.returning(table.c.id)).first() is not None


def install(platform: Any) -> None:
    """Generate PM work orders on the platform: at start (catch-up) and every minute."""
    if getattr(platform, "pm_generator", None) is not None:
        return
    generator = PMGenerator(platform)
    platform.extras.append(generator)
    platform.pm_generator = generator
