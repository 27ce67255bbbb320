"""The shipped migration creates the maintenance tables exactly as the models describe them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ifactory.core.db import Base
from ifactory.maintenance import models

NAMES = {
    m.__table__.name  # type: ignore[attr-defined]
    for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, Base) and m is not Base
}


def test_migration_matches_the_maintenance_models(database_url: str) -> None:
    assert "work_order" in NAMES and "asset_installation" in NAMES
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(f"'{name}'" in repr(d) for name in NAMES)] == []
