"""Production routes: routings, orders, downtime with reasons, OEE, calendars (a thin router)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.clock import from_datetime
from ifactory.core.errors import InvalidInput, NotFound, Unavailable
from ifactory.plant.registry import NodeInfo
from ifactory.production import downtime, live, oee, reports, service
from ifactory.production.models import DowntimeEvent, ProductionOrder, Routing
from ifactory.production.schemas import (
    TRANSITIONS,
    CalendarRead,
    CalendarUpdate,
    DispatchIn,
    DowntimePage,
    DowntimeRead,
    OEERead,
    OperationProgress,
    OperationRead,
    OrderCreate,
    OrderPage,
    OrderRead,
    OrderState,
    OrderUpdate,
    Pareto,
    ParetoRow,
    ReasonAssign,
    ReasonRead,
    RoutingCreate,
    RoutingRead,
    TransitionIn,
    TransitionRead,
)

router = APIRouter(prefix="/api/production", tags=["production"])
Planner = Annotated[Principal, Depends(require_roles("planner", "manager"))]
Operator = Annotated[Principal, Depends(require_roles("operator", "planner", "manager"))]
US = 1_000_000
MinorStop = Annotated[
    float | None,
    Query(
        gt=0,
        le=86_400,
        description="stops shorter than this are minor stops (s); default: the machine's "
        "`attributes.minor_stop_s` in plant.yaml (or its line's...), else 300 s",
    ),
]
Startup = Annotated[
    float,
    Query(
        ge=0, le=86_400, description="scrap within this time after a setup is start-up scrap (s)"
    ),
]


def _node(platform: PlatformDep, key: str) -> NodeInfo:
    node = platform.registry.nodes_by_key.get(key.strip("/"))
    if node is None:
        raise NotFound(f"no plant node '{key}'", loc=["path", "key"])
    return node


def _range(
    platform: PlatformDep, node: NodeInfo, start: datetime | None, end: datetime | None
) -> tuple[int, int]:
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", loc=["query", name])
    now = platform.clock.now_us()
    if start is None and end is None:
        shift = reports.current_shift(platform.registry, node.id, now)
        if shift is not None:
            return shift.start_us, shift.end_us
        return now - 8 * 3600 * US, now
    s = from_datetime(start) if start else (from_datetime(end) if end else now) - 86_400 * US
    e = from_datetime(end) if end else now
    if e <= s:
        raise InvalidInput("end must be after start", loc=["query", "end"])
    if e - s > 400 * 86_400 * US:
        raise InvalidInput("a range is at most 400 days", loc=["query", "end"])
    return s, e


# -- reasons, routings --------------------------------------------------------------------------


@router.get("/reasons", response_model=list[ReasonRead])
def reasons(session: SessionDep, _: Actor) -> list[ReasonRead]:
    """The downtime reason tree, each node with the loss category it rolls up to."""
    return [ReasonRead(**r.__dict__) for r in downtime.reason_tree(session).values()]


def _routing_read(session: SessionDep, r: Routing) -> RoutingRead:
    ids = {o.machine_id for o in r.operations if o.machine_id} | {
        o.machine_group_id for o in r.operations if o.machine_group_id
    }
    keys = service.node_keys(session, {int(i) for i in ids if i is not None})
    return RoutingRead(
        id=r.id,
        product_code=r.product_code,
        name=r.name,
        operations=[
            OperationRead(
                id=o.id,
                seq=o.seq,
                name=o.name,
                machine=keys.get(o.machine_id) if o.machine_id else None,
                machine_group=keys.get(o.machine_group_id) if o.machine_group_id else None,
                ideal_cycle_s=o.ideal_cycle_s,
                setup_s=o.setup_s,
            )
            for o in r.operations
        ],
    )


@router.post("/routings", response_model=RoutingRead, status_code=status.HTTP_201_CREATED)
def create_routing(body: RoutingCreate, session: SessionDep, user: Planner) -> RoutingRead:
    """A routing: ordered operations on machines or machine groups with cycle and setup times."""
    return _routing_read(session, service.create_routing(session, data=body, user=user))


@router.get("/routings", response_model=list[RoutingRead])
def list_routings(session: SessionDep, _: Actor, product: str | None = None) -> list[RoutingRead]:
    """Routings, optionally of one product."""
    return [
        _routing_read(session, r) for r in service.get_all_routings(session, product_code=product)
    ]


@router.get("/routings/{routing_id}", response_model=RoutingRead)
def get_routing(routing_id: int, session: SessionDep, _: Actor) -> RoutingRead:
    """One routing."""
    return _routing_read(session, service.get_routing(session, routing_id=routing_id))


# -- orders -------------------------------------------------------------------------------------


def _order_read(
    session: SessionDep, platform: PlatformDep, order: ProductionOrder, *, detail: bool
) -> OrderRead:
    ops = order.operations
    ids = {o.machine_id for o in ops if o.machine_id} | {
        o.machine_group_id for o in ops if o.machine_group_id
    }
    keys = service.node_keys(session, {int(i) for i in ids if i is not None})
    results: dict[int, oee.OEEResult | None] = {}
    if ops:
        _, per_op = reports.order(
            session,
            registry=platform.registry,
            store=platform.store,
            order_id=order.id,
            now_us=platform.clock.now_us(),
        )
        results = {op.id: r for op, r in per_op}
    progress = []
    for o in ops:
        r = results.get(o.id)
        progress.append(
            OperationProgress(
                id=o.id,
                seq=o.seq,
                name=o.name,
                machine=keys.get(o.machine_id) if o.machine_id else None,
                machine_group=keys.get(o.machine_group_id) if o.machine_group_id else None,
                ideal_cycle_s=o.ideal_cycle_s,
                setup_s=o.setup_s,
                total=r.pq if r else None,
                good=r.gq if r else None,
                scrap=r.sq if r else None,
                rework=r.rq if r else None,
                run_s=r.time.apt_us / US if r else 0.0,
                oee=r.as_dict() if r else None,
            )
        )
    last = progress[-1] if progress else None
    good = last.good if last else None
    scrap = sum(p.scrap or 0.0 for p in progress) if progress else None
    return OrderRead(
        id=order.id,
        number=order.number,
        product_code=order.product_code,
        routing_id=order.routing_id,
        quantity=order.quantity,
        due_at=order.due_at,
        priority=order.priority,
        state=OrderState(order.state),
        allowed=sorted(TRANSITIONS[OrderState(order.state)]),
        released_at=order.released_at,
        started_at=order.started_at,
        completed_at=order.completed_at,
        closed_at=order.closed_at,
        created_by=order.created_by,
        updated_by=order.updated_by,
        operations=progress,
        transitions=[
            TransitionRead(
                from_state=t.from_state,
                to_state=t.to_state,
                at=t.at,
                username=t.username,
                comment=t.comment,
            )
            for t in order.transitions
        ]
        if detail
        else [],
        good=good,
        scrap=scrap,
        progress=(good / order.quantity) if good is not None else None,
    )


@router.post("/orders", response_model=OrderRead, status_code=status.HTTP_201_CREATED)
def create_order(
    body: OrderCreate, session: SessionDep, platform: PlatformDep, user: Planner
) -> OrderRead:
    """A planned production order (operations copied from the routing)."""
    order = service.create_order(session, data=body, user=user)
    return _order_read(session, platform, order, detail=True)


@router.get("/orders", response_model=OrderPage)
def list_orders(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    state: OrderState | None = None,
    product: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    """Orders by priority and due date, with progress (good count of the last operation)."""
    rows, total = service.get_all_orders(
        session, state=state, product_code=product, offset=offset, limit=limit
    )
    return OrderPage(
        items=[_order_read(session, platform, o, detail=False) for o in rows], total=total
    )


@router.get("/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: int, session: SessionDep, platform: PlatformDep, _: Actor) -> OrderRead:
    """One order with per-operation counts (attributed by time on the machine) and history."""
    order = service.get_order(session, order_id=order_id)
    return _order_read(session, platform, order, detail=True)


@router.patch("/orders/{order_id}", response_model=OrderRead)
def update_order(
    order_id: int, body: OrderUpdate, session: SessionDep, platform: PlatformDep, user: Planner
) -> OrderRead:
    """Change quantity, due date or priority."""
    order = service.update_order(session, order_id=order_id, data=body, user=user)
    return _order_read(session, platform, order, detail=True)


@router.put("/orders/{order_id}/operations/{seq}/machine", response_model=OrderRead)
def dispatch(
    order_id: int,
    seq: int,
    body: DispatchIn,
    session: SessionDep,
    platform: PlatformDep,
    user: Planner,
) -> OrderRead:
    """Dispatch an operation to a machine."""
    order = service.dispatch(session, order_id=order_id, seq=seq, machine=body.machine, user=user)
    return _order_read(session, platform, order, detail=True)


@router.post("/orders/{order_id}/transitions", response_model=OrderRead)
def transition(
    order_id: int,
    body: TransitionIn,
    session: SessionDep,
    platform: PlatformDep,
    user: Operator,
) -> OrderRead:
    """Move an order to another state (409 `invalid_transition` names the allowed ones)."""
    order = service.transition(
        session,
        order_id=order_id,
        to=body.state,
        user=user,
        now_us=platform.clock.now_us(),
        comment=body.comment,
    )
    return _order_read(session, platform, order, detail=True)


# -- downtime -----------------------------------------------------------------------------------


def _machines_of(platform: PlatformDep, key: str | None) -> list[int] | None:
    if key is None:
        return None
    node = _node(platform, key)
    return (
        [node.id]
        if node.is_machine
        else [m.id for m in reports.line_machines(platform.registry, node.id)]
    )


def _sync(platform: PlatformDep, machine_ids: list[int] | None) -> None:
    ids = machine_ids if machine_ids is not None else [m.id for m in platform.registry.machines()]
    downtime.sync(
        platform.db,
        machine_ids=ids,
        now_us=platform.clock.now_us(),
        registry=platform.registry,
        store=platform.store,
    )


def _downtime_read(
    platform: PlatformDep, e: DowntimeEvent, reasons: dict[str, downtime.Reason], now: int
) -> DowntimeRead:
    reason = reasons.get(e.reason_code) if e.reason_code else None
    node = platform.registry.nodes.get(e.machine_id)
    end = e.end_us if e.end_us is not None else now
    return DowntimeRead(
        id=e.id,
        machine_id=e.machine_id,
        machine=node.key if node else str(e.machine_id),
        start_us=e.start_us,
        end_us=e.end_us,
        duration_s=max(0, end - e.start_us) / US,
        states=e.states,
        order_id=e.order_id,
        reason_code=e.reason_code,
        reason_name=reason.name if reason else None,
        loss=reason.loss if reason else None,
        reason_source=e.reason_source,
        comment=e.comment,
        updated_by=e.updated_by,
    )


@router.get("/downtime", response_model=DowntimePage)
def list_downtime(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    node: Annotated[str | None, Query(description="machine or line key")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    unassigned: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DowntimePage:
    """Downtime events (stops) overlapping the range, newest first."""
    ids = _machines_of(platform, node)
    anchor = _node(platform, node) if node else platform.registry.machines()[0]
    s, e = (
        _range(platform, anchor, start, end)
        if (start or end)
        else (
            platform.clock.now_us() - 86_400 * US,
            platform.clock.now_us() + 1,
        )
    )
    _sync(platform, ids)
    rows, total = downtime.get_all(
        session,
        machine_ids=ids,
        start_us=s,
        end_us=e,
        unassigned_only=unassigned,
        offset=offset,
        limit=limit,
    )
    reasons = downtime.reason_tree(session)
    now = platform.clock.now_us()
    return DowntimePage(
        items=[_downtime_read(platform, r, reasons, now) for r in rows], total=total
    )


@router.put("/downtime/{downtime_id}/reason", response_model=DowntimeRead)
def assign_reason(
    downtime_id: int,
    body: ReasonAssign,
    session: SessionDep,
    platform: PlatformDep,
    user: Operator,
) -> DowntimeRead:
    """Assign or correct the reason of a stop (audited, with the previous reason)."""
    event = downtime.assign_reason(
        session,
        downtime_id=downtime_id,
        reason_code=body.reason_code,
        user=user,
        comment=body.comment,
    )
    return _downtime_read(platform, event, downtime.reason_tree(session), platform.clock.now_us())


@router.get("/downtime/pareto", response_model=Pareto)
def pareto(
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    node: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Pareto:
    """Reasons of stops by total time and by count, with cumulative percentages."""
    ids = _machines_of(platform, node)
    now = platform.clock.now_us()
    s, e = (
        _range(
            platform, _node(platform, node) if node else platform.registry.machines()[0], start, end
        )
        if (start or end)
        else (now - 86_400 * US, now + 1)
    )
    _sync(platform, ids)
    by_time, by_count = downtime.pareto(session, machine_ids=ids, start_us=s, end_us=e, now_us=now)
    return Pareto(
        by_time=[ParetoRow(**r) for r in by_time], by_count=[ParetoRow(**r) for r in by_count]
    )


# -- OEE ----------------------------------------------------------------------------------------


def _target_output(result: oee.OEEResult, target: float) -> float | None:
    """Output at the target OEE: the ideal output of the planned time times the target."""
    ideal = result.ideal_output
    return None if ideal is None else ideal * target


def _oee_read(
    session: SessionDep,
    platform: PlatformDep,
    node: NodeInfo,
    s: int,
    e: int,
    minor_stop_s: float | None,
    label: str = "",
    startup_s: float = 0.0,
) -> OEERead:
    now = platform.clock.now_us()
    target = reports.oee_target(session, platform.registry, node.id)
    common: dict[str, Any] = {
        "registry": platform.registry,
        "store": platform.store,
        "start_us": s,
        "end_us": e,
        "now_us": now,
        "minor_stop_s": minor_stop_s,
        "startup_s": startup_s,
    }
    if node.is_machine:
        result = reports.machine(session, machine_id=node.id, **common)
        return OEERead(
            scope="machine",
            key=node.key,
            start_us=s,
            end_us=e,
            label=label,
            target=target,
            target_output=_target_output(result, target),
            actual_output=result.gq,
            result=result.as_dict(),
        )
    line_result, parts = reports.line(session, node_id=node.id, **common)
    if line_result is None:
        raise InvalidInput(f"'{node.key}' has no machines", loc=["path", "key"])
    return OEERead(
        scope="line",
        key=node.key,
        start_us=s,
        end_us=e,
        label=label,
        target=target,
        target_output=_target_output(parts[-1][1], target),
        actual_output=line_result.gq,
        result=line_result.as_dict(),
        machines=[
            OEERead(scope="machine", key=m.key, start_us=s, end_us=e, result=r.as_dict())
            for m, r in parts
        ],
    )


@router.get("/oee/live", response_model=list[OEERead])
def oee_live(platform: PlatformDep, session: SessionDep, _: Actor) -> list[OEERead]:
    """Live OEE of the running shift for every line, with its machines (O(1) per state change)."""
    tracker = live.get(platform)
    if tracker is None:
        raise Unavailable("live OEE is not running in this process")
    now = platform.clock.now_us()
    out = []
    for node in platform.registry.nodes.values():
        if node.level.value != "work_center":
            continue
        line_result, parts = tracker.line(node.id, now)
        if line_result is None:
            continue
        shift = reports.current_shift(platform.registry, node.id, now)
        s, e = (shift.start_us, shift.end_us) if shift else (now, now)
        out.append(
            OEERead(
                scope="line",
                key=node.key,
                start_us=s,
                end_us=e,
                label=shift.label if shift else "no shift",
                target=reports.oee_target(session, platform.registry, node.id),
                result=line_result.as_dict(),
                machines=[
                    OEERead(scope="machine", key=m.key, start_us=s, end_us=e, result=r.as_dict())
                    for m, r in parts
                ],
            )
        )
    return out


@router.get("/oee/{key:path}", response_model=OEERead)
def oee_of(
    key: str,
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    start: datetime | None = None,
    end: datetime | None = None,
    minor_stop_s: MinorStop = None,
    startup_s: Startup = 0.0,
) -> OEERead:
    """OEE with the six big losses of a machine or line over a range (default: this shift)."""
    node = _node(platform, key)
    s, e = _range(platform, node, start, end)
    return _oee_read(session, platform, node, s, e, minor_stop_s, startup_s=startup_s)


@router.get("/oee-series/{key:path}", response_model=list[OEERead])
def oee_series(
    key: str,
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    by: Annotated[str, Query(pattern="^(shift|day|hour)$")] = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    minor_stop_s: MinorStop = None,
    startup_s: Startup = 0.0,
) -> list[OEERead]:
    """OEE per shift, production day (23/25 h on DST days) or hour: the trend."""
    node = _node(platform, key)
    now = platform.clock.now_us()
    if start is None and end is None:
        s, e = now - 24 * 3600 * US, now
    else:
        s, e = _range(platform, node, start, end)
    wins = reports.windows(platform.registry, node.id, s, e, by)
    if len(wins) > 800:
        raise InvalidInput("too many windows; choose a coarser 'by' or a shorter range")
    return [
        _oee_read(session, platform, node, w.start_us, w.end_us, minor_stop_s, w.label, startup_s)
        for w in wins
        if w.start_us < now
    ]


class ProductLossRead(BaseModel):
    """The six big losses (s) of a machine or line while it made one product."""

    product: str | None = Field(description="product code; null while no product was known")
    losses_s: dict[str, float]
    total_loss_s: float
    pbt_s: float = Field(description="planned busy time spent on the product (s)")
    pq: float
    gq: float


@router.get("/losses/by-product/{key:path}", response_model=list[ProductLossRead])
def losses_by_product(
    key: str,
    session: SessionDep,
    platform: PlatformDep,
    _: Actor,
    start: datetime | None = None,
    end: datetime | None = None,
    minor_stop_s: MinorStop = None,
) -> list[ProductLossRead]:
    """The six big losses by product of a machine or line over a range (default: this shift)."""
    node = _node(platform, key)
    s, e = _range(platform, node, start, end)
    rows = reports.losses_by_product(
        session,
        registry=platform.registry,
        store=platform.store,
        node_id=node.id,
        start_us=s,
        end_us=e,
        now_us=platform.clock.now_us(),
        minor_stop_s=minor_stop_s,
    )
    if not rows and not node.is_machine and not reports.line_machines(platform.registry, node.id):
        raise InvalidInput(f"'{node.key}' has no machines", loc=["path", "key"])
    return [
        ProductLossRead(
            product=r.product,
            losses_s=r.losses_s,
            total_loss_s=r.total_s,
            pbt_s=r.pbt_s,
            pq=r.pq,
            gq=r.gq,
        )
        for r in rows
    ]


# -- calendars ----------------------------------------------------------------------------------


def _calendar_read(site: str, settings: Any) -> CalendarRead:
    return CalendarRead(
        site=site,
        timezone=settings.timezone,
        production_day_start=settings.production_day_start.strftime("%H:%M"),
        calendar=settings.calendar,
    )


@router.get("/calendars/{site:path}", response_model=CalendarRead)
def get_calendar(site: str, session: SessionDep, _: Actor) -> CalendarRead:
    """A site's shifts, breaks, planned stops and holidays (in site time)."""
    return _calendar_read(site, service.get_calendar(session, site_key=site))


@router.put("/calendars/{site:path}", response_model=CalendarRead)
def update_calendar(
    site: str, body: CalendarUpdate, session: SessionDep, platform: PlatformDep, user: Planner
) -> CalendarRead:
    """Replace a site's calendar; OEE and planned flags follow at once."""
    settings = service.update_calendar(session, site_key=site, calendar=body.calendar, user=user)
    platform.reload_registry(session)
    tracker = live.get(platform)
    if tracker is not None:
        tracker.set_registry(platform.registry)
    return _calendar_read(site, settings)
