"""The demo's seeded orders and lots; six big losses by product; the configurable minor-stop threshold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from ifactory.core.clock import ManualClock
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.models import PlantNode
from ifactory.platform import Platform
from ifactory.production import demo as production_demo
from ifactory.production.models import OrderMachineInterval, ProductionOrder
from ifactory.quality import demo as quality_demo
from ifactory.quality import genealogy
from ifactory.quality import service as quality_service
from ifactory.quality.models import Characteristic, LotConsumption, MaterialLot

from .conftest import CNC1, LINE, MIN, MONDAY_06H_US, feed_counter, feed_product, feed_states

H = 60 * MIN


def _good_parts(platform: Platform, at_us: int, made: dict[str, float]) -> None:
    """One good-counter sample per machine (short id -> counter value) through the pipeline."""
    registry = platform.registry
    ids = []
    for short in made:
        node = next(n for n in registry.nodes.values() if n.key.endswith(f"/{short}"))
        tag = registry.tag_by_role(node.id, "good_counter")
        tag = tag or registry.tag_by_role(node.id, "cycle_counter")  # press3 counts strokes only
        assert tag is not None
        ids.append(tag.id)
    assert isinstance(platform.clock, ManualClock)
    platform.clock.set(at_us)
    platform.pipeline.ingest(
        TelemetryBatch.of(ids, [at_us] * len(ids), list(made.values()), received_us=at_us)
    )


def test_demo_seeds_running_orders_lots_and_a_bound_spc_characteristic(platform: Platform) -> None:
    orders = production_demo.seed(platform)
    quality_demo.seed(platform, orders)
    # Material is booked as the orders make parts: 100 good parts on each running machine.
    t0 = platform.clock.now_us()
    quality_demo.attach_material_flow(platform, lambda: production_demo.dispatched_runs(platform))
    machines = ("cnc1", "cnc2", "weld_cell", "imm1", "packer2")
    _good_parts(platform, t0 + MIN, dict.fromkeys(machines, 1000.0))
    _good_parts(platform, t0 + 20 * MIN, dict.fromkeys(machines, 1100.0))
    registry = platform.registry
    with platform.db.session() as s:
        states = dict(s.execute(select(ProductionOrder.number, ProductionOrder.state)).all())
        running = s.scalars(
            select(OrderMachineInterval.machine_id).where(OrderMachineInterval.end_us.is_(None))
        ).all()
        chars = s.scalars(select(Characteristic)).all()
        consumed = s.scalar(select(func.count()).select_from(LotConsumption))
        trace = genealogy.trace(s, lot_code="LOT-WO-3001-001", direction="backward")
        forward = genealogy.trace(s, lot_code="STEEL-H4711", direction="forward")
    assert {"running", "released", "planned", "completed"} <= set(states.values())
    # Every production machine runs an order, but the moulder whose order is only released.
    idle = {n.id for n in registry.nodes.values() if n.key.endswith("/imm3")}
    busy = {m.id for m in registry.machines() if m.kind != "utility"} - idle
    assert sorted(running) == sorted(busy)
    # Consumed raw material goes into finished lots, over two levels for the wrapped caps.
    assert consumed and trace.max_depth_reached == 2
    codes = {c.lot.code for c in trace.root.children}
    assert {"CAP-0999-01", "PP-G0341", "FILM-F0017"} <= codes
    assert {c.lot.code for c in forward.root.children} >= {"LOT-WO-1001-001", "LOT-WO-1002-001"}
    assert trace.root.lot.quantity == 100  # packer2's good parts, the last machine of WO-3001
    # SPC reads each CNC mill's measured bore.
    dims = {t.id for t in registry.tags.values() if t.name == "dimension"}
    assert len(chars) == 3 and {c.tag_id for c in chars} == dims
    # Seeding twice does nothing more.
    assert production_demo.seed(platform) == []
    quality_demo.seed(platform, orders)
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MaterialLot)) == len(
            quality_demo.RAW_LOTS
        ) + 1 + sum(o.state == "running" for o in orders)


def _two_products(platform: Platform) -> None:
    """CNC 1, 06:00-08:00: P-100 with a 4-min stop, then P-200 with a 10-min setup and 20 min down."""
    t = MONDAY_06H_US
    assert isinstance(platform.clock, ManualClock)
    platform.clock.set(t + 2 * H)  # samples from the future would be refused
    feed_product(platform, CNC1, t, "P-100")
    feed_product(platform, CNC1, t + H, "P-200")
    feed_states(
        platform,
        CNC1,
        [
            ("executing", t),
            ("idle", t + 30 * MIN),
            ("executing", t + 34 * MIN),
            ("setup", t + H),
            ("executing", t + 70 * MIN),
            ("down", t + 80 * MIN),
            ("executing", t + 100 * MIN),
        ],
    )
    for name, values in (("cycle_count", (0, 60, 100)), ("good_count", (0, 58, 97))):
        feed_counter(platform, CNC1, name, [(t + i * H, v) for i, v in enumerate(values)])
    feed_counter(platform, CNC1, "scrap_count", [(t + i * H, v) for i, v in enumerate((0, 2, 3))])
    platform.tracker.tick(t + 2 * H)
    platform.relay.drain()


RANGE = {
    "start": datetime.fromtimestamp(MONDAY_06H_US / 1e6, UTC).isoformat(),
    "end": datetime.fromtimestamp((MONDAY_06H_US + 2 * H) / 1e6, UTC).isoformat(),
}


def _by_product(client: TestClient, admin: dict[str, str], key: str, **q: object) -> dict:
    r = client.get(f"/api/production/losses/by-product/{key}", headers=admin, params={**RANGE, **q})
    assert r.status_code == 200, r.text
    return {row["product"]: row for row in r.json()}


def test_six_losses_by_product_add_up_to_the_machine(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    _two_products(platform)
    rows = _by_product(client, admin, CNC1)
    assert set(rows) == {"P-100", "P-200"}
    p100, p200 = rows["P-100"]["losses_s"], rows["P-200"]["losses_s"]
    assert p100["minor_stop"] == pytest.approx(240) and p100["setup"] == 0
    assert p200["setup"] == pytest.approx(600) and p200["breakdown"] == pytest.approx(1200)
    assert rows["P-100"]["pbt_s"] == rows["P-200"]["pbt_s"] == pytest.approx(3600)
    assert (rows["P-100"]["pq"], rows["P-200"]["gq"]) == (60, 39)
    # Each product's losses explain its PBT minus its fully productive time PRI x GQ, exactly:
    # P-100: 3600 - 45 s x 58 = 990 s; P-200: 3600 - 60 s x 39 = 1260 s.
    assert rows["P-100"]["total_loss_s"] == pytest.approx(990)
    assert rows["P-200"]["total_loss_s"] == pytest.approx(1260)
    assert (p100["process_defect"], p200["process_defect"]) == pytest.approx((90, 60))
    # Time losses add up to the machine's. (The machine's quality losses use the average PRI of
    # the mix, 51 s x 3 = 153 s, where per product they are 45 x 2 + 60 x 1 = 150 s.)
    whole = client.get(f"/api/production/oee/{CNC1}", headers=admin, params=RANGE).json()
    for loss in ("breakdown", "setup", "minor_stop", "reduced_speed"):
        assert p100[loss] + p200[loss] == pytest.approx(whole["result"]["losses_s"][loss]), loss
    # A line sums its machines' losses per product.
    line = _by_product(client, admin, LINE)
    assert line["P-100"]["losses_s"]["minor_stop"] >= 240


def _set_threshold(platform: Platform, key: str, value: object) -> None:
    with platform.db.session() as s:
        node = s.scalar(select(PlantNode).where(PlantNode.key == key))
        assert node is not None
        attrs = dict(node.attributes or {})
        attrs["minor_stop_s"] = value
        s.execute(update(PlantNode).where(PlantNode.id == node.id).values(attributes=attrs))


def test_minor_stop_threshold_comes_from_the_machine_or_its_line(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    _two_products(platform)

    def minor() -> float:
        r = client.get(f"/api/production/oee/{CNC1}", headers=admin, params=RANGE)
        assert r.status_code == 200, r.text
        return float(r.json()["result"]["losses_s"]["minor_stop"])

    assert minor() == pytest.approx(240)  # default 300 s: the 4-min stop is minor
    _set_threshold(platform, LINE, 120)  # the line's threshold applies to its machines
    assert minor() == 0
    assert _by_product(client, admin, CNC1)["P-100"]["losses_s"]["minor_stop"] == 0
    _set_threshold(platform, CNC1, 600)  # the machine's own wins
    assert minor() == pytest.approx(240)
    # A threshold in the request wins over the plant model.
    r = client.get(
        f"/api/production/oee/{CNC1}", headers=admin, params={**RANGE, "minor_stop_s": 60}
    )
    assert r.json()["result"]["losses_s"]["minor_stop"] == 0
    _set_threshold(platform, CNC1, "five minutes")
    bad = client.get(f"/api/production/oee/{CNC1}", headers=admin, params=RANGE)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["type"] == "bad_minor_stop_threshold"


def _set_attribute(platform: Platform, key: str, name: str, value: object) -> None:
    with platform.db.session() as s:
        node = s.scalar(select(PlantNode).where(PlantNode.key == key))
        assert node is not None
        attrs = {**(node.attributes or {}), name: value}
        s.execute(update(PlantNode).where(PlantNode.id == node.id).values(attributes=attrs))


def test_oee_target_is_set_per_line_with_world_class_by_default(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    _two_products(platform)

    def target(key: str) -> tuple[float, float | None]:
        r = client.get(f"/api/production/oee/{key}", headers=admin, params=RANGE)
        assert r.status_code == 200, r.text
        return r.json()["target"], r.json()["target_output"]

    assert target(LINE)[0] == 0.85  # world class
    _set_attribute(platform, LINE, "oee_target", 0.7)
    line_target, _ = target(LINE)
    machine_target, machine_output = target(CNC1)
    assert (line_target, machine_target) == (0.7, 0.7)  # machines inherit their line's target
    # Output at target: the ideal output of the planned busy time times the target.
    assert machine_output is not None and machine_output > 0
    _set_attribute(platform, LINE, "oee_target", 70)
    bad = client.get(f"/api/production/oee/{LINE}", headers=admin, params=RANGE)
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "bad_oee_target"


def test_the_simulator_schedule_is_the_running_orders_at_the_routings_cycle_times(
    platform: Platform,
) -> None:
    orders = production_demo.seed(platform)
    runs = production_demo.dispatched_runs(platform)
    registry = platform.registry
    running = {o.number for o in orders if o.state == "running"}
    assert {r.order_number for r in runs if r.end_us is None} == running
    for run in runs:
        node = registry.nodes[run.machine_id]
        assert run.machine_key == node.key
        # No cycle time on the demo routings: the machine's ideal one for the product (PRI).
        assert run.cycle_time_s == node.ideal_cycle_times[run.product_code]
    wo1001 = sorted(
        (r.seq, r.machine_key.rsplit("/", 1)[-1], r.first, r.last)
        for r in runs
        if r.order_number == "WO-1001"
    )
    assert wo1001 == [(10, "cnc1", True, False), (20, "weld_cell", False, True)]
    # The finished order ran before the history: left out when asked for what runs from now on.
    now = platform.clock.now_us()
    assert "WO-0999" not in {
        r.order_number for r in production_demo.dispatched_runs(platform, since_us=now)
    }


def test_running_orders_consume_raw_lots_in_proportion_to_their_good_parts(
    platform: Platform,
) -> None:
    orders = production_demo.seed(platform)
    quality_demo.seed(platform, orders)
    t0 = platform.clock.now_us()
    flow = quality_demo.attach_material_flow(
        platform, lambda: production_demo.dispatched_runs(platform)
    )
    assert flow.every_us == 15 * MIN

    def consumed(order: str, lot: str) -> float:
        with platform.db.session() as s:
            return float(
                s.scalar(
                    select(func.coalesce(func.sum(LotConsumption.quantity), 0.0))
                    .join(MaterialLot, MaterialLot.id == LotConsumption.lot_id)
                    .join(ProductionOrder, ProductionOrder.id == LotConsumption.order_id)
                    .where(ProductionOrder.number == order, MaterialLot.code == lot)
                )
                or 0.0
            )

    _good_parts(platform, t0 + MIN, {"cnc1": 500.0, "weld_cell": 10.0, "press3": 100.0})
    _good_parts(platform, t0 + 10 * MIN, {"cnc1": 530.0, "weld_cell": 30.0})
    assert consumed("WO-1001", "STEEL-H4711") == 0  # not yet 15 minutes of plant time
    _good_parts(platform, t0 + 16 * MIN, {"cnc1": 560.0, "weld_cell": 50.0, "press3": 170.0})
    # 60 brackets of an order of 1500 that needs 600 kg: 24 kg.
    assert consumed("WO-1001", "STEEL-H4711") == pytest.approx(24.0)
    # A press that counts strokes only: 70 clips at 1500 kg per 7000.
    assert consumed("WO-2003", "COIL-C0882") == pytest.approx(15.0)
    with platform.db.session() as s:
        assert genealogy.get_lot(s, code="LOT-WO-2003-001").quantity == 70.0
    # A counter that rolls over keeps counting (cnc1's good counter wraps at its maximum).
    top = registry_counter_max(platform, "cnc1")
    _good_parts(platform, t0 + 20 * MIN, {"cnc1": top, "weld_cell": 60.0})
    _good_parts(platform, t0 + 35 * MIN, {"cnc1": 14.0, "weld_cell": 80.0})
    assert consumed("WO-1001", "STEEL-H4711") == pytest.approx(24.0 + 0.4 * (top - 560 + 15))
    with platform.db.session() as s:
        lot = genealogy.get_lot(s, code="LOT-WO-1001-001")
        assert (lot.quantity, lot.end_us) == (70.0, t0 + 35 * MIN)
    # A lot put on hold is not used; the order's output still grows.
    before = consumed("WO-1001", "STEEL-H4711")
    with platform.db.session() as s:
        quality_service.place_hold(
            s, lot_code="STEEL-H4711", reason="certificate missing", ncr_id=None, user="qa"
        )
    _good_parts(platform, t0 + 40 * MIN, {"cnc1": 24.0, "weld_cell": 90.0})
    _good_parts(platform, t0 + 55 * MIN, {"cnc1": 34.0, "weld_cell": 100.0})
    assert consumed("WO-1001", "STEEL-H4711") == before
    with platform.db.session() as s:
        assert genealogy.get_lot(s, code="LOT-WO-1001-001").quantity == 90.0


def registry_counter_max(platform: Platform, short: str) -> float:
    """The good counter's maximum of a machine."""
    registry = platform.registry
    node = next(n for n in registry.nodes.values() if n.key.endswith(f"/{short}"))
    tag = registry.tag_by_role(node.id, "good_counter")
    assert tag is not None and tag.counter_max is not None
    return float(tag.counter_max)


def test_live_oee_uses_the_configured_minor_stop_threshold(platform: Platform) -> None:
    """The running shift's OEE classifies a 4-minute stop by the line's threshold, like history."""
    from ifactory.production.live import LiveOEE

    monday_06h = 1_795_410_000_000_000  # Monday 2026-11-23 06:00 Europe/Berlin
    machine = platform.registry.nodes_by_key[CNC1]

    def stop_split() -> tuple[int, int]:
        live = LiveOEE(platform.registry, store=None)
        with platform.db.session() as session:
            live.load_thresholds(session)
        live.on_state(machine.id, "executing", monday_06h)
        live.on_state(machine.id, "down", monday_06h + 30 * 60_000_000)
        live.on_state(machine.id, "executing", monday_06h + 34 * 60_000_000)
        te = live.time_elements(machine.id, monday_06h + 60 * 60_000_000)
        assert te is not None
        return te.adet_us // 1_000_000, te.adot_us // 1_000_000

    assert stop_split() == (240, 0)  # default 300 s: a minor stop (ADET)
    _set_attribute(platform, LINE, "minor_stop_s", 120)
    assert stop_split() == (0, 240)  # the line says 2 min: downtime (ADOT)
