"""A real platform (database, historian, pipeline, tracker) behind a TestClient."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from tests.conftest import PG_URL

T0 = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC, a Wednesday morning shift in Berlin


@pytest.fixture
def platform(database_url: str, tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    # The tests jump the plant clock by hours between feeds; the silence ticker (a real
    # thread) must not declare machines unknown in between, so silence detection is off here
    # (it is tested in tests/stream/test_state.py).
    # On PostgreSQL the telemetry goes to the PostgreSQL historian too (the production layout),
    # in a schema of its own beside the test's relational schema.
    historian_schema = f"h_{uuid.uuid4().hex[:12]}" if database_url.startswith("postgres") else None
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        historian_url=PG_URL if historian_schema else None,
        historian_schema=historian_schema or "historian",
        state_stale_after_s=1e9,
    )
    p = Platform.open(settings, clock=ManualClock(T0), plant=example_plant)
    try:
        yield p
    finally:
        p.stop()
        if historian_schema is not None:
            with psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", str(PG_URL))) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{historian_schema}" CASCADE')


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin_headers(platform: Platform, client: TestClient) -> dict[str, str]:
    from ifactory.auth import service as auth_service

    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password="s3cret-pass")
    r = client.post("/api/auth/login", json={"username": "admin", "password": "s3cret-pass"})
    assert r.status_code == 200, r.text
    r = client.post("/api/auth/tokens", json={"name": "tests"})
    assert r.status_code in (200, 201), r.text
    client.post("/api/auth/logout")
    return {"Authorization": f"Bearer {r.json()['token']}"}
