"""End to end: a plant file declaring OPC UA and Modbus sources, real servers, the historian."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ifactory.connect.modbus.registers import ModbusSource
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import expand, parse
from ifactory.platform import Platform
from ifactory.sim.modbus_server import SimModbusServer
from ifactory.sim.opcua_server import SimOpcUaServer

PLANT = """
enterprise:
  id: acme
  level: enterprise
  children:
    - id: site
      level: site
      children:
        - id: area
          level: area
          children:
            - id: press1
              level: work_unit
              attributes: {{opcua: {{url: "opc.tcp://127.0.0.1:{opcua}/ifactory/", publishing_interval_ms: 50}}}}
              tags:
                - {{name: pressure, unit: bar, sources: {{opcua: {{node_id: "ns=2;s=acme/site/area/press1/pressure"}}}}}}
            - id: pump1
              level: work_unit
              attributes: {{modbus: {{host: 127.0.0.1, port: {modbus}, poll_interval_s: 0.1}}}}
              tags:
                - {{name: flow, unit: m**3/h, sources: {{modbus: {{address: 4, type: int16, scale: 0.01}}}}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def test_plant_file_sources_reach_the_historian(
    database_url: str, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    ports = {"opcua": free_port(), "modbus": free_port()}
    plant = expand(parse(PLANT.format(**ports)))
    opcua = SimOpcUaServer(plant, port=ports["opcua"])
    modbus = SimModbusServer(
        {"flow": ModbusSource(address=4, type="int16", scale=0.01)}, port=ports["modbus"]
    )
    run(loop, opcua.start())
    run(loop, modbus.start())
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=database_url)
    platform = Platform.open(settings, plant=plant)
    try:
        # Platform.open ran the feature installers: one connector per protocol, from the
        # sources in the database's plant model.
        kinds = [type(e).__name__ for e in platform.extras]
        assert kinds.count("OpcUaConnector") == 1 and kinds.count("ModbusConnector") == 1
        modbus.set_value("flow", 12.34)
        now = time.time_ns() // 1000
        pressure = "acme/site/area/press1/pressure"
        run(loop, opcua.write_batch(TelemetryBatch.of([pressure], [now], [187.5], received_us=now)))
        platform.start()
        ids = {
            k: platform.registry.tags_by_key[k].id for k in (pressure, "acme/site/area/pump1/flow")
        }
        deadline = time.monotonic() + 30
        latest: dict[int, float] = {}
        while time.monotonic() < deadline:
            got = platform.store.latest(list(ids.values()))
            latest = dict(zip(got.tags.tolist(), got.values.tolist(), strict=True))
            if latest.get(ids[pressure]) == 187.5 and ids["acme/site/area/pump1/flow"] in latest:
                break
            time.sleep(0.05)
        assert latest[ids[pressure]] == 187.5
        assert latest[ids["acme/site/area/pump1/flow"]] == pytest.approx(12.34)
    finally:
        platform.stop()
        run(loop, opcua.stop())
        run(loop, modbus.stop())
