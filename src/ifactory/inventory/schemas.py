"""Pydantic schemas of the inventory API (Create / Update / Read / Page)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

StockStatus = Literal["ok", "below_reorder_point", "below_minimum", "out_of_stock"]
MovementKind = Literal["receipt", "issue", "adjustment", "return", "transfer"]
ReservationStateName = Literal["open", "consumed", "released"]
RequisitionStateName = Literal["open", "ordered", "received", "cancelled"]

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$")
PositiveQuantity = Field(gt=0, le=1e12, description="in the part's unit")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- locations ----------------------------------------------------------------------------------


class LocationCreate(Strict):
    code: str = Code
    store: str = Field(min_length=1, max_length=100, description="stores room, cabinet, crib")
    bin: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=2000)
    active: bool = True


def _no_nulls(model: BaseModel, nullable: tuple[str, ...] = ()) -> None:
    """A PATCH may leave a field out, but may set it to null only where null means something."""
    for name in model.model_fields_set:
        if getattr(model, name) is None and name not in nullable:
            raise ValueError(f"{name} cannot be null")


class LocationUpdate(Strict):
    store: str | None = Field(default=None, min_length=1, max_length=100)
    bin: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> LocationUpdate:
        _no_nulls(self)
        return self


class LocationRead(_Read):
    id: int
    code: str
    store: str
    bin: str
    description: str
    active: bool


# --- parts --------------------------------------------------------------------------------------


class _Planning(Strict):
    @model_validator(mode="after")
    def _ordered(self) -> _Planning:
        low = getattr(self, "min_stock", None)
        point = getattr(self, "reorder_point", None)
        high = getattr(self, "max_stock", None)
        if low is not None and point is not None and point < low:
            raise ValueError("reorder_point must not be below min_stock")
        if point is not None and high is not None and high < point:
            raise ValueError("max_stock must not be below reorder_point")
        return self


class PartCreate(_Planning):
    part_number: str = Code
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    unit: str = Field(default="pc", min_length=1, max_length=16)
    unit_cost: float = Field(default=0.0, ge=0)
    manufacturer: str = Field(default="", max_length=100)
    manufacturer_part_number: str = Field(default="", max_length=100)
    min_stock: float = Field(default=0.0, ge=0)
    reorder_point: float | None = Field(default=None, ge=0)
    max_stock: float | None = Field(default=None, gt=0)
    lead_time_days: int = Field(default=0, ge=0, le=3650)
    default_location_id: int | None = None
    active: bool = True


class PartUpdate(_Planning):
    part_number: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    unit: str | None = Field(default=None, min_length=1, max_length=16)
    unit_cost: float | None = Field(default=None, ge=0)
    manufacturer: str | None = Field(default=None, max_length=100)
    manufacturer_part_number: str | None = Field(default=None, max_length=100)
    min_stock: float | None = Field(default=None, ge=0)
    reorder_point: float | None = Field(default=None, ge=0)
    max_stock: float | None = Field(default=None, gt=0)
    lead_time_days: int | None = Field(default=None, ge=0, le=3650)
    default_location_id: int | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> PartUpdate:
        _no_nulls(self, ("reorder_point", "max_stock", "default_location_id"))
        return self


class StockRead(BaseModel):
    on_hand: float
    reserved: float
    available: float
    on_order: float
    status: StockStatus
    below_reorder_point: bool


class LocationStock(BaseModel):
    location_id: int
    location: str
    on_hand: float


class PartRead(_Read):
    id: int
    part_number: str
    name: str
    description: str
    unit: str
    unit_cost: float
    manufacturer: str
    manufacturer_part_number: str
    min_stock: float
    reorder_point: float | None
    max_stock: float | None
    lead_time_days: int
    default_location_id: int | None
    active: bool
    stock: StockRead
    locations: list[LocationStock] = Field(default_factory=list)


class PartPage(BaseModel):
    items: list[PartRead]
    total: int


# --- ledger -------------------------------------------------------------------------------------


class MovementRead(_Read):
    id: int
    part_id: int
    location_id: int
    movement_type: MovementKind
    quantity: float
    balance_after: float
    location_balance_after: float
    unit_cost: float
    occurred_at: datetime
    recorded_by: str
    work_order_id: int | None
    reservation_id: int | None
    requisition_id: int | None
    transfer_of_id: int | None
    reference: str
    reason: str
    override: bool
    override_by: str | None
    override_reason: str | None


class MovementPage(BaseModel):
    items: list[MovementRead]
    total: int


class ReceiptCreate(Strict):
    quantity: float = PositiveQuantity
    location_id: int | None = Field(default=None, description="default: the part's location")
    unit_cost: float | None = Field(default=None, ge=0, description="price paid per unit")
    reference: str = Field(default="", max_length=100, description="delivery note, PO")
    requisition_id: int | None = Field(default=None, description="the requisition it fulfils")
    occurred_at: datetime | None = None


class IssueCreate(Strict):
    quantity: float = PositiveQuantity
    location_id: int | None = None
    work_order_id: int | None = Field(default=None, ge=1)
    override: bool = Field(default=False, description="manager/admin: allow going below stock")
    override_reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _reason(self) -> IssueCreate:
        if self.override and not (self.override_reason or "").strip():
            raise ValueError("an override needs override_reason")
        return self


class AdjustmentCreate(Strict):
    location_id: int
    counted_quantity: float = Field(ge=0, le=1e12, description="what the stocktake found")
    reason: str = Field(min_length=1, max_length=2000)
    reference: str = Field(default="", max_length=100, description="count sheet")
    occurred_at: datetime | None = None


class ReturnCreate(Strict):
    quantity: float = PositiveQuantity
    location_id: int | None = None
    work_order_id: int | None = Field(default=None, ge=1)
    reason: str = Field(default="", max_length=2000)


class TransferCreate(Strict):
    quantity: float = PositiveQuantity
    from_location_id: int
    to_location_id: int
    reason: str = Field(default="", max_length=2000)


# --- reservations -------------------------------------------------------------------------------


class ReservationCreate(Strict):
    part_id: int
    quantity: float = PositiveQuantity
    work_order_id: int = Field(ge=1)
    location_id: int | None = None
    needed_by: datetime | None = None


class ReservationRead(_Read):
    id: int
    part_id: int
    location_id: int | None
    work_order_id: int
    quantity: float
    issued_quantity: float
    open_quantity: float
    state: ReservationStateName
    needed_by: datetime | None
    created_at: datetime
    created_by: str | None


class ReleaseResult(BaseModel):
    work_order_id: int
    released: int


# --- requisitions -------------------------------------------------------------------------------


class RequisitionCreate(Strict):
    part_id: int
    quantity: float = PositiveQuantity
    reason: str = Field(default="", max_length=2000)


class RequisitionUpdate(Strict):
    state: Literal["ordered", "received", "cancelled"]
    erp_reference: str | None = Field(default=None, max_length=100)


class RequisitionRead(_Read):
    id: int
    part_id: int
    part_number: str = ""
    quantity: float
    state: RequisitionStateName
    available_at_raise: float | None
    reorder_point: float | None
    max_stock: float | None
    needed_by: datetime | None
    reason: str
    erp_reference: str
    created_at: datetime
    created_by: str | None


class RequisitionPage(BaseModel):
    items: list[RequisitionRead]
    total: int
