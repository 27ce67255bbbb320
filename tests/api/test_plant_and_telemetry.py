"""The API as a client sees it: plant tree, values, history, states, dead letters, errors, audit."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from ifactory.historian.batch import TelemetryBatch
from ifactory.platform import Platform
from tests.api.conftest import T0

S = 1_000_000
CNC1 = "acme/springfield/machining/machining_line/cnc1"


def tag_id(platform: Platform, key: str) -> int:
    return platform.registry.tags_by_key[key].id


def test_tree_follows_the_isa95_hierarchy(client: TestClient) -> None:
    r = client.get("/api/plant/tree")
    assert r.status_code == 200
    [enterprise] = r.json()
    [site] = enterprise["children"]
    assert (enterprise["level"], site["level"]) == ("enterprise", "site")
    machines = []

    def walk(node: dict) -> None:  # type: ignore[type-arg]
        if node["level"] == "work_unit":
            machines.append(node)
        for c in node["children"]:
            walk(c)

    walk(site)
    assert len(machines) == 13
    assert all(m["status"]["state"] == "unknown" for m in machines)  # no data yet
    utilities = next(a for a in site["children"] if a["key"].endswith("utilities"))
    assert utilities["children"][0]["level"] == "work_unit"  # compressor directly in the area


def test_node_detail_and_typed_not_found(client: TestClient) -> None:
    r = client.get(f"/api/plant/nodes/{CNC1}")
    assert r.status_code == 200
    body = r.json()
    assert body["parent_key"] == "acme/springfield/machining/machining_line"
    assert {t["name"] for t in body["tags"]} >= {"state", "vibration_rms", "product"}
    assert body["ideal_cycle_times"] == {"P-100": 45.0, "P-200": 60.0}
    r = client.get("/api/plant/nodes/acme/nowhere")
    assert r.status_code == 404
    assert r.json() == {
        "detail": [
            {"msg": "no plant node 'acme/nowhere'", "loc": ["path", "key"], "type": "not_found"}
        ]
    }


def test_values_history_and_states_after_ingest(client: TestClient, platform: Platform) -> None:
    vib = tag_id(platform, f"{CNC1}/vibration_rms")
    state = tag_id(platform, f"{CNC1}/state")
    product = tag_id(platform, f"{CNC1}/product")
    ts = T0 + np.arange(120) * S  # two minutes at 1 Hz
    values = np.where(np.arange(120) < 90, 2.0, 4.0)  # 2.0 for 90 s, then 4.0
    result = platform.pipeline.ingest(
        TelemetryBatch.of(np.full(120, vib), ts, values, received_us=T0)
    )
    assert result.accepted == 120
    platform.pipeline.ingest(
        TelemetryBatch.of([state, state], [T0, T0 + 60 * S], [1, 3], received_us=T0)
    )
    platform.pipeline.ingest(
        TelemetryBatch.of([product], [T0], [np.nan], received_us=T0, text=["P-100"])
    )
    platform.clock.set(T0 + 120 * S)  # type: ignore[attr-defined]

    latest = {
        v["name"]: v
        for v in client.get("/api/values/latest", params={"node": CNC1}).json()["values"]
    }
    assert latest["vibration_rms"]["value"] == 4.0 and latest["vibration_rms"]["unit"] == "mm/s"
    assert latest["product"]["text"] == "P-100"
    assert latest["spindle_speed"]["value"] is None

    raw = client.get(
        "/api/history/raw", params={"tag_id": vib, "start_us": T0, "end_us": T0 + 10 * S}
    ).json()
    assert raw["ts"] == [T0 + i * S for i in range(10)] and raw["values"] == [2.0] * 10

    agg = client.get(
        "/api/history/aggregate",
        params={"tag_id": vib, "start_us": T0, "end_us": T0 + 180 * S, "bucket_s": 60},
    ).json()
    # Minute 1: 30 s at 2.0 then 30 s at 4.0 -> time-weighted 3.0; minute 3 has no samples: a gap.
    assert agg["twa"][:2] == [2.0, 3.0]
    assert agg["count"] == [60, 60, 0] and agg["twa"][2] is None

    machines = {m["key"]: m for m in client.get("/api/machines").json()}
    assert machines[CNC1]["state"] == "down" and machines[CNC1]["planned"] is True
    states = client.get(
        f"/api/machines/{CNC1}/states", params={"start_us": T0, "end_us": T0 + 120 * S}
    ).json()
    assert [(i["state"], i["start_us"], i["end_us"]) for i in states["intervals"]] == [
        ("executing", T0, T0 + 60 * S),
        ("down", T0 + 60 * S, T0 + 120 * S),
    ]
    assert states["summary"]["seconds"] == {"executing": 60.0, "down": 60.0}
    assert states["summary"]["planned_seconds"] == {"executing": 60.0, "down": 60.0}


def test_bad_input_lands_in_dead_letters(client: TestClient, platform: Platform) -> None:
    vib = tag_id(platform, f"{CNC1}/vibration_rms")
    batch = TelemetryBatch.of(
        np.array([f"{CNC1}/vibration_rms", "acme/nowhere/tag"], dtype=object),
        [T0, T0],
        [1.0, 2.0],
        received_us=T0,
        source="test",
    )
    result = platform.pipeline.ingest(batch)
    assert result.accepted == 1
    platform.pipeline.ingest(
        TelemetryBatch.of([vib], [T0 + 3600 * S], [1.0], received_us=T0, source="test")
    )
    counts = client.get("/api/dead-letters/counts").json()
    assert counts == {"unknown_tag": 1, "future_timestamp": 1}
    page = client.get("/api/dead-letters", params={"reason": "unknown_tag"}).json()
    assert page["total"] == 1 and page["items"][0]["tag"] == "acme/nowhere/tag"


def test_validation_errors_are_typed(client: TestClient) -> None:
    r = client.get("/api/history/raw", params={"tag_id": "x"})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["query", "tag_id"] and err["type"]
    r = client.get("/api/history/raw", params={"tag_id": 999999})
    assert r.status_code == 404 and r.json()["detail"][0]["type"] == "not_found"


def test_changes_need_a_user_and_are_audited(
    client: TestClient, platform: Platform, admin_headers: dict[str, str]
) -> None:
    vib = tag_id(platform, f"{CNC1}/vibration_rms")
    r = client.patch(f"/api/tags/{vib}", json={"description": "spindle housing, radial"})
    assert r.status_code == 401 and r.json()["detail"][0]["type"] == "unauthenticated"
    r = client.patch(f"/api/tags/{vib}", json={"unit": "blorps per wibble"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "unit"]
    r = client.patch(
        f"/api/tags/{vib}", json={"description": "spindle housing, radial"}, headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["description"] == "spindle housing, radial"
    from sqlalchemy import select

    from ifactory.core.audit import AuditEntry
    from ifactory.plant.models import Tag

    with platform.db.session() as session:
        assert session.get(Tag, vib).updated_by == "admin"  # type: ignore[union-attr]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "tag")).one()
        assert entry.username == "admin" and entry.entity_id == str(vib)
    exported = client.get("/api/plant/export").text
    assert "spindle housing, radial" in exported


def test_health_and_metrics(client: TestClient, platform: Platform) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["checks"]["database"]["ok"] is True
    vib = tag_id(platform, f"{CNC1}/vibration_rms")
    platform.pipeline.ingest(TelemetryBatch.of([vib], [T0], [1.0], received_us=T0))
    text = client.get("/metrics").text
    assert 'ifactory_ingest_points_total{outcome="accepted"} 1.0' in text


def test_retention_drops_old_telemetry(platform: Platform) -> None:
    vib = tag_id(platform, f"{CNC1}/vibration_rms")
    day = 86_400 * S
    # Two flushes two days apart, so the old point sits in a block (embedded store) and a day
    # partition (PostgreSQL) of its own: retention drops whole blocks or partitions.
    platform.pipeline.ingest(TelemetryBatch.of([vib], [T0], [1.0], received_us=T0))
    platform.store.flush()
    platform.clock.set(T0 + 2 * day)  # type: ignore[attr-defined]
    platform.pipeline.ingest(TelemetryBatch.of([vib], [T0 + 2 * day], [2.0], received_us=T0))
    platform.store.flush()
    platform.clock.set(T0 + int(platform.settings.retention_days * day) + day + 30 * S)  # type: ignore[attr-defined]
    platform.apply_retention()
    raw = platform.store.raw(np.array([vib], dtype=np.int32), 0, T0 + 3 * day)
    assert raw.ts.tolist() == [T0 + 2 * day]  # the first point is past retention


def test_openapi_documents_every_operation(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ops = [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]
    assert len(ops) >= 25
    for path, method, op in ops:
        assert op.get("description") or op.get("summary"), (method, path)
        assert "-" in op["operationId"], op["operationId"]  # "{tag}-{name}"
