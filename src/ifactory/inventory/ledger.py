"""The stock ledger: receipts, issues, adjustments, returns, transfers and reservations.

Quantity on hand is the sum of a part's ledger entries; nothing else holds it. Every function that
writes the ledger (or a reservation) first takes the part's lock (`_lock_part`): one UPDATE of
`spare_part.ledger_version`. On PostgreSQL that is a row lock held to the end of the transaction
(like SELECT ... FOR UPDATE), and each later statement of a READ COMMITTED transaction sees what
the previous holder committed. On SQLite the UPDATE is the transaction's first write, so it takes
the database write lock (the busy timeout waits for it, as BEGIN IMMEDIATE would) before any
balance is read. Two concurrent issues of the last part therefore run one after the other and the
second sees the first's entry: one succeeds, one gets a Conflict.

Callers that change several parts in one transaction should do so in ascending part id order, so
two such transactions cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ifactory.core import audit
from ifactory.core.audit import UserRef
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.inventory import reorder
from ifactory.inventory.models import (
    MovementType,
    Reservation,
    ReservationState,
    SparePart,
    StockMovement,
    StorageLocation,
)

DECIMALS = 4  # quantities are kept to 4 decimals (the column scale)
EPS = 0.5 * 10**-DECIMALS


def qty(value: float) -> float:
    """A quantity rounded to the ledger's precision."""
    return round(float(value), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _positive(value: float, field: str = "quantity") -> float:
    amount = qty(value)
    if not amount > 0:
        raise InvalidInput(f"{field} must be greater than 0 (got {value})", loc=["body", field])
    return amount


def _actor_name(actor: UserRef | None) -> str:
    return audit.SYSTEM if actor is None else audit.username_of(actor)


# --- balances ---------------------------------------------------------------------------------


def on_hand(session: Session, *, part_id: int, location_id: int | None = None) -> float:
    """Quantity on hand of a part (at one location, or all), summed from the ledger."""
    query = select(func.coalesce(func.sum(StockMovement.quantity), 0.0)).where(
        StockMovement.part_id == part_id
    )
    if location_id is not None:
        query = query.where(StockMovement.location_id == location_id)
    return qty(session.scalar(query) or 0.0)


def reserved(
    session: Session,
    *,
    part_id: int,
    location_id: int | None = None,
    exclude_work_order_id: int | None = None,
) -> float:
    """Quantity held by open reservations of a part (optionally those pinned to one location)."""
    query = select(
        func.coalesce(func.sum(Reservation.quantity - Reservation.issued_quantity), 0.0)
    ).where(Reservation.part_id == part_id, Reservation.state == ReservationState.OPEN.value)
    if location_id is not None:
        query = query.where(Reservation.location_id == location_id)
    if exclude_work_order_id is not None:
        query = query.where(Reservation.work_order_id != exclude_work_order_id)
    return qty(session.scalar(query) or 0.0)


def available(session: Session, *, part_id: int, location_id: int | None = None) -> float:
    """Stock free for new work: on hand minus open reservations (at one location, or all)."""
    return qty(
        on_hand(session, part_id=part_id, location_id=location_id)
        - reserved(session, part_id=part_id, location_id=location_id)
    )


def balances_by_location(session: Session, *, part_id: int) -> list[tuple[int, float]]:
    """(location id, on hand) of a part at every location that ever held it."""
    rows = session.execute(
        select(StockMovement.location_id, func.sum(StockMovement.quantity))
        .where(StockMovement.part_id == part_id)
        .group_by(StockMovement.location_id)
        .order_by(StockMovement.location_id)
    ).all()
    return [(int(location_id), qty(total or 0.0)) for location_id, total in rows]


@dataclass(frozen=True)
class StockLevel:
    """A part's stock figures and reorder status."""

    part_id: int
    on_hand: float
    reserved: float
    available: float
    on_order: float  # quantity on open or ordered requisitions
    status: str  # ok | below_reorder_point | below_minimum | out_of_stock
    below_reorder_point: bool


def _status(part: SparePart, on_hand_: float, available_: float) -> tuple[str, bool]:
    below_reorder = part.reorder_point is not None and available_ < float(part.reorder_point)
    if on_hand_ <= 0:
        status = "out_of_stock"
    elif available_ < float(part.min_stock or 0.0):
        status = "below_minimum"
    elif below_reorder:
        status = "below_reorder_point"
    else:
        status = "ok"
    return status, below_reorder


def stock_levels(session: Session, *, parts: Sequence[SparePart]) -> dict[int, StockLevel]:
    """Stock figures of many parts with three grouped queries (for lists)."""
    ids = [p.id for p in parts]
    if not ids:
        return {}
    hand = dict(
        session.execute(
            select(StockMovement.part_id, func.sum(StockMovement.quantity))
            .where(StockMovement.part_id.in_(ids))
            .group_by(StockMovement.part_id)
        ).all()
    )
    held = dict(
        session.execute(
            select(
                Reservation.part_id, func.sum(Reservation.quantity - Reservation.issued_quantity)
            )
            .where(Reservation.part_id.in_(ids), Reservation.state == ReservationState.OPEN.value)
            .group_by(Reservation.part_id)
        ).all()
    )
    ordered = reorder.on_order_by_part(session, part_ids=ids)
    levels = {}
    for part in parts:
        h = qty(hand.get(part.id) or 0.0)
        r = qty(held.get(part.id) or 0.0)
        a = qty(h - r)
        status, below = _status(part, h, a)
        levels[part.id] = StockLevel(
            part_id=part.id,
            on_hand=h,
            reserved=r,
            available=a,
            on_order=qty(ordered.get(part.id, 0.0)),
            status=status,
            below_reorder_point=below,
        )
    return levels


def stock_level(session: Session, *, part: SparePart) -> StockLevel:
    """Stock figures and reorder status of one part."""
    return stock_levels(session, parts=[part])[part.id]


# --- locking and writing ------------------------------------------------------------------------


def _lock_part(session: Session, part_id: int) -> SparePart:
    """Serialise ledger writers of one part (see the module docstring); returns the part."""
    result = session.execute(
        update(SparePart)
        .where(SparePart.id == part_id)
        # updated_at is given explicitly so its on-update default does not fire: no edit happened.
        .values(ledger_version=SparePart.ledger_version + 1, updated_at=SparePart.updated_at)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"no spare part {part_id}", loc=["body", "part_id"])
    part = session.scalar(
        select(SparePart).where(SparePart.id == part_id).execution_options(populate_existing=True)
    )
    assert part is not None
    return part


def _location(session: Session, location_id: int, field: str = "location_id") -> StorageLocation:
    return get_or_not_found(
        session,
        StorageLocation,
        location_id,
        f"no storage location {location_id}",
        loc=["body", field],
    )


def _receiving_location(session: Session, part: SparePart, location_id: int | None) -> int:
    if location_id is not None:
        location = _location(session, location_id)
        if not location.active:
            raise InvalidInput(
                f"storage location {location.code} is inactive", loc=["body", "location_id"]
            )
        return location.id
    if part.default_location_id is None:
        raise InvalidInput(
            f"part {part.part_number} has no default location: give location_id",
            loc=["body", "location_id"],
        )
    return part.default_location_id


def _write(
    session: Session,
    *,
    part: SparePart,
    location_id: int,
    movement_type: MovementType,
    quantity: float,
    actor: UserRef | None,
    occurred_at: datetime | None = None,
    balances: tuple[float, float] | None = None,
    **fields: object,
) -> StockMovement:
    """Append one entry (the part lock is held) with the balances right after it.

    `balances` are the part's (total, at this location) balances before the entry, when the
    caller has just read them under the lock.
    """
    if balances is None:
        total = on_hand(session, part_id=part.id)
        here = on_hand(session, part_id=part.id, location_id=location_id)
    else:
        total, here = balances
    movement = StockMovement(
        part_id=part.id,
        location_id=location_id,
        movement_type=movement_type.value,
        quantity=qty(quantity),
        balance_after=qty(total + quantity),
        location_balance_after=qty(here + quantity),
        unit_cost=float(part.unit_cost or 0.0),
        occurred_at=occurred_at or utcnow(),
        recorded_by=_actor_name(actor),
        **fields,
    )
    session.add(movement)
    session.flush()
    audit.record(
        session,
        user=_actor_name(actor),
        action=movement_type.value,
        entity="spare_part",
        entity_id=part.id,
        details={
            "movement_id": movement.id,
            "location_id": location_id,
            "quantity": movement.quantity,
            "balance_after": movement.balance_after,
            **{k: v for k, v in fields.items() if v not in (None, "", False)},
        },
    )
    return movement


def _reorder(session: Session, part: SparePart, actor: UserRef | None) -> None:
    """Raise a requisition if the part's available stock is now below its reorder point."""
    session.flush()
    reorder.check(session, part=part, available=available(session, part_id=part.id), actor=actor)


def _open_reservations(session: Session, *, part_id: int, work_order_id: int) -> list[Reservation]:
    return list(
        session.scalars(
            select(Reservation)
            .where(
                Reservation.part_id == part_id,
                Reservation.work_order_id == work_order_id,
                Reservation.state == ReservationState.OPEN.value,
            )
            .order_by(Reservation.id)
            .execution_options(populate_existing=True)
        ).all()
    )


# --- movements ----------------------------------------------------------------------------------


def receive(
    session: Session,
    *,
    part_id: int,
    quantity: float,
    location_id: int | None = None,
    unit_cost: float | None = None,
    reference: str = "",
    requisition_id: int | None = None,
    actor: UserRef | None,
    occurred_at: datetime | None = None,
) -> StockMovement:
    """Book goods received into a location (the part's default one if none is given)."""
    amount = _positive(quantity)
    if unit_cost is not None and unit_cost < 0:
        raise InvalidInput("unit_cost must not be negative", loc=["body", "unit_cost"])
    part = _lock_part(session, part_id)
    target = _receiving_location(session, part, location_id)
    if requisition_id is not None:
        reorder.mark_received(session, requisition_id=requisition_id, part=part, actor=actor)
    movement = _write(
        session,
        part=part,
        location_id=target,
        movement_type=MovementType.RECEIPT,
        quantity=amount,
        actor=actor,
        occurred_at=occurred_at,
        reference=reference,
        requisition_id=requisition_id,
    )
    if unit_cost is not None:
        # The receipt carries the price paid; the part's unit cost follows the latest receipt.
        movement.unit_cost = qty(unit_cost)
        part.unit_cost = qty(unit_cost)
    _reorder(session, part, actor)
    return movement


def _pick_location(
    session: Session, part: SparePart, amount: float, pinned: Sequence[Reservation]
) -> int:
    """The location to issue from when none is given: a reservation's, the default, the fullest."""
    for reservation in pinned:
        if reservation.location_id is not None:
            return reservation.location_id
    balances = balances_by_location(session, part_id=part.id)
    if part.default_location_id is not None:
        for location_id, balance in balances:
            if location_id == part.default_location_id and balance >= amount - EPS:
                return location_id
    if balances:
        # Fullest location first; lowest id on a tie, so the choice is deterministic.
        return max(balances, key=lambda item: (item[1], -item[0]))[0]
    if part.default_location_id is not None:
        return part.default_location_id
    raise Conflict(
        f"part {part.part_number} ({part.name}) has never been in stock: nothing to issue",
        loc=["body", "part_id"],
        type="insufficient_stock",
    )


def issue(
    session: Session,
    *,
    part_id: int,
    quantity: float,
    location_id: int | None = None,
    work_order_id: int | None = None,
    actor: UserRef | None,
    override: bool = False,
    override_reason: str | None = None,
) -> StockMovement:
    """Take parts out of stock (for a work order: its reservation is used first).

    Raises Conflict when the part's available stock (on hand minus other work's reservations) or
    the location's stock is less than requested. `override=True` with a reason lets the ledger go
    below that; the entry records who allowed it and why.
    """
    amount = _positive(quantity)
    reason = (override_reason or "").strip()
    if override and not reason:
        raise InvalidInput("an override needs a reason", loc=["body", "override_reason"])
    if override and actor is None:
        raise InvalidInput("an override needs the user who allows it", loc=["body", "override"])
    part = _lock_part(session, part_id)
    mine = (
        _open_reservations(session, part_id=part.id, work_order_id=work_order_id)
        if work_order_id is not None
        else []
    )
    if location_id is not None:
        _location(session, location_id)
        source = location_id
    else:
        source = _pick_location(session, part, amount, mine)
    total = on_hand(session, part_id=part.id)
    held_for_others = reserved(session, part_id=part.id, exclude_work_order_id=work_order_id)
    free = qty(total - held_for_others)
    at_location = on_hand(session, part_id=part.id, location_id=source)
    short = amount > free + EPS or amount > at_location + EPS
    if short and not override:
        location = _location(session, source)
        raise Conflict(
            f"cannot issue {amount:g} {part.unit} of {part.part_number} ({part.name}): "
            f"available {max(free, 0.0):g} {part.unit} (on hand {total:g}, reserved for other "
            f"work {held_for_others:g}), {at_location:g} at {location.code}; "
            f"requested {amount:g}",
            loc=["body", "quantity"],
            type="insufficient_stock",
        )
    first_reservation: int | None = None
    remaining = amount
    for reservation in mine:
        take = min(reservation.open_quantity, remaining)
        if take <= 0:
            continue
        reservation.issued_quantity = qty(float(reservation.issued_quantity) + take)
        if reservation.open_quantity <= EPS:
            reservation.state = ReservationState.CONSUMED.value
        audit.stamp(reservation, user=_actor_name(actor))
        first_reservation = first_reservation or reservation.id
        remaining = qty(remaining - take)
    movement = _write(
        session,
        part=part,
        location_id=source,
        movement_type=MovementType.ISSUE,
        quantity=-amount,
        actor=actor,
        balances=(total, at_location),
        work_order_id=work_order_id,
        reservation_id=first_reservation,
        override=short,
        override_by=_actor_name(actor) if short else None,
        override_reason=reason if short else None,
    )
    _reorder(session, part, actor)
    return movement


def adjust(
    session: Session,
    *,
    part_id: int,
    location_id: int,
    counted_quantity: float,
    reason: str,
    actor: UserRef | None,
    reference: str = "",
    occurred_at: datetime | None = None,
) -> StockMovement:
    """Record a stocktake: the entry brings the location's balance to the counted quantity."""
    counted = qty(counted_quantity)
    if counted < 0:
        raise InvalidInput(
            "a counted quantity cannot be negative", loc=["body", "counted_quantity"]
        )
    why = reason.strip()
    if not why:
        raise InvalidInput("an adjustment needs a reason", loc=["body", "reason"])
    part = _lock_part(session, part_id)
    _location(session, location_id)
    before = on_hand(session, part_id=part.id, location_id=location_id)
    movement = _write(
        session,
        part=part,
        location_id=location_id,
        movement_type=MovementType.ADJUSTMENT,
        # A zero entry still records that the count confirmed the books.
        quantity=qty(counted - before),
        actor=actor,
        occurred_at=occurred_at,
        reason=why,
        reference=reference,
    )
    _reorder(session, part, actor)
    return movement


def issued_to_work_order(session: Session, *, part_id: int, work_order_id: int) -> float:
    """Net quantity of a part a work order has taken (issues minus returns)."""
    value = session.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0.0)).where(
            StockMovement.part_id == part_id,
            StockMovement.work_order_id == work_order_id,
            StockMovement.movement_type.in_([MovementType.ISSUE.value, MovementType.RETURN.value]),
        )
    )
    return qty(-(value or 0.0))


def return_to_stock(
    session: Session,
    *,
    part_id: int,
    quantity: float,
    location_id: int | None = None,
    work_order_id: int | None = None,
    actor: UserRef | None,
    reason: str = "",
) -> StockMovement:
    """Bring unused parts back into stock (no more than a work order took, when one is named)."""
    amount = _positive(quantity)
    part = _lock_part(session, part_id)
    target = _receiving_location(session, part, location_id)
    if work_order_id is not None:
        taken = issued_to_work_order(session, part_id=part.id, work_order_id=work_order_id)
        if amount > taken + EPS:
            raise Conflict(
                f"work order {work_order_id} has {taken:g} {part.unit} of {part.part_number} "
                f"out of stock; cannot return {amount:g}",
                loc=["body", "quantity"],
                type="return_exceeds_issued",
            )
    return _write(
        session,
        part=part,
        location_id=target,
        movement_type=MovementType.RETURN,
        quantity=amount,
        actor=actor,
        work_order_id=work_order_id,
        reason=reason.strip(),
    )


def transfer(
    session: Session,
    *,
    part_id: int,
    quantity: float,
    from_location_id: int,
    to_location_id: int,
    actor: UserRef | None,
    reason: str = "",
) -> tuple[StockMovement, StockMovement]:
    """Move parts between locations: an entry out of one and an entry into the other."""
    amount = _positive(quantity)
    if from_location_id == to_location_id:
        raise InvalidInput(
            "a transfer needs two different locations", loc=["body", "to_location_id"]
        )
    part = _lock_part(session, part_id)
    source = _location(session, from_location_id, "from_location_id")
    target = _location(session, to_location_id, "to_location_id")
    if not target.active:
        raise InvalidInput(
            f"storage location {target.code} is inactive", loc=["body", "to_location_id"]
        )
    free = qty(
        on_hand(session, part_id=part.id, location_id=source.id)
        - reserved(session, part_id=part.id, location_id=source.id)
    )
    if amount > free + EPS:
        raise Conflict(
            f"cannot move {amount:g} {part.unit} of {part.part_number} from {source.code}: "
            f"{max(free, 0.0):g} free there",
            loc=["body", "quantity"],
            type="insufficient_stock",
        )
    out = _write(
        session,
        part=part,
        location_id=source.id,
        movement_type=MovementType.TRANSFER,
        quantity=-amount,
        actor=actor,
        reason=reason.strip(),
    )
    into = _write(
        session,
        part=part,
        location_id=target.id,
        movement_type=MovementType.TRANSFER,
        quantity=amount,
        actor=actor,
        reason=reason.strip(),
        transfer_of_id=out.id,
    )
    out.transfer_of_id = into.id
    return out, into


def get_ledger(
    session: Session,
    *,
    part_id: int,
    location_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[StockMovement], int]:
    """A part's ledger entries, newest first, and how many there are in all."""
    query = select(StockMovement).where(StockMovement.part_id == part_id)
    count = select(func.count()).select_from(StockMovement).where(StockMovement.part_id == part_id)
    if location_id is not None:
        query = query.where(StockMovement.location_id == location_id)
        count = count.where(StockMovement.location_id == location_id)
    rows = session.scalars(
        query.order_by(StockMovement.id.desc()).offset(offset).limit(limit)
    ).all()
    return rows, int(session.scalar(count) or 0)


def get_movements(
    session: Session, *, work_order_id: int, part_id: int | None = None
) -> Sequence[StockMovement]:
    """Every ledger entry of a work order (issues and returns), oldest first."""
    query = select(StockMovement).where(StockMovement.work_order_id == work_order_id)
    if part_id is not None:
        query = query.where(StockMovement.part_id == part_id)
    return session.scalars(query.order_by(StockMovement.id)).all()


# --- reservations -------------------------------------------------------------------------------


def reserve(
    session: Session,
    *,
    part_id: int,
    quantity: float,
    work_order_id: int,
    actor: UserRef | None,
    location_id: int | None = None,
    needed_by: datetime | None = None,
) -> Reservation:
    """Hold parts for a work order (Conflict when not enough is available).

    A work order's open reservation of the same part (and location) grows instead of a second
    one being added.
    """
    amount = _positive(quantity)
    part = _lock_part(session, part_id)
    if location_id is not None:
        _location(session, location_id)
    free = available(session, part_id=part.id)
    if location_id is not None:
        free = min(free, available(session, part_id=part.id, location_id=location_id))
    if amount > free + EPS:
        raise Conflict(
            f"cannot reserve {amount:g} {part.unit} of {part.part_number} ({part.name}) for "
            f"work order {work_order_id}: available {max(free, 0.0):g}; requested {amount:g}",
            loc=["body", "quantity"],
            type="insufficient_stock",
        )
    name = _actor_name(actor)
    existing = next(
        (
            r
            for r in _open_reservations(session, part_id=part.id, work_order_id=work_order_id)
            if r.location_id == location_id
        ),
        None,
    )
    if existing is not None:
        existing.quantity = qty(float(existing.quantity) + amount)
        if needed_by is not None:
            existing.needed_by = needed_by
        reservation = existing
    else:
        reservation = Reservation(
            part_id=part.id,
            location_id=location_id,
            work_order_id=work_order_id,
            quantity=amount,
            issued_quantity=0.0,
            state=ReservationState.OPEN.value,
            needed_by=needed_by,
        )
        session.add(reservation)
    audit.stamp(reservation, user=name)
    session.flush()
    audit.record(
        session,
        user=name,
        action="reserve",
        entity="spare_part",
        entity_id=part.id,
        details={
            "reservation_id": reservation.id,
            "work_order_id": work_order_id,
            "quantity": amount,
        },
    )
    _reorder(session, part, actor)
    return reservation


def release_reservations(
    session: Session, *, work_order_id: int, actor: UserRef | None, part_id: int | None = None
) -> int:
    """Release a work order's open reservations (of one part, or all); returns how many."""
    query = select(Reservation.part_id).where(
        Reservation.work_order_id == work_order_id,
        Reservation.state == ReservationState.OPEN.value,
    )
    if part_id is not None:
        query = query.where(Reservation.part_id == part_id)
    part_ids = sorted(set(session.scalars(query).all()))
    name = _actor_name(actor)
    released = 0
    for pid in part_ids:  # ascending ids: the lock order every writer uses
        _lock_part(session, pid)
        for reservation in _open_reservations(session, part_id=pid, work_order_id=work_order_id):
            reservation.state = ReservationState.RELEASED.value
            audit.stamp(reservation, user=name)
            audit.record(
                session,
                user=name,
                action="release_reservation",
                entity="spare_part",
                entity_id=pid,
                details={
                    "reservation_id": reservation.id,
                    "work_order_id": work_order_id,
                    "released": reservation.quantity - reservation.issued_quantity,
                },
            )
            released += 1
    session.flush()
    return released


def get_reservation(session: Session, *, reservation_id: int) -> Reservation:
    """A reservation (NotFound otherwise)."""
    return get_or_not_found(
        session,
        Reservation,
        reservation_id,
        f"no reservation {reservation_id}",
        loc=["path", "reservation_id"],
    )


def get_reservations(
    session: Session,
    *,
    part_id: int | None = None,
    work_order_id: int | None = None,
    state: str | None = None,
) -> Sequence[Reservation]:
    """Reservations, newest first, filtered by part, work order and state."""
    query = select(Reservation)
    if part_id is not None:
        query = query.where(Reservation.part_id == part_id)
    if work_order_id is not None:
        query = query.where(Reservation.work_order_id == work_order_id)
    if state is not None:
        query = query.where(Reservation.state == state)
    return session.scalars(query.order_by(Reservation.id.desc())).all()
