"""`ifactory edge --plant` runs the real connectors: OPC UA, Modbus and MQTT into the spool.

Real peers end to end: an asyncua server and a pymodbus server (the simulator's, started by
the test), a private Mosquitto, an `ifactory edge` process reading them per its plant file,
and a real `ifactory serve`. The platform is killed mid-stream: what the edge reads
meanwhile waits in its spool and reaches the historian, with its source timestamps, once
the platform is back.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import paho.mqtt.client as paho
import pysparkplug as spb
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ifactory.connect.modbus.registers import ModbusSource
from ifactory.core.settings import Settings
from ifactory.edge.connectors import connector_source
from ifactory.edge.spool import Spool, SpoolClosed
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import load_plant
from ifactory.platform import Platform
from ifactory.sim.modbus_server import SimModbusServer
from ifactory.sim.opcua_server import SimOpcUaServer
from tests.connect.conftest import MOSQUITTO, Broker
from tests.edge.harness import (
    Proc,
    drain,
    free_port,
    seed_platform,
    start_edge,
    start_platform,
)

MACHINE = "acme/springfield/utilities/compressor1"
PRESSURE = f"{MACHINE}/discharge_pressure"  # OPC UA
TEMP = f"{MACHINE}/outlet_temp"  # Modbus
POWER = f"{MACHINE}/power"  # MQTT UNS JSON
CURRENT = f"{MACHINE}/motor_current"  # Sparkplug B (metric name = tag key)
S = 1_000_000

# The edge's plant file: the example plant's compressor (same tag keys as the platform's),
# with the sources the edge reads it through.
PLANT = """
version: 1
enterprise:
  id: acme
  level: enterprise
  children:
    - id: springfield
      level: site
      children:
        - id: utilities
          level: area
          children:
            - id: compressor1
              level: work_unit
              attributes:
                opcua: {{url: "opc.tcp://127.0.0.1:{opcua}/ifactory/", publishing_interval_ms: 50}}
                modbus: {{host: 127.0.0.1, port: {modbus}, poll_interval_s: 0.2}}
              tags:
                - name: discharge_pressure
                  unit: bar
                  sources: {{opcua: {{node_id: "ns=2;s={pressure}"}}}}
                - name: outlet_temp
                  unit: degC
                  sources: {{modbus: {{address: 4, type: int16, scale: 0.01}}}}
                - name: power
                  unit: kW
                - name: motor_current
                  unit: A
"""


# pysparkplug 0.6 (the independent Sparkplug B edge node) is written for paho-mqtt 1.x.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback API version 1 is deprecated:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def _pysparkplug_on_paho2(monkeypatch: pytest.MonkeyPatch) -> None:
    # paho 2 dropped message_retry_set (a no-op since paho 1.5); pysparkplug 0.6 still calls it.
    monkeypatch.setattr(paho.Client, "message_retry_set", lambda self, retry: None, raising=False)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(30)


def wait_for(what: str, condition: Callable[[], bool], edge: Proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not in {timeout}s\n{edge.tail()}")


def metric(port: int, name: str) -> float:
    """The sum of a Prometheus metric of the edge (over its labels)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    pattern = rf"^{name}(?:_total)?(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(v) for v in re.findall(pattern, text, flags=re.MULTILINE))


def stored(data_dir: Path, key: str) -> tuple[list[int], list[float]]:
    """(timestamps, values) of every point of `key` in the platform's historian."""
    platform = Platform.open(Settings(environment="test", data_dir=data_dir))
    try:
        tag = platform.registry.tags_by_key[key].id
        raw = platform.store.raw(np.array([tag], dtype=np.int32), 0, 2**62)
        return raw.ts.tolist(), raw.values.tolist()
    finally:
        platform.stop()


def test_plant_connectors_spool_through_a_platform_outage(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, request: pytest.FixtureRequest
) -> None:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    ports = {"opcua": free_port(), "modbus": free_port()}
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT.format(pressure=PRESSURE, **ports))
    opcua = SimOpcUaServer(load_plant(plant_file), port=ports["opcua"])
    modbus = SimModbusServer(
        {TEMP: ModbusSource(address=4, type="int16", scale=0.01)}, port=ports["modbus"]
    )
    (tmp_path / "mosquitto").mkdir()
    broker = Broker(tmp_path / "mosquitto", extra="allow_anonymous true\n")
    broker.start()
    request.addfinalizer(broker.stop)
    run(loop, opcua.start())
    request.addfinalizer(lambda: run(loop, opcua.stop()))
    run(loop, modbus.start())
    request.addfinalizer(lambda: run(loop, modbus.stop()))
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    request.addfinalizer(publisher.loop_stop)

    data, spool = tmp_path / "platform", tmp_path / "spool"
    token = seed_platform(data)
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    platform = start_platform(data, port, tmp_path / "platform.log")

    def start() -> Proc:
        return start_edge(
            url,
            token,
            spool,
            tmp_path / "edge.log",
            *("--plant", str(plant_file), "--mqtt", broker.url, "--sparkplug"),
            *("--metrics-port", str(metrics_port)),
            simulate=False,
        )

    edge = start()

    def publish(ts: int, value: float) -> None:
        payload = orjson.dumps({"ts_us": ts, "value": value})
        publisher.publish(POWER, payload, qos=1).wait_for_publish(timeout=10)

    def write_pressure(ts: int, value: float) -> None:
        run(loop, opcua.write_batch(TelemetryBatch.of([PRESSURE], [ts], [value], received_us=ts)))

    node: spb.EdgeNode | None = None
    try:
        wait_for("edge metrics", lambda: _answers(metrics_port), edge)
        # Platform up: a value of each protocol, with source timestamps in the past.
        t1 = (time.time_ns() // 1000) - 5 * S
        modbus.set_value(TEMP, 12.34)
        write_pressure(t1, 187.5)
        # A few polls after the write reach the platform (the spool holds about one poll
        # while the platform is up, so these were read after `set_value`).
        sent = metric(metrics_port, "ifactory_edge_forwarded_points")
        wait_for(
            "the edge forwards Modbus polls",
            lambda: metric(metrics_port, "ifactory_edge_forwarded_points") >= sent + 5,
            edge,
        )
        t0_ms = time.time_ns() // 1_000_000
        node = spb.EdgeNode(
            "acme",
            "gw1",
            metrics=[spb.Metric(t0_ms, CURRENT, spb.DataType.DOUBLE, value=31.5)],
        )
        node.connect("127.0.0.1", port=broker.port, blocking=False)
        wait_for(
            "the Sparkplug birth is stored",
            lambda: latest(url, token, CURRENT) == (t0_ms * 1000, 31.5),
            edge,
        )
        # Platform down (SIGKILL): new values go to the spool and wait there.
        platform.kill()
        t_down = time.time_ns() // 1000
        wait_for(
            "the edge sees the outage",
            lambda: metric(metrics_port, "ifactory_edge_connected") == 0,
            edge,
        )
        t2 = time.time_ns() // 1000
        modbus.set_value(TEMP, 56.78)
        write_pressure(t2, 201.25)
        publish(t2, 42.5)
        node.update([spb.Metric(t2 // 1000, CURRENT, spb.DataType.DOUBLE, value=33.25)])
        wait_for(
            "the outage's values accumulate in the spool",
            lambda: metric(metrics_port, "ifactory_edge_spool_points") >= 10,
            edge,
        )
        t_up = time.time_ns() // 1000
        # Platform back: the edge forwards the backlog, then whatever is left after a
        # graceful stop is drained (nothing must be lost on either path).
        platform = start_platform(data, port, tmp_path / "platform.log")
        wait_for(
            "the edge forwards again",
            lambda: (
                "the platform stores again" in edge.log.read_text()
                and metric(metrics_port, "ifactory_edge_connected") == 1
            ),
            edge,
        )
        # Edge down: the broker keeps what is published for the edge's persistent session;
        # the restarted edge receives it and acknowledges it once it is spooled.
        assert edge.stop() == 0, edge.tail()
        t3 = time.time_ns() // 1000
        publish(t3, 99.0)
        edge = start()
        wait_for(
            "the message published while the edge was down is stored",
            lambda: latest(url, token, POWER) == (t3, 99.0),
            edge,
        )
        assert edge.stop() == 0, edge.tail()
        drain(url, token, spool, tmp_path / "drain.log")
        assert platform.stop() in (0, -15), platform.tail()
    finally:
        for p in (edge, platform):
            if p.popen.poll() is None:
                p.kill()
        if node is not None:
            node.disconnect()

    # OPC UA: both values, each with the source timestamp the server gave it.
    ts, values = stored(data, PRESSURE)
    assert dict(zip(ts, values, strict=True)).get(t1) == 187.5
    assert dict(zip(ts, values, strict=True)).get(t2) == 201.25
    # Modbus: polled before, during and after the outage; the outage's polls arrived later
    # with the time they were read.
    ts, values = stored(data, TEMP)
    assert len(set(ts)) == len(ts), "a Modbus poll is stored twice"
    during = [v for t, v in zip(ts, values, strict=True) if t_down < t <= t_up]
    assert during and during[-1] == pytest.approx(56.78)
    assert any(v == pytest.approx(12.34) for t, v in zip(ts, values, strict=True) if t < t_down)
    # MQTT: the message published while the platform was down, acknowledged once spooled.
    ts, values = stored(data, POWER)
    assert dict(zip(ts, values, strict=True)) == {t2: 42.5, t3: 99.0}
    # Sparkplug B: the birth, and the NDATA sent while the platform was down (ms timestamps).
    ts, values = stored(data, CURRENT)
    points = dict(zip(ts, values, strict=True))
    assert points[t0_ms * 1000] == 31.5 and points[t2 // 1000 * 1000] == 33.25


def latest(url: str, token: str, key: str) -> tuple[int, float] | None:
    """(timestamp, value) of the newest point of `key` on the platform, if any."""
    node = key.rsplit("/", 1)[0]
    answer = httpx.get(
        f"{url}/api/values/latest",
        params={"node": node},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    answer.raise_for_status()
    for v in answer.json()["values"]:
        if v["key"] == key and v["ts_us"] is not None:
            return int(v["ts_us"]), float(v["value"])
    return None


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class _OneBatch:
    """A connector that delivers one batch on start and records what the sink did."""

    def __init__(self, sink: Callable[[TelemetryBatch], None]) -> None:
        self.sink = sink
        self.outcome = ""

    def start(self) -> None:
        try:
            self.sink(TelemetryBatch.of([TEMP], [1], [1.0], received_us=1))
            self.outcome = "handled"
        except SpoolClosed:
            self.outcome = "not acknowledged"

    def stop(self) -> None:
        pass


@pytest.mark.parametrize(
    ("redelivers", "outcome"), [(True, "not acknowledged"), (False, "handled")]
)
def test_batch_in_hand_at_shutdown(tmp_path: Path, redelivers: bool, outcome: str) -> None:
    spool = Spool(tmp_path / "spool")
    spool.close()  # the gateway closes the spool before it stops the sources
    built: list[_OneBatch] = []

    def make(sink: Callable[[TelemetryBatch], None]) -> _OneBatch:
        built.append(_OneBatch(sink))
        return built[-1]

    factory = connector_source("c", make, redelivers=redelivers)

    def put(batch: TelemetryBatch) -> None:
        spool.append(batch)

    factory.build(put, None).start()
    # MQTT leaves the message with the broker; a poll or subscription value is let go.
    assert built[0].outcome == outcome
