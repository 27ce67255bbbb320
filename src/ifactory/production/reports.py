"""OEE of machines, lines and orders over any interval: gathers the inputs, `oee` computes.

Inputs: the machine-state history (stream), the site calendar (plant), counter deltas from the
historian's aggregates (which handle counter resets and rollovers), ideal cycle times from the
routing operation or the plant model, and the loss categories operators gave to stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.core.errors import InvalidInput
from ifactory.plant.models import PlantNode
from ifactory.plant.registry import NodeInfo, PlantRegistry
from ifactory.plant.spec import TagRole
from ifactory.production import downtime, oee
from ifactory.production import service as production
from ifactory.production.models import OrderOperation, ProductionOrder
from ifactory.stream import history

US = 1_000_000
COUNTER_FIELDS = {
    TagRole.cycle_counter.value: "pq",
    TagRole.good_counter.value: "gq",
    TagRole.scrap_counter.value: "sq",
    TagRole.rework_counter.value: "rq",
}
WORLD_CLASS = 0.85  # the customary "world-class" OEE, the default target per line
OEE_TARGET_ATTRIBUTE = "oee_target"
MINOR_STOP_ATTRIBUTE = "minor_stop_s"  # plant.yaml node attribute: minor-stop threshold (s)


@dataclass(frozen=True)
class Window:
    """An interval to report on, with a label (shift name, day...)."""

    start_us: int
    end_us: int
    label: str = ""


def node_ids_for_stops(registry: PlantRegistry, node_id: int) -> set[str]:
    """The node's id and its ancestors' ids (planned stops name any of them)."""
    node = registry.nodes[node_id]
    return {node.key.rsplit("/", 1)[-1]} | {
        a.key.rsplit("/", 1)[-1] for a in registry.ancestors(node_id)
    }


def planned_and_pot(
    registry: PlantRegistry, machine_id: int, start_us: int, end_us: int
) -> tuple[list[oee.Interval], list[oee.Interval]]:
    """(PBT intervals, POT intervals) of a machine: calendar shifts minus breaks and stops."""
    cal = registry.calendar_for(machine_id)
    if cal is None or end_us <= start_us:
        return [], []
    planned = cal.planned_intervals(start_us, end_us, node_ids_for_stops(registry, machine_id))
    pot = oee.normalize(
        (max(s.start_us, start_us), min(s.end_us, end_us)) for s in cal.shifts(start_us, end_us)
    )
    return oee.normalize(planned), pot


def _inherited_attribute(
    session: Session, registry: PlantRegistry, node_id: int, name: str
) -> tuple[NodeInfo, object] | None:
    """`attributes.<name>` of the node, else of its nearest ancestor that sets it."""
    chain = [registry.nodes[node_id], *registry.ancestors(node_id)]
    rows = session.execute(
        select(PlantNode.id, PlantNode.attributes).where(PlantNode.id.in_([n.id for n in chain]))
    ).all()
    attributes = {int(i): a or {} for i, a in rows}
    for node in chain:
        value = attributes.get(node.id, {}).get(name)
        if value is not None:
            return node, value
    return None


def minor_stop_threshold(session: Session, registry: PlantRegistry, node_id: int) -> float:
    """The node's `attributes.minor_stop_s` (plant.yaml), else its nearest ancestor's, else 300 s."""
    found = _inherited_attribute(session, registry, node_id, MINOR_STOP_ATTRIBUTE)
    if found is None:
        return oee.DEFAULT_MINOR_STOP_S
    node, value = found
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(
            f"'{node.key}': attributes.{MINOR_STOP_ATTRIBUTE} must be a positive number of "
            f"seconds, not {value!r}",
            loc=["plant", node.key, "attributes", MINOR_STOP_ATTRIBUTE],
            type="bad_minor_stop_threshold",
        )
    return float(value)


def oee_target(session: Session, registry: PlantRegistry, node_id: int) -> float:
    """The OEE target of a line or machine: `attributes.oee_target` (0-1), inherited, else 85 %."""
    found = _inherited_attribute(session, registry, node_id, OEE_TARGET_ATTRIBUTE)
    if found is None:
        return WORLD_CLASS
    node, value = found
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise InvalidInput(
            f"'{node.key}': attributes.{OEE_TARGET_ATTRIBUTE} must be a fraction in (0, 1], "
            f"not {value!r}",
            loc=["plant", node.key, "attributes", OEE_TARGET_ATTRIBUTE],
            type="bad_oee_target",
        )
    return float(value)


def line_machines(registry: PlantRegistry, node_id: int) -> list[NodeInfo]:
    """The machines of a line (or any node), in plant-file order; the last is the output."""
    node = registry.nodes[node_id]
    return [n for n in registry.walk(node) if n.is_machine and n.kind != "utility"]


def _counter_tags(registry: PlantRegistry, machine_id: int) -> dict[str, int]:
    out = {}
    for t in registry.machine_tags(machine_id):
        field = COUNTER_FIELDS.get(t.role)
        if field is not None and field not in out:
            out[field] = t.id
    return out


def counts(
    registry: PlantRegistry, store: Any, machine_id: int, start_us: int, end_us: int
) -> dict[str, float] | None:
    """Counter deltas (pq, gq, sq, rq) of a machine in [start, end); None without counters.

    A missing total is good + scrap + rework; a missing good count is total - scrap - rework.
    """
    tags = _counter_tags(registry, machine_id)
    if not tags or end_us <= start_us:
        return None if not tags else {"pq": 0.0, "gq": 0.0, "sq": 0.0, "rq": 0.0}
    fields = list(tags)
    # A counter sample at t counts the parts made before t, so the parts made in [start, end)
    # are the increments of the samples in (start, end]: the bucket is shifted by 1 µs.
    agg = store.aggregate([tags[f] for f in fields], start_us + 1, end_us + 1, end_us - start_us)
    by_tag = {int(t): i for i, t in enumerate(agg.tags)}
    values: dict[str, float] = {}
    for f in fields:
        i = by_tag.get(tags[f])
        v = float(np.nansum(agg.counter_delta[i])) if i is not None else 0.0
        values[f] = v
    sq, rq = values.get("sq", 0.0), values.get("rq", 0.0)
    if "pq" not in values:
        values["pq"] = values.get("gq", 0.0) + sq + rq
    if "gq" not in values:
        values["gq"] = max(values["pq"] - sq - rq, 0.0)
    values.setdefault("sq", 0.0)
    values.setdefault("rq", 0.0)
    return values


def product_segments(
    registry: PlantRegistry, store: Any, machine_id: int, start_us: int, end_us: int
) -> list[tuple[int, int, str | None]]:
    """(start, end, product code) from the machine's product tag (the value holds until the next)."""
    tag = registry.tag_by_role(machine_id, TagRole.product.value)
    if tag is None:
        return [(start_us, end_us, None)]
    points = store.raw([tag.id], start_us - 86_400 * US, end_us)
    text = points.text if points.text is not None else [None] * len(points)
    current: str | None = None
    cuts: list[tuple[int, str | None]] = []
    for ts, value in zip(points.ts.tolist(), list(text), strict=True):
        value = str(value) if value else None
        if ts <= start_us:
            current = value
        elif value != (cuts[-1][1] if cuts else current):
            cuts.append((ts, value))
    out: list[tuple[int, int, str | None]] = []
    s, p = start_us, current
    for ts, value in cuts:
        if ts > s:
            out.append((s, ts, p))
        s, p = ts, value
    out.append((s, end_us, p))
    return out


def ideal_cycle(node: NodeInfo, product: str | None, override: float | None = None) -> float | None:
    """PRI (ISO 22400-2 planned run time per item): the operation's, else the machine's for the product."""
    if override is not None:
        return override
    if product is not None and product in node.ideal_cycle_times:
        return node.ideal_cycle_times[product]
    if product is None and len(node.ideal_cycle_times) == 1:
        return next(iter(node.ideal_cycle_times.values()))
    return None


def outputs(
    registry: PlantRegistry,
    store: Any,
    machine_id: int,
    ranges: Sequence[oee.Interval],
    *,
    product: str | None = None,
    pri_s: float | None = None,
) -> list[oee.Output]:
    """Per-product output of a machine over `ranges` (product from `product` or its tag)."""
    node = registry.nodes[machine_id]
    acc: dict[str | None, list[float]] = {}
    for s, e in ranges:
        segments = (
            [(s, e, product)]
            if product is not None
            else product_segments(registry, store, machine_id, s, e)
        )
        for ss, se, code in segments:
            c = counts(registry, store, machine_id, ss, se)
            if c is None:
                return []
            row = acc.setdefault(code, [0.0, 0.0, 0.0, 0.0])
            for i, f in enumerate(("pq", "gq", "sq", "rq")):
                row[i] += c[f]
    return [
        oee.Output(
            pq=v[0], gq=v[1], sq=v[2], rq=v[3], pri_s=ideal_cycle(node, code, pri_s), product=code
        )
        for code, v in acc.items()
        if any(v) or len(acc) == 1
    ]


def with_startup_scrap(
    registry: PlantRegistry,
    store: Any,
    machine_id: int,
    spans: oee.Spans,
    out: list[oee.Output],
    startup_s: float,
    start_us: int,
    end_us: int,
) -> list[oee.Output]:
    """Outputs with the scrap made within `startup_s` after each setup marked as start-up scrap."""
    ends = [
        int(spans.end[i])
        for i in range(len(spans))
        if spans.state[i] == oee.SETUP and (i + 1 == len(spans) or spans.state[i + 1] != oee.SETUP)
    ]
    windows_ = oee.intersect(
        oee.normalize((e, e + int(startup_s * US)) for e in ends), [(start_us, end_us)]
    )
    startup = 0.0
    for s, e in windows_:
        c = counts(registry, store, machine_id, s, e)
        startup += c["sq"] if c else 0.0
    total_sq = sum(o.sq for o in out)
    if startup <= 0 or total_sq <= 0:
        return out
    share = min(startup, total_sq) / total_sq
    return [
        oee.Output(o.pq, o.gq, o.sq, o.rq, o.pri_s, o.product, startup_sq=o.sq * share) for o in out
    ]


def machine(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    machine_id: int,
    start_us: int,
    end_us: int,
    now_us: int,
    minor_stop_s: float | None = None,
    startup_s: float = 0.0,
) -> oee.OEEResult:
    """OEE of a machine over [start, end) (cut at now: the future is not planned yet).

    Scrap made within `startup_s` after a setup ends counts as start-up rejects. Stops shorter
    than `minor_stop_s` are minor stops (None: the machine's configured threshold).
    """
    if minor_stop_s is None:
        minor_stop_s = minor_stop_threshold(session, registry, machine_id)
    end = min(end_us, now_us)
    planned, pot = planned_and_pot(registry, machine_id, start_us, end)
    rows = history.intervals(
        session, machine_id=machine_id, start_us=start_us, end_us=end, now_us=now_us
    )
    spans = oee.Spans.of((s, a, b) for s, a, b, _ in rows)
    losses = downtime.stop_losses(session, machine_id=machine_id, start_us=start_us, end_us=end)
    out = outputs(registry, store, machine_id, [(start_us, end)] if end > start_us else [])
    if startup_s > 0 and out:
        out = with_startup_scrap(registry, store, machine_id, spans, out, startup_s, start_us, end)
    return oee.machine_oee(
        spans, planned, out, pot=pot, minor_stop_s=minor_stop_s, stop_losses=losses
    )


def line(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    node_id: int,
    start_us: int,
    end_us: int,
    now_us: int,
    minor_stop_s: float | None = None,
    startup_s: float = 0.0,
) -> tuple[oee.OEEResult | None, list[tuple[NodeInfo, oee.OEEResult]]]:
    """Line OEE (summed time elements, last machine's output) and each machine's OEE."""
    parts = [
        (
            m,
            machine(
                session,
                registry=registry,
                store=store,
                machine_id=m.id,
                start_us=start_us,
                end_us=end_us,
                now_us=now_us,
                minor_stop_s=minor_stop_s,
                startup_s=startup_s,
            ),
        )
        for m in line_machines(registry, node_id)
    ]
    if not parts:
        return None, []
    return oee.line_oee([r for _, r in parts]), parts


def order(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    order_id: int,
    now_us: int,
    minor_stop_s: float | None = None,
) -> tuple[ProductionOrder, list[tuple[OrderOperation, oee.OEEResult | None]]]:
    """Per operation: OEE and counts attributed to the order (by time on its machine)."""
    o = production.get_order(session, order_id=order_id)
    intervals = production.order_intervals(session, order_id=order_id, now_us=now_us)
    out: list[tuple[OrderOperation, oee.OEEResult | None]] = []
    for op in o.operations:
        mine = oee.normalize((s, e) for _, oid, _, s, e in intervals if oid == op.id)
        if op.machine_id is None or not mine or op.machine_id not in registry.nodes:
            out.append((op, None))
            continue
        lo, hi = mine[0][0], mine[-1][1]
        threshold = (
            minor_stop_s
            if minor_stop_s is not None
            else minor_stop_threshold(session, registry, op.machine_id)
        )
        planned, pot = planned_and_pot(registry, op.machine_id, lo, hi)
        rows = history.intervals(
            session, machine_id=op.machine_id, start_us=lo, end_us=hi, now_us=now_us
        )
        spans = oee.Spans.of((s, a, b) for s, a, b, _ in rows)
        losses = downtime.stop_losses(session, machine_id=op.machine_id, start_us=lo, end_us=hi)
        result = oee.machine_oee(
            spans,
            oee.intersect(planned, mine),
            outputs(
                registry, store, op.machine_id, mine, product=o.product_code, pri_s=op.ideal_cycle_s
            ),
            pot=oee.intersect(pot, mine),
            minor_stop_s=threshold,
            stop_losses=losses,
        )
        out.append((op, result))
    return o, out


@dataclass(frozen=True)
class ProductLosses:
    """The six big losses (s) of a node while it made one product (None: product unknown)."""

    product: str | None
    losses_s: dict[str, float]
    pbt_s: float
    pq: float
    gq: float

    @property
    def total_s(self) -> float:
        """All six losses together."""
        return sum(self.losses_s.values())


def machine_by_product(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    machine_id: int,
    start_us: int,
    end_us: int,
    now_us: int,
    minor_stop_s: float | None = None,
) -> dict[str | None, oee.OEEResult]:
    """OEE of a machine per product made in [start, end): the interval is cut where its product
    tag changes, and each part is computed like an interval of its own (planned time, states,
    output and stop reasons restricted to it), so the products' losses add up to the machine's.
    """
    end = min(end_us, now_us)
    if end <= start_us:
        return {}
    if minor_stop_s is None:
        minor_stop_s = minor_stop_threshold(session, registry, machine_id)
    planned, pot = planned_and_pot(registry, machine_id, start_us, end)
    rows = history.intervals(
        session, machine_id=machine_id, start_us=start_us, end_us=end, now_us=now_us
    )
    spans = oee.Spans.of((s, a, b) for s, a, b, _ in rows)
    losses = downtime.stop_losses(session, machine_id=machine_id, start_us=start_us, end_us=end)
    ranges: dict[str | None, list[oee.Interval]] = {}
    for s, e, code in product_segments(registry, store, machine_id, start_us, end):
        ranges.setdefault(code, []).append((s, e))
    out: dict[str | None, oee.OEEResult] = {}
    for code, parts in ranges.items():
        mine = oee.normalize(parts)
        # With no product known, `outputs` finds none again: counts without an ideal cycle time.
        made = outputs(registry, store, machine_id, mine, product=code)
        out[code] = oee.machine_oee(
            spans,
            oee.intersect(planned, mine),
            made,
            pot=oee.intersect(pot, mine),
            minor_stop_s=minor_stop_s,
            stop_losses=losses,
        )
    return out


def losses_by_product(
    session: Session,
    *,
    registry: PlantRegistry,
    store: Any,
    node_id: int,
    start_us: int,
    end_us: int,
    now_us: int,
    minor_stop_s: float | None = None,
) -> list[ProductLosses]:
    """The six big losses per product of a machine, or summed over a line's machines (time units
    add up across machines), largest total first."""
    node = registry.nodes[node_id]
    machines = [node] if node.is_machine else line_machines(registry, node_id)
    acc: dict[str | None, list[Any]] = {}
    for m in machines:
        per = machine_by_product(
            session,
            registry=registry,
            store=store,
            machine_id=m.id,
            start_us=start_us,
            end_us=end_us,
            now_us=now_us,
            minor_stop_s=minor_stop_s,
        )
        for code, r in per.items():
            row = acc.setdefault(code, [dict.fromkeys(r.losses_s, 0.0), 0.0, 0.0, 0.0])
            for k, v in r.losses_s.items():
                row[0][k] = row[0].get(k, 0.0) + v
            row[1] += r.time.pbt_us / US
            row[2] += r.pq
            row[3] += r.gq
    # A product with neither planned time nor output (e.g. the moments before the first product
    # sample) says nothing: leave it out.
    result = [ProductLosses(code, *v) for code, v in acc.items() if v[1] > 0 or v[2] > 0]
    return sorted(result, key=lambda p: -p.total_s)


def windows(
    registry: PlantRegistry, node_id: int, start_us: int, end_us: int, by: str
) -> list[Window]:
    """Shifts, production days or hours of the node's site overlapping [start, end)."""
    cal = registry.calendar_for(node_id)
    if by == "hour" or cal is None:
        step = 3600 * US
        first = start_us - start_us % step
        return [Window(max(t, start_us), min(t + step, end_us)) for t in range(first, end_us, step)]
    if by == "shift":
        return [
            Window(max(s.start_us, start_us), min(s.end_us, end_us), f"{s.day} {s.name}")
            for s in cal.shifts(start_us, end_us)
        ]
    out = []
    day = cal.production_day(start_us)
    while True:
        s, e = cal.day_bounds(day)  # 23 h or 25 h on daylight-saving days
        if s >= end_us:
            break
        out.append(Window(max(s, start_us), min(e, end_us), day.isoformat()))
        day += timedelta(days=1)
    return out


def current_shift(registry: PlantRegistry, node_id: int, now_us: int) -> Window | None:
    """The shift running at `now_us` at the node's site (None between shifts)."""
    cal = registry.calendar_for(node_id)
    if cal is None:
        return None
    for s in cal.shifts(now_us - 1, now_us + 1):
        if s.start_us <= now_us < s.end_us:
            return Window(s.start_us, s.end_us, f"{s.day} {s.name}")
    return None
