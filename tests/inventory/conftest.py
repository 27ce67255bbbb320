"""Inventory fixtures: a migrated database (SQLite file or PostgreSQL schema) and factories.

The inventory tables come from their own Alembic revision. Until the lead chains the revisions
of this release into one line there may be several heads, so these fixtures upgrade to "heads"
(the same as "head" once there is one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from ifactory.api.app import create_app
from ifactory.core import migrate
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database
from ifactory.core.settings import Settings
from ifactory.inventory import service
from ifactory.inventory.models import SparePart, StorageLocation
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

PG_URL = os.environ.get("IFACTORY_TEST_PG_URL")
_upgrade = migrate.upgrade


def upgrade_all(url: str, revision: str = "heads") -> None:
    """Migrate to every head (several exist while parallel revisions are not chained yet)."""
    _upgrade(url, "heads" if revision == "head" else revision)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a throwaway schema on the PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ifactory.db'}"
        upgrade_all(url)
        yield url
        return
    if PG_URL is None:
        pytest.skip("IFACTORY_TEST_PG_URL is not set (scripts/test.sh sets it; CI runs PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade_all(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_location(db: Database, code: str = "MS-A-01", store: str = "Main store") -> int:
    """A storage location; returns its id."""
    with db.session() as s:
        return service.create_location(s, code=code, store=store, bin=code[-4:], actor="tester").id


def make_part(db: Database, part_number: str = "BRG-6205", **fields: Any) -> int:
    """A spare part (a deep-groove ball bearing unless told otherwise); returns its id."""
    values: dict[str, Any] = {
        "name": "Deep groove ball bearing 6205-2RS",
        "unit": "pc",
        "unit_cost": 12.5,
        **fields,
    }
    with db.session() as s:
        return service.create_part(s, actor="tester", part_number=part_number, **values).id


@pytest.fixture
def location(db: Database) -> int:
    return make_location(db)


@pytest.fixture
def part(db: Database, location: int) -> int:
    return make_part(db, default_location_id=location)


def get_part(db: Database, part_id: int) -> SparePart:
    with db.session() as s:
        part = s.get(SparePart, part_id)
        assert part is not None
        return part


def get_location(db: Database, location_id: int) -> StorageLocation:
    with db.session() as s:
        loc = s.get(StorageLocation, location_id)
        assert loc is not None
        return loc


# --- a real platform behind a test client ---------------------------------------------------------

T0 = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC


@pytest.fixture
def platform(
    database_url: str, tmp_path: Path, example_plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    monkeypatch.setattr(migrate, "upgrade", upgrade_all)
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        state_stale_after_s=1e9,
    )
    p = Platform.open(settings, clock=ManualClock(T0), plant=example_plant)
    yield p
    p.stop()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    app = create_app(platform)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def token(platform: Platform, client: TestClient, username: str, roles: list[str]) -> str:
    """An API token of a new user with `roles`."""
    from ifactory.auth import service as auth_service

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
    assert r.status_code in (200, 201), r.text
    client.post("/api/auth/logout")
    return str(r.json()["token"])


@pytest.fixture
def headers(platform: Platform, client: TestClient) -> dict[str, dict[str, str]]:
    """Bearer headers of a viewer, an operator, a technician, a planner and a manager."""
    return {
        role: {"Authorization": f"Bearer {token(platform, client, role + '1', [role])}"}
        for role in ("viewer", "operator", "technician", "planner", "manager")
    }
