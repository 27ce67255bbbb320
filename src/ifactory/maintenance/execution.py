"""Doing the work: checklists (and follow-ups), lockout/tagout, labour, parts, technicians, downtime.

Parts come out of inventory through its synchronous service (`issue`, `reserve`,
`return_to_stock`), in the caller's transaction: the stock ledger and the work order's parts
list change together or not at all, and the last part can be issued once only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.core.audit import UserRef, record, username_of
from ifactory.core.clock import to_datetime
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.inventory import service as inventory
from ifactory.inventory.models import Reservation
from ifactory.maintenance import service
from ifactory.maintenance.lifecycle import WorkOrderState
from ifactory.maintenance.models import (
    Craft,
    LabourEntry,
    LotoStep,
    WorkOrder,
    WorkOrderAssignment,
    WorkOrderDowntime,
    WorkOrderPart,
    WorkOrderTask,
)
from ifactory.production.models import DowntimeEvent

S = WorkOrderState
FINISHED = (S.closed.value, S.cancelled.value)
TASK_KINDS = ("check", "measurement", "note")
RESULTS = ("pass", "fail", "na")
ENERGY_SOURCES = (
    "electrical",
    "pneumatic",
    "hydraulic",
    "mechanical",
    "thermal",
    "chemical",
    "gravity",
    "other",
)


def _open(wo: WorkOrder, what: str) -> None:
    if wo.state in FINISHED:
        raise Conflict(
            f"{wo.number} is {wo.state}: {what} can no longer be changed",
            type="work_order_closed",
        )


def _at(now_us: int | None) -> datetime:
    return to_datetime(now_us) if now_us is not None else utcnow()


def _next_position(
    session: Session, model: type[WorkOrderTask] | type[LotoStep], work_order_id: int
) -> int:
    """The position after the work order's last checklist item or isolation step (1 if none)."""
    last = session.scalar(
        select(func.max(model.position)).where(model.work_order_id == work_order_id)
    )
    return (last or 0) + 1


# --- checklist --------------------------------------------------------------------------------


def get_tasks(session: Session, *, work_order_id: int) -> Sequence[WorkOrderTask]:
    """The work order's checklist, in order."""
    return session.scalars(
        select(WorkOrderTask)
        .where(WorkOrderTask.work_order_id == work_order_id)
        .order_by(WorkOrderTask.position)
    ).all()


def get_task(session: Session, *, task_id: int) -> WorkOrderTask:
    """One checklist item, or NotFound."""
    return get_or_not_found(
        session, WorkOrderTask, task_id, f"no checklist item {task_id}", loc=["path", "task_id"]
    )


def add_task(
    session: Session,
    *,
    work_order: WorkOrder,
    description: str,
    actor: UserRef,
    kind: str = "check",
    unit: str = "",
    lower: float | None = None,
    upper: float | None = None,
) -> WorkOrderTask:
    """Append a checklist item (a pass/fail check, a measurement with limits, or a note)."""
    _open(work_order, "its checklist")
    if work_order.state == S.completed.value:
        raise Conflict(f"{work_order.number} is completed", type="work_order_completed")
    if not description.strip():
        raise InvalidInput("describe the checklist item", loc=["body", "description"])
    if kind not in TASK_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(TASK_KINDS)}", loc=["body", "kind"])
    if lower is not None and upper is not None and lower > upper:
        raise InvalidInput("lower limit above upper limit", loc=["body", "lower"])
    if kind != "measurement" and (lower is not None or upper is not None):
        raise InvalidInput("only a measurement has limits", loc=["body", "lower"])
    task = WorkOrderTask(
        work_order_id=work_order.id,
        position=_next_position(session, WorkOrderTask, work_order.id),
        description=description.strip(),
        kind=kind,
        unit=unit,
        lower=lower,
        upper=upper,
        note="",
    )
    session.add(task)
    session.flush()
    record(
        session,
        user=actor,
        action="add_task",
        entity="work_order",
        entity_id=work_order.id,
        details={"task_id": task.id, "description": task.description},
    )
    return task


def delete_task(session: Session, *, task: WorkOrderTask, actor: UserRef) -> None:
    """Remove a checklist item that has no result yet (planned in error)."""
    wo = service.get_work_order(session, work_order_id=task.work_order_id)
    _open(wo, "its checklist")
    if task.result is not None:
        raise Conflict(
            f"item {task.position} has a result already; it stays on record", type="task_done"
        )
    record(
        session,
        user=actor,
        action="delete_task",
        entity="work_order",
        entity_id=wo.id,
        details={"task_id": task.id, "description": task.description},
    )
    session.delete(task)
    session.flush()


def record_result(
    session: Session,
    *,
    task: WorkOrderTask,
    actor: UserRef,
    result: str | None = None,
    value: float | None = None,
    note: str = "",
    now_us: int | None = None,
    follow_up: bool = False,
    follow_up_title: str | None = None,
) -> WorkOrderTask:
    """Record a checklist result; a failed item can raise a linked follow-up work order.

    A measurement's result follows from its limits (outside [lower, upper] fails); a note is
    answered by its text.
    """
    wo = service.get_work_order(session, work_order_id=task.work_order_id)
    _open(wo, "its checklist")
    if wo.state not in (S.in_progress.value, S.on_hold.value):
        raise Conflict(
            f"{wo.number} is {wo.state}: results are recorded while the work is in progress",
            type="work_not_started",
        )
    if task.kind == "measurement":
        if value is None:
            if result != "na":
                raise InvalidInput("a measurement needs its value", loc=["body", "value"])
        else:
            low_ok = task.lower is None or value >= task.lower
            high_ok = task.upper is None or value <= task.upper
            measured = "pass" if low_ok and high_ok else "fail"
            if result is not None and result != measured:
                raise InvalidInput(
                    f"{value:g} {task.unit} is a {measured} for limits "
                    f"[{task.lower}, {task.upper}], not a {result}",
                    loc=["body", "result"],
                )
            result = measured
    elif task.kind == "note" and result is None:
        if not note.strip():
            raise InvalidInput("write the note", loc=["body", "note"])
        result = "pass"
    if result not in RESULTS:
        raise InvalidInput(f"result must be one of {', '.join(RESULTS)}", loc=["body", "result"])
    if follow_up and result != "fail":
        raise InvalidInput("only a failed item raises a follow-up", loc=["body", "follow_up"])
    task.result = result
    task.value = value
    task.note = note.strip()
    task.done_by = username_of(actor)
    task.done_at = _at(now_us)
    record(
        session,
        user=actor,
        action="task_result",
        entity="work_order",
        entity_id=wo.id,
        details={"task_id": task.id, "result": result, "value": value, "note": task.note},
    )
    session.flush()
    if follow_up:
        raise_follow_up(session, task=task, actor=actor, title=follow_up_title, now_us=now_us)
    return task


def raise_follow_up(
    session: Session,
    *,
    task: WorkOrderTask,
    actor: UserRef,
    title: str | None = None,
    now_us: int | None = None,
) -> WorkOrder:
    """A corrective work order for a failed checklist item, linked both ways (once per item)."""
    if task.result != "fail":
        raise Conflict("only a failed checklist item raises a follow-up", type="task_not_failed")
    parent = service.get_work_order(session, work_order_id=task.work_order_id)
    measured = f" (measured {task.value:g} {task.unit})" if task.value is not None else ""
    follow = service.create_work_order(
        session,
        machine_id=parent.machine_id,
        asset_id=parent.asset_id,
        type="corrective",
        title=(title or f"Follow-up of {parent.number}: {task.description}")[:200],
        description=f"Checklist item {task.position} of {parent.number} failed: "
        f"{task.description}{measured}. {task.note}".strip(),
        priority=parent.priority,
        actor=actor,
        source_key=f"task:{task.id}",
        evidence={
            "type": "checklist_failed",
            "work_order_id": parent.id,
            "work_order": parent.number,
            "task_id": task.id,
            "description": task.description,
            "value": task.value,
            "limits": [task.lower, task.upper],
            "note": task.note,
        },
        parent_id=parent.id,
        now_us=now_us,
    )
    task.follow_up_id = follow.id
    session.flush()
    return follow


# --- lockout / tagout -------------------------------------------------------------------------


def get_loto_steps(session: Session, *, work_order_id: int) -> Sequence[LotoStep]:
    """The work order's lockout/tagout steps, in order."""
    return session.scalars(
        select(LotoStep).where(LotoStep.work_order_id == work_order_id).order_by(LotoStep.position)
    ).all()


def get_loto_step(session: Session, *, step_id: int) -> LotoStep:
    """One lockout/tagout step, or NotFound."""
    return get_or_not_found(
        session, LotoStep, step_id, f"no lockout/tagout step {step_id}", loc=["path", "step_id"]
    )


def add_loto_step(
    session: Session,
    *,
    work_order: WorkOrder,
    description: str,
    actor: UserRef,
    energy_source: str = "electrical",
    lock_number: str = "",
) -> LotoStep:
    """Add an isolation step (energy source, where to lock); only before work starts."""
    _open(work_order, "its lockout/tagout")
    if work_order.state not in (S.requested.value, S.approved.value, S.scheduled.value):
        raise Conflict(
            f"{work_order.number} is {work_order.state}: isolation steps are planned before "
            "work starts",
            type="work_started",
        )
    if not description.strip():
        raise InvalidInput("describe the isolation point", loc=["body", "description"])
    if energy_source not in ENERGY_SOURCES:
        raise InvalidInput(
            f"energy_source must be one of {', '.join(ENERGY_SOURCES)}",
            loc=["body", "energy_source"],
        )
    step = LotoStep(
        work_order_id=work_order.id,
        position=_next_position(session, LotoStep, work_order.id),
        energy_source=energy_source,
        description=description.strip(),
        lock_number=lock_number.strip(),
    )
    session.add(step)
    session.flush()
    record(
        session,
        user=actor,
        action="add_loto_step",
        entity="work_order",
        entity_id=work_order.id,
        details={"step_id": step.id, "description": step.description},
    )
    return step


def delete_loto_step(session: Session, *, step: LotoStep, actor: UserRef) -> None:
    """Remove an isolation step planned in error (only before work starts, never once locked)."""
    wo = service.get_work_order(session, work_order_id=step.work_order_id)
    if wo.state not in (S.requested.value, S.approved.value, S.scheduled.value):
        raise Conflict(
            f"{wo.number} is {wo.state}: isolation steps are kept once work has started",
            type="work_started",
        )
    if step.confirmed_at is not None:
        raise Conflict(f"step {step.position} is locked: release it first", type="locked")
    record(
        session,
        user=actor,
        action="delete_loto_step",
        entity="work_order",
        entity_id=wo.id,
        details={"step_id": step.id, "description": step.description},
    )
    session.delete(step)
    session.flush()


def confirm_loto_step(
    session: Session,
    *,
    step: LotoStep,
    actor: UserRef,
    lock_number: str | None = None,
    now_us: int | None = None,
) -> LotoStep:
    """Confirm an energy source is isolated and locked (who and when are recorded)."""
    wo = service.get_work_order(session, work_order_id=step.work_order_id)
    _open(wo, "its lockout/tagout")
    if wo.state == S.completed.value:
        raise Conflict(f"{wo.number} is completed", type="work_order_completed")
    if step.confirmed_at is not None and step.released_at is None:
        raise Conflict(
            f"step {step.position} was confirmed by {step.confirmed_by} already",
            type="already_confirmed",
        )
    step.confirmed_by = username_of(actor)
    step.confirmed_at = _at(now_us)
    step.released_by = None
    step.released_at = None
    if lock_number is not None:
        step.lock_number = lock_number.strip()
    record(
        session,
        user=actor,
        action="confirm_loto",
        entity="work_order",
        entity_id=wo.id,
        details={"step_id": step.id, "lock_number": step.lock_number},
    )
    session.flush()
    return step


def release_loto_step(
    session: Session, *, step: LotoStep, actor: UserRef, now_us: int | None = None
) -> LotoStep:
    """Record that a lock was removed (energy restored) after the work."""
    wo = service.get_work_order(session, work_order_id=step.work_order_id)
    _open(wo, "its lockout/tagout")
    if step.confirmed_at is None:
        raise Conflict(f"step {step.position} was never locked", type="not_confirmed")
    if step.released_at is not None:
        raise Conflict(f"step {step.position} was released already", type="already_released")
    step.released_by = username_of(actor)
    step.released_at = _at(now_us)
    record(
        session,
        user=actor,
        action="release_loto",
        entity="work_order",
        entity_id=wo.id,
        details={"step_id": step.id},
    )
    session.flush()
    return step


# --- technicians and labour -------------------------------------------------------------------


def get_assignments(session: Session, *, work_order_id: int) -> Sequence[WorkOrderAssignment]:
    """Technicians assigned to the work order."""
    return session.scalars(
        select(WorkOrderAssignment)
        .where(WorkOrderAssignment.work_order_id == work_order_id)
        .order_by(WorkOrderAssignment.assigned_at)
    ).all()


def assign(
    session: Session,
    *,
    work_order: WorkOrder,
    username: str,
    actor: UserRef,
    craft_code: str | None = None,
    now_us: int | None = None,
) -> WorkOrderAssignment:
    """Assign a technician (an active user holding the technician role) to the work order."""
    from ifactory.auth.models import User

    _open(work_order, "its technicians")
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active:
        raise InvalidInput(f"no active user '{username}'", loc=["body", "username"])
    if not {"technician", "admin"} & set(user.roles):
        raise InvalidInput(
            f"'{user.username}' is not a technician",
            loc=["body", "username"],
            type="not_technician",
        )
    if craft_code is not None and session.get(Craft, craft_code) is None:
        raise InvalidInput(f"unknown craft '{craft_code}'", loc=["body", "craft_code"])
    existing = session.get(WorkOrderAssignment, (work_order.id, user.username))
    if existing is not None:
        existing.craft_code = craft_code if craft_code is not None else existing.craft_code
        session.flush()
        return existing
    row = WorkOrderAssignment(
        work_order_id=work_order.id,
        username=user.username,
        craft_code=craft_code,
        assigned_at=_at(now_us),
        assigned_by=username_of(actor),
    )
    session.add(row)
    record(
        session,
        user=actor,
        action="assign",
        entity="work_order",
        entity_id=work_order.id,
        details={"username": user.username, "craft": craft_code},
    )
    session.flush()
    return row


def unassign(session: Session, *, work_order: WorkOrder, username: str, actor: UserRef) -> None:
    """Take a technician off the work order."""
    _open(work_order, "its technicians")
    row = get_or_not_found(
        session,
        WorkOrderAssignment,
        (work_order.id, username),
        f"'{username}' is not assigned to {work_order.number}",
        loc=["path"],
    )
    session.delete(row)
    record(
        session,
        user=actor,
        action="unassign",
        entity="work_order",
        entity_id=work_order.id,
        details={"username": username},
    )
    session.flush()


def get_labour(session: Session, *, work_order_id: int) -> Sequence[LabourEntry]:
    """Labour booked on the work order."""
    return session.scalars(
        select(LabourEntry)
        .where(LabourEntry.work_order_id == work_order_id)
        .order_by(LabourEntry.entered_at, LabourEntry.id)
    ).all()


def add_labour(
    session: Session,
    *,
    work_order: WorkOrder,
    username: str,
    hours: float,
    actor: UserRef,
    craft_code: str | None = None,
    rate: float | None = None,
    work_date: str | None = None,
    note: str = "",
    now_us: int | None = None,
) -> LabourEntry:
    """Book hours of a technician; the rate defaults to the craft's standard hourly rate."""
    _open(work_order, "its labour")
    if work_order.state in (S.requested.value, S.approved.value):
        raise Conflict(
            f"{work_order.number} is {work_order.state}: book labour once work is scheduled",
            type="work_not_scheduled",
        )
    if not 0 < hours <= 24:
        raise InvalidInput("hours must be more than 0 and at most 24", loc=["body", "hours"])
    craft_code = craft_code or work_order.craft_code
    craft = session.get(Craft, craft_code) if craft_code is not None else None
    if craft_code is not None and craft is None:
        raise InvalidInput(f"unknown craft '{craft_code}'", loc=["body", "craft_code"])
    if rate is None:
        if craft is None:
            raise InvalidInput("give the hourly rate or a craft that has one", loc=["body", "rate"])
        rate = float(craft.hourly_rate)
    if rate < 0:
        raise InvalidInput("the rate cannot be negative", loc=["body", "rate"])
    entry = LabourEntry(
        work_order_id=work_order.id,
        username=username.strip().lower(),
        craft_code=craft_code,
        hours=hours,
        rate=rate,
        work_date=work_date,
        note=note.strip(),
        entered_by=username_of(actor),
        entered_at=_at(now_us),
    )
    session.add(entry)
    session.flush()
    record(
        session,
        user=actor,
        action="add_labour",
        entity="work_order",
        entity_id=work_order.id,
        details={"entry_id": entry.id, "username": entry.username, "hours": hours, "rate": rate},
    )
    return entry


def delete_labour(session: Session, *, entry_id: int, actor: UserRef) -> None:
    """Remove a labour entry booked in error (audited with what it was)."""
    entry = get_or_not_found(
        session, LabourEntry, entry_id, f"no labour entry {entry_id}", loc=["path", "entry_id"]
    )
    wo = service.get_work_order(session, work_order_id=entry.work_order_id)
    _open(wo, "its labour")
    record(
        session,
        user=actor,
        action="delete_labour",
        entity="work_order",
        entity_id=wo.id,
        details={"entry_id": entry.id, "username": entry.username, "hours": entry.hours},
    )
    session.delete(entry)
    session.flush()


# --- parts ------------------------------------------------------------------------------------


def get_parts(session: Session, *, work_order_id: int) -> Sequence[WorkOrderPart]:
    """Parts issued to (and returned from) the work order."""
    return session.scalars(
        select(WorkOrderPart)
        .where(WorkOrderPart.work_order_id == work_order_id)
        .order_by(WorkOrderPart.issued_at, WorkOrderPart.id)
    ).all()


def issue_part(
    session: Session,
    *,
    work_order: WorkOrder,
    part_id: int,
    quantity: float,
    actor: UserRef,
    location_id: int | None = None,
    override: bool = False,
    override_reason: str | None = None,
    note: str = "",
    now_us: int | None = None,
) -> WorkOrderPart:
    """Draw parts from inventory for the work (Conflict when out of stock, unless overridden)."""
    _open(work_order, "its parts")
    if work_order.state in (S.requested.value, S.approved.value):
        raise Conflict(
            f"{work_order.number} is {work_order.state}: parts are issued to scheduled work",
            type="work_not_scheduled",
        )
    movement = inventory.issue(
        session,
        part_id=part_id,
        quantity=quantity,
        location_id=location_id,
        work_order_id=work_order.id,
        actor=actor,
        override=override,
        override_reason=override_reason,
    )
    row = WorkOrderPart(
        work_order_id=work_order.id,
        part_id=part_id,
        quantity=-float(movement.quantity),
        unit_cost=float(movement.unit_cost),
        location_id=movement.location_id,
        movement_id=movement.id,
        override=bool(movement.override),
        override_reason=movement.override_reason or "",
        note=note.strip(),
        issued_by=username_of(actor),
        issued_at=_at(now_us),
    )
    session.add(row)
    session.flush()
    return row


def return_part(
    session: Session,
    *,
    work_order: WorkOrder,
    part_id: int,
    quantity: float,
    actor: UserRef,
    location_id: int | None = None,
    note: str = "",
    now_us: int | None = None,
) -> WorkOrderPart:
    """Bring unused parts back to stock; the work order is credited at the cost they were issued."""
    _open(work_order, "its parts")
    issued = [p for p in get_parts(session, work_order_id=work_order.id) if p.part_id == part_id]
    qty = sum(float(p.quantity) for p in issued)
    value = sum(float(p.quantity) * float(p.unit_cost) for p in issued)
    movement = inventory.return_to_stock(
        session,
        part_id=part_id,
        quantity=quantity,
        location_id=location_id,
        work_order_id=work_order.id,
        actor=actor,
        reason=note or f"returned from {work_order.number}",
    )
    # Credited at the average cost of what this work order drew, so its cost never goes negative.
    unit_cost = value / qty if qty > 0 else float(movement.unit_cost)
    row = WorkOrderPart(
        work_order_id=work_order.id,
        part_id=part_id,
        quantity=-float(movement.quantity),
        unit_cost=unit_cost,
        location_id=movement.location_id,
        movement_id=movement.id,
        note=note.strip() or "returned",
        issued_by=username_of(actor),
        issued_at=_at(now_us),
    )
    session.add(row)
    session.flush()
    return row


def reserve_part(
    session: Session,
    *,
    work_order: WorkOrder,
    part_id: int,
    quantity: float,
    actor: UserRef,
    location_id: int | None = None,
) -> Reservation:
    """Hold parts in stock for this work (the planner's kitting before the job)."""
    _open(work_order, "its reservations")
    needed_by = (
        to_datetime(work_order.scheduled_start_us)
        if work_order.scheduled_start_us is not None
        else (to_datetime(work_order.due_us) if work_order.due_us is not None else None)
    )
    return inventory.reserve(
        session,
        part_id=part_id,
        quantity=quantity,
        work_order_id=work_order.id,
        actor=actor,
        location_id=location_id,
        needed_by=needed_by,
    )


def get_reservations(session: Session, *, work_order_id: int) -> Sequence[Reservation]:
    """Parts reserved for the work order (open, consumed and released)."""
    return session.scalars(
        select(Reservation)
        .where(Reservation.work_order_id == work_order_id)
        .order_by(Reservation.id)
    ).all()


# --- downtime ---------------------------------------------------------------------------------


def get_downtime(session: Session, *, work_order_id: int) -> Sequence[DowntimeEvent]:
    """The machine downtime events this work order concerns."""
    return session.scalars(
        select(DowntimeEvent)
        .join(WorkOrderDowntime, WorkOrderDowntime.downtime_id == DowntimeEvent.id)
        .where(WorkOrderDowntime.work_order_id == work_order_id)
        .order_by(DowntimeEvent.start_us)
    ).all()


def current_breakdown(session: Session, *, machine_id: int) -> DowntimeEvent | None:
    """The machine's stop going on now if it is down (failed), else None."""
    event = session.scalar(
        select(DowntimeEvent)
        .where(DowntimeEvent.machine_id == machine_id, DowntimeEvent.end_us.is_(None))
        .order_by(DowntimeEvent.start_us.desc())
        .limit(1)
    )
    if event is None or "down" not in event.states.split(","):
        return None
    return event


def link_downtime(
    session: Session, *, work_order: WorkOrder, downtime_id: int, actor: UserRef
) -> DowntimeEvent:
    """Link a recorded downtime event of the same machine to the work order (idempotent)."""
    event = get_or_not_found(
        session,
        DowntimeEvent,
        downtime_id,
        f"no downtime event {downtime_id}",
        loc=["body", "downtime_id"],
    )
    if event.machine_id != work_order.machine_id:
        raise InvalidInput(
            f"downtime {downtime_id} is of another machine", loc=["body", "downtime_id"]
        )
    if session.get(WorkOrderDowntime, (work_order.id, downtime_id)) is None:
        session.add(
            WorkOrderDowntime(
                work_order_id=work_order.id,
                downtime_id=downtime_id,
                linked_by=username_of(actor),
            )
        )
        record(
            session,
            user=actor,
            action="link_downtime",
            entity="work_order",
            entity_id=work_order.id,
            details={"downtime_id": downtime_id},
        )
        session.flush()
    return event


def unlink_downtime(
    session: Session, *, work_order: WorkOrder, downtime_id: int, actor: UserRef
) -> None:
    """Remove a downtime link made in error."""
    row = get_or_not_found(
        session,
        WorkOrderDowntime,
        (work_order.id, downtime_id),
        f"downtime {downtime_id} is not linked to {work_order.number}",
        loc=["path"],
    )
    session.delete(row)
    record(
        session,
        user=actor,
        action="unlink_downtime",
        entity="work_order",
        entity_id=work_order.id,
        details={"downtime_id": downtime_id},
    )
    session.flush()


def summary(
    session: Session, *, work_order: WorkOrder, now_us: int | None = None
) -> dict[str, Any]:
    """Cost, hours, downtime and checklist progress of a work order (for its read model)."""
    c = service.cost(session, work_order_id=work_order.id)
    tasks = get_tasks(session, work_order_id=work_order.id)
    steps = get_loto_steps(session, work_order_id=work_order.id)
    return {
        "labour_cost": c.labour,
        "parts_cost": c.parts,
        "total_cost": c.total,
        "labour_hours": c.hours,
        "downtime_s": service.downtime_s(session, work_order_id=work_order.id, now_us=now_us),
        "tasks_total": len(tasks),
        "tasks_done": sum(1 for t in tasks if t.result is not None),
        "tasks_failed": sum(1 for t in tasks if t.result == "fail"),
        "loto_total": len(steps),
        "loto_confirmed": sum(1 for s in steps if s.confirmed_at is not None),
    }
