"""Back-pressure: a flood of single-point QoS 1 messages into a slower store loses nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.mqtt.connector import UnsConnector
from ifactory.connect.mqtt.uns import UnsMapping
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

from .conftest import Broker

T0 = 1_795_000_000_000_000
KEY = "acme/springfield/machining/machining_line/cnc2/vibration_rms"
MESSAGES = 20_000


@pytest.fixture
def platform(tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    settings = Settings(environment="test", data_dir=tmp_path / "data")
    p = Platform.open(settings, clock=ManualClock(T0 + 3600_000_000), plant=example_plant)
    yield p
    p.stop()


def test_flood_of_single_point_messages_all_stored(broker: Broker, platform: Platform) -> None:
    groups: list[int] = []

    def slow_sink(batch: TelemetryBatch) -> object:
        # The store is slower than the publisher: the broker has to hold the backlog.
        time.sleep(0.005)
        groups.append(len(batch))
        return platform.pipeline.ingest(batch)

    connector = UnsConnector(
        MqttOptions.from_url(broker.url, client_id="flood", max_batch=500),
        UnsMapping.from_tags([(KEY, {})]),
        slow_sink,
    )
    connector.start()
    connector.wait_connected()
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    infos = [
        pub.publish(KEY, orjson.dumps({"ts_us": T0 + i * 1000, "value": i % 50}), qos=1)
        for i in range(MESSAGES)
    ]
    for info in infos:
        info.wait_for_publish(timeout=60)
    pub.loop_stop()
    pub.disconnect()
    tag = platform.registry.tags_by_key[KEY].id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and connector.points < MESSAGES:
        time.sleep(0.05)
    connector.stop()
    stored = platform.store.raw([tag], 0, 2**62)
    assert len(stored) == MESSAGES
    assert sorted(stored.ts.tolist()) == [T0 + i * 1000 for i in range(MESSAGES)]
    assert connector.points == MESSAGES
    # The messages were stored in groups, many messages per store commit.
    assert len(groups) < MESSAGES / 10
