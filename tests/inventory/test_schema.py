"""The shipped migration creates the inventory tables exactly as the models describe them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from ifactory.core.db import Base
from ifactory.inventory import models

NAMES = {
    m.__tablename__
    for m in (
        models.StorageLocation,
        models.SparePart,
        models.StockMovement,
        models.Reservation,
        models.PurchaseRequisition,
    )
}


def test_migration_matches_the_inventory_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= NAMES
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(f"'{name}'" in repr(d) for name in NAMES)] == []
