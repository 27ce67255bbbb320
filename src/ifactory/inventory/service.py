"""Inventory services: spare parts, storage locations, and (from `ledger` / `reorder`) stock.

Plain functions with keyword arguments; every change is audited in the caller's transaction.
Other domains (maintenance work orders) call `issue`, `reserve`, `release_reservations`,
`return_to_stock`, `on_hand` and `available` from here, synchronously, in their own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ifactory.core import audit
from ifactory.core.audit import UserRef
from ifactory.core.db import get_or_not_found
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.inventory import reorder
from ifactory.inventory.ledger import (
    StockLevel,
    adjust,
    available,
    balances_by_location,
    get_ledger,
    get_movements,
    get_reservation,
    get_reservations,
    issue,
    issued_to_work_order,
    on_hand,
    receive,
    release_reservations,
    reserve,
    reserved,
    return_to_stock,
    stock_level,
    stock_levels,
    transfer,
)
from ifactory.inventory.models import (
    PurchaseRequisition,
    Reservation,
    SparePart,
    StockMovement,
    StorageLocation,
)

__all__ = [
    "PurchaseRequisition",
    "Reservation",
    "SparePart",
    "StockLevel",
    "StockMovement",
    "StorageLocation",
    "adjust",
    "available",
    "balances_by_location",
    "create_location",
    "create_part",
    "create_requisition",
    "delete_part",
    "get_all_locations",
    "get_all_parts",
    "get_ledger",
    "get_location",
    "get_movements",
    "get_part",
    "get_part_by_number",
    "get_requisition",
    "get_requisitions",
    "get_reservation",
    "get_reservations",
    "issue",
    "issued_to_work_order",
    "on_hand",
    "receive",
    "release_reservations",
    "reserve",
    "reserved",
    "return_to_stock",
    "set_requisition_state",
    "stock_level",
    "stock_levels",
    "transfer",
    "update_location",
    "update_part",
]

PLANNING_FIELDS = ("min_stock", "reorder_point", "max_stock")


def _name(actor: UserRef | None) -> str:
    return audit.SYSTEM if actor is None else audit.username_of(actor)


# --- storage locations --------------------------------------------------------------------------


def get_location(session: Session, *, location_id: int) -> StorageLocation:
    """A storage location (NotFound otherwise)."""
    return get_or_not_found(
        session,
        StorageLocation,
        location_id,
        f"no storage location {location_id}",
        loc=["path", "location_id"],
    )


def get_all_locations(session: Session, *, active: bool | None = None) -> Sequence[StorageLocation]:
    """Storage locations by code."""
    query = select(StorageLocation).order_by(StorageLocation.code)
    if active is not None:
        query = query.where(StorageLocation.active.is_(active))
    return session.scalars(query).all()


def create_location(
    session: Session,
    *,
    code: str,
    store: str,
    bin: str = "",
    description: str = "",
    active: bool = True,
    actor: UserRef | None,
) -> StorageLocation:
    """Create a storage location (Conflict if the code exists)."""
    if session.scalar(select(StorageLocation.id).where(StorageLocation.code == code)) is not None:
        raise Conflict(f"storage location '{code}' already exists", loc=["body", "code"])
    location = StorageLocation(
        code=code, store=store, bin=bin, description=description, active=active
    )
    audit.stamp(location, user=_name(actor))
    session.add(location)
    session.flush()
    audit.record(
        session,
        user=_name(actor),
        action="create",
        entity="storage_location",
        entity_id=location.id,
        details={"code": code},
    )
    return location


def update_location(
    session: Session, *, location: StorageLocation, changes: dict[str, Any], actor: UserRef | None
) -> StorageLocation:
    """Change a location's store, bin, description or active flag (the code is its identity)."""
    for key, value in changes.items():
        setattr(location, key, value)
    audit.stamp(location, user=_name(actor))
    audit.record(
        session,
        user=_name(actor),
        action="update",
        entity="storage_location",
        entity_id=location.id,
        details=changes,
    )
    return location


# --- spare parts --------------------------------------------------------------------------------


def get_part(session: Session, *, part_id: int) -> SparePart:
    """A spare part (NotFound otherwise)."""
    return get_or_not_found(
        session, SparePart, part_id, f"no spare part {part_id}", loc=["path", "part_id"]
    )


def get_part_by_number(session: Session, *, part_number: str) -> SparePart:
    """A spare part by its part number (NotFound otherwise)."""
    part = session.scalar(select(SparePart).where(SparePart.part_number == part_number))
    if part is None:
        raise NotFound(f"no spare part '{part_number}'", loc=["path", "part_number"])
    return part


def get_all_parts(
    session: Session,
    *,
    search: str | None = None,
    active: bool | None = None,
    below_reorder_point: bool | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[tuple[SparePart, StockLevel]], int]:
    """Parts by part number with their stock levels, and how many match in all.

    `below_reorder_point=True` keeps only parts whose available stock is below their reorder
    point (the filter needs the stock figures, so it is applied after they are computed).
    """
    query = select(SparePart).order_by(SparePart.part_number)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(SparePart.part_number).like(pattern),
                func.lower(SparePart.name).like(pattern),
                func.lower(SparePart.manufacturer_part_number).like(pattern),
            )
        )
    if active is not None:
        query = query.where(SparePart.active.is_(active))
    if below_reorder_point is None:
        total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        parts = session.scalars(query.offset(offset).limit(limit)).all()
        levels = stock_levels(session, parts=parts)
        return [(p, levels[p.id]) for p in parts], total
    parts = session.scalars(query).all()
    levels = stock_levels(session, parts=parts)
    rows = [
        (p, levels[p.id]) for p in parts if levels[p.id].below_reorder_point is below_reorder_point
    ]
    return rows[offset : offset + limit], len(rows)


def _check_planning(values: dict[str, Any]) -> None:
    low, point, high = (values.get(k) for k in PLANNING_FIELDS)
    if point is not None and high is None:
        raise InvalidInput("a reorder point needs a maximum stock", loc=["body", "max_stock"])
    if point is not None and low is not None and point < low:
        raise InvalidInput(
            f"reorder point {point:g} is below the minimum stock {low:g}",
            loc=["body", "reorder_point"],
        )
    if high is not None and point is not None and high < point:
        raise InvalidInput(
            f"maximum stock {high:g} is below the reorder point {point:g}",
            loc=["body", "max_stock"],
        )
    if high is not None and low is not None and high < low:
        raise InvalidInput(
            f"maximum stock {high:g} is below the minimum stock {low:g}", loc=["body", "max_stock"]
        )


def create_part(
    session: Session, *, actor: UserRef | None, part_number: str, name: str, **fields: Any
) -> SparePart:
    """Create a spare part (Conflict if the part number exists). Stock comes only by receipts."""
    if session.scalar(select(SparePart.id).where(SparePart.part_number == part_number)):
        raise Conflict(f"spare part '{part_number}' already exists", loc=["body", "part_number"])
    _check_planning({k: fields.get(k, 0.0 if k == "min_stock" else None) for k in PLANNING_FIELDS})
    if fields.get("default_location_id") is not None:
        get_location(session, location_id=fields["default_location_id"])
    part = SparePart(part_number=part_number, name=name, ledger_version=0, **fields)
    audit.stamp(part, user=_name(actor))
    session.add(part)
    session.flush()
    audit.record(
        session,
        user=_name(actor),
        action="create",
        entity="spare_part",
        entity_id=part.id,
        details={"part_number": part_number},
    )
    return part


def update_part(
    session: Session, *, part: SparePart, changes: dict[str, Any], actor: UserRef | None
) -> SparePart:
    """Change a part's data or planning parameters (never its stock: that is the ledger's).

    A changed reorder point is checked at once: a requisition is raised if stock is now below it.
    """
    merged = {k: changes.get(k, getattr(part, k)) for k in PLANNING_FIELDS}
    _check_planning(merged)
    if changes.get("default_location_id") is not None:
        get_location(session, location_id=changes["default_location_id"])
    if "part_number" in changes and changes["part_number"] != part.part_number:
        taken = session.scalar(
            select(SparePart.id).where(SparePart.part_number == changes["part_number"])
        )
        if taken is not None:
            raise Conflict(
                f"spare part '{changes['part_number']}' already exists",
                loc=["body", "part_number"],
            )
    for key, value in changes.items():
        setattr(part, key, value)
    audit.stamp(part, user=_name(actor))
    audit.record(
        session,
        user=_name(actor),
        action="update",
        entity="spare_part",
        entity_id=part.id,
        details=changes,
    )
    if any(k in changes for k in (*PLANNING_FIELDS, "active")):
        session.flush()
        reorder.check(
            session, part=part, available=available(session, part_id=part.id), actor=actor
        )
    return part


def delete_part(session: Session, *, part: SparePart, actor: UserRef | None) -> None:
    """Delete a part that never had stock; one with a ledger can only be made inactive."""
    if reorder.outstanding(session, part_id=part.id) is not None:
        raise Conflict(
            f"spare part {part.part_number} has an open purchase requisition; cancel it first",
            loc=["path", "part_id"],
            type="has_requisition",
        )
    has_ledger = session.scalar(
        select(StockMovement.id).where(StockMovement.part_id == part.id).limit(1)
    )
    if has_ledger is not None:
        raise Conflict(
            f"spare part {part.part_number} has ledger entries; deactivate it instead",
            loc=["path", "part_id"],
            type="has_ledger",
        )
    audit.record(
        session,
        user=_name(actor),
        action="delete",
        entity="spare_part",
        entity_id=part.id,
        details={"part_number": part.part_number},
    )
    session.delete(part)
    session.flush()


# --- requisitions -------------------------------------------------------------------------------


def get_requisition(session: Session, *, requisition_id: int) -> PurchaseRequisition:
    """A purchase requisition (NotFound otherwise)."""
    return reorder.get(session, requisition_id=requisition_id)


def get_requisitions(
    session: Session,
    *,
    state: str | None = None,
    part_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[PurchaseRequisition], int]:
    """Purchase requisitions, newest first, with the total count."""
    return reorder.get_all(session, state=state, part_id=part_id, offset=offset, limit=limit)


def create_requisition(
    session: Session, *, part_id: int, quantity: float, reason: str, actor: UserRef | None
) -> PurchaseRequisition:
    """Raise a requisition by hand (publishes `inventory.requisition_raised` like automatic ones)."""
    return reorder.create(
        session,
        part=get_part(session, part_id=part_id),
        quantity=quantity,
        reason=reason,
        actor=actor,
    )


def set_requisition_state(
    session: Session,
    *,
    requisition_id: int,
    state: str,
    actor: UserRef | None,
    erp_reference: str | None = None,
) -> PurchaseRequisition:
    """Mark a requisition ordered, received or cancelled (goods themselves come by `receive`)."""
    requisition = reorder.get(session, requisition_id=requisition_id)
    return reorder.transition(
        session, requisition=requisition, state=state, actor=actor, erp_reference=erp_reference
    )
