"""Alert, score-trend and checkpoint storage on SQLite and PostgreSQL, and the migrated schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select

from ifactory.analytics import alert_models, alert_service
from ifactory.analytics.base import restore
from ifactory.analytics.detectors.univariate import LikelihoodDetector
from ifactory.core.audit import AuditEntry
from ifactory.core.db import Base, Database
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.core.outbox import OutboxRecord
from ifactory.plant.models import PlantNode

TABLES = {"anomaly_alert", "anomaly_score", "detector_checkpoint"}
MIN = 60_000_000


def test_the_migration_creates_the_tables_as_the_models_describe_them(database_url: str) -> None:
    assert alert_models.AnomalyAlert.__table__ is not None  # the models are imported
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if any(name in repr(d) for name in TABLES)] == []


@pytest.fixture
def machine_id(db: Database) -> int:
    with db.session() as s:
        node = PlantNode(key="site/m1", level="work_unit", name="M1", uns_path="site/m1")
        s.add(node)
        s.flush()
        return node.id


def _raise(db: Database, machine_id: int, at_us: int = 10 * MIN) -> int:
    with db.session() as s:
        return alert_service.raise_alert(
            s,
            machine_id=machine_id,
            machine_key="site/m1",
            detector="likelihood",
            tag_ids=[3],
            tag_keys=["site/m1/temp"],
            score=0.8,
            threshold=0.7,
            ratio=0.8 / 0.7,
            window_start_us=at_us - 5 * MIN,
            at_us=at_us,
        ).id


def test_an_alert_is_raised_with_its_event_extended_and_cleared(
    db: Database, machine_id: int
) -> None:
    alert_id = _raise(db, machine_id)
    with db.session() as s:
        alert = alert_service.get(s, alert_id=alert_id)
        alert_service.extend_alert(
            s,
            alert=alert,
            detector="mahalanobis",
            tag_ids=[3, 4],
            score=30.0,
            threshold=12.0,
            ratio=2.5,
            at_us=12 * MIN,
        )
        alert_service.clear_alert(
            s, alert=alert, at_us=20 * MIN, window_end_us=15 * MIN, peak_ratio=2.5
        )
    with db.session() as s:
        alert = alert_service.get(s, alert_id=alert_id)
        assert alert.tag_ids == [3, 4]
        assert (alert.detector, alert.score, alert.threshold) == ("mahalanobis", 30.0, 12.0)
        assert (alert.state, alert.cleared_at_us, alert.window_end_us) == (
            "cleared",
            20 * MIN,
            15 * MIN,
        )
        types = s.scalars(select(OutboxRecord.type).order_by(OutboxRecord.id)).all()
        assert types == ["anomaly.detected", "anomaly.alert_cleared"]
        assert alert_service.last_cleared(s) == {machine_id: 20 * MIN}
        assert alert_service.get_open(s) == []


def test_acknowledge_is_audited_and_refused_twice_or_after_clearing(
    db: Database, machine_id: int
) -> None:
    first, second = _raise(db, machine_id), _raise(db, machine_id, at_us=30 * MIN)
    with db.session() as s:
        alert = alert_service.acknowledge(
            s, alert=alert_service.get(s, alert_id=first), comment="looked at it", user="tom"
        )
        assert (alert.state, alert.acknowledged_by) == ("acknowledged", "tom")
    with db.session() as s:
        with pytest.raises(Conflict):
            alert_service.acknowledge(
                s, alert=alert_service.get(s, alert_id=first), comment="", user="ann"
            )
        cleared = alert_service.get(s, alert_id=second)
        alert_service.clear_alert(
            s, alert=cleared, at_us=31 * MIN, window_end_us=30 * MIN, peak_ratio=1.2
        )
        with pytest.raises(Conflict):
            alert_service.acknowledge(s, alert=cleared, comment="", user="ann")
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "anomaly_alert")).all()
        assert [(e.username, e.action, e.entity_id) for e in entries] == [
            ("tom", "acknowledge", str(first))
        ]
        with pytest.raises(InvalidInput):
            alert_service.get_all(s, states=["open"])


def test_score_trend_keeps_the_largest_value_of_each_minute(db: Database, machine_id: int) -> None:
    with db.session() as s:
        alert_service.record_scores(s, scores={(machine_id, 0): 0.4, (machine_id, MIN): 0.2})
    with db.session() as s:
        # A later flush of the same minute with a smaller value does not lower it.
        alert_service.record_scores(s, scores={(machine_id, 0): 0.3, (machine_id, MIN): 0.9})
    with db.session() as s:
        assert alert_service.get_scores(s, machine_id=machine_id, start_us=0, end_us=2 * MIN) == [
            (0, 0.4),
            (MIN, 0.9),
        ]
        assert alert_service.recent_scores(s, since_us=MIN) == {machine_id: 0.9}


def test_checkpoints_are_replaced_by_key_and_restore_the_detector(db: Database) -> None:
    detector = LikelihoodDetector(grace=5)
    detector.learn_many([1.0, 1.1, 0.9, 1.0])
    first = alert_service.Checkpoint("tag:3", detector.name, detector.checkpoint(), 4, 40)
    with db.session() as s:
        alert_service.save_checkpoints(s, checkpoints=[first])
    detector.learn_many([1.2, 0.8])
    second = alert_service.Checkpoint("tag:3", detector.name, detector.checkpoint(), 6, 60)
    with db.session() as s:
        assert alert_service.save_checkpoints(s, checkpoints=[second]) == 1
    with db.session() as s:
        stored = alert_service.load_checkpoints(s)
    assert list(stored) == ["tag:3"]
    assert (stored["tag:3"].points, stored["tag:3"].last_ts_us) == (6, 60)
    again = restore(stored["tag:3"].data)
    assert again.checkpoint() == detector.checkpoint()
    assert again.score_one(5.0) == detector.score_one(5.0)
