"""Browse a real OPC UA server into tag proposals and accept them into the plant model (API)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ifactory.connect.opcua.client import BrowsedVariable
from ifactory.connect.opcua.proposals import propose, tag_name
from ifactory.plant.loader import EXAMPLE_PLANT, expand, parse
from ifactory.platform import Platform
from ifactory.sim.opcua_server import SimOpcUaServer, node_id_of
from tests.api.conftest import admin_headers, client, platform  # noqa: F401 (fixtures)

CNC1 = "acme/springfield/machining/machining_line/cnc1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def machine_server() -> Iterator[SimOpcUaServer]:
    """The plant's OPC UA server, where cnc1 has a retrofit flow sensor the model lacks."""
    text = EXAMPLE_PLANT.read_text().replace(
        "{id: cnc1, name: CNC Mill 1, level: work_unit, class: cnc_mill}",
        "{id: cnc1, name: CNC Mill 1, level: work_unit, class: cnc_mill, tags: [{name: coolant_flow,"
        " unit: L/min, description: retrofit flow meter, limits: {low: 0, high: 40}}]}",
    )
    server = SimOpcUaServer(expand(parse(text)), port=free_port())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_browse_proposes_and_accepting_adds_tags(
    client: TestClient,  # noqa: F811
    admin_headers: dict[str, str],  # noqa: F811
    platform: Platform,  # noqa: F811
    machine_server: SimOpcUaServer,
) -> None:
    r = client.post(
        "/api/connect/opcua/browse",
        json={"endpoint": {"url": machine_server.url}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    proposals = {p["node_id"]: p for p in r.json()}
    flow = proposals[node_id_of(f"{CNC1}/coolant_flow")]
    assert flow["node_key"] == CNC1  # the browse path matches the ISA-95 hierarchy
    assert (flow["name"], flow["data_type"], flow["unit"]) == ("coolant_flow", "float", "L/min")
    assert (flow["low"], flow["high"], flow["exists"]) == (0, 40, False)
    assert proposals[node_id_of(f"{CNC1}/product")]["data_type"] == "string"

    r = client.post(
        "/api/connect/opcua/proposals/accept",
        json={"node_key": CNC1, "proposals": [flow]},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    [tag] = r.json()
    assert tag["key"] == f"{CNC1}/coolant_flow" and tag["limits"] == {"low": 0, "high": 40}
    assert f"{CNC1}/coolant_flow" in platform.registry.tags_by_key  # usable for ingest at once

    listed = client.get("/api/connect/opcua/tags", headers=admin_headers).json()
    assert [t["source"] for t in listed] == [{"node_id": flow["node_id"]}]
    again = client.post(
        "/api/connect/opcua/browse",
        json={"endpoint": {"url": machine_server.url}},
        headers=admin_headers,
    ).json()
    assert next(p for p in again if p["node_id"] == flow["node_id"])["exists"] is True

    twice = client.post(
        "/api/connect/opcua/proposals/accept",
        json={"node_key": CNC1, "proposals": [flow]},
        headers=admin_headers,
    )
    assert twice.status_code == 409 and "coolant_flow" in twice.json()["detail"][0]["msg"]


def test_browse_errors_are_typed(client: TestClient, admin_headers: dict[str, str]) -> None:  # noqa: F811
    r = client.post(
        "/api/connect/opcua/browse",
        json={"endpoint": {"url": f"opc.tcp://127.0.0.1:{free_port()}"}},
        headers=admin_headers,
    )
    assert r.status_code == 503 and r.json()["detail"][0]["type"] == "opcua_not_ready"
    r = client.post(
        "/api/connect/opcua/browse", json={"endpoint": {"url": "http://x"}}, headers=admin_headers
    )
    assert r.status_code == 422
    assert (
        client.post(
            "/api/connect/opcua/browse", json={"endpoint": {"url": "opc.tcp://x"}}
        ).status_code
        == 401
    )


def test_proposal_names_and_units() -> None:
    assert tag_name("Spindle Speed (rpm)") == "spindle_speed_rpm"
    found = [
        BrowsedVariable("ns=2;i=5", ("Line", "M1", "Temp"), "Temp", "Double", "°C", ""),
        BrowsedVariable("ns=2;i=6", ("Line", "M1", "Blob"), "Blob", "ByteString", "", ""),
        BrowsedVariable("ns=2;i=7", ("Line", "M1", "Odd"), "Odd", "Float", "zorkmids", ""),
    ]
    temp, odd = propose(found, node_keys={"Line/M1"})
    assert (temp.unit, temp.node_key) == ("degC", "Line/M1")
    assert odd.unit == "" and "zorkmids" in odd.description  # kept for the engineer to fix
