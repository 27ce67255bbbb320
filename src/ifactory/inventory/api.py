"""Inventory routes (thin: validation by schemas, work by the services).

Who may do what: anyone signed in (or anonymous readers, when allowed) reads; technicians issue
and return parts; planners and managers receive, count (adjust), transfer, reserve, raise
requisitions and edit parts and locations; only managers (and admins) may override a stock
shortfall.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.orm import Session

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import SessionDep
from ifactory.auth.principal import Principal
from ifactory.auth.roles import Role
from ifactory.core.errors import PermissionDenied
from ifactory.inventory import service
from ifactory.inventory.ledger import StockLevel
from ifactory.inventory.models import PurchaseRequisition, SparePart, StockMovement
from ifactory.inventory.schemas import (
    AdjustmentCreate,
    IssueCreate,
    LocationCreate,
    LocationRead,
    LocationStock,
    LocationUpdate,
    MovementPage,
    MovementRead,
    PartCreate,
    PartPage,
    PartRead,
    PartUpdate,
    ReceiptCreate,
    ReleaseResult,
    RequisitionCreate,
    RequisitionPage,
    RequisitionRead,
    RequisitionStateName,
    RequisitionUpdate,
    ReservationCreate,
    ReservationRead,
    ReservationStateName,
    ReturnCreate,
    StockRead,
    TransferCreate,
)

router = APIRouter(prefix="/api/inventory", tags=["inventory"])
Stores = Annotated[Principal, Depends(require_roles(Role.planner, Role.manager))]
Technician = Annotated[
    Principal, Depends(require_roles(Role.technician, Role.planner, Role.manager))
]
OVERRIDE_ROLES = (Role.manager,)  # admin always may
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def _stock(level: StockLevel) -> StockRead:
    return StockRead(
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        on_order=level.on_order,
        status=level.status,
        below_reorder_point=level.below_reorder_point,
    )


def _part_read(
    session: Session, part: SparePart, level: StockLevel | None = None, *, detail: bool = False
) -> PartRead:
    level = level or service.stock_level(session, part=part)
    locations: list[LocationStock] = []
    if detail:
        codes = {loc.id: loc.code for loc in service.get_all_locations(session)}
        locations = [
            LocationStock(location_id=lid, location=codes.get(lid, str(lid)), on_hand=on_hand)
            for lid, on_hand in service.balances_by_location(session, part_id=part.id)
        ]
    return PartRead.model_validate(
        {
            **{c: getattr(part, c) for c in PartRead.model_fields if hasattr(part, c)},
            "stock": _stock(level),
            "locations": locations,
        }
    )


def _requisition_read(session: Session, requisition: PurchaseRequisition) -> RequisitionRead:
    part = session.get(SparePart, requisition.part_id)
    read = RequisitionRead.model_validate(requisition)
    read.part_number = part.part_number if part is not None else ""
    return read


def _movements(rows: list[StockMovement]) -> list[MovementRead]:
    return [MovementRead.model_validate(m) for m in rows]


# --- parts --------------------------------------------------------------------------------------


@router.get("/parts", response_model=PartPage)
def list_parts(
    session: SessionDep,
    _: Actor,
    search: str | None = Query(default=None, max_length=100),
    active: bool | None = None,
    below_reorder_point: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PartPage:
    """Spare parts by part number with on hand, reserved, available, on order and reorder status."""
    rows, total = service.get_all_parts(
        session,
        search=search,
        active=active,
        below_reorder_point=below_reorder_point,
        offset=offset,
        limit=limit,
    )
    return PartPage(items=[_part_read(session, p, level) for p, level in rows], total=total)


@router.post("/parts", response_model=PartRead, status_code=status.HTTP_201_CREATED)
def create_part(body: PartCreate, session: SessionDep, user: Stores) -> PartRead:
    """A new spare part (its stock comes only from receipts)."""
    part = service.create_part(session, actor=user, **body.model_dump())
    return _part_read(session, part, detail=True)


@router.get("/parts/{part_id}", response_model=PartRead)
def read_part(part_id: int, session: SessionDep, _: Actor) -> PartRead:
    """One part with its stock per location."""
    return _part_read(session, service.get_part(session, part_id=part_id), detail=True)


@router.patch("/parts/{part_id}", response_model=PartRead)
def update_part(part_id: int, body: PartUpdate, session: SessionDep, user: Stores) -> PartRead:
    """Change a part's data or min / reorder point / max (never its stock)."""
    part = service.get_part(session, part_id=part_id)
    service.update_part(session, part=part, changes=body.model_dump(exclude_unset=True), actor=user)
    return _part_read(session, part, detail=True)


@router.delete("/parts/{part_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_part(part_id: int, session: SessionDep, user: Stores) -> Response:
    """Delete a part that never had stock (otherwise deactivate it)."""
    service.delete_part(session, part=service.get_part(session, part_id=part_id), actor=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- ledger and movements -----------------------------------------------------------------------


@router.get("/parts/{part_id}/ledger", response_model=MovementPage)
def read_ledger(
    part_id: int,
    session: SessionDep,
    _: Actor,
    location_id: int | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> MovementPage:
    """A part's ledger entries, newest first, each with the balance after it."""
    service.get_part(session, part_id=part_id)
    rows, total = service.get_ledger(
        session, part_id=part_id, location_id=location_id, offset=offset, limit=limit
    )
    return MovementPage(items=_movements(list(rows)), total=total)


@router.post(
    "/parts/{part_id}/receipts", response_model=MovementRead, status_code=status.HTTP_201_CREATED
)
def receive(part_id: int, body: ReceiptCreate, session: SessionDep, user: Stores) -> MovementRead:
    """Book goods received (optionally against a requisition, which is then received)."""
    movement = service.receive(session, part_id=part_id, actor=user, **body.model_dump())
    return MovementRead.model_validate(movement)


@router.post(
    "/parts/{part_id}/issues", response_model=MovementRead, status_code=status.HTTP_201_CREATED
)
def issue(part_id: int, body: IssueCreate, session: SessionDep, user: Technician) -> MovementRead:
    """Take parts out of stock; 409 `insufficient_stock` unless a manager overrides, with reason."""
    if body.override and not user.has_any_role(*OVERRIDE_ROLES):
        raise PermissionDenied(
            "only a manager (or admin) may override a stock shortfall", loc=["body", "override"]
        )
    movement = service.issue(session, part_id=part_id, actor=user, **body.model_dump())
    return MovementRead.model_validate(movement)


@router.post(
    "/parts/{part_id}/adjustments",
    response_model=MovementRead,
    status_code=status.HTTP_201_CREATED,
)
def adjust(part_id: int, body: AdjustmentCreate, session: SessionDep, user: Stores) -> MovementRead:
    """Record a stocktake: the location's balance becomes the counted quantity."""
    movement = service.adjust(session, part_id=part_id, actor=user, **body.model_dump())
    return MovementRead.model_validate(movement)


@router.post(
    "/parts/{part_id}/returns", response_model=MovementRead, status_code=status.HTTP_201_CREATED
)
def return_to_stock(
    part_id: int, body: ReturnCreate, session: SessionDep, user: Technician
) -> MovementRead:
    """Bring unused parts back (no more than the work order took)."""
    movement = service.return_to_stock(session, part_id=part_id, actor=user, **body.model_dump())
    return MovementRead.model_validate(movement)


@router.post(
    "/parts/{part_id}/transfers",
    response_model=list[MovementRead],
    status_code=status.HTTP_201_CREATED,
)
def transfer(
    part_id: int, body: TransferCreate, session: SessionDep, user: Stores
) -> list[MovementRead]:
    """Move parts between locations (an entry out and an entry in)."""
    out, into = service.transfer(session, part_id=part_id, actor=user, **body.model_dump())
    return _movements([out, into])


# --- locations ----------------------------------------------------------------------------------


@router.get("/locations", response_model=list[LocationRead])
def list_locations(session: SessionDep, _: Actor, active: bool | None = None) -> list[LocationRead]:
    """Storage locations by code."""
    return [
        LocationRead.model_validate(x) for x in service.get_all_locations(session, active=active)
    ]


@router.post("/locations", response_model=LocationRead, status_code=status.HTTP_201_CREATED)
def create_location(body: LocationCreate, session: SessionDep, user: Stores) -> LocationRead:
    """A new storage location (store and bin)."""
    return LocationRead.model_validate(
        service.create_location(session, actor=user, **body.model_dump())
    )


@router.patch("/locations/{location_id}", response_model=LocationRead)
def update_location(
    location_id: int, body: LocationUpdate, session: SessionDep, user: Stores
) -> LocationRead:
    """Change a location's store, bin, description or active flag."""
    location = service.get_location(session, location_id=location_id)
    service.update_location(
        session, location=location, changes=body.model_dump(exclude_unset=True), actor=user
    )
    return LocationRead.model_validate(location)


# --- reservations -------------------------------------------------------------------------------


@router.get("/reservations", response_model=list[ReservationRead])
def list_reservations(
    session: SessionDep,
    _: Actor,
    part_id: int | None = None,
    work_order_id: int | None = None,
    state: ReservationStateName | None = None,
) -> list[ReservationRead]:
    """Reservations, newest first, by part, work order and state."""
    rows = service.get_reservations(
        session, part_id=part_id, work_order_id=work_order_id, state=state
    )
    return [ReservationRead.model_validate(r) for r in rows]


@router.post("/reservations", response_model=ReservationRead, status_code=status.HTTP_201_CREATED)
def create_reservation(
    body: ReservationCreate, session: SessionDep, user: Stores
) -> ReservationRead:
    """Hold parts for a scheduled work order (409 when not enough is available)."""
    return ReservationRead.model_validate(service.reserve(session, actor=user, **body.model_dump()))


@router.post("/work-orders/{work_order_id}/release", response_model=ReleaseResult)
def release_reservations(
    work_order_id: int, session: SessionDep, user: Stores, part_id: int | None = None
) -> ReleaseResult:
    """Release a work order's open reservations (of one part, or all)."""
    released = service.release_reservations(
        session, work_order_id=work_order_id, actor=user, part_id=part_id
    )
    return ReleaseResult(work_order_id=work_order_id, released=released)


# --- requisitions -------------------------------------------------------------------------------


@router.get("/requisitions", response_model=RequisitionPage)
def list_requisitions(
    session: SessionDep,
    _: Actor,
    state: RequisitionStateName | None = None,
    part_id: int | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> RequisitionPage:
    """Purchase requisitions, newest first."""
    rows, total = service.get_requisitions(
        session, state=state, part_id=part_id, offset=offset, limit=limit
    )
    return RequisitionPage(items=[_requisition_read(session, r) for r in rows], total=total)


@router.post("/requisitions", response_model=RequisitionRead, status_code=status.HTTP_201_CREATED)
def create_requisition(
    body: RequisitionCreate, session: SessionDep, user: Stores
) -> RequisitionRead:
    """Raise a requisition by hand (ERP picks it up like an automatic one)."""
    requisition = service.create_requisition(session, actor=user, **body.model_dump())
    return _requisition_read(session, requisition)


@router.get("/requisitions/{requisition_id}", response_model=RequisitionRead)
def read_requisition(requisition_id: int, session: SessionDep, _: Actor) -> RequisitionRead:
    """One purchase requisition."""
    return _requisition_read(
        session, service.get_requisition(session, requisition_id=requisition_id)
    )


@router.patch("/requisitions/{requisition_id}", response_model=RequisitionRead)
def update_requisition(
    requisition_id: int, body: RequisitionUpdate, session: SessionDep, user: Stores
) -> RequisitionRead:
    """Mark a requisition ordered (with the ERP reference), received or cancelled."""
    requisition = service.set_requisition_state(
        session,
        requisition_id=requisition_id,
        state=body.state,
        actor=user,
        erp_reference=body.erp_reference,
    )
    return _requisition_read(session, requisition)
