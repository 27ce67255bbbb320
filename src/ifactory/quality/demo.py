"""Demo data for quality: raw-material lots consumed by the demo orders, the lots they produce,
and an inspection plan whose SPC characteristics read each CNC mill's measured bore.

The orders come in as plain data from the production demo (domains do not import each other).
The characteristics are bound to the `dimension` tag, which the simulator drifts as the cutting
tool wears, so the SPC rules catch the drift during the demo's history and live run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.quality import genealogy, service
from ifactory.quality.models import MaterialLot
from ifactory.quality.schemas import CharacteristicCreate

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
HOUR_US = 3_600_000_000
RECEIVER = "stores"
OPERATOR = "olga"

# Received raw material: code, material, quantity, unit, supplier.
RAW_LOTS: list[tuple[str, str, float, str, str]] = [
    ("STEEL-H4711", "Steel bar S355 30 mm", 4000, "kg", "Ruhr Stahl AG"),
    ("STEEL-H4712", "Steel bar S355 30 mm", 4000, "kg", "Ruhr Stahl AG"),
    ("COIL-C0881", "Steel coil DC01 1.0 mm", 12000, "kg", "Nordblech GmbH"),
    ("COIL-C0882", "Steel coil DC01 0.8 mm", 9000, "kg", "Nordblech GmbH"),
    ("PP-G0341", "PP granulate natural", 3000, "kg", "PolyChem BV"),
    ("PP-G0342", "PP granulate blue", 3000, "kg", "PolyChem BV"),
    ("FILM-F0017", "Wrap film 30 µm", 800, "kg", "Folien Kramer"),
]
# Which raw lots an order of a product consumes (kg per order, for the demo).
CONSUMES: dict[str, list[tuple[str, float]]] = {
    "P-100": [("STEEL-H4711", 600)],
    "P-200": [("STEEL-H4711", 500), ("STEEL-H4712", 300)],
    "P-300": [("COIL-C0881", 2500), ("FILM-F0017", 40)],
    "P-310": [("COIL-C0882", 1500)],
    "P-400": [("PP-G0341", 400), ("FILM-F0017", 30)],
    "P-410": [("PP-G0342", 380)],
}
# (nominal, lsl, usl) of the CNC bore; the tag's alarm limits in plant.yaml are the tolerance.
BORE = (25.0, 24.95, 25.05)


class OrderLike(Protocol):
    """What the seeding needs to know of an order (the production demo's DemoOrder)."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> str: ...
    @property
    def product_code(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def machine_ids(self) -> tuple[int, ...]: ...
    @property
    def start_us(self) -> int | None: ...
    @property
    def end_us(self) -> int | None: ...


def _bore_characteristics(platform: Platform, session: Session) -> int:
    """The bore inspection plan, with an I-MR characteristic per CNC mill's `dimension` tag."""
    plan = service.create_plan(
        session,
        name="Bore inspection",
        product_code="P-100",
        operation="Mill bracket",
        active=True,
        user=RECEIVER,
    )
    nominal, lsl, usl = BORE
    made = 0
    for mill in platform.registry.machines():
        tags = platform.registry.machine_tags(mill.id)
        tag = next((t for t in tags if t.name == "dimension"), None)
        if mill.equipment_class != "cnc_mill" or tag is None:
            continue
        fields = CharacteristicCreate(
            name=f"Bore diameter {mill.name}",
            unit="mm",
            nominal=nominal,
            lsl=lsl,
            usl=usl,
            sample_size=1,
            baseline_subgroups=30,
            tag_id=tag.id,
        ).model_dump()
        service.create_characteristic(session, plan=plan, fields=fields, user=RECEIVER)
        made += 1
    return made


def seed(platform: Platform, orders: Sequence[OrderLike]) -> None:
    """Lots, consumptions, produced lots and the bore inspection plan; nothing if lots exist."""
    if not orders:
        return
    with platform.db.session() as session:
        if session.scalar(select(MaterialLot.id).limit(1)) is not None:
            return
        for code, material, qty, unit, supplier in RAW_LOTS:
            genealogy.create_lot(
                session,
                code=code,
                material=material,
                quantity=qty,
                unit=unit,
                supplier=supplier,
                user=RECEIVER,
            )
        by_number = {o.number: o for o in orders}
        ran = [o for o in orders if o.start_us is not None]
        for order in ran:
            assert order.start_us is not None
            for lot, qty in CONSUMES.get(order.product_code, []):
                genealogy.consume(
                    session,
                    order_id=order.id,
                    lot_code=lot,
                    quantity=qty,
                    ts_us=order.start_us,
                    user=OPERATOR,
                )
        # The finished order's caps are wrapped by a running order: a two-level genealogy.
        done, wrapper = by_number.get("WO-0999"), by_number.get("WO-3001")
        if done is not None and done.start_us is not None and done.end_us is not None:
            genealogy.produce(
                session,
                order_id=done.id,
                code="CAP-0999-01",
                material=f"{done.product_code} moulded",
                kind="intermediate",
                quantity=600,
                unit="pcs",
                machine_id=done.machine_ids[0] if done.machine_ids else None,
                start_us=done.start_us,
                end_us=done.end_us,
                user=OPERATOR,
            )
            if wrapper is not None and wrapper.start_us is not None:
                genealogy.consume(
                    session,
                    order_id=wrapper.id,
                    lot_code="CAP-0999-01",
                    quantity=600,
                    ts_us=wrapper.start_us,
                    user=OPERATOR,
                )
        for order in ran:
            if order.state != "running":
                continue
            assert order.start_us is not None
            # The first hour's output, labelled as it leaves the last machine of the order.
            genealogy.produce(
                session,
                order_id=order.id,
                code=f"LOT-{order.number}-001",
                material=order.product_code,
                kind="finished",
                quantity=40,
                unit="pcs",
                machine_id=order.machine_ids[-1] if order.machine_ids else None,
                start_us=order.start_us,
                end_us=order.start_us + HOUR_US,
                user=OPERATOR,
            )
        chars = _bore_characteristics(platform, session)
    log.info("seeded %d demo lots and %d SPC characteristics", len(RAW_LOTS), chars)
