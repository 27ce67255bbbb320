"""The alerts API: list and filter, read, acknowledge with roles; the risk ranking; health."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.auth import service as auth_service
from ifactory.core.events import Event
from ifactory.platform import Platform
from tests.analytics.anomaly_feed import CNC1, T0, S, raise_alert

PRESS1 = "acme/springfield/press_shop/press_line/press1"


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


def _headers(platform: Platform, client: TestClient, username: str, roles: list[str]) -> dict:
    with platform.db.session() as session:
        auth_service.create(
            session,
            username=username,
            password="s3cret-pass-1",
            display_name=username,
            roles=roles,
            active=True,
            actor="system",
        )
    r = client.post("/api/auth/login", json={"username": username, "password": "s3cret-pass-1"})
    assert r.status_code == 200, r.text
    r = client.post("/api/auth/tokens", json={"name": "tests"})
    client.post("/api/auth/logout")
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_list_filter_and_read_alerts(platform: Platform, client: TestClient) -> None:
    first = raise_alert(platform, CNC1, at_us=T0)
    second = raise_alert(platform, PRESS1, at_us=T0 + 60 * S)
    viewer = _headers(platform, client, "vera", ["viewer"])

    page = client.get("/api/alerts", headers=viewer).json()
    assert page["total"] == 2
    assert [a["id"] for a in page["items"]] == [second, first]  # newest first

    # By machine, or by any node above it (the press line).
    by_machine = client.get("/api/alerts", params={"machine": CNC1}, headers=viewer).json()
    assert [a["id"] for a in by_machine["items"]] == [first]
    by_line = client.get(
        "/api/alerts",
        params={"machine": "acme/springfield/press_shop/press_line"},
        headers=viewer,
    ).json()
    assert [a["id"] for a in by_line["items"]] == [second]
    since = client.get("/api/alerts", params={"since_us": T0 + 1}, headers=viewer).json()
    assert [a["id"] for a in since["items"]] == [second]

    one = client.get(f"/api/alerts/{first}", headers=viewer).json()
    assert one["machine_key"] == CNC1 and one["machine_name"] == "CNC Mill 1"
    assert one["state"] == "active"
    assert [t["name"] for t in one["tags"]] == ["vibration_rms"]
    assert one["window_start_us"] == T0 - 600 * S and one["window_end_us"] == T0
    assert one["threshold"] == 0.7

    assert client.get("/api/alerts/999999", headers=viewer).status_code == 404
    bad = client.get("/api/alerts", params={"state": "open"}, headers=viewer)
    assert bad.status_code == 422
    assert (
        client.get("/api/alerts", params={"machine": "nowhere"}, headers=viewer).status_code == 404
    )


def test_acknowledge_needs_a_shop_floor_role_and_happens_once(
    platform: Platform, client: TestClient
) -> None:
    alert_id = raise_alert(platform)
    events: list[Event] = []
    platform.bus.subscribe("anomaly.alert_acknowledged", events.append)
    viewer = _headers(platform, client, "vera", ["viewer"])
    tech = _headers(platform, client, "tom", ["technician"])
    url = f"/api/alerts/{alert_id}/acknowledge"

    assert client.post(url, json={}).status_code == 401
    denied = client.post(url, json={"comment": "seen"}, headers=viewer)
    assert denied.status_code == 403
    assert denied.json()["detail"][0]["type"] == "permission_denied"

    r = client.post(url, json={"comment": "checking the spindle bearing"}, headers=tech)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "tom"
    assert body["ack_comment"] == "checking the spindle bearing"
    assert body["acknowledged_at"] is not None

    again = client.post(url, json={}, headers=tech)
    assert again.status_code == 409
    assert "already acknowledged by tom" in again.json()["detail"][0]["msg"]
    too_long = client.post(url, json={"comment": "x" * 2001}, headers=tech)
    assert too_long.status_code == 422
    assert client.post("/api/alerts/999999/acknowledge", json={}, headers=tech).status_code == 404

    platform.relay.drain()
    assert [(e.alert_id, e.by) for e in events] == [(alert_id, "tom")]  # type: ignore[attr-defined]
    listed = client.get("/api/alerts", params={"state": "acknowledged"}, headers=viewer).json()
    assert [a["id"] for a in listed["items"]] == [alert_id]


def test_risk_ranking_puts_machines_with_alerts_first(
    platform: Platform, client: TestClient
) -> None:
    raise_alert(platform, PRESS1)
    viewer = _headers(platform, client, "vera", ["viewer"])
    ranking = client.get("/api/analytics/risk", headers=viewer).json()
    assert ranking["machines"][0]["key"] == PRESS1
    assert ranking["machines"][0]["open_alerts"] == 1
    assert ranking["machines"][0]["unacknowledged"] == 1
    assert ranking["machines"][0]["risk"] > ranking["machines"][1]["risk"]
    assert len(ranking["machines"]) == len(platform.registry.machines())
    line = client.get(
        "/api/analytics/risk",
        params={"node": "acme/springfield/machining/machining_line"},
        headers=viewer,
    ).json()
    assert PRESS1 not in {m["key"] for m in line["machines"]}


def test_machine_health_returns_open_alerts_and_validates_the_window(
    platform: Platform, client: TestClient
) -> None:
    alert_id = raise_alert(platform)
    viewer = _headers(platform, client, "vera", ["viewer"])
    health = client.get("/api/analytics/health", params={"machine": CNC1}, headers=viewer)
    assert health.status_code == 200, health.text
    body = health.json()
    assert [a["id"] for a in body["open_alerts"]] == [alert_id]
    assert body["machine_name"] == "CNC Mill 1"
    bad = client.get(
        "/api/analytics/health",
        params={"machine": CNC1, "start_us": T0, "end_us": T0 - 1},
        headers=viewer,
    )
    assert bad.status_code == 422
    line = client.get(
        "/api/analytics/health",
        params={"machine": "acme/springfield/machining/machining_line"},
        headers=viewer,
    )
    assert line.status_code == 422


def test_predicted_rul_ranks_a_machine_and_shows_its_band(
    platform: Platform, client: TestClient
) -> None:
    models = pytest.importorskip("ifactory.analytics.prognostics.models")
    press = platform.registry.nodes_by_key[PRESS1]
    with platform.db.session() as session:
        for i, rul in enumerate((60.0, 48.0, 24.0)):
            session.add(
                models.RulEstimate(
                    machine_id=press.id,
                    ts_us=T0 - (3 - i) * 3600 * S,
                    rul_h=rul,
                    low_h=rul * 0.6,
                    high_h=rul * 1.5,
                    alarm=rul < 72,
                    model_id=None,
                    model_version=1,
                    signals=[],
                )
            )
    viewer = _headers(platform, client, "vera", ["viewer"])
    ranking = client.get("/api/analytics/risk", headers=viewer).json()
    assert ranking["rul_available"] is True
    top = ranking["machines"][0]
    assert top["key"] == PRESS1
    assert top["rul"]["rul_h"] == 24.0 and top["rul"]["lo_h"] == pytest.approx(14.4)
    assert top["risk"] == pytest.approx(72 / 24)  # 72 h horizon over 24 h predicted
    health = client.get("/api/analytics/health", params={"machine": PRESS1}, headers=viewer).json()
    assert [p["rul_h"] for p in health["rul"]] == [60.0, 48.0, 24.0]
    assert all(p["lo_h"] < p["rul_h"] < p["hi_h"] for p in health["rul"])
