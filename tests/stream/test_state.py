"""Machine-state tracker: intervals, durations, events, derived states, unknown on silence, restart."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from ifactory.core.db import Database
from ifactory.core.outbox import OutboxRecord
from ifactory.historian.batch import BAD_NO_COMMUNICATION, BAD_SENSOR_FAILURE, TelemetryBatch
from ifactory.plant import service
from ifactory.plant.loader import Plant
from ifactory.plant.registry import PlantRegistry
from ifactory.stream import history
from ifactory.stream.state import MachineStateTracker

S = 1_000_000
T0 = 1_795_000_000 * S  # 2026-11-18, an arbitrary fixed moment
CNC1 = "acme/springfield/machining/machining_line/cnc1"
PRESS3 = "acme/springfield/press_shop/press_line/press3"
CODES = {"idle": 0, "executing": 1, "setup": 2, "down": 3, "maintenance": 4}


@pytest.fixture
def registry(db: Database, example_plant: Plant) -> PlantRegistry:
    with db.session() as session:
        service.seed(session, example_plant)
    with db.session() as session:
        return service.registry(session)


def states(
    registry: PlantRegistry, key: str, seq: list[tuple[int, str]], quality: int = 0
) -> TelemetryBatch:
    tag = registry.tags_by_key[f"{key}/state"]
    return TelemetryBatch.of(
        [tag.id] * len(seq),
        [T0 + s * S for s, _ in seq],
        [CODES[x] for _, x in seq],
        [quality] * len(seq),
        received_us=T0,
    )


def test_state_changes_become_intervals_with_durations(
    db: Database, registry: PlantRegistry
) -> None:
    tracker = MachineStateTracker(registry, db)
    # Samples every 10 s; repeated states are not changes. Two batches, split mid-state.
    tracker.on_batch(
        states(registry, CNC1, [(0, "setup"), (10, "setup"), (20, "executing"), (30, "executing")])
    )
    tracker.on_batch(states(registry, CNC1, [(40, "executing"), (100, "down"), (160, "executing")]))
    machine = registry.nodes_by_key[CNC1]
    with db.session() as session:
        spans = history.intervals(
            session, machine_id=machine.id, start_us=T0, end_us=T0 + 200 * S, now_us=T0 + 200 * S
        )
    assert [(s, (a - T0) // S, (b - T0) // S) for s, a, b, _ in spans] == [
        ("setup", 0, 20),
        ("executing", 20, 100),
        ("down", 100, 160),
        ("executing", 160, 200),
    ]
    summary = history.summarize(spans)
    assert summary.seconds == {"setup": 20.0, "executing": 120.0, "down": 60.0}
    assert summary.counts == {"setup": 1, "executing": 2, "down": 1}
    assert tracker.current()[machine.id][0].value == "executing"
    with db.session() as session:
        events = session.scalars(select(OutboxRecord).order_by(OutboxRecord.id)).all()
    assert [(e.payload["previous"], e.payload["state"]) for e in events] == [
        (None, "setup"),
        ("setup", "executing"),
        ("executing", "down"),
        ("down", "executing"),
    ]


def test_unordered_batch_and_bad_quality_samples(db: Database, registry: PlantRegistry) -> None:
    tracker = MachineStateTracker(registry, db)
    batch = states(registry, CNC1, [(20, "down"), (0, "executing"), (10, "executing")])
    tracker.on_batch(batch)
    tracker.on_batch(
        states(registry, CNC1, [(30, "idle")], quality=BAD_SENSOR_FAILURE)
    )  # not trusted
    machine = registry.nodes_by_key[CNC1]
    state, since = tracker.current()[machine.id]
    assert (state.value, (since - T0) // S) == ("down", 20)


def test_no_communication_point_makes_the_machine_unknown_at_its_time(
    db: Database, registry: PlantRegistry
) -> None:
    tracker = MachineStateTracker(registry, db)
    tracker.on_batch(states(registry, CNC1, [(0, "executing")]))
    # A connector reports the machine unreachable (e.g. Sparkplug node death) on any tag.
    temp = registry.tags_by_key[f"{CNC1}/bearing_temp"]
    tracker.on_batch(
        TelemetryBatch.of(
            [temp.id], [T0 + 30 * S], [np.nan], [BAD_NO_COMMUNICATION], received_us=T0
        )
    )
    machine = registry.nodes_by_key[CNC1]
    state, since = tracker.current()[machine.id]
    assert (state.value, since) == ("unknown", T0 + 30 * S)
    with db.session() as session:
        spans = history.intervals(
            session, machine_id=machine.id, start_us=T0, end_us=T0 + 60 * S, now_us=T0 + 60 * S
        )
    assert [(s, (a - T0) // S, (b - T0) // S) for s, a, b, _ in spans] == [
        ("executing", 0, 30),
        ("unknown", 30, 60),
    ]
    tracker.on_batch(states(registry, CNC1, [(60, "executing")]))
    assert tracker.current()[machine.id][0].value == "executing"


def test_silence_makes_a_machine_unknown_from_its_last_sample(
    db: Database, registry: PlantRegistry
) -> None:
    tracker = MachineStateTracker(registry, db, stale_after_s=120)
    tracker.on_batch(states(registry, CNC1, [(0, "executing"), (50, "executing")]))
    assert tracker.tick(T0 + 100 * S) == 0
    assert tracker.tick(T0 + 500 * S) == 1
    machine = registry.nodes_by_key[CNC1]
    state, since = tracker.current()[machine.id]
    assert state.value == "unknown" and since == T0 + 50 * S
    tracker.on_batch(states(registry, CNC1, [(600, "executing")]))
    assert tracker.current()[machine.id][0].value == "executing"


def test_retrofit_state_is_derived_from_current_and_counter(
    db: Database, registry: PlantRegistry
) -> None:
    tracker = MachineStateTracker(registry, db)
    current = registry.tags_by_key[f"{PRESS3}/motor_current"].id
    strokes = registry.tags_by_key[f"{PRESS3}/stroke_count"].id
    machine = registry.nodes_by_key[PRESS3]

    def feed(t: int, amps: float, count: int) -> str:
        tracker.on_batch(
            TelemetryBatch.of([current, strokes], [T0 + t * S] * 2, [amps, count], received_us=T0)
        )
        return tracker.current()[machine.id][0].value

    assert feed(0, 12.0, 100) == "idle"  # current above 8 A, counter not moving yet
    assert feed(10, 40.0, 101) == "executing"  # strokes
    assert feed(50, 40.0, 104) == "executing"
    assert feed(200, 11.0, 104) == "idle"  # no stroke within 60 s, current still drawn
    assert feed(300, 0.2, 104) == "down"  # rules' "otherwise"


def test_retrofit_stop_inside_one_batch_is_stamped_when_the_counter_window_ran_out(
    db: Database, registry: PlantRegistry
) -> None:
    """Strokes every 10 s until 50 s, a pause, strokes again from 210 s, all in one batch
    (a gateway forwarding its backlog): the press was idle from 60 s after its last stroke
    (110 s) until the next (210 s). Evaluated once at the batch's end, the stop was lost."""
    tracker = MachineStateTracker(registry, db)
    current = registry.tags_by_key[f"{PRESS3}/motor_current"].id
    strokes = registry.tags_by_key[f"{PRESS3}/stroke_count"].id
    machine = registry.nodes_by_key[PRESS3]
    times = list(range(0, 250, 10))
    counts = [100 + min(t, 50) // 10 + max(0, t - 200) // 10 for t in times]
    tags = [current, strokes] * len(times)
    ts = [T0 + t * S for t in times for _ in (0, 1)]
    values = [v for c in counts for v in (40.0, float(c))]
    tracker.on_batch(TelemetryBatch.of(tags, ts, values, received_us=T0))
    with db.session() as session:
        spans = history.intervals(
            session, machine_id=machine.id, start_us=T0, end_us=T0 + 250 * S, now_us=T0 + 250 * S
        )
    assert [(st, round((a - T0) / S, 3), round((b - T0) / S, 3)) for st, a, b, _ in spans] == [
        ("idle", 0.0, 10.0),  # current drawn, counter not moving yet
        ("executing", 10.0, 110.0),
        ("idle", 110.0, 210.0),
        ("executing", 210.0, 250.0),
    ]


def test_restart_resumes_the_open_state(db: Database, registry: PlantRegistry) -> None:
    tracker = MachineStateTracker(registry, db)
    tracker.on_batch(states(registry, CNC1, [(0, "executing")]))
    again = MachineStateTracker(registry, db)
    machine = registry.nodes_by_key[CNC1]
    assert again.current()[machine.id] == tracker.current()[machine.id]
    again.on_batch(states(registry, CNC1, [(5, "executing")]))  # same state: no new interval
    assert again.changes == 0


def test_vectorised_tracking_of_many_points(db: Database, registry: PlantRegistry) -> None:
    """A day of 1 Hz state samples for one machine in one batch: only the changes cost Python work."""
    tracker = MachineStateTracker(registry, db)
    tag = registry.tags_by_key[f"{CNC1}/state"].id
    n = 86_400
    codes = np.where((np.arange(n) // 3600) % 2 == 0, 1, 0)  # hourly executing / idle
    tracker.on_batch(
        TelemetryBatch.of(np.full(n, tag), T0 + np.arange(n) * S, codes, received_us=T0)
    )
    assert tracker.changes == 24
