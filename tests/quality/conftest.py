"""Quality fixtures: a migrated database with the quality tables, a real platform behind a client.

The quality tables come from their own Alembic revision; until the lead chains the revisions
of this release into one line, `create_all(checkfirst=True)` adds any that are missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.core.db import Base, Database
from ifactory.core.settings import Settings
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.quality import models

T0 = 1_795_000_000_000_000  # 2026-11-18 07:46:40 UTC, a Wednesday morning shift in Berlin
TABLES = [
    getattr(models, name).__table__
    for name in (
        "InspectionPlan",
        "Characteristic",
        "DefectCode",
        "MaterialLot",
        "InspectionRecord",
        "DefectCount",
        "Measurement",
        "SpcViolation",
        "SerialNumber",
        "LotConsumption",
        "LotLink",
        "NonConformance",
        "QualityHold",
    )
]


def add_orders(database: Database, *ids: int) -> None:
    """Production orders with these ids (the quality `order_id` columns are foreign keys to them)."""
    from ifactory.plant.models import Product
    from ifactory.production.models import ProductionOrder

    with database.session() as s:
        if s.get(Product, "TEST-PART") is None:
            s.add(Product(code="TEST-PART", name="test part"))
            s.flush()
        for i in ids:
            s.add(ProductionOrder(id=i, number=f"TEST-{i}", product_code="TEST-PART", quantity=10))


def add_quality_tables(database: Database) -> None:
    """Create the quality tables that the migrated schema does not have yet."""
    Base.metadata.create_all(database.engine, tables=TABLES, checkfirst=True)


@pytest.fixture
def qdb(db: Database) -> Database:
    add_quality_tables(db)
    return db


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
    p = Platform.open(settings, clock=ManualClock(T0), plant=example_plant)
    add_quality_tables(p.db)
    yield p
    p.stop()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


def _token(platform: Platform, client: TestClient, username: str, roles: list[str]) -> str:
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
def quality_headers(platform: Platform, client: TestClient) -> dict[str, str]:
    """A quality engineer."""
    return {"Authorization": f"Bearer {_token(platform, client, 'qe', ['quality'])}"}


@pytest.fixture
def operator_headers(platform: Platform, client: TestClient) -> dict[str, str]:
    """A machine operator."""
    return {"Authorization": f"Bearer {_token(platform, client, 'olga', ['operator'])}"}
