"""Reorder points and purchase requisitions.

When a part's AVAILABLE stock (on hand minus open reservations) falls below its reorder point,
a requisition for the quantity that brings it back to its maximum is raised, and the event
`inventory.requisition_raised` goes to the outbox in the same transaction (ERP integration picks
it up). While a requisition of the part is open or ordered, no second one is raised: `check`
runs under the part's ledger lock, so two concurrent movements cannot both raise one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.core import audit, outbox
from ifactory.core.audit import UserRef
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.inventory.events import PurchaseRequisitionRaised
from ifactory.inventory.models import PurchaseRequisition, RequisitionState, SparePart

OUTSTANDING = (RequisitionState.OPEN.value, RequisitionState.ORDERED.value)
# Which state a requisition may move to from which (received and cancelled are final).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    RequisitionState.OPEN.value: (
        RequisitionState.ORDERED.value,
        RequisitionState.RECEIVED.value,
        RequisitionState.CANCELLED.value,
    ),
    RequisitionState.ORDERED.value: (
        RequisitionState.RECEIVED.value,
        RequisitionState.CANCELLED.value,
    ),
    RequisitionState.RECEIVED.value: (),
    RequisitionState.CANCELLED.value: (),
}


def _name(actor: UserRef | None) -> str:
    return audit.SYSTEM if actor is None else audit.username_of(actor)


def outstanding(session: Session, *, part_id: int) -> PurchaseRequisition | None:
    """The part's open or ordered requisition, if any."""
    return session.scalar(
        select(PurchaseRequisition)
        .where(PurchaseRequisition.part_id == part_id, PurchaseRequisition.state.in_(OUTSTANDING))
        .order_by(PurchaseRequisition.id)
        .limit(1)
    )


def on_order_by_part(session: Session, *, part_ids: Sequence[int]) -> dict[int, float]:
    """Quantity on open or ordered requisitions, per part."""
    if not part_ids:
        return {}
    rows = session.execute(
        select(PurchaseRequisition.part_id, func.sum(PurchaseRequisition.quantity))
        .where(
            PurchaseRequisition.part_id.in_(part_ids), PurchaseRequisition.state.in_(OUTSTANDING)
        )
        .group_by(PurchaseRequisition.part_id)
    ).all()
    return {int(part_id): float(total or 0.0) for part_id, total in rows}


def _raise(
    session: Session,
    *,
    part: SparePart,
    quantity: float,
    actor: UserRef | None,
    reason: str,
    available: float | None,
    now: datetime,
) -> PurchaseRequisition:
    name = _name(actor)
    requisition = PurchaseRequisition(
        part_id=part.id,
        quantity=round(quantity, 4),
        state=RequisitionState.OPEN.value,
        available_at_raise=available,
        reorder_point=part.reorder_point,
        max_stock=part.max_stock,
        needed_by=now + timedelta(days=int(part.lead_time_days or 0)),
        reason=reason,
        created_at=now,
    )
    audit.stamp(requisition, user=name)
    session.add(requisition)
    session.flush()
    audit.record(
        session,
        user=name,
        action="raise",
        entity="purchase_requisition",
        entity_id=requisition.id,
        details={"part_id": part.id, "quantity": requisition.quantity, "reason": reason},
    )
    outbox.add(
        session,
        PurchaseRequisitionRaised(
            requisition_id=requisition.id,
            part_id=part.id,
            part_number=part.part_number,
            part_name=part.name,
            manufacturer=part.manufacturer,
            manufacturer_part_number=part.manufacturer_part_number,
            quantity=requisition.quantity,
            unit=part.unit,
            unit_cost=float(part.unit_cost or 0.0),
            available=available,
            reorder_point=part.reorder_point,
            max_stock=part.max_stock,
            lead_time_days=int(part.lead_time_days or 0),
            needed_by=requisition.needed_by,
            reason=reason,
        ),
    )
    return requisition


def check(
    session: Session, *, part: SparePart, available: float, actor: UserRef | None
) -> PurchaseRequisition | None:
    """Raise a requisition if `available` is below the part's reorder point and none is open.

    Call with the part's ledger lock held. The quantity brings available stock up to the maximum.
    """
    if part.reorder_point is None or not part.active:
        return None
    if available >= float(part.reorder_point):
        return None
    if outstanding(session, part_id=part.id) is not None:
        return None
    target = float(part.max_stock) if part.max_stock is not None else float(part.reorder_point)
    quantity = target - available
    if quantity <= 0:
        return None
    return _raise(
        session,
        part=part,
        quantity=quantity,
        actor=actor,
        reason=(f"available {available:g} {part.unit} below reorder point {part.reorder_point:g}"),
        available=available,
        now=utcnow(),
    )


def create(
    session: Session, *, part: SparePart, quantity: float, reason: str, actor: UserRef | None
) -> PurchaseRequisition:
    """Raise a requisition by hand (a planner buying ahead of a shutdown, say)."""
    if not quantity > 0:
        raise InvalidInput("quantity must be greater than 0", loc=["body", "quantity"])
    return _raise(
        session,
        part=part,
        quantity=quantity,
        actor=actor,
        reason=reason.strip() or "raised by hand",
        available=None,
        now=utcnow(),
    )


def get(session: Session, *, requisition_id: int) -> PurchaseRequisition:
    """A requisition (NotFound otherwise)."""
    return get_or_not_found(
        session,
        PurchaseRequisition,
        requisition_id,
        f"no purchase requisition {requisition_id}",
        loc=["path", "requisition_id"],
    )


def get_all(
    session: Session,
    *,
    state: str | None = None,
    part_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[PurchaseRequisition], int]:
    """Requisitions, newest first, by state and part, with the total count."""
    query = select(PurchaseRequisition)
    count = select(func.count()).select_from(PurchaseRequisition)
    if state is not None:
        query = query.where(PurchaseRequisition.state == state)
        count = count.where(PurchaseRequisition.state == state)
    if part_id is not None:
        query = query.where(PurchaseRequisition.part_id == part_id)
        count = count.where(PurchaseRequisition.part_id == part_id)
    rows = session.scalars(
        query.order_by(PurchaseRequisition.id.desc()).offset(offset).limit(limit)
    ).all()
    return rows, int(session.scalar(count) or 0)


def transition(
    session: Session,
    *,
    requisition: PurchaseRequisition,
    state: str,
    actor: UserRef | None,
    erp_reference: str | None = None,
) -> PurchaseRequisition:
    """Move a requisition to `state` (ordered, received, cancelled) if its lifecycle allows."""
    if state not in TRANSITIONS:
        raise InvalidInput(f"unknown requisition state '{state}'", loc=["body", "state"])
    allowed = TRANSITIONS[requisition.state]
    if state not in allowed:
        raise Conflict(
            f"requisition {requisition.id} is {requisition.state}; it cannot become {state}",
            loc=["body", "state"],
            type="invalid_transition",
        )
    before = requisition.state
    requisition.state = state
    if erp_reference is not None:
        requisition.erp_reference = erp_reference
    name = _name(actor)
    audit.stamp(requisition, user=name)
    audit.record(
        session,
        user=name,
        action=state,
        entity="purchase_requisition",
        entity_id=requisition.id,
        details={"from": before, "to": state, "erp_reference": requisition.erp_reference},
    )
    return requisition


def mark_received(
    session: Session, *, requisition_id: int, part: SparePart, actor: UserRef | None
) -> PurchaseRequisition:
    """Close the requisition a receipt fulfils (it must be of the same part and outstanding)."""
    requisition = get(session, requisition_id=requisition_id)
    if requisition.part_id != part.id:
        raise InvalidInput(
            f"requisition {requisition_id} is not for part {part.part_number}",
            loc=["body", "requisition_id"],
        )
    return transition(
        session, requisition=requisition, state=RequisitionState.RECEIVED.value, actor=actor
    )
