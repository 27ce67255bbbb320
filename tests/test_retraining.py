"""Retraining the RUL models from a plant's own historian and failure records.

End to end: a small plant simulated through the real ingest pipeline; its recorded failures
(the MTBF definition, read back from the state history) must be the simulator's ground truth,
and the registered model must say it was trained on exactly those. Then the knobs: dry run,
versions, the failure minimum, bad windows, and the running estimator picking up a version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.install import LAG_US, PrognosticsService
from ifactory.analytics.prognostics.labels import Failure
from ifactory.analytics.prognostics.models import PrognosticModel, RulEstimate
from ifactory.core.clock import ManualClock
from ifactory.core.errors import InvalidInput
from ifactory.core.settings import Settings
from ifactory.maintenance.reliability import FailureRecord
from ifactory.platform import Platform
from ifactory.retraining import RecordedFailures, retrain_from_records
from tests.retraining_plant import HOUR_US, STEP_S, Simulated, simulate, small_plant

US = 1_000_000
T0 = 1_795_410_000_000_000  # Monday 2026-11-23 05:00 UTC
HOURS = 288
STEP_US = int(STEP_S * US)
# After a repair the simulated machine is in maintenance for up to an hour (SimOptions
# maintenance_after_repair_min): the failure stop, and so the restoration, ends after it.
MAINTENANCE_AFTER_REPAIR_US = 60 * 60 * US


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulated]:
    """Twelve days of the small plant; the clock one estimation lag after the last hour."""
    run = simulate(tmp_path_factory.mktemp("retrain") / "data", start_us=T0, hours=HOURS)
    assert isinstance(run.platform.clock, ManualClock)
    run.platform.clock.set(run.end_us + LAG_US)
    yield run
    run.platform.stop()


def _model_count(platform: Platform) -> int:
    with platform.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(PrognosticModel)) or 0)


def test_recorded_failures_are_the_ground_truth_and_the_model_says_so(plant: Simulated) -> None:
    report = retrain_from_records(plant.platform)
    assert (report.start_us, report.end_us) == (T0, T0 + HOURS * HOUR_US)
    [mill] = report.classes
    assert mill.skipped is None and mill.version is not None
    truth = [f for f in plant.truth["failures"] if f["time_us"] < report.end_us]
    assert len(truth) >= 5  # enough to mean something
    with plant.platform.db.session() as session:
        row = session.get(PrognosticModel, mill.model_id)
        assert row is not None
        data: dict[str, Any] = row.training_data
        metrics: dict[str, Any] = row.metrics
    assert data["source"] == "records"
    assert (data["start_us"], data["end_us"]) == (report.start_us, report.end_us)
    assert data["failures"] == len(truth) == report.failures == mill.failures
    assert data["machines"] == ["shop/site1/mill1", "shop/site1/mill2"]
    # The plant books no reasons and no work orders: every failure is known from "down" only.
    assert data["failures_by_mode"] == {"unrecorded": len(truth)}
    records = sorted(data["failure_records"], key=lambda r: r["down_us"])
    for gt, rec in zip(sorted(truth, key=lambda f: f["time_us"]), records, strict=True):
        assert rec["machine"] == gt["machine"]
        # The state is sampled every STEP_S: "down" shows at the first sample after the failure.
        assert rec["start_us"] <= rec["down_us"]
        assert 0 <= rec["down_us"] - gt["time_us"] <= STEP_US
        if gt["repaired_us"] < report.end_us:
            # Restored when the machine runs again: after the repair and its maintenance.
            assert 0 <= rec["end_us"] - gt["repaired_us"] <= MAINTENANCE_AFTER_REPAIR_US + STEP_US
    # Honest metrics: the in-sample fit, and a time split scored on the later part.
    assert metrics["train"]["rows"] == mill.hours > 0
    validation = metrics["validation"]
    assert validation["split"] == "time"
    assert validation["fit_start_us"] == report.start_us < validation["split_us"] < report.end_us
    assert validation["fit_failures"] + validation["test_failures"] == len(truth)
    assert validation["rows"] > 0 and validation["mae_h"] >= 0
    assert 0 <= validation["band_coverage"] <= 1
    # The report is what an API returns: plain JSON.
    assert json.loads(json.dumps(report.as_dict()))["classes"][0]["version"] == mill.version


def test_a_dry_run_trains_and_registers_nothing(plant: Simulated) -> None:
    before = _model_count(plant.platform)
    report = retrain_from_records(plant.platform, dry_run=True)
    [mill] = report.classes
    assert mill.skipped is None and mill.hours > 0
    assert (mill.version, mill.model_id) == (None, None)
    assert mill.metrics["train"]["rows"] == mill.hours
    assert _model_count(plant.platform) == before


def test_each_retraining_registers_the_next_version(plant: Simulated) -> None:
    first = retrain_from_records(plant.platform).classes[0].version
    second = retrain_from_records(plant.platform, seed=1).classes[0].version
    assert first is not None and second == first + 1
    with plant.platform.db.session() as session:
        assert model_registry.load(session, machine_class="mill").version == second


def test_a_class_with_too_few_failures_is_skipped_with_the_reason(plant: Simulated) -> None:
    before = _model_count(plant.platform)
    report = retrain_from_records(plant.platform, min_failures=100)
    [mill] = report.classes
    assert mill.version is None and mill.model_id is None
    assert mill.skipped is not None
    assert f"only {report.failures} recorded failures" in mill.skipped
    assert "at least 100 needed" in mill.skipped
    assert _model_count(plant.platform) == before


def test_a_shorter_window_counts_only_its_failures(plant: Simulated) -> None:
    end = T0 + 200 * HOUR_US
    report = retrain_from_records(plant.platform, end_us=end + 1234, min_failures=1, dry_run=True)
    assert report.end_us == end  # whole hours
    assert report.failures == sum(1 for f in plant.truth["failures"] if f["time_us"] < end)


@pytest.mark.parametrize(
    ("window", "kind"),
    [
        ({"start_us": T0 + 10 * HOUR_US, "end_us": T0 + 10 * HOUR_US}, "invalid_range"),
        ({"start_us": T0 + 10 * HOUR_US, "end_us": T0 + 5 * HOUR_US}, "invalid_range"),
        ({"end_us": T0 + (HOURS + 24) * HOUR_US}, "invalid_range"),  # in the future
        ({"start_us": T0 + (HOURS + 24) * HOUR_US}, "invalid_range"),
        ({"start_us": T0 - 240 * HOUR_US, "end_us": T0 - 120 * HOUR_US}, "no_data"),
        ({"min_failures": 0}, "invalid_value"),
    ],
)
def test_bad_windows_are_refused(plant: Simulated, window: dict[str, Any], kind: str) -> None:
    before = _model_count(plant.platform)
    with pytest.raises(InvalidInput) as exc:
        retrain_from_records(plant.platform, **window)
    assert exc.value.code == kind
    assert _model_count(plant.platform) == before


def test_a_platform_without_data_is_refused(tmp_path: Path) -> None:
    platform = Platform.open(
        Settings(environment="test", data_dir=tmp_path / "empty"),
        clock=ManualClock(T0),
        plant=small_plant(),
    )
    try:
        with pytest.raises(InvalidInput) as exc:
            retrain_from_records(platform)
        assert exc.value.code == "no_data"
    finally:
        platform.stop()


def test_the_running_estimator_picks_up_a_retrained_version(plant: Simulated) -> None:
    service = PrognosticsService(plant.platform)
    v1 = retrain_from_records(plant.platform).classes[0].version
    assert service.run_once() == 2  # both mills, the newest complete hour
    with plant.platform.db.session() as session:
        used = set(session.scalars(select(RulEstimate.model_version)))
    assert used == {v1}
    v2 = retrain_from_records(plant.platform, seed=2).classes[0].version
    assert v1 is not None and v2 == v1 + 1
    service.run_once()
    assert service.estimator is not None
    assert service.estimator.models["mill"].version == v2


def test_recorded_failures_as_labels() -> None:
    keys = {1: "a", 2: "b"}
    records = [
        FailureRecord(2, 500, 900, "BRK-MECH"),  # booked, never reported down: the stop start
        FailureRecord(1, 100, 300, "unrecorded", ongoing=True, down_us=140),  # idle, then down
        FailureRecord(9, 200, 250, "BRK-ELEC"),  # a machine without features: not a label
    ]
    labels = RecordedFailures(records, keys)
    assert labels.failures(0, 1000) == [
        Failure("a", 140, "unrecorded", has_precursor=None, restored_us=300),
        Failure("b", 500, "BRK-MECH", has_precursor=None, restored_us=900),
    ]
    assert [f.time_us for f in labels.failures(140, 500)] == [140]


def test_a_retrained_model_that_predicts_worse_than_the_one_in_use_is_not_registered(
    plant: Simulated,
) -> None:
    # In use: a model that knows these hours well and was not trained on the records (as a
    # simulator-trained version would be): the latest whole-window fit, registered as such.
    retrain_from_records(plant.platform, force=True)
    with plant.platform.db.session() as session:
        latest = model_registry.load(session, machine_class="mill")
        row = model_registry.create(
            session,
            machine_class="mill",
            model=latest.model,
            metrics={},
            train_start_us=T0 - 2000 * HOUR_US,
            train_end_us=T0 - 1000 * HOUR_US,
            training_data={"source": "simulator", "seeds": [1001]},
        )
        in_use_id, in_use_version = row.id, row.version
    try:
        before = _model_count(plant.platform)
        [mill] = retrain_from_records(plant.platform).classes
        validation = mill.metrics["validation"]
        current = validation["in_use"]
        assert current["version"] == in_use_version and current["source"] == "simulator"
        assert current["trained_on_these_hours"] is False
        assert current["mae_h"] < validation["mae_h"]
        assert mill.version is None and mill.skipped is not None
        assert f"the version in use (v{in_use_version}, trained on simulator data)" in mill.skipped
        assert _model_count(plant.platform) == before
        # Forced, it is registered all the same.
        forced = retrain_from_records(plant.platform, force=True).classes[0]
        assert forced.skipped is None and forced.version == in_use_version + 1
    finally:
        with plant.platform.db.session() as session:
            session.execute(
                PrognosticModel.__table__.delete().where(PrognosticModel.id >= in_use_id)
            )


def test_a_window_without_labels_says_why_in_words(plant: Simulated) -> None:
    # Before the first failure, and far shorter than the RUL cap: every hour is right-censored.
    first = min(f["time_us"] for f in plant.truth["failures"])
    end = T0 + min((first - T0) // HOUR_US, 24) * HOUR_US
    assert end > T0
    report = retrain_from_records(plant.platform, end_us=end, min_failures=1, dry_run=True)
    [mill] = report.classes
    assert mill.hours == 0 and mill.version is None and mill.skipped is not None
    hours = (end - T0) // HOUR_US
    assert "a training label only when a recorded failure follows it" in mill.skipped
    assert "the RUL cap (240 h)" in mill.skipped
    assert f"the window holds {hours} h of data and 0 recorded failures" in mill.skipped
