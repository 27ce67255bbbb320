"""The simulated plant behind real OPC UA, Modbus TCP and MQTT stacks, read back by the platform."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ifactory.core.settings import Settings
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.runtime import build_demo
from ifactory.sim.protocols import (
    MODBUS,
    MQTT,
    OPCUA,
    ProtocolOptions,
    assign_machines,
    free_port,
    protocol_plant,
    tags_by_protocol,
)
from tests.connect.conftest import MOSQUITTO, Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free port (the lossless configuration of tests/connect)."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    b = Broker(directory, extra="allow_anonymous true\n")
    b.start()
    yield b
    b.stop()


def _stored_tags(platform: Platform, keys: set[str]) -> set[str]:
    """Which of `keys` have a simulated (non-zero) latest value in the platform's historian.

    Non-zero: before the first simulated batch the servers hold zeros, which would pass too.
    """
    ids = {platform.registry.tags_by_key[k].id: k for k in keys}
    got = platform.store.latest(list(ids))
    return {ids[t] for t, v in zip(got.tags.tolist(), got.values.tolist(), strict=True) if v}


def _wait_until_serving(sim: subprocess.Popen[bytes]) -> str:
    """The simulator's output up to its "simulating at" line (its servers are then up)."""
    assert sim.stdout is not None
    lines: list[str] = []
    while True:
        line = sim.stdout.readline().decode()
        if not line:
            raise AssertionError("simulate exited early:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("simulating at"):
            return "".join(lines)


def _wait_for(platforms_keys: list[tuple[Platform, set[str]]], seconds: float = 20) -> None:
    """Until every platform has points for some of its keys (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(_stored_tags(p, keys) for p, keys in platforms_keys):
            return
        time.sleep(0.2)


def test_simulate_serves_every_protocol_to_the_platform(
    tmp_path: Path, broker: Broker, example_plant: Plant
) -> None:
    opts = ProtocolOptions(
        opcua_port=free_port(), modbus_port=free_port(), mqtt_url=broker.url, sparkplug=True
    )
    cmd = [sys.executable, "-m", "ifactory.cli.main", "simulate", "--mqtt", broker.url]
    cmd += ["--sparkplug", "--opcua-port", str(opts.opcua_port)]
    cmd += ["--modbus-port", str(opts.modbus_port), "--speed", "1"]
    env = {**os.environ, "COLUMNS": "200"}
    sim = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    head = _wait_until_serving(sim)
    # One platform reads OPC UA and Modbus (the machines dealt between them, as the demo does);
    # a second one reads the broker, so each protocol's points are told apart by where they land.
    assignment = assign_machines(example_plant, [OPCUA, MODBUS])
    plc_plant = protocol_plant(example_plant, opts, assignment)
    groups = tags_by_protocol(example_plant, opts, assignment)
    plc = Platform.open(Settings(environment="test", data_dir=tmp_path / "plc"), plant=plc_plant)
    mqtt_settings = Settings(
        environment="test", data_dir=tmp_path / "mqtt", mqtt_url=broker.url, mqtt_sparkplug=True
    )
    mqtt = Platform.open(mqtt_settings, plant=example_plant)
    try:
        kinds = [type(e).__name__ for e in plc.extras + mqtt.extras]
        assert {"OpcUaConnector", "ModbusConnector", "UnsConnector", "SparkplugHost"} <= set(kinds)
        plc.start()
        mqtt.start()
        all_tags = {t.key for n in example_plant.nodes for t in n.tags}
        _wait_for([(plc, groups[OPCUA]), (plc, groups[MODBUS]), (mqtt, all_tags)])
        stored = {
            OPCUA: _stored_tags(plc, groups[OPCUA]),
            MODBUS: _stored_tags(plc, groups[MODBUS]),
            MQTT: _stored_tags(mqtt, all_tags),
        }
    finally:
        plc.stop()
        mqtt.stop()
        sim.send_signal(signal.SIGINT)
        out, _ = sim.communicate(timeout=30)
    text = head + out.decode()
    for protocol, tags in stored.items():
        assert tags, f"no {protocol} point reached the historian: {text[-3000:]}"
    assert sim.returncode == 0, text
    assert f"OPC UA server: opc.tcp://127.0.0.1:{opts.opcua_port}/ifactory/" in text
    assert f"Modbus TCP server: 127.0.0.1:{opts.modbus_port}" in text
    assert "MQTT publisher (UNS JSON + Sparkplug B)" in text
    assert "stopped after" in text


def test_demo_via_protocols_reads_each_machine_through_its_protocol(
    tmp_path: Path, broker: Broker, example_plant: Plant
) -> None:
    # `ifactory demo --via-protocols --mqtt URL` on a kept data directory seeded by an earlier
    # run without protocols: the tag sources follow this run's servers.
    settings = Settings(environment="test", data_dir=tmp_path / "demo")
    Platform.open(settings, plant=example_plant).stop()
    opts = ProtocolOptions(opcua_port=free_port(), modbus_port=free_port(), mqtt_url=broker.url)
    platform = build_demo(
        settings, speed=10, seed=1, history_hours=0, admin_password="pw-demo-1", protocols=opts
    )
    groups = tags_by_protocol(example_plant, opts, assign_machines(example_plant, opts.protocols))
    # Every tag is read through exactly one protocol, and every protocol has machines.
    assert sum(len(g) for g in groups.values()) == len(set().union(*groups.values()))
    assert all(groups[p] for p in (OPCUA, MODBUS, MQTT))
    kinds = [type(e).__name__ for e in platform.extras]
    assert {"OpcUaConnector", "ModbusConnector", "UnsConnector"} <= set(kinds)
    try:
        platform.start()
        _wait_for([(platform, groups[p]) for p in (OPCUA, MODBUS, MQTT)])
        for protocol in (OPCUA, MODBUS, MQTT):
            assert _stored_tags(platform, groups[protocol]), f"nothing arrived over {protocol}"
        assert sum(platform.pipeline.counters().rejected.values()) == 0
    finally:
        platform.stop()
