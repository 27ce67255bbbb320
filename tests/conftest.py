"""Shared fixtures: databases on SQLite and PostgreSQL (the real server), the example plant."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ifactory.core import migrate
from ifactory.core.db import Database
from ifactory.plant.loader import Plant, load_plant

PG_URL = os.environ.get("IFACTORY_TEST_PG_URL")


@pytest.fixture(scope="session")
def example_plant() -> Plant:
    """The bundled example plant, expanded."""
    return load_plant()


def _pg_schema_url(schema: str) -> str:
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a throwaway schema on the PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ifactory.db'}"
        migrate.upgrade(url)
        yield url
        return
    if PG_URL is None:
        pytest.skip("IFACTORY_TEST_PG_URL is not set (scripts/test.sh sets it; CI runs PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(schema)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database on the migrated schema."""
    database = Database(database_url)
    yield database
    database.dispose()
