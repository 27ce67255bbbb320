"""A breakdown opens exactly one corrective work order, also when its events are replayed."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select, update

from ifactory.core.outbox import OutboxRecord
from ifactory.maintenance import breakdowns, execution, service
from ifactory.maintenance.models import WorkOrder
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.production import downtime
from ifactory.production.events import DowntimeReasonAssigned, DowntimeRecorded
from ifactory.production.models import DowntimeEvent
from ifactory.sim.options import SimOptions
from ifactory.sim.simulator import PlantSimulator

from .conftest import T0, machine_id

S = 1_000_000
MIN = 60 * S


def _stop(
    platform: Platform, machine: str, minutes: float, states: str, reason: str | None = None
) -> int:
    with platform.db.session() as s:
        event = DowntimeEvent(
            machine_id=machine_id(platform, machine),
            start_us=T0,
            end_us=T0 + int(minutes * MIN),
            states=states,
            reason_code=reason,
        )
        s.add(event)
        s.flush()
        return event.id


def _recorded(platform: Platform, downtime_id: int) -> DowntimeRecorded:
    with platform.db.session() as s:
        e = s.get_one(DowntimeEvent, downtime_id)
        return DowntimeRecorded(
            downtime_id=e.id,
            machine_id=e.machine_id,
            start_us=e.start_us,
            end_us=e.end_us or T0,
            states=e.states,
            reason_code=e.reason_code,
        )


def _corrective(platform: Platform) -> list[WorkOrder]:
    with platform.db.session() as s:
        return list(s.scalars(select(WorkOrder).where(WorkOrder.type == "corrective")).all())


def test_a_breakdown_replayed_twice_opens_exactly_one_work_order(platform: Platform) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    stop = _stop(platform, "press1", 42, "down,maintenance", reason="BRK-HYD")
    event = _recorded(platform, stop)
    watcher.on_event(event)
    watcher.on_event(event)  # the same event delivered again
    watcher.on_event(_recorded(platform, stop))  # a new event about the same stop
    wos = _corrective(platform)
    assert len(wos) == 1
    wo = wos[0]
    assert (wo.machine_id, wo.state, wo.priority, wo.source_key) == (
        machine_id(platform, "press1"),
        "approved",
        "high",
        f"downtime:{stop}",
    )
    assert "Hydraulic failure" in wo.title and "42 min" in wo.description
    # The evidence names the event and the historian window around the stop.
    assert wo.evidence is not None
    assert wo.evidence["type"] == "production.downtime_recorded"
    assert wo.evidence["payload"]["downtime_id"] == stop
    window = wo.evidence["historian"]
    assert window["start_us"] < T0 and window["end_us"] > T0 + 42 * MIN
    assert window["tag_ids"] and window["url"].startswith("/machines/")
    with platform.db.session() as s:
        assert [d.id for d in execution.get_downtime(s, work_order_id=wo.id)] == [stop]


def test_only_breakdowns_open_work_orders(platform: Platform) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    short = _stop(platform, "cnc1", 3, "down")  # under the 300 s minor-stop threshold
    idle = _stop(platform, "cnc2", 45, "idle")  # starved for material: no job for maintenance
    jam = _stop(platform, "cnc3", 20, "down", reason="MIN-JAM")  # booked as a minor stop
    planned = _stop(platform, "imm1", 90, "maintenance", reason="PLN-PM")
    unexplained = _stop(platform, "imm2", 25, "down")  # long, down, no reason: breakdown by rule
    for stop in (short, idle, jam, planned, unexplained):
        watcher.on_event(_recorded(platform, stop))
    wos = _corrective(platform)
    assert [w.source_key for w in wos] == [f"downtime:{unexplained}"]
    assert "no reason booked yet" in wos[0].title
    # Booking the reason later names it in the work order.
    with platform.db.session() as s:
        downtime.assign_reason(s, downtime_id=unexplained, reason_code="BRK-HYD", user="olga")
    watcher.on_event(
        DowntimeReasonAssigned(
            downtime_id=unexplained,
            machine_id=machine_id(platform, "imm2"),
            reason_code="BRK-HYD",
            previous_code=None,
            loss="breakdown",
            source="operator",
            username="olga",
        )
    )
    assert [w.title for w in _corrective(platform)] == [
        "Breakdown of Injection Moulder 2: Hydraulic failure"
    ]


def test_a_reason_that_makes_a_stop_a_breakdown_opens_its_work_order(platform: Platform) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    stop = _stop(platform, "packer1", 12, "idle")
    watcher.on_event(_recorded(platform, stop))
    assert _corrective(platform) == []
    with platform.db.session() as s:
        downtime.assign_reason(s, downtime_id=stop, reason_code="BRK-ELEC", user="olga")
    assigned = DowntimeReasonAssigned(
        downtime_id=stop,
        machine_id=machine_id(platform, "packer1"),
        reason_code="BRK-ELEC",
        previous_code=None,
        loss="breakdown",
        source="operator",
        username="olga",
    )
    watcher.on_event(assigned)
    watcher.on_event(assigned)
    assert [w.source_key for w in _corrective(platform)] == [f"downtime:{stop}"]


def test_catch_up_opens_work_orders_of_breakdowns_missed_while_stopped(platform: Platform) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    stop = _stop(platform, "press3", 30, "down", reason="BRK-MECH")
    assert watcher.catch_up() == 1
    assert watcher.catch_up() == 0
    watcher.on_event(_recorded(platform, stop))
    assert len(_corrective(platform)) == 1


def test_the_simulated_plants_failures_become_corrective_work_orders(
    platform: Platform, example_plant: Plant
) -> None:
    """Simulator → states → downtime events → DowntimeRecorded → one work order per failure."""
    from ifactory.production import live

    live.install(platform)
    breakdowns.install(platform)
    for extra in platform.extras:
        extra.start()
    hours = 8
    options = replace(SimOptions(), sudden_mtbf_h=3.0, sudden_repair_h=(0.25, 0.5))
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(
        example_plant,
        seed=11,
        start_us=T0,
        tag_ids=ids,
        options=options,
    )
    clock = platform.clock
    t = T0
    while t < T0 + hours * 3600 * S:
        t += 5 * MIN
        platform.pipeline.ingest(sim.advance(t))
        clock.set(t)  # type: ignore[attr-defined]
        platform.tracker.tick(t)
        platform.relay.drain()
    failures = [f for f in sim.ground_truth.failures if f.repaired_us + 3600 * S < t]
    assert failures, "the simulation should fail some machines in 8 hours"
    with platform.db.session() as s:
        wos = list(s.scalars(select(WorkOrder).where(WorkOrder.type == "corrective")).all())
        covered = []
        for f in failures:
            mid = platform.registry.nodes_by_key[f.machine].id
            hit = [
                w
                for w in wos
                if w.machine_id == mid
                and any(
                    # A retrofit machine's derived state lags the failure: the spans overlap.
                    d.start_us < f.repaired_us and f.time_us < (d.end_us or t)
                    for d in execution.get_downtime(s, work_order_id=w.id)
                )
            ]
            covered.append(len(hit))
    assert covered == [1] * len(failures)
    # Every work order is a breakdown's: no minor stop or changeover opened one.
    assert len(wos) == len({(w.machine_id, w.source_key) for w in wos})
    # Replaying every production event again changes nothing.
    with platform.db.session() as s:
        s.execute(update(OutboxRecord).values(delivered_at=None))
    platform.relay.drain()
    assert len(_corrective(platform)) == len(wos)
    with platform.db.session() as s:
        assert service.get_all(s)[1] == len(wos)


def test_a_stop_rebooked_as_no_breakdown_withdraws_its_untouched_work_order(
    platform: Platform,
) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    first = _stop(platform, "cnc1", 30, "down")
    with platform.db.session() as s:
        second = DowntimeEvent(
            machine_id=machine_id(platform, "cnc1"),
            start_us=T0 + 3600 * S,
            end_us=T0 + 5400 * S,
            states="down",
        )
        s.add(second)
        s.flush()
        second_id = second.id
    for stop in (first, second_id):
        watcher.on_event(_recorded(platform, stop))
    wos = {w.source_key: w for w in _corrective(platform)}
    # The second one is already being worked on.
    with platform.db.session() as s:
        service.transition(
            s,
            work_order_id=wos[f"downtime:{second_id}"].id,
            to="scheduled",
            actor="paul",
            scheduled_start_us=T0,
        )
    with platform.db.session() as s:
        for stop in (first, second_id):
            downtime.assign_reason(s, downtime_id=stop, reason_code="MIN-STARVED", user="olga")
    for stop in (first, second_id):
        watcher.on_event(
            DowntimeReasonAssigned(
                downtime_id=stop,
                machine_id=machine_id(platform, "cnc1"),
                reason_code="MIN-STARVED",
                previous_code=None,
                loss="minor_stop",
                source="operator",
                username="olga",
            )
        )
    states = {w.source_key: w.state for w in _corrective(platform)}
    assert states == {f"downtime:{first}": "cancelled", f"downtime:{second_id}": "scheduled"}
    with platform.db.session() as s:
        last = service.get_transitions(s, work_order_id=wos[f"downtime:{first}"].id)[-1]
    assert "re-booked to MIN-STARVED" in last.comment and "olga" in last.comment


def test_a_cleared_reason_leaves_a_long_down_stop_a_breakdown(platform: Platform) -> None:
    watcher = breakdowns.BreakdownWatcher(platform)
    stop = _stop(platform, "imm3", 40, "down", reason="BRK-HYD")
    watcher.on_event(_recorded(platform, stop))
    with platform.db.session() as s:
        downtime.assign_reason(s, downtime_id=stop, reason_code=None, user="olga")
    watcher.on_event(
        DowntimeReasonAssigned(
            downtime_id=stop,
            machine_id=machine_id(platform, "imm3"),
            reason_code=None,
            previous_code="BRK-HYD",
            loss=None,
            source="operator",
            username="olga",
        )
    )
    assert [w.state for w in _corrective(platform)] == ["approved"]
