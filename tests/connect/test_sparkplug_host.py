"""The Sparkplug B host against an independent edge node implementation (pysparkplug) via Mosquitto."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as paho
import pysparkplug as spb
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ifactory.connect.mqtt_install import attach_sparkplug
from ifactory.connect.sparkplug.host import SparkplugHost
from ifactory.core.settings import Settings
from ifactory.historian.batch import BAD_NO_COMMUNICATION
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

from .conftest import Broker

# pysparkplug 0.6 is written for paho-mqtt 1.x; under paho 2 it uses the old callback API.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback API version 1 is deprecated:DeprecationWarning"
)

CNC1 = "acme/springfield/machining/machining_line/cnc1"


@pytest.fixture(autouse=True)
def _pysparkplug_on_paho2(monkeypatch: pytest.MonkeyPatch) -> None:
    # paho 2 dropped message_retry_set (a no-op since paho 1.5); pysparkplug 0.6 still calls it.
    monkeypatch.setattr(paho.Client, "message_retry_set", lambda self, retry: None, raising=False)


@pytest.fixture
def platform(tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    # Sparkplug edge nodes stamp with the wall clock, so the platform runs on it too.
    p = Platform.open(Settings(environment="test", data_dir=tmp_path / "data"), plant=example_plant)
    yield p
    p.stop()


@pytest.fixture
def host(broker: Broker, platform: Platform) -> Iterator[SparkplugHost]:
    h = attach_sparkplug(platform, broker.url, host_id="ifactory-test")
    platform.start()
    h.wait_connected()
    yield h


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def points(platform: Platform, key: str) -> Any:
    tag = platform.registry.tags_by_key[key].id
    return platform.store.raw([tag], 0, 2**62)


def machine_state(platform: Platform, key: str) -> str:
    return platform.tracker.current()[platform.registry.nodes_by_key[key].id][0].value


def edge_node(broker: Broker, commands: list[spb.Message]) -> spb.EdgeNode:
    node = spb.EdgeNode(
        "acme",
        "gw1",
        metrics=[
            spb.Metric(now_ms(), f"{CNC1}/state", spb.DataType.INT32, value=1),
            spb.Metric(now_ms(), f"{CNC1}/spindle_speed", spb.DataType.DOUBLE, value=1000.0),
            spb.Metric(now_ms(), f"{CNC1}/product", spb.DataType.STRING, value="P-100"),
        ],
        cmd_callback=lambda _node, message: commands.append(message),
    )
    node.connect("127.0.0.1", port=broker.port, blocking=False)
    return node


def test_state_is_retained_online_and_offline_by_will(broker: Broker, host: SparkplugHost) -> None:
    seen: list[dict[str, Any]] = []
    got = threading.Event()

    def on_message(client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        seen.append(orjson.loads(msg.payload))
        got.set()

    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id="state-watcher")
    watcher.on_message = on_message
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("spBv1.0/STATE/ifactory-test", qos=1)
    watcher.loop_start()
    assert got.wait(10)
    assert seen[0]["online"] is True
    got.clear()
    # The host dies without a word: the broker publishes its will, STATE offline.
    host.session.client.socket().close()  # type: ignore[union-attr]
    wait_for(lambda: any(s["online"] is False for s in seen))
    offline = next(s for s in seen if s["online"] is False)
    assert offline["timestamp"] == seen[0]["timestamp"]
    # The host is back (paho reconnects) and says so again: edge nodes resume live data.
    wait_for(lambda: seen[-1]["online"] is True)
    # Someone (a late will of an old connection) declares it offline: it corrects that.
    watcher.publish("spBv1.0/STATE/ifactory-test", b'{"online": false, "timestamp": 1}', 1, True)
    wait_for(lambda: seen[-1]["online"] is True and len(seen) >= 5)
    watcher.loop_stop()
    watcher.disconnect()


def test_birth_data_history_gap_rebirth_and_death(
    broker: Broker, platform: Platform, host: SparkplugHost
) -> None:
    commands: list[spb.Message] = []
    node = edge_node(broker, commands)
    wait_for(lambda: len(points(platform, f"{CNC1}/spindle_speed")) == 1)
    wait_for(lambda: machine_state(platform, CNC1) == "executing")
    assert points(platform, f"{CNC1}/product").text.tolist() == ["P-100"]

    # Live data, and a value the node stored while the host was away (is_historical).
    t = now_ms()
    node.update(
        [
            spb.Metric(
                t - 60_000,
                f"{CNC1}/spindle_speed",
                spb.DataType.DOUBLE,
                value=900.0,
                is_historical=True,
            )
        ]
    )
    node.update([spb.Metric(t, f"{CNC1}/spindle_speed", spb.DataType.DOUBLE, value=1100.0)])
    wait_for(lambda: len(points(platform, f"{CNC1}/spindle_speed")) == 3)
    stored = points(platform, f"{CNC1}/spindle_speed")
    assert (t - 60_000) * 1000 in stored.ts.tolist()
    assert sorted(stored.values.tolist()) == [900.0, 1000.0, 1100.0]
    assert not commands

    # A lost NDATA (sequence gap): the host asks the node for a rebirth, seen on the broker.
    node._seq  # noqa: B018 - consume one sequence number, as if that message was lost
    node.update([spb.Metric(now_ms(), f"{CNC1}/spindle_speed", spb.DataType.DOUBLE, value=1200.0)])
    wait_for(lambda: len(commands) == 1)
    rebirth = commands[0].payload.metrics[0]
    assert (rebirth.name, rebirth.value) == ("Node Control/Rebirth", True)
    assert host.seq_gaps == 1
    wait_for(lambda: len(points(platform, f"{CNC1}/spindle_speed")) == 4)

    # The edge node dies (connection lost): the broker sends its NDEATH will.
    node._client._client.loop_stop()
    node._client._client.socket().close()
    wait_for(lambda: machine_state(platform, CNC1) == "unknown")
    last = points(platform, f"{CNC1}/spindle_speed")
    assert int(last.quality[-1]) == BAD_NO_COMMUNICATION and np.isnan(last.values[-1])
    # The string tag gets no NaN (it has no numeric value); nothing was rejected.
    assert platform.pipeline.counters().rejected == {}


def test_unknown_alias_is_dead_lettered_and_rebirth_requested(
    broker: Broker, platform: Platform, host: SparkplugHost
) -> None:
    commands: list[spb.Message] = []
    node = edge_node(broker, commands)
    wait_for(lambda: len(points(platform, f"{CNC1}/spindle_speed")) == 1)
    raw = spb.Client(client_id="raw-edge")
    raw.connect("127.0.0.1", port=broker.port, blocking=False)
    topic = spb.Topic(message_type=spb.MessageType.NDATA, group_id="acme", edge_node_id="gw1")
    payload = spb.NData(
        timestamp=now_ms(),
        seq=1,
        metrics=(spb.Metric(now_ms(), None, spb.DataType.DOUBLE, value=3.5, alias=99),),
    )
    time.sleep(0.5)
    raw.publish(spb.Message(topic, payload, spb.QoS.AT_LEAST_ONCE, False), include_dtypes=True)
    wait_for(lambda: platform.dead_letters.counts().get("unknown_tag", 0) == 1)
    letter = platform.dead_letters.query(reason="unknown_tag")[0]
    assert letter.tag == "spBv1.0/acme/gw1#alias=99" and letter.value == "3.5"
    wait_for(lambda: len(commands) == 1)
    raw.disconnect()
    node.disconnect()


def test_device_birth_alias_data_and_device_death(
    broker: Broker, platform: Platform, host: SparkplugHost
) -> None:
    cnc3 = "acme/springfield/machining/machining_line/cnc3"
    commands: list[spb.Message] = []
    node = spb.EdgeNode("acme", "gw2", metrics=[], cmd_callback=lambda n, m: commands.append(m))
    node.register(
        spb.Device(
            "cnc3",
            metrics=[
                spb.Metric(now_ms(), f"{cnc3}/state", spb.DataType.INT32, value=2, alias=1),
                spb.Metric(now_ms(), f"{cnc3}/cycle_count", spb.DataType.INT32, value=7, alias=2),
            ],
        )
    )
    node.connect("127.0.0.1", port=broker.port, blocking=False)
    wait_for(lambda: machine_state(platform, cnc3) == "setup")
    # DDATA by alias only (no names), the bandwidth-saving form of Sparkplug B.
    raw = spb.Client(client_id="raw-edge-2")
    raw.connect("127.0.0.1", port=broker.port, blocking=False)
    time.sleep(0.5)
    t = now_ms()
    raw.publish(
        spb.Message(
            spb.Topic(
                message_type=spb.MessageType.DDATA,
                group_id="acme",
                edge_node_id="gw2",
                device_id="cnc3",
            ),
            spb.DData(
                timestamp=t,
                seq=node._seq,
                metrics=(
                    spb.Metric(t, None, spb.DataType.INT32, value=1, alias=1),
                    spb.Metric(t, None, spb.DataType.INT32, value=8, alias=2),
                ),
            ),
            spb.QoS.AT_LEAST_ONCE,
            False,
        ),
        include_dtypes=True,
    )
    wait_for(lambda: machine_state(platform, cnc3) == "executing")
    assert points(platform, f"{cnc3}/cycle_count").values.tolist() == [7.0, 8.0]
    node.deregister("cnc3")  # DDEATH
    wait_for(lambda: machine_state(platform, cnc3) == "unknown")
    assert not commands and host.seq_gaps == 0
    raw.disconnect()
    node.disconnect()
