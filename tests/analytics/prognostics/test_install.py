"""The platform service: estimates every completed hour from the historian, resumes after a restart."""

from __future__ import annotations

from sqlalchemy import func, select

from ifactory.analytics.prognostics import service
from ifactory.analytics.prognostics.features import HOUR_US
from ifactory.analytics.prognostics.install import PrognosticsService, install
from ifactory.analytics.prognostics.models import RulEstimate
from ifactory.core.db import Database

from .conftest import FakePlatform, register_mill_model


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(RulEstimate)) or 0)


def test_estimates_each_completed_hour_once_and_resumes_after_restart(
    db: Database, fake_platform: FakePlatform
) -> None:
    platform = fake_platform
    register_mill_model(platform)
    install(platform)
    svc = platform.extras[0]
    assert isinstance(svc, PrognosticsService)
    mills = 3  # the example plant's CNC mills have the only registered class
    assert svc.run_once() == mills  # the hour just completed
    assert svc.run_once() == 0  # nothing new
    platform.clock.advance(3 * HOUR_US)
    assert svc.run_once() == 3 * mills
    # A restart: a new service resumes after the newest stored estimate.
    again = PrognosticsService(platform)
    platform.clock.advance(HOUR_US)
    assert again.run_once() == mills
    assert _count(db) == 5 * mills
    with db.session() as session:
        latest = service.latest_rul(session)
    assert len(latest) == mills and all(0 <= r.low_h <= r.rul_h <= r.high_h for r in latest)
