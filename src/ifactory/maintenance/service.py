"""Work orders: creation (idempotent by source key), the lifecycle with its gates, and cost.

Every change is stamped and audited in the caller's transaction, and its event goes to the
outbox in that same transaction. Checklists, lockout/tagout, labour and parts are in
`execution.py`; assets in `assets.py`; crafts and failure codes in `catalog.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ifactory.core import outbox
from ifactory.core.audit import SYSTEM, UserRef, record, stamp, username_of
from ifactory.core.clock import SystemClock, to_datetime
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ifactory.maintenance import lifecycle
from ifactory.maintenance.events import WorkOrderCreated, WorkOrderStateChanged
from ifactory.maintenance.lifecycle import Priority, WorkOrderState, WorkOrderType
from ifactory.maintenance.models import (
    Asset,
    Craft,
    FailureCode,
    LabourEntry,
    LotoStep,
    WorkOrder,
    WorkOrderAssignment,
    WorkOrderDowntime,
    WorkOrderPart,
    WorkOrderTask,
    WorkOrderTransition,
)
from ifactory.plant.models import PlantNode
from ifactory.plant.spec import Level
from ifactory.production.models import DowntimeEvent

US = 1_000_000
Q = TypeVar("Q", bound=Select)  # type: ignore[type-arg]
# Functional locations: machines (ISA-95 work units) and the modules inside them.
LOCATION_LEVELS = (Level.work_unit.value, Level.equipment_module.value, Level.control_module.value)
EDITABLE = (
    "title",
    "description",
    "priority",
    "asset_id",
    "due_us",
    "craft_code",
    "estimated_hours",
    "scheduled_start_us",
    "scheduled_end_us",
    "problem_code_id",
    "cause_code_id",
    "remedy_code_id",
    "resolution",
)


def _now(now_us: int | None) -> int:
    return now_us if now_us is not None else SystemClock().now_us()


def number_of(work_order_id: int) -> str:
    """The work order number shown to people ("MWO-000042")."""
    return f"MWO-{work_order_id:06d}"


def get_machine(session: Session, *, machine_id: int, loc: Sequence[str] = ()) -> PlantNode:
    """The functional location `machine_id` (a machine of the plant model), or a clear error."""
    node = get_or_not_found(
        session, PlantNode, machine_id, f"no machine {machine_id}", loc=list(loc) or ["machine_id"]
    )
    if node.level not in LOCATION_LEVELS:
        raise InvalidInput(
            f"'{node.key}' is a {node.level}, not a machine: work is done on machines",
            loc=list(loc) or ["machine_id"],
            type="not_a_machine",
        )
    return node


def _check_asset(session: Session, asset_id: int | None, loc: Sequence[str]) -> None:
    if asset_id is not None and session.get(Asset, asset_id) is None:
        raise NotFound(f"no asset {asset_id}", loc=list(loc))


def _check_craft(session: Session, craft_code: str | None, loc: Sequence[str]) -> None:
    if craft_code is not None and session.get(Craft, craft_code) is None:
        raise InvalidInput(f"unknown craft '{craft_code}'", loc=list(loc), type="unknown_craft")


def _enum(cls: type[Any], value: str, loc: Sequence[str]) -> Any:
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(m.value for m in cls)
        raise InvalidInput(f"'{value}' is not one of: {known}", loc=list(loc)) from None


def _insert(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT the row; with a source key, do nothing if a row with that key exists (any writer).

    ON CONFLICT DO NOTHING makes concurrent creation safe on both engines without a savepoint:
    PostgreSQL waits for the other writer's commit and then skips, SQLite serialises writers.
    """
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(WorkOrder).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(WorkOrder).values(**values)
    else:  # pragma: no cover - the platform runs on SQLite and PostgreSQL only
        raise InvalidInput(f"unsupported database '{dialect}'")
    if values.get("source_key") is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["source_key"])
    row = session.execute(stmt.returning(WorkOrder.id)).first()
    return None if row is None else int(row[0])


def create_work_order(
    session: Session,
    *,
    machine_id: int,
    type: str,
    title: str,
    description: str = "",
    priority: str = "medium",
    actor: UserRef | None,
    asset_id: int | None = None,
    due_us: int | None = None,
    pm_plan_id: int | None = None,
    source_key: str | None = None,
    evidence: dict[str, Any] | None = None,
    state: str = "requested",
    now_us: int | None = None,
    parent_id: int | None = None,
    craft_code: str | None = None,
    estimated_hours: float | None = None,
    scheduled_start_us: int | None = None,
    scheduled_end_us: int | None = None,
) -> WorkOrder:
    """Create a work order; with `source_key`, creating it again returns the existing one."""
    if source_key is not None:
        existing = get_by_source_key(session, source_key=source_key)
        if existing is not None:
            return existing
    work_type = _enum(WorkOrderType, type, ["type"])
    prio = _enum(Priority, priority, ["priority"])
    initial = _enum(WorkOrderState, state, ["state"])
    if initial not in lifecycle.INITIAL_STATES:
        allowed = ", ".join(s.value for s in lifecycle.INITIAL_STATES)
        raise InvalidInput(f"a work order starts as one of: {allowed}", loc=["state"])
    title = title.strip()
    if not title:
        raise InvalidInput("a work order needs a title", loc=["title"])
    get_machine(session, machine_id=machine_id)
    _check_asset(session, asset_id, ["asset_id"])
    _check_craft(session, craft_code, ["craft_code"])
    if parent_id is not None:
        get_work_order(session, work_order_id=parent_id)
    now = _now(now_us)
    if initial == WorkOrderState.scheduled and scheduled_start_us is None:
        scheduled_start_us = due_us if due_us is not None else now
    name = username_of(actor) if actor is not None else SYSTEM
    session.flush()
    at = utcnow()
    new_id = _insert(
        session,
        {
            "number": uuid.uuid4().hex,  # replaced by the id-based number below
            "machine_id": machine_id,
            "asset_id": asset_id,
            "type": work_type.value,
            "title": title[:200],
            "description": description,
            "priority": prio.value,
            "state": initial.value,
            "requested_by": name,
            "craft_code": craft_code,
            "due_us": due_us,
            "scheduled_start_us": scheduled_start_us,
            "scheduled_end_us": scheduled_end_us,
            "estimated_hours": estimated_hours,
            "pm_plan_id": pm_plan_id,
            "source_key": source_key,
            "evidence": evidence,
            "parent_id": parent_id,
            "resolution": "",
            "created_at": at,
            "created_by": name,
            "updated_at": at,
            "updated_by": name,
        },
    )
    if new_id is None:
        # Another writer created it between our look-up and our insert.
        existing = get_by_source_key(session, source_key=str(source_key))
        if existing is None:  # pragma: no cover - the conflict row must be visible now
            raise Conflict(f"work order '{source_key}' is being created", type="busy")
        return existing
    wo = session.get_one(WorkOrder, new_id)
    wo.number = number_of(new_id)
    session.add(
        WorkOrderTransition(
            work_order_id=new_id,
            from_state=None,
            to_state=initial.value,
            at=to_datetime(now),
            at_us=now,
            username=name,
            comment="created",
        )
    )
    record(
        session,
        user=name,
        action="create",
        entity="work_order",
        entity_id=new_id,
        details={"type": work_type.value, "state": initial.value, "source_key": source_key},
    )
    outbox.add(
        session,
        WorkOrderCreated(
            work_order_id=new_id,
            number=wo.number,
            machine_id=machine_id,
            asset_id=asset_id,
            work_type=work_type.value,
            priority=prio.value,
            state=initial.value,
            title=wo.title,
            source_key=source_key,
            pm_plan_id=pm_plan_id,
            parent_id=parent_id,
            username=name,
        ),
    )
    session.flush()
    return wo


def get_by_source_key(session: Session, *, source_key: str) -> WorkOrder | None:
    """The work order created for `source_key`, if any."""
    return session.scalar(select(WorkOrder).where(WorkOrder.source_key == source_key))


def get_work_order(session: Session, *, work_order_id: int) -> WorkOrder:
    """One work order, or NotFound."""
    return get_or_not_found(
        session,
        WorkOrder,
        work_order_id,
        f"no work order {work_order_id}",
        loc=["path", "work_order_id"],
    )


@dataclass(frozen=True)
class WorkOrderFilter:
    """Criteria of the work order list (all optional, combined with AND)."""

    states: Collection[str] | None = None
    types: Collection[str] | None = None
    machine_id: int | None = None
    asset_id: int | None = None
    priority: str | None = None
    assigned_to: str | None = None
    requested_by: str | None = None
    pm_plan_id: int | None = None
    parent_id: int | None = None
    open_only: bool = False
    due_before_us: int | None = None
    search: str | None = None


def _filtered(query: Q, f: WorkOrderFilter) -> Q:
    if f.states:
        query = query.where(WorkOrder.state.in_(list(f.states)))
    if f.open_only:
        query = query.where(WorkOrder.state.in_([s.value for s in lifecycle.OPEN_STATES]))
    if f.types:
        query = query.where(WorkOrder.type.in_(list(f.types)))
    if f.machine_id is not None:
        query = query.where(WorkOrder.machine_id == f.machine_id)
    if f.asset_id is not None:
        query = query.where(WorkOrder.asset_id == f.asset_id)
    if f.priority is not None:
        query = query.where(WorkOrder.priority == f.priority)
    if f.requested_by is not None:
        query = query.where(WorkOrder.requested_by == f.requested_by)
    if f.pm_plan_id is not None:
        query = query.where(WorkOrder.pm_plan_id == f.pm_plan_id)
    if f.parent_id is not None:
        query = query.where(WorkOrder.parent_id == f.parent_id)
    if f.due_before_us is not None:
        query = query.where(WorkOrder.due_us.is_not(None), WorkOrder.due_us < f.due_before_us)
    if f.assigned_to is not None:
        query = query.where(
            WorkOrder.id.in_(
                select(WorkOrderAssignment.work_order_id).where(
                    WorkOrderAssignment.username == f.assigned_to
                )
            )
        )
    if f.search:
        like = f"%{f.search.strip()}%"
        query = query.where(
            or_(
                WorkOrder.title.ilike(like),
                WorkOrder.number.ilike(like),
                WorkOrder.description.ilike(like),
            )
        )
    return query


PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}


def get_all(
    session: Session, *, filters: WorkOrderFilter | None = None, offset: int = 0, limit: int = 100
) -> tuple[list[WorkOrder], int]:
    """Work orders matching `filters`, newest first, with the total count."""
    f = filters or WorkOrderFilter()
    total = session.scalar(_filtered(select(func.count(WorkOrder.id)), f)) or 0
    rows = session.scalars(
        _filtered(select(WorkOrder), f).order_by(WorkOrder.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)


def update_work_order(
    session: Session, *, work_order: WorkOrder, changes: dict[str, Any], actor: UserRef
) -> WorkOrder:
    """Change the planning fields of an open or completed work order (not a closed one)."""
    if work_order.state in (WorkOrderState.closed, WorkOrderState.cancelled):
        raise Conflict(
            f"{work_order.number} is {work_order.state}: it can no longer be changed",
            type="work_order_closed",
        )
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", loc=["body"])
    if "title" in changes and not str(changes["title"] or "").strip():
        raise InvalidInput("a work order needs a title", loc=["body", "title"])
    if "priority" in changes:
        _enum(Priority, changes["priority"], ["body", "priority"])
    if "asset_id" in changes:
        _check_asset(session, changes["asset_id"], ["body", "asset_id"])
    if "craft_code" in changes:
        _check_craft(session, changes["craft_code"], ["body", "craft_code"])
    for field, kind in (
        ("problem_code_id", "problem"),
        ("cause_code_id", "cause"),
        ("remedy_code_id", "remedy"),
    ):
        if changes.get(field) is not None:
            code = session.get(FailureCode, changes[field])
            if code is None or code.kind != kind:
                raise InvalidInput(
                    f"{changes[field]} is not a {kind} code",
                    loc=["body", field],
                    type="unknown_failure_code",
                )
    start = changes.get("scheduled_start_us", work_order.scheduled_start_us)
    end = changes.get("scheduled_end_us", work_order.scheduled_end_us)
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the scheduled end must be after its start", loc=["body"])
    before = {k: getattr(work_order, k) for k in changes}
    for key, value in changes.items():
        setattr(work_order, key, value)
    stamp(work_order, user=actor)
    record(
        session,
        user=actor,
        action="update",
        entity="work_order",
        entity_id=work_order.id,
        details={"before": before, "after": changes},
    )
    session.flush()
    return work_order


def _roles_of(actor: UserRef, roles: Collection[str] | None) -> Collection[str] | None:
    if roles is not None:
        return {str(r) for r in roles}
    held = getattr(actor, "roles", None)
    if held is None:
        return None  # the platform itself (a name, not a signed-in user)
    return {str(r) for r in held}


def transition(
    session: Session,
    *,
    work_order_id: int,
    to: str,
    actor: UserRef,
    now_us: int | None = None,
    comment: str = "",
    roles: Collection[str] | None = None,
    scheduled_start_us: int | None = None,
    scheduled_end_us: int | None = None,
) -> WorkOrder:
    """Move a work order to `to` if the lifecycle allows it and `actor`'s roles may do it.

    Gates: starting work needs every lockout/tagout step confirmed; completing needs every
    checklist item answered and every lock released; scheduling needs a start time. Closing
    or cancelling releases the parts still reserved for it.
    """
    wo = get_work_order(session, work_order_id=work_order_id)
    current = WorkOrderState(wo.state)
    target = _enum(WorkOrderState, to, ["body", "state"])
    if lifecycle.roles_for(current, target) is None:
        allowed = ", ".join(s.value for s in lifecycle.allowed(current)) or "none"
        raise Conflict(
            f"{wo.number} cannot go from {current.value} to {target.value} (allowed: {allowed})",
            loc=["body", "state"],
            type="invalid_transition",
        )
    held = _roles_of(actor, roles)
    if held is not None and not lifecycle.may(held, current, target):
        needed = ", ".join(sorted(lifecycle.roles_for(current, target) or ()))
        raise PermissionDenied(
            f"moving a work order from {current.value} to {target.value} needs one of the "
            f"roles: {needed} (or admin)"
        )
    comment = comment.strip()
    if target in lifecycle.NEEDS_COMMENT and not comment:
        raise InvalidInput(
            f"say why the work order goes {target.value.replace('_', ' ')}",
            loc=["body", "comment"],
            type="comment_required",
        )
    now = _now(now_us)
    if target == WorkOrderState.scheduled:
        _schedule(wo, scheduled_start_us, scheduled_end_us)
    if target == WorkOrderState.in_progress:
        _check_loto_confirmed(session, wo)
    if target == WorkOrderState.completed:
        _check_complete(session, wo)
    if target in (WorkOrderState.closed, WorkOrderState.cancelled):
        _release_reservations(session, wo, actor)
    if target == WorkOrderState.in_progress and wo.started_us is None:
        wo.started_us = now
    if target == WorkOrderState.completed:
        wo.completed_us = now
    if target == WorkOrderState.closed:
        wo.closed_us = now
    wo.state = target.value
    name = username_of(actor)
    session.add(
        WorkOrderTransition(
            work_order_id=wo.id,
            from_state=current.value,
            to_state=target.value,
            at=to_datetime(now),
            at_us=now,
            username=name,
            comment=comment,
        )
    )
    stamp(wo, user=actor)
    record(
        session,
        user=actor,
        action="transition",
        entity="work_order",
        entity_id=wo.id,
        details={"from": current.value, "to": target.value, "comment": comment},
    )
    outbox.add(
        session,
        WorkOrderStateChanged(
            work_order_id=wo.id,
            number=wo.number,
            machine_id=wo.machine_id,
            work_type=wo.type,
            previous=current.value,
            state=target.value,
            at_us=now,
            username=name,
            pm_plan_id=wo.pm_plan_id,
        ),
    )
    session.flush()
    return wo


def _schedule(wo: WorkOrder, start_us: int | None, end_us: int | None) -> None:
    start = start_us if start_us is not None else wo.scheduled_start_us
    if start is None:
        start = wo.due_us
    if start is None:
        raise InvalidInput(
            "give the scheduled start (scheduled_start_us) to schedule the work",
            loc=["body", "scheduled_start_us"],
            type="schedule_required",
        )
    end = end_us if end_us is not None else wo.scheduled_end_us
    if end is not None and end <= start:
        raise InvalidInput("the scheduled end must be after its start", loc=["body"])
    wo.scheduled_start_us = start
    wo.scheduled_end_us = end


def _check_loto_confirmed(session: Session, wo: WorkOrder) -> None:
    pending = session.scalars(
        select(LotoStep)
        .where(LotoStep.work_order_id == wo.id, LotoStep.confirmed_at.is_(None))
        .order_by(LotoStep.position)
    ).all()
    if pending:
        steps = "; ".join(f"{s.position}. {s.description}" for s in pending)
        raise Conflict(
            f"{wo.number}: lockout/tagout not confirmed, work may not start: {steps}",
            loc=["loto"],
            type="loto_not_confirmed",
        )


def _check_complete(session: Session, wo: WorkOrder) -> None:
    open_tasks = session.scalars(
        select(WorkOrderTask)
        .where(WorkOrderTask.work_order_id == wo.id, WorkOrderTask.result.is_(None))
        .order_by(WorkOrderTask.position)
    ).all()
    if open_tasks:
        items = "; ".join(f"{t.position}. {t.description}" for t in open_tasks)
        raise Conflict(
            f"{wo.number}: checklist items without a result: {items}",
            loc=["tasks"],
            type="checklist_incomplete",
        )
    locked = session.scalars(
        select(LotoStep)
        .where(
            LotoStep.work_order_id == wo.id,
            LotoStep.confirmed_at.is_not(None),
            LotoStep.released_at.is_(None),
        )
        .order_by(LotoStep.position)
    ).all()
    if locked:
        steps = "; ".join(f"{s.position}. {s.description}" for s in locked)
        raise Conflict(
            f"{wo.number}: locks still applied, release them before completing: {steps}",
            loc=["loto"],
            type="loto_not_released",
        )


def _release_reservations(session: Session, wo: WorkOrder, actor: UserRef) -> None:
    from ifactory.inventory import service as inventory

    inventory.release_reservations(session, work_order_id=wo.id, actor=actor)


def get_transitions(session: Session, *, work_order_id: int) -> Sequence[WorkOrderTransition]:
    """The work order's state history, oldest first (who moved it, when, why)."""
    return session.scalars(
        select(WorkOrderTransition)
        .where(WorkOrderTransition.work_order_id == work_order_id)
        .order_by(WorkOrderTransition.at_us, WorkOrderTransition.id)
    ).all()


@dataclass(frozen=True)
class Cost:
    """A work order's cost split into labour and parts."""

    labour: float
    parts: float
    hours: float

    @property
    def total(self) -> float:
        """Labour plus parts."""
        return self.labour + self.parts


def cost(session: Session, *, work_order_id: int) -> Cost:
    """Maintenance cost of a work order: Σ hours × rate + Σ quantity × unit cost.

    EN 15341:2019 (maintenance KPIs) counts maintenance cost as personnel cost plus material
    cost (spare parts and consumables); here personnel cost is each labour entry's hours × its
    hourly rate, material cost each issue's quantity × the unit cost it was issued at (net of
    parts returned, which are recorded with a negative quantity).
    """
    labour, hours = session.execute(
        select(
            func.coalesce(func.sum(LabourEntry.hours * LabourEntry.rate), 0.0),
            func.coalesce(func.sum(LabourEntry.hours), 0.0),
        ).where(LabourEntry.work_order_id == work_order_id)
    ).one()
    parts = session.scalar(
        select(
            func.coalesce(func.sum(WorkOrderPart.quantity * WorkOrderPart.unit_cost), 0.0)
        ).where(WorkOrderPart.work_order_id == work_order_id)
    )
    return Cost(
        labour=round(float(labour), 4), parts=round(float(parts or 0.0), 4), hours=float(hours)
    )


def downtime_s(session: Session, *, work_order_id: int, now_us: int | None = None) -> float:
    """Seconds of machine downtime linked to the work order (an open stop counts up to now)."""
    events = session.scalars(
        select(DowntimeEvent)
        .join(WorkOrderDowntime, WorkOrderDowntime.downtime_id == DowntimeEvent.id)
        .where(WorkOrderDowntime.work_order_id == work_order_id)
    ).all()
    now = _now(now_us)
    return (
        sum(max(0, (e.end_us if e.end_us is not None else now) - e.start_us) for e in events) / US
    )


def counts_by_state(session: Session, *, filters: WorkOrderFilter | None = None) -> dict[str, int]:
    """How many work orders are in each state (for the board's column headers)."""
    f = filters or WorkOrderFilter()
    rows = session.execute(
        _filtered(select(WorkOrder.state, func.count(WorkOrder.id)), f).group_by(WorkOrder.state)
    ).all()
    out = {s.value: 0 for s in WorkOrderState}
    out.update({state: int(n) for state, n in rows})
    return out
