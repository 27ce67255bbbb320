"""Platform wiring: a background service that runs the online RUL estimator on the historian.

Every `interval_s` (wall time) it processes the hours of data completed since its last run
(platform clock, so a simulated demo runs in simulated time), stores the estimates and
publishes `FailurePredicted` through the outbox. It uses the latest registered model of each
machine class and picks up a newly registered version on its next run. After a restart it
rebuilds the machines' histories from the historian and resumes after the newest stored
estimate, with the alarm states that estimate recorded. On a first start (nothing stored) it
estimates the newest complete hour, or, when `backfill_from_us` says where the data begins
(the demo's history), every complete hour since then, so the RUL trend has data at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import func, select

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics import service
from ifactory.analytics.prognostics.estimator import AlarmPolicy, OnlineEstimator
from ifactory.analytics.prognostics.features import HOUR_US, KEEP_HOURS, machine_tags
from ifactory.analytics.prognostics.models import PrognosticModel, RulEstimate

log = logging.getLogger(__name__)
INTERVAL_S = 30.0
# Data of an hour is taken as complete this long after the hour (edge and bus latency).
LAG_US = 120 * 1_000_000


class PrognosticsService:
    """Runs the estimator periodically; `run_once` is the unit of work (used by tests too)."""

    def __init__(
        self, platform: Any, *, interval_s: float = INTERVAL_S, policy: AlarmPolicy | None = None
    ) -> None:
        self.platform = platform
        self.interval_s = interval_s
        self.policy = policy or AlarmPolicy()
        self.estimator: OnlineEstimator | None = None
        # Where the data begins, when known (the demo's history): on a first start, estimates
        # are back-filled from there (at most `KEEP_HOURS` back) so the RUL trend has data.
        self.backfill_from_us: int | None = None
        self._model_ids: tuple[int, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _prepare(self) -> OnlineEstimator | None:
        """The estimator for the latest models (rebuilt when a new version is registered)."""
        with self.platform.db.session() as session:
            ids = tuple(sorted(session.scalars(select(PrognosticModel.id))))
            if not ids:
                return None
            if self.estimator is not None and ids == self._model_ids:
                return self.estimator
            models = model_registry.load_latest(session)
            last_ts = session.scalar(select(func.max(RulEstimate.ts_us)))
            alarms = service.alarm_states(session)
        machines = [m for m in machine_tags(self.platform.registry) if m.machine_class in models]
        estimator = OnlineEstimator(machines, models, policy=self.policy, lag_us=LAG_US)
        now = self.platform.clock.now_us()
        newest_complete = (now - LAG_US) // HOUR_US - 1
        # Resume after the newest stored estimate (on a first start: estimate the newest complete
        # hour at once, or every complete hour since `backfill_from_us`), but never catch up
        # more than the history kept.
        if last_ts is not None:
            resume = last_ts // HOUR_US - 1
        elif self.backfill_from_us is not None:
            first_full_hour = -(-self.backfill_from_us // HOUR_US)
            resume = min(newest_complete - 1, first_full_hour - 1)
        else:
            resume = newest_complete - 1
        resume = max(resume, newest_complete - KEEP_HOURS)
        estimator.warm_up(self.platform.store, now, until_hour=resume)
        for machine_id, (active, since) in alarms.items():
            estimator.restore_alarm(machine_id, active=active, raised_us=since)
        self.estimator = estimator
        self._model_ids = ids
        return estimator

    def run_once(self) -> int:
        """Estimate every hour completed since the last run; returns the estimates stored."""
        estimator = self._prepare()
        if estimator is None:
            return 0
        estimates, events = estimator.advance(self.platform.store, self.platform.clock.now_us())
        if not estimates and not events:
            return 0
        with self.platform.db.session() as session:
            stored = service.record(session, estimates, events)
        if events:
            self.platform.relay.notify()
        return stored

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # keep estimating after a transient failure; it is logged
                log.exception("RUL estimation failed")

    def start(self) -> None:
        """Start the background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="prognostics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def install(platform: Any) -> None:
    """Add the RUL estimation service to the platform's extras (features.INSTALLERS)."""
    platform.extras.append(PrognosticsService(platform))
