"""Anomaly detection on a retrofit (Press 3: no state tag, executing derived from its counter).

The simulated Press 3 stops every hour or so (minor stops, breaks). Its derived state stayed
*executing* for a minute after each stop, so the stop's idle current, pressure and vibration
were scored as executing: the health page showed a score near 1.0 at every stop of a healthy
machine. These run the real simulator and pipeline on Press 3 alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ifactory.analytics import alert_service
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import EXAMPLE_PLANT, Plant, expand, load
from ifactory.plant.spec import NodeSpec
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator
from ifactory.sim.ground_truth import GroundTruth
from ifactory.sim.options import DegradationOptions, SimOptions
from ifactory.stream import anomaly
from tests.analytics.anomaly_feed import T0, TEST_CONFIG, S, open_platform

PRESS3 = "acme/springfield/press_shop/press_line/press3"
HOUR = 3600 * S
NEVER_H = 1e7  # a degradation (or trip) this many hours away does not happen in a test
HEALTHY = SimOptions(
    bearing_wear=DegradationOptions(NEVER_H, (72.0, 96.0), (3.0, 8.0)),
    seal_leak=DegradationOptions(NEVER_H, (72.0, 96.0), (2.0, 6.0)),
    sudden_mtbf_h=NEVER_H,
)


def _only(node: NodeSpec, path: list[str]) -> NodeSpec:
    """`node` with only the branch leading to `path` (the rest of the plant removed)."""
    if not path:
        return node
    kept = [_only(child, path[1:]) for child in node.children if child.id == path[0]]
    return node.model_copy(update={"children": kept})


def press3_plant() -> Plant:
    """The example plant reduced to Press 3, with the same key (so the same simulated machine)."""
    spec = load(EXAMPLE_PLANT)
    enterprise = _only(spec.enterprise, PRESS3.split("/")[1:])
    return expand(spec.model_copy(update={"enterprise": enterprise}))


@contextmanager
def simulated_press3(
    database_url: str, data_dir: Path, hours: float, *, seed: int, options: SimOptions
) -> Iterator[tuple[Platform, GroundTruth]]:
    """Press 3 simulated for `hours` in one-minute batches (as the demo's history) through the
    pipeline with the default anomaly detection; yields the platform and the ground truth."""
    plant = press3_plant()
    with open_platform(database_url, data_dir, plant) as platform:
        detection = anomaly.install(platform)
        ids = {t.key: t.id for t in platform.registry.tags.values()}
        sim = PlantSimulator(plant, seed=seed, start_us=T0, tag_ids=ids, options=options)
        t, end = T0, T0 + int(hours * HOUR)
        while t < end:
            t += 60 * S
            batch = sim.advance(t)
            platform.clock.set(t)  # type: ignore[attr-defined]
            platform.pipeline.ingest(batch)
        detection.flush()
        yield platform, sim.ground_truth


def test_a_healthy_retrofit_does_not_score_high_at_every_stop(
    database_url: str, tmp_path: Path
) -> None:
    with simulated_press3(database_url, tmp_path / "data", 8, seed=2, options=HEALTHY) as (
        platform,
        truth,
    ):
        machine_id = platform.registry.nodes_by_key[PRESS3].id
        with platform.db.session() as session:
            trend = alert_service.get_scores(
                session, machine_id=machine_id, start_us=T0, end_us=T0 + 8 * HOUR
            )
            alerts = alert_service.get_all(session)[1]
    stops = [
        iv
        for iv in truth.state_intervals[PRESS3]
        if iv.state != "executing" and iv.start_us > T0 + HOUR
    ]
    assert len(stops) >= 5, "the run should stop several times (minor stops, breaks)"
    assert not truth.degradations and not truth.failures
    assert len(trend) > 5 * 60, "the machine is scored for most of its running hours"
    # Before the fix: a peak of ~1.0 x threshold at nearly every stop.
    high = [(round((t - T0) / HOUR, 2), round(r, 2)) for t, r in trend if r >= 0.7]
    assert high == [], "hours (and score ratios) with a high score"
    assert alerts == 0


def test_a_leaking_seal_on_the_retrofit_is_still_detected_before_it_fails(
    database_url: str, tmp_path: Path
) -> None:
    # Seed 3: the seal starts leaking ~4 h in and the press fails ~10 h later.
    leaking = SimOptions(
        bearing_wear=HEALTHY.bearing_wear,
        seal_leak=DegradationOptions(12.0, (10.0, 10.0), (2.0, 3.0)),
        sudden_mtbf_h=NEVER_H,
    )
    with (
        simulated_press3(database_url, tmp_path / "data", 15, seed=3, options=leaking) as (
            platform,
            truth,
        ),
        platform.db.session() as session,
    ):
        # Each alert was written with its AnomalyDetected event, in one transaction.
        alerts, _ = alert_service.get_all(session)
        raised = [a.raised_at_us for a in alerts]
    failure = next(f for f in truth.failures if f.machine == PRESS3)
    assert failure.mode == "seal_leak" and failure.precursor_onset_us is not None
    assert failure.precursor_onset_us > T0 + 2 * HOUR, "the detectors learn a healthy press first"
    assert raised, "the leak raised no alert"
    # Nothing before the leak began; an alert between its onset and the failure.
    assert min(raised) >= failure.precursor_onset_us
    assert any(r < failure.time_us for r in raised)


def _press3_batch(
    platform: Platform,
    ts: np.ndarray,
    count: np.ndarray,
    *,
    working: bool,
    rng: np.random.Generator,
) -> TelemetryBatch:
    """1 Hz samples of Press 3's analog tags (at work or idle) and its stroke counter."""
    reg = platform.registry
    by_name = {reg.tags[t].name: t for t in reg.nodes_by_key[PRESS3].tags}
    levels = {  # idle: the pump runs on, the ram stands
        "motor_current": 60.0 if working else 12.0,
        "hydraulic_pressure": 187.0 if working else 178.0,
        "oil_temp": 45.0,
        "vibration_rms": 3.0 if working else 0.9,
    }
    tags = [np.full(len(ts), by_name[name]) for name in [*levels, "stroke_count"]]
    values = [level * (1.0 + rng.normal(0.0, 0.01, len(ts))) for level in levels.values()]
    return TelemetryBatch.of(
        np.concatenate(tags),
        np.tile(ts, len(tags)),
        np.concatenate([*values, count.astype(float)]),
        received_us=int(ts[-1]) + S,
        source="test",
    )


def test_retrofit_samples_are_scored_between_strokes_even_in_small_batches(
    database_url: str, tmp_path: Path, example_plant: Plant
) -> None:
    seconds = np.arange(1380, dtype=np.int64)
    # 20 minutes at work, a stroke every 8 s (the counter moves at 8, 16, ... 1192 s), then
    # a 3-minute stop; delivered in 5-second batches, as a live feed.
    count = 100 + np.minimum(seconds, 1199) // 8
    rng = np.random.default_rng(5)
    with open_platform(database_url, tmp_path / "data", example_plant) as platform:
        detection = anomaly.install(platform, config=TEST_CONFIG)  # no settling time
        for start in range(0, 1380, 5):
            part = slice(start, start + 5)
            batch = _press3_batch(
                platform, T0 + seconds[part] * S, count[part], working=start < 1200, rng=rng
            )
            platform.clock.set(T0 + (start + 5) * S)  # type: ignore[attr-defined]
            platform.pipeline.ingest(batch)
            if start + 5 == 1200:
                worked = detection.scored_points
    # Every sample of the four analog tags from the first stroke to the last is scored; none
    # after it: the stop, under way long before the plant's one-minute window calls it idle.
    assert worked == 4 * (1192 - 8)
    assert detection.scored_points == worked
