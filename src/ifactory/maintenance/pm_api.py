"""Preventive maintenance, meters and reliability routes (thin: schemas validate, services work)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Response

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.errors import InvalidInput, NotFound
from ifactory.maintenance import forecast as pm_forecast
from ifactory.maintenance import meters, pm, reliability
from ifactory.maintenance.pm_models import PMPlan
from ifactory.maintenance.pm_schemas import (
    ForecastJobRead,
    ForecastRead,
    GenerationRead,
    KpisRead,
    KpiValue,
    MeterRead,
    MeterReadingCreate,
    MeterReadingRead,
    NextDueRead,
    OccurrenceRead,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    ReliabilityRead,
    TriggerSpec,
)

if TYPE_CHECKING:
    from ifactory.platform import Platform

router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])
Planner = Annotated[Principal, Depends(require_roles("planner", "manager"))]
Technician = Annotated[Principal, Depends(require_roles("technician", "planner", "manager"))]
US = 1_000_000
DAY_US = 86_400 * US
MAX_PERIOD_US = 400 * DAY_US


def _machine(platform: Platform, machine_id: int) -> None:
    node = platform.registry.nodes.get(machine_id)
    if node is None or not node.is_machine:
        raise NotFound(f"no machine {machine_id}", loc=["query", "machine_id"])


def _period(platform: Platform, start_us: int | None, end_us: int | None) -> tuple[int, int]:
    now = platform.clock.now_us()
    end = end_us if end_us is not None else now
    start = start_us if start_us is not None else end - 30 * DAY_US
    if end <= start:
        raise InvalidInput("end_us must be after start_us", loc=["query", "end_us"])
    if end - start > MAX_PERIOD_US:
        raise InvalidInput("the period is at most 400 days", loc=["query", "start_us"])
    return start, end


def _key(platform: Platform, machine_id: int) -> str:
    node = platform.registry.nodes.get(machine_id)
    return node.key if node is not None else str(machine_id)


# --- plans -------------------------------------------------------------------------------------


@router.get("/pm/plans", response_model=list[PlanRead])
def read_plans(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    machine_id: int | None = None,
    active: bool | None = None,
) -> list[PlanRead]:
    """PM plans; with `machine_id`, those that apply to the machine (directly, by class, by asset)."""
    plans = pm.get_all_plans(
        session, machine_id=machine_id, active=active, registry=platform.registry
    )
    return [PlanRead.model_validate(p) for p in plans]


@router.post("/pm/plans", response_model=PlanRead, status_code=201)
def create_plan(
    body: PlanCreate, session: SessionDep, platform: PlatformDep, user: Planner
) -> PlanRead:
    """Create a PM plan with its target, tasks, triggers, lead time and skip rules."""
    plan = pm.create_plan(
        session,
        fields=body.model_dump(),
        user=user,
        now_us=platform.clock.now_us(),
        registry=platform.registry,
    )
    return PlanRead.model_validate(plan)


@router.get("/pm/plans/{plan_id}", response_model=PlanRead)
def read_plan(plan_id: int, session: SessionDep, _: Actor) -> PlanRead:
    """One PM plan with its triggers."""
    return PlanRead.model_validate(pm.get_plan(session, plan_id=plan_id))


@router.patch("/pm/plans/{plan_id}", response_model=PlanRead)
def update_plan(
    plan_id: int, body: PlanUpdate, session: SessionDep, platform: PlatformDep, user: Planner
) -> PlanRead:
    """Change a plan (given triggers replace the old ones)."""
    plan = pm.get_plan(session, plan_id=plan_id)
    changes = body.model_dump(exclude_unset=True)
    return PlanRead.model_validate(
        pm.update_plan(session, plan=plan, changes=changes, user=user, registry=platform.registry)
    )


@router.put("/pm/plans/{plan_id}/triggers", response_model=PlanRead)
def replace_triggers(
    plan_id: int,
    body: list[TriggerSpec],
    session: SessionDep,
    platform: PlatformDep,
    user: Planner,
) -> PlanRead:
    """Replace a plan's triggers (the cycle continues from its last occurrence)."""
    if not body:
        raise InvalidInput("a plan needs at least one trigger", loc=["body"])
    plan = pm.get_plan(session, plan_id=plan_id)
    changes = {"triggers": [t.model_dump() for t in body]}
    return PlanRead.model_validate(
        pm.update_plan(session, plan=plan, changes=changes, user=user, registry=platform.registry)
    )


@router.delete("/pm/plans/{plan_id}", status_code=204)
def delete_plan(plan_id: int, session: SessionDep, user: Planner) -> Response:
    """Delete a plan (its work orders stay)."""
    pm.delete_plan(session, plan=pm.get_plan(session, plan_id=plan_id), user=user)
    return Response(status_code=204)


@router.get("/pm/plans/{plan_id}/occurrences", response_model=list[OccurrenceRead])
def read_occurrences(
    plan_id: int,
    session: SessionDep,
    _: Actor,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OccurrenceRead]:
    """A plan's generated and skipped occurrences, newest first."""
    pm.get_plan(session, plan_id=plan_id)
    rows = pm.get_occurrences(session, plan_id=plan_id, offset=offset, limit=limit)
    return [OccurrenceRead.model_validate(r) for r in rows]


def _next_due(session: SessionDep, platform: Platform, plans: list[PMPlan]) -> list[NextDueRead]:
    found = pm.next_due(
        session,
        registry=platform.registry,
        store=platform.store,
        now_us=platform.clock.now_us(),
        plans=plans,
    )
    return [
        NextDueRead(
            plan_id=d.plan_id,
            machine_id=d.machine_id,
            machine_key=_key(platform, d.machine_id),
            seq=d.seq,
            due_us=d.due_us,
            nominal_us=d.nominal_us,
            projected=d.projected,
            triggers=d.triggers,
        )
        for d in found
    ]


@router.get("/pm/plans/{plan_id}/next", response_model=list[NextDueRead])
def read_next_due(
    plan_id: int, session: SessionDep, platform: PlatformDep, _: Actor
) -> list[NextDueRead]:
    """When the plan falls due next on each of its machines, and each trigger's part in it."""
    return _next_due(session, platform, [pm.get_plan(session, plan_id=plan_id)])


@router.get("/pm/next-due", response_model=list[NextDueRead])
def read_all_next_due(
    session: SessionDep, platform: PlatformDep, _: Actor, machine_id: int | None = None
) -> list[NextDueRead]:
    """Next due points of every active plan (of one machine), soonest first."""
    plans = pm.get_all_plans(
        session, machine_id=machine_id, active=True, registry=platform.registry
    )
    out = _next_due(session, platform, plans)
    if machine_id is not None:
        out = [d for d in out if d.machine_id == machine_id]
    return sorted(out, key=lambda d: (d.due_us is None, d.due_us or 0, d.plan_id))


@router.post("/pm/generate", response_model=GenerationRead)
def generate(session: SessionDep, platform: PlatformDep, user: Planner) -> GenerationRead:
    """Run a generation pass now (the platform also runs one every minute)."""
    result = pm.generate(
        session,
        registry=platform.registry,
        store=platform.store,
        now_us=platform.clock.now_us(),
        actor=user,
    )
    platform.relay.notify()
    return GenerationRead(
        generated=result.generated,
        skipped=result.skipped,
        conflicts=result.conflicts,
        work_order_ids=result.work_order_ids,
    )


@router.get("/pm/forecast", response_model=ForecastRead)
def read_forecast(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    weeks: Annotated[int, Query(ge=1, le=52)] = 4,
    machine_id: int | None = None,
) -> ForecastRead:
    """Upcoming PM jobs of the next `weeks` weeks, each placed into a planned stop if one fits."""
    if machine_id is not None:
        _machine(platform, machine_id)
    now = platform.clock.now_us()
    plans = pm.get_all_plans(
        session, machine_id=machine_id, active=True, registry=platform.registry
    )
    jobs = pm_forecast.forecast(
        session,
        registry=platform.registry,
        store=platform.store,
        now_us=now,
        weeks=weeks,
        plans=plans,
        machine_id=machine_id,
    )
    return ForecastRead(
        start_us=now,
        end_us=now + weeks * pm_forecast.WEEK_US,
        weeks=weeks,
        jobs=[
            ForecastJobRead(
                plan_id=j.plan_id,
                plan_name=j.plan_name,
                machine_id=j.machine_id,
                machine_key=_key(platform, j.machine_id),
                seq=j.seq,
                due_us=j.due_us,
                projected=j.projected,
                duration_s=j.duration_s,
                estimated_hours=j.estimated_hours,
                skipped=j.skipped,
                slot_start_us=j.slot_start_us,
                slot_end_us=j.slot_end_us,
                placement=j.placement,
                trigger=j.trigger,
            )
            for j in jobs
        ],
    )


# --- meters ------------------------------------------------------------------------------------


@router.get("/meters", response_model=list[MeterRead])
def read_meters(
    session: SessionDep, platform: PlatformDep, _: Actor, machine_id: int | None = None
) -> list[MeterRead]:
    """Current run hours, cycles and energy of each machine (or one), with the recent daily rate."""
    if machine_id is not None:
        _machine(platform, machine_id)
    now = platform.clock.now_us()
    reader = meters.MeterReader(session, platform.registry, platform.store, now)
    ids = [machine_id] if machine_id is not None else [m.id for m in platform.registry.machines()]
    out = []
    for mid in ids:
        for meter in meters.METERS:
            if not reader.available(mid, meter):
                continue
            rate = reader.rate_per_s(mid, meter)
            source = reader.source(mid, meter)
            out.append(
                MeterRead(
                    machine_id=mid,
                    machine_key=_key(platform, mid),
                    meter=meter,
                    unit=meters.UNITS[meter],
                    value=reader.current(mid, meter),
                    at_us=now,
                    rate_per_day=None if rate is None else rate * 86_400,
                    source="machine states" if source is None else source.key,
                )
            )
    return out


@router.post("/meters/readings", response_model=MeterReadingRead, status_code=201)
def create_reading(
    body: MeterReadingCreate, session: SessionDep, platform: PlatformDep, user: Technician
) -> MeterReadingRead:
    """Set a meter by hand (its value at a time); later readings continue from it."""
    _machine(platform, body.machine_id)
    at = body.at_us if body.at_us is not None else platform.clock.now_us()
    if at > platform.clock.now_us():
        raise InvalidInput("a reading cannot be in the future", loc=["body", "at_us"])
    row = meters.record_reading(
        session,
        machine_id=body.machine_id,
        meter=body.meter,
        value=body.value,
        at_us=meters.floor_minute(at),
        user=user.username,
    )
    return MeterReadingRead.model_validate(row)


# --- reliability ---------------------------------------------------------------------------------


def _kpi(k: reliability.Kpi) -> KpiValue:
    return KpiValue(value=k.value, reason=k.reason)


def _reliability_read(
    platform: Platform, r: reliability.MachineReliability, start: int, end: int, code: str | None
) -> ReliabilityRead:
    """The API form of a machine's or component's reliability."""
    return ReliabilityRead(
        machine_id=r.machine_id,
        machine_key=_key(platform, r.machine_id),
        asset_id=r.asset_id,
        asset_code=code,
        start_us=start,
        end_us=end,
        operating_h=r.operating_h,
        failures=r.failures,
        ttr_h=r.ttr_h,
        mtbf_h=_kpi(r.mtbf_h),
        mttr_h=_kpi(r.mttr_h),
        availability=_kpi(r.availability),
        ongoing_failure=r.ongoing_failure,
        tbf_h=r.tbf_h,
        failure_starts_us=r.failure_starts_us,
        unlinked_corrective_work_orders=r.unlinked_corrective_work_orders,
    )


@router.get("/reliability", response_model=list[ReliabilityRead])
def read_reliability(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    machine_id: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[ReliabilityRead]:
    """MTBF, MTTR and availability per machine from operating time (default: the last 30 days)."""
    start, end = _period(platform, start_us, end_us)
    if machine_id is not None:
        _machine(platform, machine_id)
        ids = [machine_id]
    else:
        ids = [m.id for m in platform.registry.machines()]
    rows = reliability.machines(
        session, machine_ids=ids, start_us=start, end_us=end, now_us=platform.clock.now_us()
    )
    return [_reliability_read(platform, r, start, end, None) for r in rows]


@router.get("/reliability/components", response_model=list[ReliabilityRead])
def read_component_reliability(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    machine_id: int | None = None,
    asset_id: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[ReliabilityRead]:
    """MTBF, MTTR and availability per component (serialised asset) while installed."""
    start, end = _period(platform, start_us, end_us)
    rows = reliability.components(
        session,
        start_us=start,
        end_us=end,
        now_us=platform.clock.now_us(),
        asset_ids=[asset_id] if asset_id is not None else None,
        machine_id=machine_id,
    )
    return [_reliability_read(platform, r, start, end, r.asset_code) for r in rows]


@router.get("/kpis", response_model=KpisRead)
def read_kpis(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    machine_id: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> KpisRead:
    """PM compliance, planned vs unplanned hours, backlog and mean work-order age."""
    start, end = _period(platform, start_us, end_us)
    if machine_id is not None:
        _machine(platform, machine_id)
    k = reliability.maintenance_kpis(
        session,
        start_us=start,
        end_us=end,
        now_us=platform.clock.now_us(),
        machine_ids=[machine_id] if machine_id is not None else None,
    )
    return KpisRead(
        start_us=start,
        end_us=end,
        pm_due=k.pm_due,
        pm_on_time=k.pm_on_time,
        pm_compliance=_kpi(k.pm_compliance),
        planned_h=k.planned_h,
        unplanned_h=k.unplanned_h,
        planned_ratio=_kpi(k.planned_ratio),
        backlog_count=k.backlog_count,
        backlog_estimated_h=k.backlog_estimated_h,
        backlog_without_estimate=k.backlog_without_estimate,
        mean_age_days=_kpi(k.mean_age_days),
    )
