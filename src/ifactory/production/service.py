"""Production service: routings, production orders and their states, dispatching, calendars.

Plain functions with keyword-only arguments; no web imports. Every change records who and
when (audit log, order transitions) in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ifactory.core import outbox
from ifactory.core.audit import UserRef, record, stamp, username_of
from ifactory.core.clock import to_datetime
from ifactory.core.db import get_or_not_found
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.plant.models import PlantNode, Product, Site
from ifactory.plant.spec import CalendarSpec, Level, SiteSettings
from ifactory.production.events import OrderStateChanged
from ifactory.production.models import (
    OrderMachineInterval,
    OrderOperation,
    OrderTransition,
    ProductionOrder,
    Routing,
    RoutingOperation,
)
from ifactory.production.schemas import (
    TRANSITIONS,
    OperationIn,
    OrderCreate,
    OrderState,
    OrderUpdate,
    RoutingCreate,
)

# -- plant lookups ------------------------------------------------------------------------------


def _node(session: Session, key: str, loc: Sequence[str | int]) -> PlantNode:
    node = session.scalar(select(PlantNode).where(PlantNode.key == key.strip("/")))
    if node is None:
        raise NotFound(f"no plant node '{key}'", loc=loc)
    return node


def _machine(session: Session, key: str, loc: Sequence[str | int]) -> PlantNode:
    node = _node(session, key, loc)
    if node.level != Level.work_unit.value:
        raise InvalidInput(f"'{key}' is a {node.level}, not a machine (work unit)", loc=loc)
    return node


def _product(session: Session, code: str) -> Product:
    return get_or_not_found(
        session, Product, code, f"no product '{code}'", loc=["body", "product_code"]
    )


def _is_under(session: Session, node: PlantNode, ancestor_id: int) -> bool:
    cur: PlantNode | None = node
    while cur is not None:
        if cur.id == ancestor_id:
            return True
        cur = session.get(PlantNode, cur.parent_id) if cur.parent_id is not None else None
    return False


def node_keys(session: Session, ids: set[int]) -> dict[int, str]:
    """Node id -> key for the given ids."""
    if not ids:
        return {}
    rows = session.execute(select(PlantNode.id, PlantNode.key).where(PlantNode.id.in_(ids)))
    return {int(i): str(k) for i, k in rows}


# -- routings -----------------------------------------------------------------------------------


def _operation_row(session: Session, op: OperationIn, i: int) -> dict[str, Any]:
    loc: list[str | int] = ["body", "operations", i]
    machine_id = group_id = None
    if op.machine is not None:
        machine_id = _machine(session, op.machine, [*loc, "machine"]).id
    else:
        assert op.machine_group is not None
        group = _node(session, op.machine_group, [*loc, "machine_group"])
        if group.level not in (Level.work_center.value, Level.area.value):
            raise InvalidInput(
                f"'{op.machine_group}' is a {group.level}; a machine group is a line or area",
                loc=[*loc, "machine_group"],
            )
        group_id = group.id
    return {
        "seq": op.seq,
        "name": op.name,
        "machine_id": machine_id,
        "machine_group_id": group_id,
        "ideal_cycle_s": op.ideal_cycle_s,
        "setup_s": op.setup_s,
    }


def create_routing(session: Session, *, data: RoutingCreate, user: UserRef) -> Routing:
    """A routing of a product with its ordered operations."""
    _product(session, data.product_code)
    routing = Routing(product_code=data.product_code, name=data.name)
    routing.operations = [
        RoutingOperation(**_operation_row(session, op, i)) for i, op in enumerate(data.operations)
    ]
    stamp(routing, user=user)
    session.add(routing)
    session.flush()
    record(
        session,
        user=user,
        action="create",
        entity="routing",
        entity_id=routing.id,
        details=data.model_dump(mode="json"),
    )
    return routing


def get_routing(session: Session, *, routing_id: int) -> Routing:
    """One routing."""
    return get_or_not_found(
        session, Routing, routing_id, f"no routing {routing_id}", loc=["path", "routing_id"]
    )


def get_all_routings(session: Session, *, product_code: str | None = None) -> Sequence[Routing]:
    """Routings, optionally of one product."""
    query = select(Routing).options(selectinload(Routing.operations)).order_by(Routing.id)
    if product_code is not None:
        query = query.where(Routing.product_code == product_code)
    return session.scalars(query).all()


# -- orders -------------------------------------------------------------------------------------


def create_order(session: Session, *, data: OrderCreate, user: UserRef) -> ProductionOrder:
    """A planned production order; operations are copied from the routing (if given)."""
    _product(session, data.product_code)
    if session.scalar(select(ProductionOrder.id).where(ProductionOrder.number == data.number)):
        raise Conflict(f"an order numbered '{data.number}' exists", loc=["body", "number"])
    order = ProductionOrder(
        number=data.number,
        product_code=data.product_code,
        quantity=data.quantity,
        due_at=data.due_at,
        priority=data.priority,
        state=OrderState.planned.value,
    )
    if data.routing_id is not None:
        routing = get_routing(session, routing_id=data.routing_id)
        if routing.product_code != data.product_code:
            raise InvalidInput(
                f"routing {routing.id} makes {routing.product_code}, not {data.product_code}",
                loc=["body", "routing_id"],
            )
        order.routing_id = routing.id
        order.operations = [
            OrderOperation(
                seq=op.seq,
                name=op.name,
                machine_id=op.machine_id,
                machine_group_id=op.machine_group_id,
                ideal_cycle_s=op.ideal_cycle_s,
                setup_s=op.setup_s,
            )
            for op in routing.operations
        ]
    stamp(order, user=user)
    session.add(order)
    session.flush()
    record(
        session,
        user=user,
        action="create",
        entity="production_order",
        entity_id=order.id,
        details=data.model_dump(mode="json"),
    )
    return order


def get_order(session: Session, *, order_id: int) -> ProductionOrder:
    """One order with its operations and transitions."""
    order = session.get(
        ProductionOrder,
        order_id,
        options=[
            selectinload(ProductionOrder.operations),
            selectinload(ProductionOrder.transitions),
        ],
    )
    if order is None:
        raise NotFound(f"no production order {order_id}", loc=["path", "order_id"])
    return order


def get_all_orders(
    session: Session,
    *,
    state: OrderState | None = None,
    product_code: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[ProductionOrder], int]:
    """Orders by priority (highest first) then due date, with the total count."""
    query = select(ProductionOrder)
    if state is not None:
        query = query.where(ProductionOrder.state == state.value)
    if product_code is not None:
        query = query.where(ProductionOrder.product_code == product_code)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(ProductionOrder.operations))
        .order_by(ProductionOrder.priority.desc(), ProductionOrder.due_at.asc(), ProductionOrder.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, int(total)


def update_order(
    session: Session, *, order_id: int, data: OrderUpdate, user: UserRef
) -> ProductionOrder:
    """Change quantity, due date or priority (not once completed)."""
    order = get_order(session, order_id=order_id)
    if order.state in (OrderState.completed.value, OrderState.closed.value):
        raise Conflict(f"order {order.number} is {order.state} and can no longer change")
    changes = data.model_dump(exclude_unset=True)
    if "due_at" in changes and changes["due_at"] is not None and changes["due_at"].tzinfo is None:
        raise InvalidInput("due_at needs a time zone", loc=["body", "due_at"])
    for name, value in changes.items():
        setattr(order, name, value)
    stamp(order, user=user)
    record(
        session,
        user=user,
        action="update",
        entity="production_order",
        entity_id=order.id,
        details=data.model_dump(mode="json", exclude_unset=True),
    )
    return order


def dispatch(
    session: Session, *, order_id: int, seq: int, machine: str, user: UserRef
) -> ProductionOrder:
    """Dispatch an operation of an order to a machine (of its group, when it names a group)."""
    order = get_order(session, order_id=order_id)
    if order.state in (OrderState.completed.value, OrderState.closed.value):
        raise Conflict(f"order {order.number} is {order.state}")
    op = next((o for o in order.operations if o.seq == seq), None)
    if op is None:
        raise NotFound(f"order {order.number} has no operation {seq}", loc=["path", "seq"])
    node = _machine(session, machine, ["body", "machine"])
    if op.machine_group_id is not None and not _is_under(session, node, op.machine_group_id):
        raise InvalidInput(
            f"machine '{machine}' is not in the operation's machine group", loc=["body", "machine"]
        )
    if order.state in (OrderState.running.value,):
        raise Conflict("pause the order before moving an operation to another machine")
    previous = op.machine_id
    op.machine_id = node.id
    stamp(order, user=user)
    record(
        session,
        user=user,
        action="dispatch",
        entity="production_order",
        entity_id=order.id,
        details={"seq": seq, "machine": node.key, "previous_machine_id": previous},
    )
    return order


def transition(
    session: Session,
    *,
    order_id: int,
    to: OrderState,
    user: UserRef,
    now_us: int,
    comment: str = "",
) -> ProductionOrder:
    """Move an order to `to` if allowed; running opens order-on-machine intervals, leaving closes them."""
    order = get_order(session, order_id=order_id)
    current = OrderState(order.state)
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise Conflict(
            f"order {order.number} cannot go from {current.value} to {to.value} (allowed: {allowed})",
            loc=["body", "state"],
            type="invalid_transition",
        )
    at = to_datetime(now_us)
    if to == OrderState.running:
        _start_on_machines(session, order, now_us)
    if current == OrderState.running:
        _stop_on_machines(session, order, now_us)
    order.state = to.value
    stamp_field = {
        OrderState.released: "released_at",
        OrderState.completed: "completed_at",
        OrderState.closed: "closed_at",
    }.get(to)
    if stamp_field is not None:
        setattr(order, stamp_field, at)
    if to == OrderState.running and order.started_at is None:
        order.started_at = at
    name = username_of(user)
    order.transitions.append(
        OrderTransition(
            from_state=current.value,
            to_state=to.value,
            at=at,
            at_us=now_us,
            username=name,
            comment=comment,
        )
    )
    stamp(order, user=user)
    record(
        session,
        user=user,
        action="transition",
        entity="production_order",
        entity_id=order.id,
        details={"from": current.value, "to": to.value, "comment": comment},
    )
    outbox.add(
        session,
        OrderStateChanged(
            order_id=order.id,
            number=order.number,
            previous=current.value,
            state=to.value,
            at_us=now_us,
            username=name,
        ),
    )
    session.flush()
    return order


def _start_on_machines(session: Session, order: ProductionOrder, now_us: int) -> None:
    ops = list(order.operations)
    missing = [o.seq for o in ops if o.machine_id is None]
    if not ops or missing:
        what = f"operations {missing} are" if missing else "no operation is"
        raise Conflict(
            f"order {order.number}: {what} not dispatched to a machine",
            loc=["body", "state"],
            type="not_dispatched",
        )
    machine_ids = {o.machine_id for o in ops}
    busy = session.execute(
        select(OrderMachineInterval.machine_id, ProductionOrder.number)
        .join(ProductionOrder, ProductionOrder.id == OrderMachineInterval.order_id)
        .where(
            OrderMachineInterval.machine_id.in_(machine_ids),
            OrderMachineInterval.end_us.is_(None),
            OrderMachineInterval.order_id != order.id,
        )
    ).first()
    if busy is not None:
        keys = node_keys(session, {int(busy[0])})
        raise Conflict(
            f"machine '{keys.get(int(busy[0]))}' is running order {busy[1]}",
            loc=["body", "state"],
            type="machine_busy",
        )
    for op in ops:
        assert op.machine_id is not None
        session.add(
            OrderMachineInterval(
                order_id=order.id, operation_id=op.id, machine_id=op.machine_id, start_us=now_us
            )
        )


def _stop_on_machines(session: Session, order: ProductionOrder, now_us: int) -> None:
    for row in session.scalars(
        select(OrderMachineInterval).where(
            OrderMachineInterval.order_id == order.id, OrderMachineInterval.end_us.is_(None)
        )
    ):
        row.end_us = max(now_us, row.start_us)


def order_intervals(
    session: Session,
    *,
    order_id: int | None = None,
    machine_ids: Sequence[int] | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
    now_us: int,
) -> list[tuple[int, int, int, int, int]]:
    """(order id, operation id, machine id, start, end) of orders on machines; open ends at now."""
    query = select(OrderMachineInterval)
    if order_id is not None:
        query = query.where(OrderMachineInterval.order_id == order_id)
    if machine_ids is not None:
        query = query.where(OrderMachineInterval.machine_id.in_(list(machine_ids)))
    if end_us is not None:
        query = query.where(OrderMachineInterval.start_us < end_us)
    out = []
    for r in session.scalars(query.order_by(OrderMachineInterval.start_us)):
        e = r.end_us if r.end_us is not None else now_us
        if start_us is not None and e <= start_us:
            continue
        s = r.start_us if start_us is None else max(r.start_us, start_us)
        e = e if end_us is None else min(e, end_us)
        if e > s:
            out.append((r.order_id, r.operation_id, r.machine_id, s, e))
    return out


def order_at(session: Session, *, machine_id: int, at_us: int) -> tuple[int, int] | None:
    """(order id, operation id) running on a machine at a moment, if any."""
    row = session.scalars(
        select(OrderMachineInterval)
        .where(
            OrderMachineInterval.machine_id == machine_id, OrderMachineInterval.start_us <= at_us
        )
        .order_by(OrderMachineInterval.start_us.desc())
        .limit(1)
    ).first()
    if row is None or (row.end_us is not None and row.end_us <= at_us):
        return None
    return row.order_id, row.operation_id


# -- calendars (site settings are the store; the database is the truth after seeding) --------


def _site(session: Session, site_key: str) -> tuple[PlantNode, Site]:
    node = _node(session, site_key, ["path", "site"])
    site = session.get(Site, node.id)
    if node.level != Level.site.value or site is None:
        raise NotFound(f"'{site_key}' is not a site with settings", loc=["path", "site"])
    return node, site


def get_calendar(session: Session, *, site_key: str) -> SiteSettings:
    """The site's settings: time zone, production-day start and calendar."""
    _, site = _site(session, site_key)
    return SiteSettings.model_validate(site.settings)


def update_calendar(
    session: Session, *, site_key: str, calendar: CalendarSpec, user: UserRef
) -> SiteSettings:
    """Replace the site's calendar (shifts, breaks, planned stops, holidays), audited."""
    node, site = _site(session, site_key)
    current = SiteSettings.model_validate(site.settings)
    try:
        updated = SiteSettings.model_validate(
            {**current.model_dump(mode="json"), "calendar": calendar.model_dump(mode="json")}
        )
    except ValidationError as exc:  # pragma: no cover - CalendarSpec is already validated
        raise InvalidInput(str(exc), loc=["body", "calendar"]) from exc
    before = current.calendar.model_dump(mode="json")
    site.settings = updated.model_dump(mode="json")
    stamp(site, user=user)
    record(
        session,
        user=user,
        action="update_calendar",
        entity="site",
        entity_id=node.key,
        details={"before": before, "after": calendar.model_dump(mode="json")},
    )
    session.flush()
    return updated
