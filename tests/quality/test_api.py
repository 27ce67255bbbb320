"""Quality API end to end on a real platform: plans, SPC, drift events, holds, NCRs, traces."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from ifactory.core import audit
from ifactory.core.events import Event
from ifactory.historian.batch import TelemetryBatch
from ifactory.platform import Platform
from ifactory.quality.events import QualityDriftDetected
from ifactory.quality.tagfeed import TagMeasurementFeed

from .conftest import T0, add_orders

S = 1_000_000


def _characteristic(client: TestClient, headers: dict[str, str], **extra: object) -> int:
    r = client.post(
        "/api/quality/plans",
        headers=headers,
        json={"name": "Bore", "product_code": "P-100", "operation": "milling"},
    )
    assert r.status_code == 201, r.text
    body = {
        "name": "bore diameter",
        "unit": "mm",
        "nominal": 25.0,
        "lsl": 24.95,
        "usl": 25.05,
        "sample_size": 1,
        "baseline_subgroups": 20,
        "rules": ["we1", "we4"],
        **extra,
    }
    r = client.post(
        f"/api/quality/plans/{r.json()['id']}/characteristics", headers=headers, json=body
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _collect(platform: Platform) -> list[Event]:
    seen: list[Event] = []
    platform.bus.subscribe("quality.*", seen.append)
    return seen


def test_measurements_chart_and_drift_event(
    client: TestClient,
    platform: Platform,
    quality_headers: dict[str, str],
    operator_headers: dict[str, str],
) -> None:
    seen = _collect(platform)
    char_id = _characteristic(client, quality_headers)
    rng = np.random.default_rng(7)
    baseline = 25.0 + rng.normal(0, 0.005, 20)
    m = [{"value": float(v), "ts_us": T0 + i * S} for i, v in enumerate(baseline)]
    r = client.post(
        f"/api/quality/characteristics/{char_id}/measurements",
        headers=operator_headers,
        json={"measurements": m},
    )
    assert r.status_code == 201, r.text
    assert r.json()["violations"] == []
    # A tool breaks: one part far off nominal.
    r = client.post(
        f"/api/quality/characteristics/{char_id}/measurements",
        headers=operator_headers,
        json={"measurements": [{"value": 25.04, "ts_us": T0 + 30 * S}]},
    )
    assert [(v["rule"], v["ts_us"]) for v in r.json()["violations"]] == [("we1", T0 + 30 * S)]
    platform.relay.drain()
    drift = [e for e in seen if isinstance(e, QualityDriftDetected)]
    assert len(drift) == 1
    assert drift[0].rule == "we1" and drift[0].ts_us == T0 + 30 * S and drift[0].value == 25.04
    assert drift[0].points_ts_us == [T0 + 30 * S] and drift[0].product_code == "P-100"

    chart = client.get(
        f"/api/quality/characteristics/{char_id}/chart", headers=quality_headers
    ).json()
    assert chart["kind"] == "imr" and len(chart["values"]) == 21
    assert chart["limits"]["ucl"][0] < 25.04
    assert [(v["rule"], v["ts_us"]) for v in chart["violations"]] == [("we1", T0 + 30 * S)]
    # Another rule selection on the same data.
    chart = client.get(
        f"/api/quality/characteristics/{char_id}/chart?rule=nelson1", headers=quality_headers
    ).json()
    assert [v["rule"] for v in chart["violations"]] == ["nelson1"]
    cap = client.get(f"/api/quality/characteristics/{char_id}/capability", headers=quality_headers)
    assert cap.status_code == 200 and cap.json()["n"] == 21 and cap.json()["cpk"] is not None
    # Recording the same data again does not publish the same violation twice.
    violations = client.get("/api/quality/violations", headers=quality_headers).json()
    assert len(violations) == 1


def test_operators_cannot_change_plans_and_bad_input_is_explained(
    client: TestClient, quality_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    r = client.post(
        "/api/quality/plans", headers=operator_headers, json={"name": "x", "product_code": "P-100"}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/quality/plans", headers=quality_headers, json={"name": "x", "product_code": "NOPE"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "product_code"]
    plan = client.post(
        "/api/quality/plans", headers=quality_headers, json={"name": "x", "product_code": "P-100"}
    ).json()
    r = client.post(
        f"/api/quality/plans/{plan['id']}/characteristics",
        headers=quality_headers,
        json={"name": "d", "nominal": 1, "sample_size": 5, "rules": ["we7"]},
    )
    assert r.status_code == 422 and "we7" in r.text


def test_hold_and_ncr_workflow_is_audited(
    client: TestClient,
    platform: Platform,
    quality_headers: dict[str, str],
    operator_headers: dict[str, str],
) -> None:
    seen = _collect(platform)
    r = client.post(
        "/api/quality/lots",
        headers=operator_headers,
        json={"code": "RM-1", "material": "steel bar", "quantity": 50, "unit": "kg"},
    )
    assert r.status_code == 201, r.text
    client.post(
        "/api/quality/defect-codes",
        headers=quality_headers,
        json={"code": "CRACK", "name": "Crack"},
    )
    ncr = client.post(
        "/api/quality/ncrs",
        headers=operator_headers,
        json={
            "title": "Cracks on bar ends",
            "severity": "major",
            "lot_code": "RM-1",
            "defect_code": "CRACK",
            "quantity": 3,
        },
    )
    assert ncr.status_code == 201, ncr.text
    ncr_id = ncr.json()["id"]
    hold = client.post(
        "/api/quality/lots/RM-1/holds",
        headers=quality_headers,
        json={"reason": "cracks found", "ncr_id": ncr_id},
    )
    assert hold.status_code == 201, hold.text
    assert (
        client.get("/api/quality/lots/RM-1", headers=quality_headers).json()["status"] == "on_hold"
    )
    # A held lot can neither be held again nor consumed.
    again = client.post(
        "/api/quality/lots/RM-1/holds", headers=quality_headers, json={"reason": "x"}
    )
    assert again.status_code == 409 and again.json()["detail"][0]["type"] == "already_on_hold"
    used = client.post(
        "/api/quality/orders/7/consumptions",
        headers=operator_headers,
        json={"lot_code": "RM-1", "quantity": 1},
    )
    assert used.status_code == 409 and used.json()["detail"][0]["type"] == "lot_not_usable"
    # Operators may not release holds.
    hold_id = hold.json()["id"]
    r = client.post(
        f"/api/quality/holds/{hold_id}/close",
        headers=operator_headers,
        json={"outcome": "released"},
    )
    assert r.status_code == 403
    # An NCR cannot be closed before its disposition.
    r = client.post(f"/api/quality/ncrs/{ncr_id}/close", headers=quality_headers)
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "ncr_without_disposition"
    r = client.post(
        f"/api/quality/ncrs/{ncr_id}/disposition",
        headers=quality_headers,
        json={"disposition": "rework", "note": "cut 20 mm off each end"},
    )
    assert r.status_code == 200 and r.json()["status"] == "dispositioned"
    r = client.post(
        f"/api/quality/holds/{hold_id}/close",
        headers=quality_headers,
        json={"outcome": "rework", "note": "per NCR"},
    )
    assert r.status_code == 200 and r.json()["status"] == "rework" and r.json()["closed_by"] == "qe"
    assert (
        client.get("/api/quality/lots/RM-1", headers=quality_headers).json()["status"] == "rework"
    )
    r = client.post(
        f"/api/quality/holds/{hold_id}/close", headers=quality_headers, json={"outcome": "released"}
    )
    assert r.status_code == 409
    r = client.post(f"/api/quality/ncrs/{ncr_id}/close", headers=quality_headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"

    with platform.db.session() as s:
        lot_trail = [(e.username, e.action) for e in audit.get_all(s, entity="lot")]
        ncr_trail = [(e.username, e.action) for e in audit.get_all(s, entity="ncr")]
    assert ("qe", "hold") in lot_trail and ("qe", "hold_rework") in lot_trail
    assert ncr_trail == [("qe", "close"), ("qe", "disposition"), ("olga", "create")]
    platform.relay.drain()
    assert [e.type for e in seen] == [
        "quality.nonconformance_raised",
        "quality.lot_held",
        "quality.lot_hold_closed",
    ]


def test_trace_carries_operator_machine_order_and_tag_averages(
    client: TestClient, platform: Platform, operator_headers: dict[str, str]
) -> None:
    mill = next(n for n in platform.registry.machines() if n.equipment_class == "cnc_mill")
    spindle = platform.registry.tag_by_role(mill.id, "measurement")
    tags = {t.name: t for t in platform.registry.machine_tags(mill.id)}
    speed = tags["spindle_speed"]
    assert spindle is not None
    # Spindle at 1000 rpm for 10 min, then 4000 rpm for 30 min: the time-weighted mean is 3250.
    start, end = T0 - 40 * 60 * S, T0
    batch = TelemetryBatch.of(
        np.array([speed.id, speed.id], dtype=np.int32),
        np.array([start, start + 10 * 60 * S], dtype=np.int64),
        np.array([1000.0, 4000.0]),
        received_us=T0,
    )
    assert platform.pipeline.ingest(batch).inserted == 2
    add_orders(platform.db, 42)
    client.post(
        "/api/quality/lots", headers=operator_headers, json={"code": "RM-7", "material": "bar"}
    )
    r = client.post(
        "/api/quality/orders/42/consumptions",
        headers=operator_headers,
        json={"lot_code": "RM-7", "quantity": 2},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/quality/orders/42/productions",
        headers=operator_headers,
        json={
            "lot": {"code": "FG-7", "material": "P-100", "kind": "finished"},
            "machine_id": mill.id,
            "start_us": start,
            "end_us": end,
        },
    )
    assert r.status_code == 201, r.text
    back = client.get("/api/quality/lots/FG-7/trace?direction=backward", headers=operator_headers)
    root = back.json()["root"]
    assert root["lot"]["operator"] == "olga" and root["lot"]["order_id"] == 42
    assert root["machine"] == mill.name
    cond = {c["name"]: c for c in root["conditions"]}
    assert abs(cond["spindle_speed"]["twa"] - 3250.0) < 1e-6
    assert [c["lot"]["code"] for c in root["children"]] == ["RM-7"]
    forward = client.get("/api/quality/lots/RM-7/trace?direction=forward", headers=operator_headers)
    assert [c["lot"]["code"] for c in forward.json()["root"]["children"]] == ["FG-7"]


def test_measurements_from_a_bound_tag_drive_spc(
    client: TestClient, platform: Platform, quality_headers: dict[str, str]
) -> None:
    mill = next(n for n in platform.registry.machines() if n.equipment_class == "cnc_mill")
    dim = next(t for t in platform.registry.machine_tags(mill.id) if t.name == "dimension")
    char_id = _characteristic(client, quality_headers, tag_id=dim.id)
    seen = _collect(platform)
    # The feature installer wired the feed into the pipeline; it re-reads bindings periodically.
    feeds = [c for c in platform.pipeline.consumers if isinstance(c, TagMeasurementFeed)]
    assert len(feeds) == 1
    feeds[0].invalidate()
    rng = np.random.default_rng(3)
    # 20 in-control parts, then tool wear pushes 8 parts in a row above the centre (rule we4).
    values = np.concatenate([25.0 + rng.normal(0, 0.004, 20), 25.0 + 0.006 + np.arange(8) * 0.0005])
    ts = T0 - 60 * S + np.arange(28, dtype=np.int64) * S
    batch = TelemetryBatch.of(np.full(28, dim.id, dtype=np.int32), ts, values, received_us=T0)
    platform.pipeline.ingest(batch)
    platform.relay.drain()
    drift = [e for e in seen if isinstance(e, QualityDriftDetected)]
    assert [e.rule for e in drift] == ["we4"] and drift[0].machine_id == mill.id
    assert len(drift[0].points_ts_us) == 8
    # The tag repeats the last part's value every second until the next part: not a new part.
    repeat = TelemetryBatch.of(
        np.full(5, dim.id, dtype=np.int32),
        ts[-1] + (1 + np.arange(5)) * S,
        np.full(5, values[-1]),
        received_us=T0,
    )
    platform.pipeline.ingest(repeat)
    rows = client.get(
        f"/api/quality/characteristics/{char_id}/measurements", headers=quality_headers
    )
    assert len(rows.json()) == 28 and rows.json()[0]["source"] == "tag"


def test_pareto_first_pass_yield_and_p_chart(
    client: TestClient, quality_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    fpy = client.get("/api/quality/first-pass-yield", headers=quality_headers).json()
    assert fpy == {"inspected": 0, "passed_first_time": 0, "fpy": None}
    for code in ("SCR", "POR", "DIM"):
        client.post(
            "/api/quality/defect-codes", headers=quality_headers, json={"code": code, "name": code}
        )
    batches = [
        (100, 96, {"SCR": 3, "DIM": 1}),
        (80, 75, {"SCR": 4, "POR": 2}),
        (120, 118, {"SCR": 2}),
    ]
    for i, (n, ok, defects) in enumerate(batches):
        r = client.post(
            "/api/quality/inspections",
            headers=operator_headers,
            json={
                "product_code": "P-100",
                "ts_us": T0 + i * S,
                "inspected": n,
                "passed_first_time": ok,
                "defects": defects,
            },
        )
        assert r.status_code == 201, r.text
    pareto = client.get("/api/quality/pareto", headers=quality_headers).json()
    assert [(p["code"], p["count"]) for p in pareto] == [("SCR", 9), ("POR", 2), ("DIM", 1)]
    assert pareto[-1]["cumulative_share"] == 1.0
    fpy = client.get(
        "/api/quality/first-pass-yield?product_code=P-100", headers=quality_headers
    ).json()
    assert fpy["inspected"] == 300 and abs(fpy["fpy"] - 289 / 300) < 1e-12
    chart = client.get(
        "/api/quality/attribute-chart?kind=p&product_code=P-100", headers=quality_headers
    )
    assert chart.status_code == 200, chart.text
    assert chart.json()["values"] == [0.04, 5 / 80, 2 / 120]
    bad = client.post(
        "/api/quality/inspections",
        headers=operator_headers,
        json={
            "product_code": "P-100",
            "inspected": 1,
            "passed_first_time": 1,
            "defects": {"WHAT": 1},
        },
    )
    assert bad.status_code == 422 and "WHAT" in bad.text


def test_serial_numbers_lead_to_their_lot(
    client: TestClient, operator_headers: dict[str, str]
) -> None:
    client.post(
        "/api/quality/lots", headers=operator_headers, json={"code": "FG-9", "material": "x"}
    )
    r = client.post(
        "/api/quality/lots/FG-9/serials",
        headers=operator_headers,
        json={"serials": ["SN-1", "SN-2", "SN-2"]},
    )
    assert r.status_code == 201 and r.json() == ["SN-1", "SN-2"]
    assert (
        client.get("/api/quality/serials/SN-2", headers=operator_headers).json()["code"] == "FG-9"
    )
    again = client.post(
        "/api/quality/lots/FG-9/serials", headers=operator_headers, json={"serials": ["SN-1"]}
    )
    assert again.status_code == 409
    assert client.get("/api/quality/serials/SN-404", headers=operator_headers).status_code == 404
