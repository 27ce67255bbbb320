"""Anomaly detection in the ingest pipeline: real batches, real historian, real database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from ifactory.analytics import alert_service
from ifactory.analytics.events import AnomalyDetected
from ifactory.core.events import Event
from ifactory.plant.loader import Plant
from ifactory.stream import anomaly
from tests.analytics.anomaly_feed import (
    CNC1,
    T0,
    TEST_CONFIG,
    S,
    feed,
    machine_batch,
    open_platform,
)


def _tag(platform: object, name: str, machine_key: str = CNC1) -> int:
    reg = platform.registry  # type: ignore[attr-defined]
    node = reg.nodes_by_key[machine_key]
    return next(t for t in node.tags if reg.tags[t].name == name)


def test_an_injected_anomaly_publishes_one_anomaly_detected(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        seen: list[Event] = []
        platform.bus.subscribe("anomaly.detected", seen.append)
        rng = np.random.default_rng(1)
        t = feed(platform, T0, 40, rng=rng)
        platform.relay.drain()
        assert seen == [], "normal operation raised an alert"
        onset = t
        t = feed(platform, t, 3, rng=rng, override={"vibration_rms": 6.0})
        platform.relay.drain()

        assert len(seen) == 1
        event = seen[0]
        assert isinstance(event, AnomalyDetected)
        vibration = _tag(platform, "vibration_rms")
        assert event.machine_id == platform.registry.nodes_by_key[CNC1].id
        assert event.machine_key == CNC1
        assert vibration in event.tag_ids
        assert f"{CNC1}/vibration_rms" in event.tags
        assert event.score >= event.threshold
        # Detected within seconds of the onset, with normal data before it as evidence.
        assert onset <= event.detected_at_us < onset + 30 * S
        assert event.window_start_us < onset <= event.window_end_us
        with platform.db.session() as session:
            rows, total = alert_service.get_all(session, states=["active"])
            assert total == 1 and rows[0].id == event.alert_id
        # The evidence window's raw data is in the historian for the page's charts.
        raw = platform.store.raw(
            np.array([vibration], dtype=np.int32), event.window_start_us, event.window_end_us + 1
        )
        assert len(raw) > 0 and float(np.max(raw.values)) > 5.0
        assert detection.scored_points > 0


def test_an_idle_machine_is_neither_scored_nor_alerted(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        rng = np.random.default_rng(2)
        t = feed(platform, T0, 20, rng=rng)
        scored = detection.scored_points
        # Idle (state code 0): the spindle stops; that is not an anomaly and is not learnt.
        batch = machine_batch(
            platform, t, 120, rng=rng, state_code=0, override={"spindle_speed": 0.0}
        )
        platform.clock.set(t + 120 * S)  # type: ignore[attr-defined]
        platform.pipeline.ingest(batch)
        platform.relay.drain()
        assert detection.scored_points == scored
        with platform.db.session() as session:
            assert alert_service.get_all(session)[1] == 0


def test_a_restart_continues_learning_instead_of_starting_over(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    rng = np.random.default_rng(3)
    vibration_key = ""
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        t = feed(platform, T0, 30, rng=rng)
        vibration_key = f"tag:{_tag(platform, 'vibration_rms')}"
        machine_key = f"machine:{platform.registry.nodes_by_key[CNC1].id}"
        before = {k: detection.detector(k).checkpoint() for k in (vibration_key, machine_key)}  # type: ignore[union-attr]
    # platform.stop() saved the checkpoints; a new process opens the same database and files.
    with open_platform(database_url, tmp_path / "data", example_plant, now_us=t) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        for key, saved in before.items():
            restored = detection.detector(key)
            assert restored is not None
            assert restored.checkpoint() == saved, f"{key} did not resume where it stopped"
        seen: list[Event] = []
        platform.bus.subscribe("anomaly.detected", seen.append)
        # One minute of high vibration right after the restart: a reset detector would still
        # be in its grace period (120 samples) and stay silent.
        feed(platform, t, 1, rng=rng, override={"vibration_rms": 6.0})
        platform.relay.drain()
        assert len(seen) == 1
        with platform.db.session() as session:
            stored = alert_service.load_checkpoints(session)
        assert stored[vibration_key].points >= 30 * 60


def test_late_points_are_not_learnt(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        rng = np.random.default_rng(4)
        feed(platform, T0 + 600 * S, 5, rng=rng)
        scored = detection.scored_points
        # A backfill of older data (a gateway's spool) is stored but not fed to the causal
        # detectors, which have already moved past it.
        platform.pipeline.ingest(machine_batch(platform, T0, 60, rng=rng))
        assert detection.scored_points == scored
        assert detection.late_points > 0


def test_a_changed_detector_configuration_learns_afresh(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    rng = np.random.default_rng(5)
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        anomaly.install(platform, config=TEST_CONFIG)
        t = feed(platform, T0, 5, rng=rng)
    other = anomaly.AnomalyConfig(
        univariate=anomaly.DetectorChoice("zscore", threshold=0.9),
        multivariate=None,
        settle_s=0.0,
        thermal_settle_s=0.0,
    )
    with open_platform(database_url, tmp_path / "data", example_plant, now_us=t) as platform:
        detection = anomaly.install(platform, config=other)
        key = f"tag:{_tag(platform, 'vibration_rms')}"
        fresh = detection.detector(key)
        assert fresh is not None and fresh.name == "zscore"
        assert fresh.checkpoint() == fresh.clone().checkpoint()


def test_an_alert_survives_a_failed_database_write(
    database_url: str, tmp_path: Path, example_plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)
        rng = np.random.default_rng(6)
        t = feed(platform, T0, 30, rng=rng)
        real = alert_service.raise_alert
        calls = {"n": 0}

        def failing_once(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(alert_service, "raise_alert", failing_once)
        t = feed(platform, t, 1, rng=rng, override={"vibration_rms": 6.0})
        assert platform.pipeline.counters().consumer_errors >= 1
        feed(platform, t, 1, rng=rng, override={"vibration_rms": 6.0})
        platform.relay.drain()
        with platform.db.session() as session:
            rows, total = alert_service.get_all(session)
        assert total == 1 and rows[0].state == "active"
        assert detection.late_points == 0


# Only the multivariate detector: a product's other setpoints step every univariate detector too.
PRODUCT_CONFIG = anomaly.AnomalyConfig(
    univariate=None,
    multivariate=TEST_CONFIG.multivariate,
    settle_s=0.0,
    thermal_settle_s=0.0,
    multivariate_every_s=10.0,
    policy=TEST_CONFIG.policy,
    flush_every_s=0.0,
)
# Product B runs the spindle slower: lower speed, current and power at the same vibration.
PRODUCT_B = {"spindle_speed": 6000.0, "motor_current": 30.0, "power": 16.0}


def test_a_changeover_to_a_new_product_is_learnt_not_alerted(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    rng = np.random.default_rng(7)
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=PRODUCT_CONFIG)
        seen: list[Event] = []
        platform.bus.subscribe("anomaly.detected", seen.append)
        machine_id = platform.registry.nodes_by_key[CNC1].id
        t = feed(platform, T0, 30, rng=rng, product="A")
        # The changeover: B's operating point lies far outside A's baseline (d²/p ≫ 20).
        t = feed(platform, t, 30, rng=rng, product="B", override=PRODUCT_B)
        platform.relay.drain()
        assert seen == [], "a changeover to a product not made before raised an alert"
        key_a, key_b = anomaly.mv_key(machine_id, "A"), anomaly.mv_key(machine_id, "B")
        a, b = detection.detector(key_a), detection.detector(key_b)
        assert a is not None and b is not None
        # Back to A: A's baseline continues where it stopped (nothing to learn, no alert)...
        a_state = a.checkpoint()
        t = feed(platform, t, 5, rng=rng, product="A")
        platform.relay.drain()
        assert seen == []
        assert detection.detector(key_a).checkpoint() != a_state  # type: ignore[union-attr]
        # ...and B's own baseline still catches an anomaly while B runs.
        t = feed(platform, t, 10, rng=rng, product="B", override=PRODUCT_B)
        feed(platform, t, 3, rng=rng, product="B", override={**PRODUCT_B, "vibration_rms": 6.0})
        platform.relay.drain()
        assert len(seen) == 1
        assert isinstance(seen[0], AnomalyDetected) and seen[0].detector == "mahalanobis"


def test_each_products_baseline_survives_a_restart(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    rng = np.random.default_rng(8)
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        anomaly.install(platform, config=PRODUCT_CONFIG)
        machine_id = platform.registry.nodes_by_key[CNC1].id
        t = feed(platform, T0, 10, rng=rng, product="A")
        t = feed(platform, t, 10, rng=rng, product="B", override=PRODUCT_B)
    # platform.stop() saved every product's baseline.
    keys = {p: anomaly.mv_key(machine_id, p) for p in ("A", "B")}
    with open_platform(database_url, tmp_path / "data", example_plant, now_us=t) as platform:
        with platform.db.session() as session:
            saved = alert_service.load_checkpoints(session)
        assert saved[keys["A"]].points == saved[keys["B"]].points == 10 * 6
        detection = anomaly.install(platform, config=PRODUCT_CONFIG)
        # Each product's baseline goes on from its saved state when the product comes back:
        # one more minute is six more points on the 10 s grid, not a fresh start.
        for product, override in (("B", PRODUCT_B), ("A", None)):
            t = feed(platform, t, 1, rng=rng, product=product, override=override)
            detection.save_checkpoints()
            with platform.db.session() as session:
                stored = alert_service.load_checkpoints(session)
            assert stored[keys[product]].points == saved[keys[product]].points + 6
