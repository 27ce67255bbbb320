"""HTTP ingest as a device sees it: 202 after the durable write, counts, lanes, clear 4xx errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ifactory.api import ingest as ingest_api
from ifactory.auth import service as auth_service
from ifactory.auth.roles import Role
from ifactory.core import audit
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch
from ifactory.platform import Platform
from tests.api.conftest import T0

S = 1_000_000
CNC1 = "acme/springfield/machining/machining_line/cnc1"
VIB = f"{CNC1}/vibration_rms"
PRODUCT = f"{CNC1}/product"


def _key(platform: Platform, username: str, roles: tuple[Role, ...]) -> dict[str, str]:
    with platform.db.session() as session:
        user = auth_service.create(session, username=username, roles=roles, actor=audit.SYSTEM)
        _, secret = auth_service.create_token(session, user=user, name="key", actor=audit.SYSTEM)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def device(platform: Platform) -> dict[str, str]:
    return _key(platform, "press-gateway", (Role.device,))


def _raw(platform: Platform, key: str) -> TelemetryBatch:
    tid = platform.registry.tags_by_key[key].id
    return platform.store.raw(np.array([tid], dtype=np.int32), 0, 2**62)


def test_columnar_json_is_stored_before_the_202(
    client: TestClient, platform: Platform, device: dict[str, str]
) -> None:
    body = {
        "tags": [VIB, VIB, PRODUCT, "acme/nowhere/x"],
        "ts": [T0, T0 + S, T0, T0],
        "values": [1.5, 2.5, "P-100", 3.0],
        "quality": [0, 0x40000000, 0, 0],
    }
    r = client.post("/api/ingest", json=body, headers=device)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "points": 4,
        "accepted": 3,
        "inserted": 3,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": {"unknown_tag": 1},
        "lane": "live",
    }
    raw = _raw(platform, VIB)  # durable before the answer: readable right after it
    assert raw.ts.tolist() == [T0, T0 + S] and raw.values.tolist() == [1.5, 2.5]
    assert raw.quality.tolist() == [0, 0x40000000]
    assert _raw(platform, PRODUCT).text.tolist() == ["P-100"]  # type: ignore[union-attr]
    assert platform.dead_letters.counts() == {"unknown_tag": 1}

    again = client.post("/api/telemetry", json=body, headers=device)  # a replay
    assert again.status_code == 202
    assert (again.json()["inserted"], again.json()["duplicates"]) == (0, 3)


def test_point_list_with_ids_and_stamping_once_at_entry(
    client: TestClient, platform: Platform, device: dict[str, str]
) -> None:
    vib = platform.registry.tags_by_key[VIB].id
    r = client.post(
        "/api/ingest",
        json=[{"tag": vib, "value": 7.0}, {"tag": vib, "ts": T0 - S, "value": 6.0}],
        headers=device,
    )
    assert r.status_code == 202, r.text
    raw = _raw(platform, VIB)
    assert raw.ts.tolist() == [T0 - S, T0]  # T0 is the platform's clock at entry
    r = client.post("/api/ingest", json={"points": [{"tag": VIB, "value": True}]}, headers=device)
    assert r.status_code == 202 and r.json()["duplicates"] == 0


def test_binary_batch_format_of_the_edge(
    client: TestClient, platform: Platform, device: dict[str, str]
) -> None:
    batch = TelemetryBatch.of(
        np.array([VIB] * 100, dtype=object),
        T0 - 100 * S + np.arange(100) * S,
        np.arange(100.0),
        received_us=T0 - 200 * S,
        source="edge1",
    )
    r = client.post(
        "/api/ingest",
        content=codec.encode(batch),
        headers={**device, "Content-Type": codec.CONTENT_TYPE, "X-Ifactory-Lane": "backfill"},
    )
    assert r.status_code == 202, r.text
    assert (r.json()["inserted"], r.json()["lane"]) == (100, "backfill")
    assert len(_raw(platform, VIB)) == 100


def test_only_device_keys_may_ingest(client: TestClient, platform: Platform) -> None:
    body = {"tags": [VIB], "values": [1.0]}
    r = client.post("/api/ingest", json=body)
    assert r.status_code == 401 and r.json()["detail"][0]["type"] == "unauthenticated"
    r = client.post("/api/ingest", json=body, headers={"Authorization": "Bearer ifk_nope"})
    assert r.status_code == 401
    viewer = _key(platform, "someone", (Role.viewer,))
    r = client.post("/api/ingest", json=body, headers=viewer)
    assert r.status_code == 403 and "device" in r.json()["detail"][0]["msg"]
    assert len(_raw(platform, VIB)) == 0


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"tags": [VIB], "values": [1.0, 2.0]}, ["body", "values"], "invalid_payload"),
        ({"tags": [VIB, 3], "values": [1.0, 2.0]}, ["body", "tags"], "invalid_payload"),
        ({"tags": [2**40], "values": [1.0]}, ["body", "tags"], "invalid_payload"),
        (
            {"tags": [VIB], "ts": ["yesterday"], "values": [1.0]},
            ["body", "ts", 0],
            "invalid_payload",
        ),
        ([{"tag": VIB}], ["body", 0], "invalid_payload"),
        ({"tags": [VIB], "values": [{"x": 1}]}, ["body", "values", 0], "invalid_payload"),
        ({"tags": [VIB], "values": [1.0], "lane": "fast"}, ["lane"], "invalid_lane"),
    ],
)
def test_malformed_batches_get_a_clear_422(
    client: TestClient, device: dict[str, str], body: object, loc: list[object], kind: str
) -> None:
    r = client.post("/api/ingest", json=body, headers=device)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert (err["loc"], err["type"]) == (loc, kind)


def test_bad_json_media_type_and_size(
    client: TestClient, device: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = client.post(
        "/api/ingest", content=b"{nope", headers={**device, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "invalid_json"
    r = client.post("/api/ingest", content=b"a,b", headers={**device, "Content-Type": "text/csv"})
    assert r.status_code == 415
    r = client.post(
        "/api/ingest", content=b"garbage", headers={**device, "Content-Type": codec.CONTENT_TYPE}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "invalid_payload"
    monkeypatch.setattr(ingest_api, "MAX_BODY_BYTES", 100)
    r = client.post("/api/ingest", json={"tags": [VIB] * 10, "values": [1.0] * 10}, headers=device)
    assert r.status_code == 413 and r.json()["detail"][0]["type"] == "too_large"


def test_backfill_waits_while_live_batches_are_written() -> None:
    gate = ingest_api.LaneGate()
    order: list[str] = []
    live_in = threading.Event()
    release = threading.Event()

    def live() -> None:
        with gate.enter("live"):
            live_in.set()
            release.wait(5)
            order.append("live")

    def backfill() -> None:
        with gate.enter("backfill"):
            order.append("backfill")

    t1 = threading.Thread(target=live)
    t1.start()
    live_in.wait(5)
    t2 = threading.Thread(target=backfill)
    t2.start()
    time.sleep(0.2)
    assert order == []  # the backfill batch is held back while the live one is in progress
    release.set()
    t1.join(5)
    t2.join(5)
    assert order == ["live", "backfill"]
