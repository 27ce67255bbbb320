"""The shipped migrations create the auth and audit tables exactly as the models describe them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ifactory.core.db import Base

from .helpers import TABLES

NAMES = {table.name for table in TABLES}


def _concerns_auth(diff: object) -> bool:
    return any(name in repr(diff) for name in NAMES)


def test_migrations_match_the_auth_models(database_url: str) -> None:
    # `database_url` (tests/conftest.py) is migrated to head, on SQLite and on PostgreSQL.
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()

    assert [d for d in diffs if _concerns_auth(d)] == []
