"""Helpers of the anomaly tests: a platform on the example plant and batches of one machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ifactory.analytics.alerts import AlertPolicy
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.stream.anomaly import AnomalyConfig, DetectorChoice

T0 = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC
S = 1_000_000
CNC1 = "acme/springfield/machining/machining_line/cnc1"
NORMAL = {
    "spindle_speed": (8000.0, 40.0),
    "vibration_rms": (2.0, 0.1),
    "bearing_temp": (48.0, 0.3),
    "motor_current": (36.0, 0.8),
    "power": (21.0, 0.5),
}
# Quick learners, so a test needs minutes of data, not hours; no settling after the start.
TEST_CONFIG = AnomalyConfig(
    univariate=DetectorChoice("likelihood", threshold=0.5, params={"grace": 120}),
    multivariate=DetectorChoice("mahalanobis", threshold=20.0, params={"grace": 30}),
    settle_s=0.0,
    thermal_settle_s=0.0,
    multivariate_every_s=10.0,
    policy=AlertPolicy(cooldown_us=600 * S, clear_after_us=60 * S, lookback_us=120 * S),
    flush_every_s=0.0,
)


@contextmanager
def open_platform(
    database_url: str, data_dir: Path, plant: Plant, now_us: int = T0
) -> Iterator[Platform]:
    """A platform on the example plant (silence detection off: tests jump the clock)."""
    settings = Settings(
        environment="test", data_dir=data_dir, database_url=database_url, state_stale_after_s=1e9
    )
    platform = Platform.open(settings, clock=ManualClock(now_us), plant=plant)
    try:
        yield platform
    finally:
        platform.stop()


def machine_batch(
    platform: Platform,
    start_us: int,
    seconds: int,
    *,
    rng: np.random.Generator,
    machine_key: str = CNC1,
    override: dict[str, float] | None = None,
    state_code: int = 1,
    product: str | None = None,
) -> TelemetryBatch:
    """1 Hz samples of the machine's state tag (executing) and analog tags, normal noise; with
    `product`, 1 Hz samples of its product tag too."""
    reg = platform.registry
    node = reg.nodes_by_key[machine_key]
    by_name = {reg.tags[t].name: reg.tags[t] for t in node.tags}
    ts = start_us + np.arange(seconds, dtype=np.int64) * S
    tags: list[np.ndarray] = [np.full(seconds, by_name["state"].id)]
    times: list[np.ndarray] = [ts]
    values: list[np.ndarray] = [np.full(seconds, float(state_code))]
    for name, (mean, sd) in NORMAL.items():
        tags.append(np.full(seconds, by_name[name].id))
        times.append(ts)
        level = (override or {}).get(name, mean)
        values.append(level + rng.normal(0.0, sd, seconds))
    text = None
    if product is not None:
        tags.append(np.full(seconds, by_name["product"].id))
        times.append(ts)
        values.append(np.full(seconds, np.nan))
        text = np.full(sum(len(t) for t in tags), None, dtype=object)
        text[-seconds:] = product
    return TelemetryBatch.of(
        np.concatenate(tags),
        np.concatenate(times),
        np.concatenate(values),
        received_us=start_us + seconds * S,
        source="test",
        text=text,
    )


def feed(
    platform: Platform,
    start_us: int,
    minutes: int,
    *,
    rng: np.random.Generator,
    override: dict[str, float] | None = None,
    product: str | None = None,
) -> int:
    """Ingest `minutes` one-minute batches through the real pipeline; returns the end time."""
    t = start_us
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    for _ in range(minutes):
        batch = machine_batch(platform, t, 60, rng=rng, override=override, product=product)
        t += 60 * S
        clock.set(t)
        platform.pipeline.ingest(batch)
    return t


def raise_alert(platform: Platform, machine_key: str = CNC1, *, at_us: int = T0) -> int:
    """Store an active alert on a machine's vibration (as the detection would); returns its id."""
    from ifactory.analytics import alert_service

    reg = platform.registry
    node = reg.nodes_by_key[machine_key]
    tag = next(t for t in node.tags if reg.tags[t].name == "vibration_rms")
    with platform.db.session() as session:
        alert = alert_service.raise_alert(
            session,
            machine_id=node.id,
            machine_key=node.key,
            detector="likelihood",
            tag_ids=[tag],
            tag_keys=[reg.tags[tag].key],
            score=0.9,
            threshold=0.7,
            ratio=0.9 / 0.7,
            window_start_us=at_us - 600 * S,
            at_us=at_us,
        )
        return alert.id
