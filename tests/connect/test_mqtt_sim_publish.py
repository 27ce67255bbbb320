"""The simulated plant published over MQTT (UNS JSON and Sparkplug B) arrives whole in the historian."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.mqtt_install import attach_sparkplug, attach_uns
from ifactory.core.settings import Settings
from ifactory.historian.batch import BAD_NO_COMMUNICATION
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator
from ifactory.sim.publish_mqtt import MqttPlantPublisher

from .conftest import Broker

US = 1_000_000


@pytest.fixture
def platform(tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    p = Platform.open(Settings(environment="test", data_dir=tmp_path / "data"), plant=example_plant)
    yield p
    p.stop()


def stored_total(platform: Platform) -> int:
    ids = list(platform.registry.tags)
    return len(platform.store.raw(ids, 0, 2**62))


@pytest.mark.parametrize("mode", ["uns", "sparkplug"])
def test_simulated_plant_over_mqtt(
    mode: str, broker: Broker, platform: Platform, example_plant: Plant
) -> None:
    if mode == "uns":
        connector = attach_uns(platform, broker.url, client_id="sim-uns")
    else:
        connector = attach_sparkplug(platform, broker.url, host_id="sim-host")  # type: ignore[assignment]
    platform.start()
    connector.wait_connected()
    start = (time.time_ns() // 1000) - 600 * US
    sim = PlantSimulator(example_plant, seed=3, start_us=start)
    publisher = MqttPlantPublisher(
        example_plant,
        MqttOptions.from_url(broker.url, client_id="sim"),
        uns=mode == "uns",
        sparkplug=mode == "sparkplug",
    )
    publisher.start()
    sent = 0
    for minute in range(1, 6):
        batch = sim.advance(start + minute * 60 * US)
        publisher(batch)
        sent += len(batch)
    deadline = time.monotonic() + 30
    expected = sent - sum(platform.pipeline.counters().rejected.values())
    while time.monotonic() < deadline and stored_total(platform) < expected:
        time.sleep(0.1)
        expected = sent - sum(platform.pipeline.counters().rejected.values())
    assert stored_total(platform) == expected
    assert sum(platform.pipeline.counters().rejected.values()) == 0
    if mode == "sparkplug":
        publisher.stop()  # NDEATH: every simulated machine becomes unknown
        machines = [m.id for m in platform.registry.machines()]
        # The tracker may already say unknown because the simulated data is minutes old
        # (stale), so wait for the death's Bad_NoCommunication points themselves too.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            any(platform.tracker.current()[m][0].value != "unknown" for m in machines)
            or not np.any(platform.store.latest().quality == BAD_NO_COMMUNICATION)
        ):
            time.sleep(0.1)
        assert {platform.tracker.current()[m][0].value for m in machines} == {"unknown"}
        latest = platform.store.latest()
        assert np.any(latest.quality == BAD_NO_COMMUNICATION)
    else:
        publisher.stop()
