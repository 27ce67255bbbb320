"""The shipped migration creates the PM tables exactly as the models describe them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ifactory.core.db import Base
from ifactory.inventory import models as inventory_models
from ifactory.maintenance import models, pm_models

NAMES = {
    m.__table__.name  # type: ignore[attr-defined]
    for m in vars(pm_models).values()
    if isinstance(m, type) and issubclass(m, Base) and m is not Base
}


def test_migration_matches_the_pm_models(database_url: str) -> None:
    # The tables PM rows refer to (and theirs) must be in the metadata too.
    assert models.WorkOrder.__tablename__ == "work_order"
    assert inventory_models.__name__
    assert {"pm_plan", "pm_trigger", "pm_occurrence", "pm_meter_reading", "pm_signal"} == NAMES
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(f"'{name}'" in repr(d) for name in NAMES)] == []
