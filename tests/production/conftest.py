"""A real platform (database on SQLite and PostgreSQL, historian, pipeline, tracker) with the
production feature installed, behind a TestClient; helpers to feed states and counters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.production import live

# Monday 2026-11-23 06:00 Europe/Berlin (05:00 UTC): the start of the early shift.
MONDAY_06H_US = 1_795_410_000_000_000
S = 1_000_000
MIN = 60 * S
CNC1 = "acme/springfield/machining/machining_line/cnc1"
LINE = "acme/springfield/machining/machining_line"
STATE_CODE = {"idle": 0, "executing": 1, "setup": 2, "down": 3, "maintenance": 4}


@pytest.fixture
def platform(database_url: str, tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    # The tests jump the plant clock by hours between feeds; the silence ticker (a real
    # thread) must not declare machines unknown in between, so silence detection is off here
    # (it is tested in tests/stream/test_state.py).
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        state_stale_after_s=1e9,
    )
    p = Platform.open(settings, clock=ManualClock(MONDAY_06H_US), plant=example_plant)
    live.install(p)
    yield p
    p.stop()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


def token(
    platform: Platform, client: TestClient, username: str, roles: list[str]
) -> dict[str, str]:
    """Bearer headers of a user with `roles` (created as needed)."""
    from ifactory.auth import service as auth_service

    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password="s3cret-pass")
    r = client.post("/api/auth/login", json={"username": "admin", "password": "s3cret-pass"})
    assert r.status_code == 200, r.text
    if username != "admin":
        r = client.post(
            "/api/users",
            json={"username": username, "password": "pa55-word-ok", "roles": roles},
        )
        assert r.status_code in (200, 201), r.text
        client.post("/api/auth/logout")
        r = client.post("/api/auth/login", json={"username": username, "password": "pa55-word-ok"})
        assert r.status_code == 200, r.text
    r = client.post("/api/auth/tokens", json={"name": f"tests-{username}"})
    assert r.status_code in (200, 201), r.text
    client.post("/api/auth/logout")
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def admin(platform: Platform, client: TestClient) -> dict[str, str]:
    return token(platform, client, "admin", [])


def tag_id(platform: Platform, machine_key: str, name: str) -> int:
    return platform.registry.tags_by_key[f"{machine_key}/{name}"].id


def feed_states(platform: Platform, machine_key: str, states: list[tuple[str, int]]) -> None:
    """Ingest state samples (name, µs) through the real pipeline and deliver the events."""
    tid = tag_id(platform, machine_key, "state")
    platform.pipeline.ingest(
        TelemetryBatch.of(
            np.full(len(states), tid),
            [t for _, t in states],
            [STATE_CODE[s] for s, _ in states],
            received_us=states[-1][1],
        )
    )
    platform.relay.drain()


def feed_counter(
    platform: Platform, machine_key: str, name: str, points: list[tuple[int, float]]
) -> None:
    """Ingest counter samples (µs, value) through the real pipeline."""
    tid = tag_id(platform, machine_key, name)
    platform.pipeline.ingest(
        TelemetryBatch.of(
            np.full(len(points), tid),
            [t for t, _ in points],
            [v for _, v in points],
            received_us=points[-1][0],
        )
    )


def feed_product(platform: Platform, machine_key: str, at_us: int, code: str) -> None:
    tid = tag_id(platform, machine_key, "product")
    platform.pipeline.ingest(
        TelemetryBatch.of([tid], [at_us], [np.nan], received_us=at_us, text=[code])
    )
