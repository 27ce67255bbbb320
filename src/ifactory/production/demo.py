"""Demo data for production: routings and orders for the example plant's products.

Seeded once, on an empty database, when `ifactory demo` starts: every production machine gets
a running order (so counters and states are attributed to orders from the first simulated
minute), a few more are released or planned behind them, and one finished before the history
starts. Quantities are sized so running orders last longer than a shift at the ideal rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from ifactory.core.clock import to_datetime
from ifactory.production import service
from ifactory.production.models import OrderMachineInterval, OrderOperation, ProductionOrder
from ifactory.production.schemas import OperationIn, OrderCreate, OrderState, RoutingCreate

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
HOUR_US = 3_600_000_000
USER = "planner"

# product -> operations (name, machine group = line node id); cycle times come from plant.yaml.
ROUTINGS: dict[str, list[tuple[str, str]]] = {
    "P-100": [("Mill bracket", "machining_line"), ("Weld bracket", "machining_line")],
    "P-200": [("Mill housing", "machining_line")],
    "P-300": [("Stamp cover", "press_line"), ("Wrap cover", "packaging_line")],
    "P-310": [("Stamp clip", "press_line")],
    "P-400": [("Mould cap", "moulding_line"), ("Wrap caps", "packaging_line")],
    "P-410": [("Mould lid", "moulding_line")],
}

# (number, product, quantity, machines per operation, state, hours from the seed time to due)
ORDERS: list[tuple[str, str, float, list[str], OrderState, float]] = [
    # The finished order comes first: its machines must be free again for the running ones.
    ("WO-0999", "P-400", 600, ["imm3", "packer1"], OrderState.completed, -2),
    ("WO-1001", "P-100", 1500, ["cnc1", "weld_cell"], OrderState.running, 20),
    ("WO-1002", "P-200", 900, ["cnc2"], OrderState.running, 16),
    ("WO-1003", "P-100", 1200, ["cnc3", "weld_cell"], OrderState.released, 30),
    ("WO-1004", "P-200", 700, ["cnc3"], OrderState.running, 14),
    ("WO-2001", "P-300", 30000, ["press1", "packer1"], OrderState.running, 18),
    ("WO-2002", "P-310", 7000, ["press2"], OrderState.running, 18),
    ("WO-2003", "P-310", 5000, ["press3"], OrderState.running, 24),
    ("WO-3001", "P-400", 30000, ["imm1", "packer2"], OrderState.running, 22),
    ("WO-3002", "P-410", 1800, ["imm2"], OrderState.running, 20),
    ("WO-3003", "P-400", 1500, ["imm3", "packer2"], OrderState.released, 36),
    ("WO-3004", "P-410", 2000, [], OrderState.planned, 48),
]


@dataclass(frozen=True)
class DemoOrder:
    """A seeded order, handed to other domains' demo seeding as plain data."""

    id: int
    number: str
    product_code: str
    state: str
    machine_ids: tuple[int, ...]
    start_us: int | None
    end_us: int | None


def _machine_keys(platform: Platform) -> dict[str, str]:
    """Node id in plant.yaml (e.g. 'cnc1') -> full node key."""
    return {n.key.rsplit("/", 1)[-1]: n.key for n in platform.registry.nodes.values()}


def seed(platform: Platform) -> list[DemoOrder]:
    """Routings and orders for the example plant; nothing if any order exists already."""
    keys = _machine_keys(platform)
    now = platform.clock.now_us()
    out: list[DemoOrder] = []
    with platform.db.session() as session:
        if session.scalar(select(ProductionOrder.id).limit(1)) is not None:
            return []
        routing_ids: dict[str, int] = {}
        for product, ops in ROUTINGS.items():
            routing = service.create_routing(
                session,
                data=RoutingCreate(
                    product_code=product,
                    name=f"{product} standard",
                    operations=[
                        OperationIn(seq=10 * (i + 1), name=name, machine_group=keys[group])
                        for i, (name, group) in enumerate(ops)
                    ],
                ),
                user=USER,
            )
            routing_ids[product] = routing.id
        for number, product, qty, machines, state, due_h in ORDERS:
            order = service.create_order(
                session,
                data=OrderCreate(
                    number=number,
                    product_code=product,
                    quantity=qty,
                    due_at=to_datetime(now + int(due_h * HOUR_US)),
                    priority=500 if state == OrderState.running else 100,
                    routing_id=routing_ids[product],
                ),
                user=USER,
            )
            start = end = None
            if state != OrderState.planned:
                for op, machine in zip(order.operations, machines, strict=True):
                    service.dispatch(
                        session, order_id=order.id, seq=op.seq, machine=keys[machine], user=USER
                    )
                service.transition(
                    session, order_id=order.id, to=OrderState.released, user=USER, now_us=now
                )
            if state in (OrderState.running, OrderState.completed):
                # The finished order ran for the 8 hours before the demo's history.
                start = now - 10 * HOUR_US if state == OrderState.completed else now
                service.transition(
                    session, order_id=order.id, to=OrderState.running, user=USER, now_us=start
                )
            if state == OrderState.completed:
                end = start + 8 * HOUR_US if start is not None else None
                service.transition(
                    session,
                    order_id=order.id,
                    to=OrderState.completed,
                    user=USER,
                    now_us=end or now,
                )
            out.append(
                DemoOrder(
                    id=order.id,
                    number=number,
                    product_code=product,
                    state=state.value,
                    machine_ids=tuple(int(op.machine_id or 0) for op in order.operations),
                    start_us=start,
                    end_us=end,
                )
            )
    log.info("seeded %d demo production orders", len(out))
    return out


@dataclass(frozen=True)
class DemoRun:
    """An order operation on a machine, as plain data for the simulator and the lot consumption."""

    order_id: int
    order_number: str
    seq: int
    first: bool  # the order's first operation (the one that takes the raw material)
    last: bool  # the order's last operation (the one whose good parts are the output)
    product_code: str
    quantity: float
    machine_id: int
    machine_key: str
    cycle_time_s: float
    start_us: int
    end_us: int | None  # None: still running


def dispatched_runs(platform: Platform, *, since_us: int | None = None) -> list[DemoRun]:
    """Every order operation that ran or runs on a machine (ending after `since_us`), oldest first.

    The cycle time is the routing operation's, else the machine's ideal one for the product
    (plant.yaml), as OEE takes it for PRI; an operation with neither is left out.
    """
    nodes = platform.registry.nodes
    out: list[DemoRun] = []
    with platform.db.session() as session:
        rows = session.execute(
            select(OrderMachineInterval, OrderOperation, ProductionOrder)
            .join(OrderOperation, OrderOperation.id == OrderMachineInterval.operation_id)
            .join(ProductionOrder, ProductionOrder.id == OrderMachineInterval.order_id)
            .order_by(OrderMachineInterval.start_us, OrderMachineInterval.id)
        ).all()
        first_seq: dict[int, int] = {}
        last_seq: dict[int, int] = {}
        for _, op, order in rows:
            first_seq[order.id] = min(op.seq, first_seq.get(order.id, op.seq))
            last_seq[order.id] = max(op.seq, last_seq.get(order.id, op.seq))
        for interval, op, order in rows:
            if since_us is not None and interval.end_us is not None and interval.end_us <= since_us:
                continue
            node = nodes.get(interval.machine_id)
            if node is None:
                continue
            cycle = op.ideal_cycle_s or node.ideal_cycle_times.get(order.product_code)
            if not cycle:
                log.warning("no cycle time for %s on %s: not simulated", order.number, node.key)
                continue
            out.append(
                DemoRun(
                    order_id=order.id,
                    order_number=order.number,
                    seq=op.seq,
                    first=op.seq == first_seq[order.id],
                    last=op.seq == last_seq[order.id],
                    product_code=order.product_code,
                    quantity=order.quantity,
                    machine_id=interval.machine_id,
                    machine_key=node.key,
                    cycle_time_s=float(cycle),
                    start_us=interval.start_us,
                    end_us=interval.end_us,
                )
            )
    return out
