"""The shipped migration creates the quality tables exactly as the models describe them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ifactory.core.db import Base

from .conftest import TABLES

NAMES = {table.name for table in TABLES}


def test_migrations_match_the_quality_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(f"'{name}'" in repr(d) for name in NAMES)] == []
