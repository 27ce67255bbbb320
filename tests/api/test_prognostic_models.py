"""The RUL model registry API: list and read versions, and retraining from records as a job."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.features import machine_tags
from ifactory.analytics.prognostics.model import QuantileModel
from ifactory.api.app import create_app
from ifactory.api.prognostic_models import ModelTraining
from ifactory.auth import service as auth_service
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.platform import Platform
from tests.api.conftest import T0
from tests.conftest import PG_URL

HOUR_US = 3600 * 1_000_000
URL = "/api/analytics/models"
TRAIN = "/api/analytics/models/train"
PASSWORD = "s3cret-pass-1"
SIM_SEEDS = [1001, 2001]


def _user(platform: Platform, username: str, roles: list[str]) -> None:
    with platform.db.session() as session:
        auth_service.create(
            session,
            username=username,
            password=PASSWORD,
            display_name=username,
            roles=roles,
            active=True,
            actor="system",
        )


def _headers(
    platform: Platform, client: TestClient, username: str, roles: list[str]
) -> dict[str, str]:
    _user(platform, username, roles)
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = client.post("/api/auth/tokens", json={"name": "tests"})
    client.post("/api/auth/logout")
    return {"Authorization": f"Bearer {r.json()['token']}"}


def register(
    platform: Platform,
    machine_class: str,
    *,
    metrics: dict[str, Any],
    training_data: dict[str, Any],
    start_us: int,
    end_us: int,
) -> int:
    """Register a small real model of `machine_class` (its real feature names); returns its id."""
    mt = next(m for m in machine_tags(platform.registry) if m.machine_class == machine_class)
    rng = np.random.default_rng(0)
    model = QuantileModel.train(
        rng.normal(size=(120, len(mt.feature_names()))),
        rng.uniform(20, 168, 120),
        mt.feature_names(),
        cap_h=168,
        rounds=5,
    )
    with platform.db.session() as session:
        row = model_registry.create(
            session,
            machine_class=machine_class,
            model=model,
            metrics=metrics,
            train_start_us=start_us,
            train_end_us=end_us,
            training_data=training_data,
        )
        return int(row.id)


def _simulated(version: int) -> dict[str, Any]:
    return {"source": "simulator", "seeds": SIM_SEEDS, "days": 90 + version, "failures": 7}


def _metrics(mae: float) -> dict[str, Any]:
    return {"train": {"rows": 500.0, "mae_h": mae, "rmse_h": mae * 1.5, "band_coverage": 0.8}}


@pytest.fixture
def registered(platform: Platform) -> dict[str, int]:
    """cnc_mill v1 and v2, press v1; ids by "class/version"."""
    ids = {}
    for version, mae in ((1, 30.0), (2, 20.0)):
        ids[f"cnc_mill/{version}"] = register(
            platform,
            "cnc_mill",
            metrics=_metrics(mae),
            training_data=_simulated(version),
            start_us=T0 - (100 + version) * 24 * HOUR_US,
            end_us=T0 - version * HOUR_US,
        )
    ids["press/1"] = register(
        platform,
        "press",
        metrics=_metrics(12.5),
        training_data=_simulated(1),
        start_us=T0 - 90 * 24 * HOUR_US,
        end_us=T0,
    )
    return ids


def _iso(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


def test_list_has_every_version_newest_first_with_window_metrics_and_the_one_in_use(
    platform: Platform, client: TestClient, registered: dict[str, int]
) -> None:
    viewer = _headers(platform, client, "vera", ["viewer"])

    r = client.get(URL, headers=viewer)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    items = body["items"]
    assert [(m["machine_class"], m["version"]) for m in items] == [
        ("cnc_mill", 2),
        ("cnc_mill", 1),
        ("press", 1),
    ]
    assert [m["id"] for m in items] == [
        registered["cnc_mill/2"],
        registered["cnc_mill/1"],
        registered["press/1"],
    ]
    assert [m["in_use"] for m in items] == [True, False, True]
    # Three mills; two presses by class and a retrofit press predicted as a press by its tags.
    assert [m["machines_served"] for m in items] == [3, 0, 3]
    mill2 = items[0]
    assert "artifact" not in mill2
    assert mill2["name"] == "rul.cnc_mill"
    assert mill2["training_data"] == _simulated(2)
    assert mill2["metrics"] == _metrics(20.0)
    start, end = T0 - 102 * 24 * HOUR_US, T0 - 2 * HOUR_US
    assert mill2["window"]["start_us"] == start and mill2["window"]["end_us"] == end
    assert datetime.fromisoformat(mill2["window"]["start"]) == _iso(start)
    assert datetime.fromisoformat(mill2["window"]["end"]) == _iso(end)
    assert len(mill2["features"]) > 0 and all(isinstance(f, str) for f in mill2["features"])
    assert datetime.fromisoformat(mill2["created_at"]).tzinfo is not None


def test_read_one_version_and_typed_404s(
    platform: Platform, client: TestClient, registered: dict[str, int]
) -> None:
    one = client.get(f"{URL}/cnc_mill/1")
    assert one.status_code == 200, one.text
    assert one.json()["id"] == registered["cnc_mill/1"]
    assert one.json()["in_use"] is False and one.json()["machines_served"] == 0
    assert one.json()["metrics"] == _metrics(30.0)

    no_version = client.get(f"{URL}/cnc_mill/9")
    assert no_version.status_code == 404
    assert no_version.json()["detail"] == [
        {
            "msg": "no version 9 of the RUL model of machine class 'cnc_mill'",
            "loc": ["path", "version"],
            "type": "model_not_found",
        }
    ]
    no_class = client.get(f"{URL}/lathe/1")
    assert no_class.status_code == 404
    assert no_class.json()["detail"][0]["loc"] == ["path", "machine_class"]
    assert no_class.json()["detail"][0]["type"] == "model_not_found"
    assert client.get(f"{URL}/cnc_mill/0").status_code == 422


def test_reading_needs_sign_in_when_anonymous_reading_is_off(
    platform: Platform, client: TestClient, registered: dict[str, int]
) -> None:
    platform.settings.anonymous_read = False
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/cnc_mill/1").status_code == 401
    assert client.get(TRAIN).status_code == 401


@pytest.mark.parametrize("roles", [["viewer"], ["operator"], ["technician"], ["quality"]])
def test_retraining_is_refused_to_other_roles(
    platform: Platform, client: TestClient, roles: list[str]
) -> None:
    headers = _headers(platform, client, "someone", roles)

    r = client.post(TRAIN, json={}, headers=headers)

    assert r.status_code == 403, r.text
    assert r.json()["detail"][0]["type"] == "permission_denied"
    assert "planner, manager" in r.json()["detail"][0]["msg"]
    assert client.post(TRAIN, json={}).status_code == 401
    assert client.get(TRAIN).json()["state"] == "idle"


def _wait(client: TestClient) -> dict[str, Any]:
    training: ModelTraining = client.app.state.model_training  # type: ignore[attr-defined]
    training.join(timeout=120)
    job: dict[str, Any] = client.get(TRAIN).json()
    assert job["state"] != "running"
    return job


@pytest.mark.parametrize("roles", [["planner"], ["manager"], ["admin"]])
def test_planner_manager_and_admin_start_a_job_whose_refusal_is_shown(
    platform: Platform, client: TestClient, roles: list[str]
) -> None:
    # The example plant has no history at all here: the real retraining refuses, and the job
    # says why instead of dying silently.
    headers = _headers(platform, client, "pat", roles)

    r = client.post(TRAIN, json={"min_failures": 2, "dry_run": True}, headers=headers)

    assert r.status_code == 202, r.text
    assert r.json()["state"] == "running"
    assert r.json()["requested_by"] == "pat"
    assert r.json()["params"] == {"min_failures": 2, "dry_run": True, "force": False}
    assert r.json()["started_at_us"] == T0
    job = _wait(client)
    assert job["state"] == "failed"
    assert job["report"] is None
    assert job["error"] == "no machine data is stored yet"  # the planner's message, no trace
    assert job["finished_at_us"] == T0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"min_failures": 0}, ["body", "min_failures"]),
        ({"min_failures": "many"}, ["body", "min_failures"]),
        ({"dry_run": "perhaps"}, ["body", "dry_run"]),
        ({"force": "please"}, ["body", "force"]),
        ({"window": 3}, ["body", "window"]),
        ({"start": "2026-11-01T00:00:00"}, ["body", "start"]),  # no time zone
        ({"start": "2026-11-10T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, ["body"]),
        ({"end": "2030-01-01T00:00:00Z"}, ["body", "end"]),  # after the plant clock
        ({"start": "2030-01-01T00:00:00Z"}, ["body", "start"]),
    ],
)
def test_training_request_is_validated_and_starts_nothing(
    platform: Platform, client: TestClient, body: dict[str, Any], loc: list[str]
) -> None:
    headers = _headers(platform, client, "pat", ["planner"])

    r = client.post(TRAIN, json=body, headers=headers)

    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][: len(loc)] == loc
    assert client.get(TRAIN).json()["state"] == "idle"


def test_a_cross_origin_cookie_post_is_refused_and_starts_nothing(
    platform: Platform, client: TestClient
) -> None:
    _user(platform, "pat", ["planner"])
    r = client.post("/api/auth/login", json={"username": "pat", "password": PASSWORD})
    assert r.status_code == 200

    r = client.post(TRAIN, json={}, headers={"Origin": "https://evil.example"})

    assert r.status_code == 403
    assert r.json()["detail"][0]["type"] == "csrf_origin_mismatch"
    assert client.get(TRAIN).json()["state"] == "idle"


class Gate:
    """A training function that waits until released: a job that is still running."""

    def __init__(self, outcome: Exception | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    def __call__(self, platform: Any, **params: Any) -> Any:
        from ifactory.retraining import RetrainReport

        self.calls.append(params)
        self.started.set()
        self.release.wait(60)
        if self.outcome is not None:
            raise self.outcome
        return RetrainReport(start_us=params.get("start_us", 0), end_us=T0, failures=0, classes=[])


def test_a_second_job_is_refused_while_one_runs(platform: Platform, client: TestClient) -> None:
    gate = Gate()
    client.app.state.model_training = ModelTraining(platform, train=gate)  # type: ignore[attr-defined]
    planner = _headers(platform, client, "pat", ["planner"])
    manager = _headers(platform, client, "max", ["manager"])

    first = client.post(TRAIN, json={"start": "2026-11-01T00:00:00+01:00"}, headers=planner)
    assert first.status_code == 202, first.text
    assert gate.started.wait(30)
    second = client.post(TRAIN, json={}, headers=manager)
    running = client.get(TRAIN).json()
    gate.release.set()
    job = _wait(client)

    assert second.status_code == 409
    assert second.json()["detail"][0]["type"] == "training_running"
    assert "pat" in second.json()["detail"][0]["msg"]
    assert running["state"] == "running" and running["requested_by"] == "pat"
    start_us = int(datetime(2026, 10, 31, 23, tzinfo=UTC).timestamp()) * 1_000_000
    assert gate.calls == [
        {"min_failures": 3, "dry_run": False, "force": False, "start_us": start_us}
    ]
    assert job["state"] == "done"
    assert job["report"] == {"start_us": start_us, "end_us": T0, "failures": 0, "classes": []}
    # Over: the next one may start.
    assert client.post(TRAIN, json={"force": True}, headers=manager).status_code == 202
    assert _wait(client)["requested_by"] == "max"
    assert gate.calls[-1] == {"min_failures": 3, "dry_run": False, "force": True}


def test_a_job_that_crashes_is_logged_and_shown(
    platform: Platform, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate(RuntimeError("historian closed"))
    gate.release.set()
    client.app.state.model_training = ModelTraining(platform, train=gate)  # type: ignore[attr-defined]
    planner = _headers(platform, client, "pat", ["planner"])

    with caplog.at_level(logging.ERROR, logger="ifactory.api.prognostic_models"):
        assert client.post(TRAIN, json={}, headers=planner).status_code == 202
        job = _wait(client)

    assert job["state"] == "failed"
    assert job["error"] == "RuntimeError: historian closed"
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failed and failed[0].exc_info is not None


# --- a real retraining from the records of a small plant that fails often -------------------


@pytest.fixture
def records_platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The two-mill plant of tests/retraining_plant.py, fed 8 days through the real pipeline."""
    from ifactory.sim import PlantSimulator
    from tests.retraining_plant import OPTIONS, STEP_S, small_plant

    plant = small_plant()
    historian_schema = f"h_{uuid.uuid4().hex[:12]}" if database_url.startswith("postgres") else None
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        historian_url=PG_URL if historian_schema else None,
        historian_schema=historian_schema or "historian",
        state_stale_after_s=1e9,
    )
    start = T0 // HOUR_US * HOUR_US
    clock = ManualClock(start)
    platform = Platform.open(settings, clock=clock, plant=plant)
    try:
        ids = {t.key: t.id for t in platform.registry.tags.values()}
        sim = PlantSimulator(
            plant, seed=3, start_us=start, step_s=STEP_S, options=OPTIONS, tag_ids=ids
        )
        t, end = start, start + 8 * 24 * HOUR_US
        while t < end:
            t = min(t + 600 * 1_000_000, end)
            batch = sim.advance(t)
            clock.set(t)
            platform.pipeline.ingest(batch)
            platform.tracker.tick(t)
        platform.relay.drain()
        clock.set(end + 3 * HOUR_US)
        yield platform
    finally:
        platform.stop()
        if historian_schema is not None:
            with psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", str(PG_URL))) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{historian_schema}" CASCADE')


@pytest.mark.slow
def test_retraining_from_records_registers_a_version_the_registry_then_shows(
    records_platform: Platform,
) -> None:
    platform = records_platform
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        planner = _headers(platform, client, "pat", ["planner"])
        assert client.get(URL).json()["total"] == 0

        r = client.post(TRAIN, json={"min_failures": 1}, headers=planner)
        assert r.status_code == 202, r.text
        job = _wait(client)
        models = client.get(URL).json()

    assert job["state"] == "done", job["error"]
    report = job["report"]
    [mill] = report["classes"]
    assert mill["machine_class"] == "mill" and mill["skipped"] is None
    assert mill["version"] == 1 and mill["failures"] >= 1
    assert mill["machines"] == ["shop/site1/mill1", "shop/site1/mill2"]
    [entry] = models["items"]
    assert entry["id"] == mill["model_id"] and entry["version"] == 1 and entry["in_use"] is True
    assert entry["machines_served"] == 2
    assert entry["training_data"]["source"] == "records"
    assert entry["training_data"]["failures"] == mill["failures"]
    assert entry["window"]["start_us"] == report["start_us"]
    assert entry["window"]["end_us"] == report["end_us"]
    assert entry["metrics"]["train"]["rows"] == mill["hours"]
    assert entry["metrics"]["validation"]["split"] == "time"
