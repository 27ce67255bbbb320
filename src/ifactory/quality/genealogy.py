"""Lot traceability: orders consume and produce lots; the genealogy graph walked both ways.

One recursive CTE (standard SQL:1999 `WITH RECURSIVE`, the same text on SQLite and PostgreSQL)
finds every edge reachable from a lot, forward ("where did this raw lot go") or backward
("what went into this finished lot"), to any depth. Each lot that was produced carries its
process conditions: operator (the signed-in user who recorded it), machine, order, and the
time-weighted averages of the machine's numeric tags over the production window, from the
historian's `aggregate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ifactory.core import audit
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.quality.models import LotConsumption, LotLink, MaterialLot
from ifactory.quality.schemas import LotRead, TagCondition, TraceNode, TraceRead

if TYPE_CHECKING:
    from ifactory.historian.store import HistorianStore
    from ifactory.plant.registry import PlantRegistry

Direction = Literal["forward", "backward"]
DEFAULT_MAX_DEPTH = 100  # deeper than any real bill of materials; stops a cycle from running away
CONDITION_ROLES = {"measurement", "current"}
NUMERIC_TYPES = {"float", "int"}

# Same SQL on SQLite and PostgreSQL. UNION (not UNION ALL) drops repeated (edge, depth) rows,
# so a lot reached by many paths is expanded once per depth, not once per path.
_WALK = """
WITH RECURSIVE walk(src, dst, depth) AS (
    SELECT l.{this}, l.{next}, 1 FROM lot_link l WHERE l.{this} = :root
    UNION
    SELECT l.{this}, l.{next}, w.depth + 1
    FROM lot_link l JOIN walk w ON l.{this} = w.dst
    WHERE w.depth < :max_depth
)
SELECT src, dst, MIN(depth) FROM walk GROUP BY src, dst
"""
_SQL = {
    "forward": text(_WALK.format(this="input_lot_id", next="output_lot_id")),
    "backward": text(_WALK.format(this="output_lot_id", next="input_lot_id")),
}


@dataclass(frozen=True, slots=True)
class Edge:
    """One step of a trace: from `src` to `dst`, first reached at `depth`."""

    src: int
    dst: int
    depth: int


def get_lot(session: Session, *, code: str) -> MaterialLot:
    """A lot by code (NotFound otherwise)."""
    lot = session.scalar(select(MaterialLot).where(MaterialLot.code == code))
    if lot is None:
        raise NotFound(f"no lot '{code}'", loc=["lot_code"])
    return lot


def _check_order(session: Session, order_id: int) -> None:
    """NotFound for an unknown production order (by table name: quality never imports production)."""
    found = session.scalar(text("SELECT 1 FROM production_order WHERE id = :id"), {"id": order_id})
    if found is None:
        raise NotFound(
            f"no production order {order_id}", loc=["path", "order_id"], type="unknown_order"
        )


def create_lot(
    session: Session,
    *,
    code: str,
    material: str,
    kind: str = "raw",
    quantity: float = 0.0,
    unit: str = "",
    supplier: str = "",
    user: audit.UserRef,
) -> MaterialLot:
    """Register a lot (received material, or one an order will produce)."""
    if session.scalar(select(MaterialLot.id).where(MaterialLot.code == code)) is not None:
        raise Conflict(f"lot '{code}' already exists", loc=["body", "code"])
    lot = MaterialLot(
        code=code, material=material, kind=kind, quantity=quantity, unit=unit, supplier=supplier
    )
    audit.stamp(lot, user=user)
    session.add(lot)
    session.flush()
    audit.record(
        session,
        user=user,
        action="create",
        entity="lot",
        entity_id=lot.id,
        details={"code": code, "material": material},
    )
    return lot


def consume(
    session: Session,
    *,
    order_id: int,
    lot_code: str,
    quantity: float,
    ts_us: int,
    user: audit.UserRef,
) -> LotConsumption:
    """Record that `order_id` consumed `quantity` of a lot; links it to the order's outputs."""
    lot = get_lot(session, code=lot_code)
    if lot.status in ("on_hold", "scrapped"):
        raise Conflict(
            f"lot '{lot_code}' is {lot.status} and cannot be consumed",
            loc=["body", "lot_code"],
            type="lot_not_usable",
        )
    if lot.order_id == order_id:
        raise InvalidInput("an order cannot consume a lot it produced", loc=["body", "lot_code"])
    _check_order(session, order_id)
    row = LotConsumption(order_id=order_id, lot_id=lot.id, quantity=quantity, ts_us=ts_us)
    audit.stamp(row, user=user)
    session.add(row)
    outputs = session.scalars(select(MaterialLot.id).where(MaterialLot.order_id == order_id))
    _link(session, [lot.id], list(outputs), order_id)
    session.flush()
    audit.record(
        session,
        user=user,
        action="consume",
        entity="lot",
        entity_id=lot.id,
        details={"order_id": order_id, "quantity": quantity},
    )
    return row


def produce(
    session: Session,
    *,
    order_id: int,
    code: str,
    material: str,
    kind: str,
    quantity: float,
    unit: str,
    machine_id: int | None,
    start_us: int,
    end_us: int,
    user: audit.UserRef,
) -> MaterialLot:
    """Record a lot produced by `order_id` on `machine_id`; links every lot the order consumed."""
    _check_order(session, order_id)
    lot = create_lot(
        session, code=code, material=material, kind=kind, quantity=quantity, unit=unit, user=user
    )
    lot.order_id = order_id
    lot.machine_id = machine_id
    lot.start_us, lot.end_us = start_us, end_us
    lot.operator = audit.username_of(user)
    inputs = session.scalars(
        select(LotConsumption.lot_id).where(LotConsumption.order_id == order_id).distinct()
    )
    _link(session, list(inputs), [lot.id], order_id)
    session.flush()
    return lot


def _link(session: Session, inputs: Sequence[int], outputs: Sequence[int], order_id: int) -> None:
    existing: set[tuple[int, int]] = set()
    if inputs and outputs:
        rows = session.execute(
            select(LotLink.input_lot_id, LotLink.output_lot_id).where(
                LotLink.input_lot_id.in_(inputs), LotLink.output_lot_id.in_(outputs)
            )
        )
        existing = {(int(a), int(b)) for a, b in rows}
    for i in inputs:
        for o in outputs:
            if (i, o) not in existing:
                session.add(LotLink(input_lot_id=i, output_lot_id=o, order_id=order_id))


def walk(
    session: Session, *, lot_id: int, direction: Direction, max_depth: int = DEFAULT_MAX_DEPTH
) -> list[Edge]:
    """Every genealogy edge reachable from `lot_id` in `direction` within `max_depth` steps."""
    rows = session.execute(_SQL[direction], {"root": lot_id, "max_depth": max_depth}).all()
    return [Edge(int(s), int(d), int(depth)) for s, d, depth in rows]


def lots_by_id(session: Session, *, ids: set[int]) -> dict[int, LotRead]:
    """Lots by id, as read models."""
    # Plain rows, not ORM objects: a trace may hold thousands of lots and is read-only.
    table = MaterialLot.__table__
    columns = [table.c[name] for name in LotRead.model_fields]
    found: dict[int, LotRead] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), 5000):  # stay under the bind-parameter limits
        chunk = ordered[i : i + 5000]
        for row in session.execute(select(*columns).where(table.c.id.in_(chunk))):
            found[row.id] = LotRead.model_validate(dict(row._mapping))
    return found


def conditions(
    lot: MaterialLot | LotRead, *, store: HistorianStore | None, registry: PlantRegistry | None
) -> list[TagCondition]:
    """Time-weighted averages (and min/max) of the machine's numeric tags while the lot was made."""
    if store is None or registry is None or lot.machine_id is None:
        return []
    if lot.start_us is None or lot.end_us is None or lot.end_us <= lot.start_us:
        return []
    tags = [
        t
        for t in registry.machine_tags(lot.machine_id)
        if t.data_type in NUMERIC_TYPES and t.role in CONDITION_ROLES
    ]
    if not tags:
        return []
    agg = store.aggregate([t.id for t in tags], lot.start_us, lot.end_us, lot.end_us - lot.start_us)
    row = {int(tag): i for i, tag in enumerate(agg.tags)}

    def cell(values: np.ndarray, i: int | None) -> float | None:
        if i is None or agg.count[i, 0] == 0 or not np.isfinite(values[i, 0]):
            return None
        return float(values[i, 0])

    return [
        TagCondition(
            tag_id=t.id,
            name=t.name,
            unit=t.unit,
            twa=cell(agg.twa, row.get(t.id)),
            min=cell(agg.min, row.get(t.id)),
            max=cell(agg.max, row.get(t.id)),
        )
        for t in tags
    ]


def trace(
    session: Session,
    *,
    lot_code: str,
    direction: Direction,
    max_depth: int = DEFAULT_MAX_DEPTH,
    store: HistorianStore | None = None,
    registry: PlantRegistry | None = None,
) -> TraceRead:
    """The genealogy tree of a lot, forward or backward, with each lot's process conditions.

    A lot reachable by several paths (a DAG) is expanded in full once; further occurrences
    are listed without children, so the tree stays as large as the graph, not its path count.
    """
    if max_depth < 1:
        raise InvalidInput("max_depth must be at least 1", loc=["query", "max_depth"])
    root = get_lot(session, code=lot_code)
    edges = walk(session, lot_id=root.id, direction=direction, max_depth=max_depth)
    children: dict[int, list[int]] = defaultdict(list)
    for e in edges:
        children[e.src].append(e.dst)
    lots = lots_by_id(session, ids={root.id} | {e.dst for e in edges})
    machine_names = {}
    if registry is not None:
        machine_names = {n.id: n.name for n in registry.nodes.values()}
    expanded: set[int] = set()
    deepest = 0

    def build(lot_id: int, depth: int) -> TraceNode:
        nonlocal deepest
        deepest = max(deepest, depth)
        lot = lots[lot_id]
        first = lot_id not in expanded
        expanded.add(lot_id)
        kids = sorted(children.get(lot_id, []), key=lambda i: lots[i].code) if first else []
        # model_construct: every part is already validated; this keeps big traces fast.
        return TraceNode.model_construct(
            lot=lot,
            depth=depth,
            machine=machine_names.get(lot.machine_id) if lot.machine_id is not None else None,
            conditions=conditions(lot, store=store, registry=registry) if first else [],
            repeated=not first,
            children=[build(k, depth + 1) for k in kids if depth < max_depth],
        )

    tree = build(root.id, 0)
    return TraceRead(direction=direction, root=tree, lots=len(lots), max_depth_reached=deepest)
