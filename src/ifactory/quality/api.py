"""Quality and traceability routes (thin: validation by schemas, work by the services)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.errors import InvalidInput
from ifactory.quality import genealogy, service
from ifactory.quality import rules as spc_rules
from ifactory.quality.schemas import (
    AttributeChartRead,
    AttributeChartType,
    CapabilityRead,
    CharacteristicCreate,
    CharacteristicRead,
    CharacteristicUpdate,
    ChartRead,
    ConsumptionCreate,
    DefectCodeCreate,
    DefectCodeRead,
    Direction,
    FirstPassYield,
    HoldClose,
    HoldCreate,
    HoldRead,
    InspectionCreate,
    InspectionRead,
    LimitsRead,
    LotCreate,
    LotPage,
    LotRead,
    MeasurementRead,
    MeasurementsCreate,
    MeasurementsRecorded,
    NcrCreate,
    NcrDisposition,
    NcrRead,
    ParetoItem,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    ProductionCreate,
    SerialsCreate,
    TraceRead,
    ViolationRead,
)
from ifactory.quality.spc import Limits

router = APIRouter(prefix="/api/quality", tags=["quality"])
QualityUser = Annotated[Principal, Depends(require_roles("quality", "manager"))]
ShopFloorUser = Annotated[Principal, Depends(require_roles("operator", "quality", "manager"))]
Rules = Annotated[list[str] | None, Query(description="rule ids; default: the characteristic's")]


def _limits(limits: Limits) -> LimitsRead:
    return LimitsRead(
        center=limits.center.tolist(), lcl=limits.lcl.tolist(), ucl=limits.ucl.tolist()
    )


def _violations(found: list[spc_rules.Violation], ts: np.ndarray) -> list[ViolationRead]:
    return [
        ViolationRead(
            rule=v.rule,
            description=spc_rules.describe(v.rule).description,
            index=v.index,
            ts_us=int(ts[v.index]),
            points=list(v.points),
        )
        for v in found
    ]


# --- plans and characteristics ---------------------------------------------------------------


@router.get("/plans", response_model=list[PlanRead])
def read_plans(session: SessionDep, _: Actor, product_code: str | None = None) -> list[PlanRead]:
    """Inspection plans, optionally of one product."""
    plans = service.get_all_plans(session, product_code=product_code)
    return [PlanRead.model_validate(p) for p in plans]


@router.post("/plans", response_model=PlanRead, status_code=201)
def create_plan(body: PlanCreate, session: SessionDep, user: QualityUser) -> PlanRead:
    """Create an inspection plan for a product (and operation)."""
    return PlanRead.model_validate(service.create_plan(session, **body.model_dump(), user=user))


@router.get("/plans/{plan_id}", response_model=PlanRead)
def read_plan(plan_id: int, session: SessionDep, _: Actor) -> PlanRead:
    """One inspection plan."""
    return PlanRead.model_validate(service.get_plan(session, plan_id=plan_id))


@router.patch("/plans/{plan_id}", response_model=PlanRead)
def update_plan(plan_id: int, body: PlanUpdate, session: SessionDep, user: QualityUser) -> PlanRead:
    """Change a plan."""
    plan = service.get_plan(session, plan_id=plan_id)
    changes = body.model_dump(exclude_unset=True)
    return PlanRead.model_validate(
        service.update_plan(session, plan=plan, changes=changes, user=user)
    )


@router.post("/plans/{plan_id}/characteristics", response_model=CharacteristicRead, status_code=201)
def create_characteristic(
    plan_id: int, body: CharacteristicCreate, session: SessionDep, user: QualityUser
) -> CharacteristicRead:
    """Add a characteristic (nominal, tolerances, subgroup size, frequency, chart, rules)."""
    plan = service.get_plan(session, plan_id=plan_id)
    char = service.create_characteristic(session, plan=plan, fields=body.model_dump(), user=user)
    return CharacteristicRead.model_validate(char)


@router.get("/characteristics", response_model=list[CharacteristicRead])
def read_characteristics(
    session: SessionDep, _: Actor, plan_id: int | None = None
) -> list[CharacteristicRead]:
    """Characteristics, optionally of one plan."""
    chars = service.get_all_characteristics(session, plan_id=plan_id)
    return [CharacteristicRead.model_validate(c) for c in chars]


@router.get("/characteristics/{characteristic_id}", response_model=CharacteristicRead)
def read_characteristic(
    characteristic_id: int, session: SessionDep, _: Actor
) -> CharacteristicRead:
    """One characteristic."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    return CharacteristicRead.model_validate(char)


@router.patch("/characteristics/{characteristic_id}", response_model=CharacteristicRead)
def update_characteristic(
    characteristic_id: int, body: CharacteristicUpdate, session: SessionDep, user: QualityUser
) -> CharacteristicRead:
    """Change tolerances, frequency, rules, baseline size or the bound tag."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    changes = body.model_dump(exclude_unset=True)
    char = service.update_characteristic(session, char=char, changes=changes, user=user)
    return CharacteristicRead.model_validate(char)


@router.post(
    "/characteristics/{characteristic_id}/measurements",
    response_model=MeasurementsRecorded,
    status_code=201,
)
def record_measurements(
    characteristic_id: int,
    body: MeasurementsCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: ShopFloorUser,
) -> MeasurementsRecorded:
    """Record measurements; the SPC rules run at once and violations are published."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    now = platform.clock.now_us()
    values = []
    for m in body.measurements:
        lot_id = genealogy.get_lot(session, code=m.lot_code).id if m.lot_code else None
        values.append(
            service.MeasurementInput(
                m.value, m.ts_us if m.ts_us is not None else now, lot_id, m.order_id
            )
        )
    found = service.record_measurements(
        session, char=char, values=values, source="api", user=user, now_us=now
    )
    platform.relay.notify()
    return MeasurementsRecorded(
        recorded=len(values),
        violations=[
            ViolationRead(
                rule=v.rule,
                description=spc_rules.describe(v.rule).description,
                index=char.id,
                ts_us=v.ts_us,
                points=v.points_ts_us,
            )
            for v in found
        ],
    )


@router.get(
    "/characteristics/{characteristic_id}/measurements", response_model=list[MeasurementRead]
)
def read_measurements(
    characteristic_id: int,
    session: SessionDep,
    _: Actor,
    start_us: int | None = None,
    end_us: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[MeasurementRead]:
    """Measurements of a characteristic in time order."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    rows = service.get_measurements(
        session, char=char, start_us=start_us, end_us=end_us, limit=limit
    )
    return [MeasurementRead.model_validate(r) for r in rows]


@router.get("/characteristics/{characteristic_id}/chart", response_model=ChartRead)
def read_chart(
    characteristic_id: int,
    session: SessionDep,
    _: Actor,
    start_us: int | None = None,
    end_us: int | None = None,
    subgroups: Annotated[int, Query(ge=1, le=10_000)] = service.DEFAULT_CHART_SUBGROUPS,
    rule: Rules = None,
) -> ChartRead:
    """The control chart with limits from the baseline and the selected rules' violations."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    data = service.chart_data(
        session, char=char, start_us=start_us, end_us=end_us, subgroups=subgroups, rules=rule
    )
    chart = data.chart
    empty = LimitsRead(center=[], lcl=[], ucl=[])
    return ChartRead(
        characteristic_id=char.id,
        kind=char.chart,
        ts_us=data.ts_us.tolist() if chart is not None else [],
        values=chart.values.tolist() if chart is not None else [],
        limits=_limits(chart.limits) if chart is not None else empty,
        sigma_hat=chart.sigma_hat if chart is not None else None,
        dispersion_kind=chart.dispersion_kind if chart is not None else None,
        dispersion=[None if np.isnan(x) else float(x) for x in chart.dispersion] if chart else [],
        dispersion_limits=(
            _limits(chart.dispersion_limits)
            if chart is not None and chart.dispersion_limits is not None
            else None
        ),
        lsl=char.lsl,
        usl=char.usl,
        rules=list(rule) if rule is not None else list(char.rules),
        violations=_violations(data.violations, data.ts_us),
        baseline_points=data.baseline_points,
    )


@router.get("/characteristics/{characteristic_id}/capability", response_model=CapabilityRead)
def read_capability(
    characteristic_id: int,
    session: SessionDep,
    _: Actor,
    start_us: int | None = None,
    end_us: int | None = None,
) -> CapabilityRead:
    """Cp, Cpk (σ̂ within) and Pp, Ppk (overall s) over a period."""
    char = service.get_characteristic(session, characteristic_id=characteristic_id)
    cap = service.get_capability(session, char=char, start_us=start_us, end_us=end_us)
    return CapabilityRead(
        characteristic_id=char.id,
        start_us=start_us,
        end_us=end_us,
        n=cap.n,
        mean=cap.mean,
        sigma_within=cap.sigma_within,
        sigma_overall=cap.sigma_overall,
        cp=cap.cp,
        cpk=cap.cpk,
        pp=cap.pp,
        ppk=cap.ppk,
    )


@router.get("/violations", response_model=list[ViolationRead])
def read_violations(
    session: SessionDep,
    _: Actor,
    characteristic_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ViolationRead]:
    """Recorded SPC rule violations, newest first (`index` is the characteristic id here)."""
    rows = service.get_violations(session, characteristic_id=characteristic_id, limit=limit)
    return [
        ViolationRead(
            rule=r.rule,
            description=spc_rules.describe(r.rule).description,
            index=r.characteristic_id,
            ts_us=r.ts_us,
            points=list(r.points_ts_us),
        )
        for r in rows
    ]


# --- defects and inspections -----------------------------------------------------------------


@router.get("/defect-codes", response_model=list[DefectCodeRead])
def read_defect_codes(session: SessionDep, _: Actor) -> list[DefectCodeRead]:
    """Every defect code."""
    return [DefectCodeRead.model_validate(c) for c in service.get_all_defect_codes(session)]


@router.post("/defect-codes", response_model=DefectCodeRead, status_code=201)
def create_defect_code(
    body: DefectCodeCreate, session: SessionDep, user: QualityUser
) -> DefectCodeRead:
    """Add a defect code."""
    return DefectCodeRead.model_validate(
        service.create_defect_code(session, **body.model_dump(), user=user)
    )


@router.post("/inspections", response_model=InspectionRead, status_code=201)
def create_inspection(
    body: InspectionCreate, session: SessionDep, platform: PlatformDep, user: ShopFloorUser
) -> InspectionRead:
    """Record an attribute inspection (inspected, passed first time, defects by code)."""
    lot_id = genealogy.get_lot(session, code=body.lot_code).id if body.lot_code else None
    row = service.record_inspection(
        session,
        product_code=body.product_code,
        operation=body.operation,
        ts_us=body.ts_us if body.ts_us is not None else platform.clock.now_us(),
        inspected=body.inspected,
        passed_first_time=body.passed_first_time,
        defects=body.defects,
        order_id=body.order_id,
        lot_id=lot_id,
        note=body.note,
        user=user,
    )
    read = InspectionRead.model_validate(row)
    return read.model_copy(update={"defects": {k: v for k, v in body.defects.items() if v}})


@router.get("/pareto", response_model=list[ParetoItem])
def read_pareto(
    session: SessionDep,
    _: Actor,
    product_code: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[ParetoItem]:
    """Defects by code, most frequent first, with cumulative share."""
    rows = service.pareto(session, product_code=product_code, start_us=start_us, end_us=end_us)
    return [ParetoItem(**r) for r in rows]


@router.get("/first-pass-yield", response_model=FirstPassYield)
def read_first_pass_yield(
    session: SessionDep,
    _: Actor,
    product_code: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> FirstPassYield:
    """First-pass yield: parts good the first time / parts inspected (null when none)."""
    inspected, passed, fpy = service.first_pass_yield(
        session, product_code=product_code, start_us=start_us, end_us=end_us
    )
    return FirstPassYield(inspected=inspected, passed_first_time=passed, fpy=fpy)


@router.get("/attribute-chart", response_model=AttributeChartRead)
def read_attribute_chart(
    kind: AttributeChartType,
    product_code: str,
    session: SessionDep,
    _: Actor,
    start_us: int | None = None,
    end_us: int | None = None,
    baseline: Annotated[int | None, Query(ge=1)] = None,
    rule: Rules = None,
) -> AttributeChartRead:
    """p / np chart of defectives or c / u chart of defects, from the inspections."""
    ts, sizes, chart, found = service.attribute_chart(
        session,
        kind=kind,
        product_code=product_code,
        start_us=start_us,
        end_us=end_us,
        baseline=baseline,
        rules=rule or list(spc_rules.WESTERN_ELECTRIC),
    )
    return AttributeChartRead(
        kind=kind,
        ts_us=ts.tolist(),
        values=chart.values.tolist(),
        sizes=sizes.tolist(),
        limits=_limits(chart.limits),
        violations=_violations(found, ts),
    )


# --- lots and genealogy ----------------------------------------------------------------------


@router.get("/lots", response_model=LotPage)
def read_lots(
    session: SessionDep,
    _: Actor,
    q: str | None = None,
    status: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LotPage:
    """Lots by code, optionally filtered by code prefix and status."""
    items, total = service.get_all_lots(
        session, prefix=q, status=status, offset=offset, limit=limit
    )
    return LotPage(
        items=[LotRead.model_validate(x) for x in items], total=total, offset=offset, limit=limit
    )


@router.post("/lots", response_model=LotRead, status_code=201)
def create_lot(body: LotCreate, session: SessionDep, user: ShopFloorUser) -> LotRead:
    """Register a lot (e.g. received raw material)."""
    return LotRead.model_validate(genealogy.create_lot(session, **body.model_dump(), user=user))


@router.get("/lots/{lot_code}", response_model=LotRead)
def read_lot(lot_code: str, session: SessionDep, _: Actor) -> LotRead:
    """One lot."""
    return LotRead.model_validate(genealogy.get_lot(session, code=lot_code))


@router.post("/lots/{lot_code}/serials", response_model=list[str], status_code=201)
def add_serials(
    lot_code: str, body: SerialsCreate, session: SessionDep, user: ShopFloorUser
) -> list[str]:
    """Register serial numbers of units in a lot."""
    return service.add_serials(session, lot_code=lot_code, serials=body.serials, user=user)


@router.get("/serials/{serial}", response_model=LotRead)
def read_serial(serial: str, session: SessionDep, _: Actor) -> LotRead:
    """The lot a serial number belongs to."""
    return LotRead.model_validate(service.lot_of_serial(session, serial=serial))


@router.post("/orders/{order_id}/consumptions", status_code=201)
def consume(
    order_id: int,
    body: ConsumptionCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: ShopFloorUser,
) -> dict[str, int]:
    """An order consumed (some of) a lot."""
    ts = body.ts_us if body.ts_us is not None else platform.clock.now_us()
    row = genealogy.consume(
        session,
        order_id=order_id,
        lot_code=body.lot_code,
        quantity=body.quantity,
        ts_us=ts,
        user=user,
    )
    return {"id": row.id}


@router.post("/orders/{order_id}/productions", response_model=LotRead, status_code=201)
def produce(
    order_id: int,
    body: ProductionCreate,
    session: SessionDep,
    platform: PlatformDep,
    user: ShopFloorUser,
) -> LotRead:
    """An order produced a lot on a machine (the signed-in user is its operator)."""
    if body.machine_id is not None and body.machine_id not in platform.registry.nodes:
        raise InvalidInput(f"no machine {body.machine_id}", loc=["body", "machine_id"])
    lot = genealogy.produce(
        session,
        order_id=order_id,
        code=body.lot.code,
        material=body.lot.material,
        kind=body.lot.kind,
        quantity=body.lot.quantity,
        unit=body.lot.unit,
        machine_id=body.machine_id,
        start_us=body.start_us,
        end_us=body.end_us,
        user=user,
    )
    return LotRead.model_validate(lot)


@router.get("/lots/{lot_code}/trace", response_model=TraceRead)
def trace(
    lot_code: str,
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    direction: Direction = "backward",
    max_depth: Annotated[int, Query(ge=1, le=genealogy.DEFAULT_MAX_DEPTH)] = (
        genealogy.DEFAULT_MAX_DEPTH
    ),
    conditions: bool = True,
) -> TraceRead:
    """Forward (where did it go) or backward (what went into it), with process conditions."""
    return genealogy.trace(
        session,
        lot_code=lot_code,
        direction=direction,
        max_depth=max_depth,
        store=platform.store if conditions else None,
        registry=platform.registry,
    )


# --- holds and non-conformances ----------------------------------------------------------------


@router.post("/lots/{lot_code}/holds", response_model=HoldRead, status_code=201)
def place_hold(
    lot_code: str, body: HoldCreate, session: SessionDep, platform: PlatformDep, user: QualityUser
) -> HoldRead:
    """Put a lot on hold."""
    hold = service.place_hold(
        session, lot_code=lot_code, reason=body.reason, ncr_id=body.ncr_id, user=user
    )
    platform.relay.notify()
    return HoldRead.model_validate(hold)


@router.get("/holds", response_model=list[HoldRead])
def read_holds(session: SessionDep, _: Actor, status: str | None = None) -> list[HoldRead]:
    """Holds, newest first."""
    return [HoldRead.model_validate(h) for h in service.get_all_holds(session, status=status)]


@router.post("/holds/{hold_id}/close", response_model=HoldRead)
def close_hold(
    hold_id: int, body: HoldClose, session: SessionDep, platform: PlatformDep, user: QualityUser
) -> HoldRead:
    """Close a hold: release the lot, scrap it or send it to rework."""
    hold = service.get_hold(session, hold_id=hold_id)
    hold = service.close_hold(
        session,
        hold=hold,
        outcome=body.outcome,
        note=body.note,
        user=user,
        now_us=platform.clock.now_us(),
    )
    platform.relay.notify()
    return HoldRead.model_validate(hold)


@router.post("/ncrs", response_model=NcrRead, status_code=201)
def create_ncr(
    body: NcrCreate, session: SessionDep, platform: PlatformDep, user: ShopFloorUser
) -> NcrRead:
    """Open a non-conformance report."""
    ncr = service.create_ncr(session, fields=body.model_dump(), user=user)
    platform.relay.notify()
    return NcrRead.model_validate(ncr)


@router.get("/ncrs", response_model=list[NcrRead])
def read_ncrs(session: SessionDep, _: Actor, status: str | None = None) -> list[NcrRead]:
    """Non-conformances, newest first."""
    return [NcrRead.model_validate(n) for n in service.get_all_ncrs(session, status=status)]


@router.get("/ncrs/{ncr_id}", response_model=NcrRead)
def read_ncr(ncr_id: int, session: SessionDep, _: Actor) -> NcrRead:
    """One non-conformance."""
    return NcrRead.model_validate(service.get_ncr(session, ncr_id=ncr_id))


@router.post("/ncrs/{ncr_id}/disposition", response_model=NcrRead)
def disposition_ncr(
    ncr_id: int, body: NcrDisposition, session: SessionDep, user: QualityUser
) -> NcrRead:
    """Decide the disposition (use as is, rework, repair, scrap, return to supplier)."""
    ncr = service.get_ncr(session, ncr_id=ncr_id)
    return NcrRead.model_validate(
        service.disposition_ncr(
            session, ncr=ncr, disposition=body.disposition, note=body.note, user=user
        )
    )


@router.post("/ncrs/{ncr_id}/close", response_model=NcrRead)
def close_ncr(ncr_id: int, session: SessionDep, user: QualityUser) -> NcrRead:
    """Close a dispositioned non-conformance."""
    ncr = service.get_ncr(session, ncr_id=ncr_id)
    return NcrRead.model_validate(service.close_ncr(session, ncr=ncr, user=user))
