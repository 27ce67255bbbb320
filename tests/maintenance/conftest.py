"""Maintenance fixtures: a migrated database (SQLite file or PostgreSQL schema) and a real platform.

Until the lead chains this release's revisions into one line there may be several heads, so the
database is upgraded to "heads" (the same as "head" once there is one).
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
from ifactory.core.settings import Settings
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

PG_URL = os.environ.get("IFACTORY_TEST_PG_URL")
T0 = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC, a Wednesday morning shift in Berlin
S = 1_000_000
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


@pytest.fixture
def platform(
    database_url: str, tmp_path: Path, example_plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """A platform on the example plant with a manual clock at T0 (not started)."""
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


def machine_id(platform: Platform, name: str) -> int:
    """The node id of a machine of the example plant by its plant.yaml id ("cnc1")."""
    for node in platform.registry.machines():
        if node.key.rsplit("/", 1)[-1] == name:
            return node.id
    raise KeyError(name)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    app = create_app(platform)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def make_user(platform: Platform, username: str, roles: list[str]) -> None:
    """A user with a password ("s3cret-pass-1") and `roles`."""
    from ifactory.auth import service as auth_service

    with platform.db.session() as session:
        auth_service.create(
            session,
            username=username,
            password="s3cret-pass-1",
            display_name=username.title(),
            roles=roles,
            active=True,
            actor="system",
        )


def token(platform: Platform, client: TestClient, username: str, roles: list[str]) -> str:
    """An API token of a new user with `roles`."""
    make_user(platform, username, roles)
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


def stock(platform: Platform, *, part_number: str, on_hand: float, unit_cost: float) -> int:
    """A spare part with `on_hand` received into a location; returns the part id."""
    from ifactory.inventory import service as inventory

    with platform.db.session() as s:
        loc = inventory.create_location(
            s, code=f"MS-{part_number}", store="Main store", bin="A1", actor="tester"
        )
        fields: dict[str, Any] = {"name": part_number, "unit": "pc", "unit_cost": unit_cost}
        part = inventory.create_part(
            s, actor="tester", part_number=part_number, default_location_id=loc.id, **fields
        )
        if on_hand > 0:
            inventory.receive(s, part_id=part.id, quantity=on_hand, actor="tester")
        return part.id
