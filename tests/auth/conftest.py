"""Fixtures: a database on SQLite (always) and PostgreSQL (IFACTORY_TEST_PG_URL), a test app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from ifactory.auth import passwords, service
from ifactory.core.db import Base, Database

from .helpers import ADMIN_PASSWORD, TABLES, make_app

PG_URL = os.environ.get("IFACTORY_TEST_PG_URL")


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    """Argon2 with tiny parameters: the defaults cost ~0.1 s per hash, too slow for many tests."""
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(previous)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, dropped afterwards."""
    if not PG_URL:
        pytest.skip("IFACTORY_TEST_PG_URL is not set")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"ifactory_test_auth_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    """An empty database with the auth and audit tables, on each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    else:
        database = Database(request.getfixturevalue("pg_url"))
    Base.metadata.create_all(database.engine, tables=TABLES)
    try:
        yield database
    finally:
        if request.param == "postgres":
            Base.metadata.drop_all(database.engine, tables=TABLES)
        database.dispose()


@pytest.fixture
def admin_id(db: Database) -> int:
    """The first administrator, created the way first start does."""
    with db.session() as session:
        user = service.ensure_admin(session, username="admin", password=ADMIN_PASSWORD)
        assert user is not None
        return user.id


@pytest.fixture
def app(db: Database, admin_id: int) -> FastAPI:
    """The test app, anonymous reading off."""
    return make_app(db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client (it keeps cookies like a browser)."""
    with TestClient(app) as test_client:
        yield test_client
