"""Demo data for quality: raw-material lots consumed by the demo orders, the lots they produce,
and an inspection plan whose SPC characteristics read each CNC mill's measured bore.

The orders come in as plain data from the production demo (domains do not import each other).
The characteristics are bound to the `dimension` tag, which the simulator drifts as the cutting
tool wears, so the SPC rules catch the drift during the demo's history and live run.

While the demo runs, `MaterialFlow` books what the running orders use up: every few minutes of
plant time, raw material in proportion to the good parts the order's first machine made, and
the good parts of its last machine into the order's finished lot, so traces grow with the plant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.core.errors import Conflict
from ifactory.historian.batch import TelemetryBatch, is_good
from ifactory.quality import genealogy, service
from ifactory.quality.models import MaterialLot
from ifactory.quality.schemas import CharacteristicCreate

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
BOOK_EVERY_US = 15 * 60_000_000  # plant time between two consumption bookings
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
# Which raw lots an order of a product consumes: kg for an order of `ORDER_SIZE` pieces; a
# running order uses them up in proportion to the good parts it makes.
CONSUMES: dict[str, list[tuple[str, float]]] = {
    "P-100": [("STEEL-H4711", 600)],
    "P-200": [("STEEL-H4711", 500), ("STEEL-H4712", 300)],
    "P-300": [("COIL-C0881", 2500), ("FILM-F0017", 40)],
    "P-310": [("COIL-C0882", 1500)],
    "P-400": [("PP-G0341", 400), ("FILM-F0017", 30)],
    "P-410": [("PP-G0342", 380)],
}
ORDER_SIZE: dict[str, float] = {
    "P-100": 1500,
    "P-200": 900,
    "P-300": 30000,
    "P-310": 7000,
    "P-400": 30000,
    "P-410": 1800,
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
        # A running order's raw material is booked as it makes parts (MaterialFlow).
        for order in (o for o in ran if o.state != "running"):
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
            # The order's output lot, filled by MaterialFlow as the last machine makes good parts.
            genealogy.produce(
                session,
                order_id=order.id,
                code=output_lot(order.number),
                material=order.product_code,
                kind="finished",
                quantity=0,
                unit="pcs",
                machine_id=order.machine_ids[-1] if order.machine_ids else None,
                start_us=order.start_us,
                end_us=order.start_us,
                user=OPERATOR,
            )
        chars = _bore_characteristics(platform, session)
    log.info("seeded %d demo lots and %d SPC characteristics", len(RAW_LOTS), chars)


def output_lot(order_number: str) -> str:
    """The code of the finished lot a running demo order fills."""
    return f"LOT-{order_number}-001"


class RunLike(Protocol):
    """An order operation on a machine (the production demo's DemoRun)."""

    @property
    def order_id(self) -> int: ...
    @property
    def order_number(self) -> str: ...
    @property
    def first(self) -> bool: ...
    @property
    def last(self) -> bool: ...
    @property
    def product_code(self) -> str: ...
    @property
    def machine_id(self) -> int: ...
    @property
    def end_us(self) -> int | None: ...


class MaterialFlow:
    """A pipeline consumer booking the running orders' material use from their good counters.

    Every `every_us` of plant time: each running order consumes its raw lots (`CONSUMES`) in
    proportion to the good parts its first machine made since the last booking, and its output
    lot grows by the good parts of its last machine. Parts made while no order ran are dropped.
    """

    def __init__(
        self,
        platform: Platform,
        runs: Callable[[], Sequence[RunLike]],
        *,
        every_us: int = BOOK_EVERY_US,
    ) -> None:
        self.platform = platform
        self.runs = runs
        self.every_us = every_us
        registry = platform.registry
        self._good: dict[int, tuple[int, int | None]] = {}  # tag id -> (machine id, counter max)
        for machine in registry.machines():
            # A machine that counts only strokes (a press without a part check): every one is good.
            tag = registry.tag_by_role(machine.id, "good_counter") or registry.tag_by_role(
                machine.id, "cycle_counter"
            )
            if tag is not None:
                self._good[tag.id] = (machine.id, tag.counter_max)
        self._ids = np.fromiter(self._good, dtype=np.int64)
        self._last: dict[int, float] = {}  # tag id -> last counter value seen
        self._made: dict[int, float] = {}  # machine id -> good parts since the last booking
        self._due: int | None = None

    def on_batch(self, batch: TelemetryBatch) -> None:
        """Count good parts; book when plant time passes the next booking."""
        if not len(batch) or not len(self._ids):
            return
        sel = np.isin(batch.tags, self._ids) & is_good(batch.quality) & np.isfinite(batch.values)
        tags, ts, values = batch.tags[sel], batch.ts[sel], batch.values[sel]
        for tag_id in np.unique(tags):
            at = tags == tag_id
            series = values[at][np.argsort(ts[at], kind="stable")]
            tid = int(tag_id)
            machine_id, top = self._good[tid]
            prev = self._last.get(tid)
            steps = np.diff(series if prev is None else np.concatenate(([prev], series)))
            # A counter that went down rolled over at its maximum (or was reset to zero).
            wraps = steps < 0
            steps[wraps] = (steps[wraps] + top + 1) if top else 0.0
            self._made[machine_id] = self._made.get(machine_id, 0.0) + float(steps.sum())
            self._last[tid] = float(series[-1])
        newest = int(batch.ts.max())
        if self._due is None:
            self._due = newest + self.every_us
        if newest >= self._due:
            self.book(newest)
            while self._due <= newest:
                self._due += self.every_us

    def book(self, now_us: int) -> int:
        """Book what the running orders used since the last booking; returns the rows written."""
        made, self._made = self._made, {}
        running = [r for r in self.runs() if r.end_us is None]
        written = 0
        with self.platform.db.session() as session:
            for run in running:
                parts = made.get(run.machine_id, 0.0)
                if parts <= 0:
                    continue
                size = ORDER_SIZE.get(run.product_code)
                if run.first and size:
                    for lot, kg in CONSUMES.get(run.product_code, []):
                        try:
                            genealogy.consume(
                                session,
                                order_id=run.order_id,
                                lot_code=lot,
                                quantity=round(kg * parts / size, 3),
                                ts_us=now_us,
                                user=OPERATOR,
                            )
                        except Conflict as exc:  # a lot put on hold in the UI is not used
                            log.info("not consumed: %s", exc)
                            continue
                        written += 1
                if run.last:
                    out = session.scalar(
                        select(MaterialLot).where(
                            MaterialLot.code == output_lot(run.order_number),
                            MaterialLot.order_id == run.order_id,
                        )
                    )
                    if out is not None:
                        out.quantity += parts
                        out.end_us = max(now_us, out.end_us or now_us)
                        written += 1
        if written:
            log.debug("booked %d material movements of %d running orders", written, len(running))
        return written


def attach_material_flow(platform: Platform, runs: Callable[[], Sequence[RunLike]]) -> MaterialFlow:
    """Add the demo's material bookings to the platform's pipeline."""
    flow = MaterialFlow(platform, runs)
    platform.pipeline.add_consumer(flow)
    return flow
