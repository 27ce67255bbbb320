"""Events the inventory domain publishes (through the outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from ifactory.core.events import Event


class PurchaseRequisitionRaised(Event):
    """A part should be bought: raised at the reorder point (or by hand), for ERP to pick up."""

    type: ClassVar[str] = "inventory.requisition_raised"
    requisition_id: int
    part_id: int
    part_number: str
    part_name: str
    manufacturer: str = ""
    manufacturer_part_number: str = ""
    quantity: float
    unit: str
    unit_cost: float
    available: float | None = None  # available stock when raised (None when raised by hand)
    reorder_point: float | None = None
    max_stock: float | None = None
    lead_time_days: int = 0
    needed_by: datetime | None = None
    reason: str = ""
