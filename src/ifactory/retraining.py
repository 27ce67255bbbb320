"""Retraining the failure-prediction models from a plant's own records.

A plant of real machines has no simulator ground truth: its run-to-failure histories are its
historian (the condition signals) and its failure records. This module composes the two
domains that may not import each other: the failures come from maintenance
(`reliability.failure_records`, the one definition of a failure the platform uses for MTBF:
a stop booked to a breakdown reason, linked to corrective work, or unbooked and containing
"down"), the features, labels and models from analytics (the same hourly features the online
estimator builds), and every trained class is registered as the next version of its model.
The running `PrognosticsService` loads a newly registered version on its next run.

Metrics are honest about what they are: `train` is the in-sample fit; `validation`, when the
data allow it, is a time split (fitted on the earlier part of the window, with labels that
only know the failures of that part, scored on the later part). The registered model is then
fitted on the whole window.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.features import HOUR_US, MachineTags, machine_tags
from ifactory.analytics.prognostics.install import LAG_US
from ifactory.analytics.prognostics.labels import DEFAULT_CAP_H, Failure
from ifactory.analytics.prognostics.models import PrognosticModel
from ifactory.analytics.prognostics.registry import LoadedModel
from ifactory.analytics.prognostics.training import (
    ClassData,
    FeatureCollector,
    add_run,
    fit_metrics,
    train_classes,
)
from ifactory.core.errors import InvalidInput
from ifactory.maintenance import reliability
from ifactory.maintenance.reliability import FailureRecord
from ifactory.stream.models import MachineStateInterval

log = logging.getLogger(__name__)
# The validation fit sees the first 70 % of the window; the rest is scored.
VALIDATION_FIT_SHARE = 0.7


@dataclass(frozen=True)
class ClassOutcome:
    """What retraining did for one machine class."""

    machine_class: str
    machines: list[str]  # machine keys of the class that had features
    hours: int  # usable labelled hours (training rows)
    failures: int  # recorded failures of the class in the window
    version: int | None  # registered version; None when skipped or dry run
    model_id: int | None
    skipped: str | None  # why it was not registered, in words a planner understands
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RetrainReport:
    """The window retrained on, its recorded failures and the outcome per machine class."""

    start_us: int
    end_us: int
    failures: int
    classes: list[ClassOutcome]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "start_us": self.start_us,
            "end_us": self.end_us,
            "failures": self.failures,
            "classes": [asdict(c) for c in self.classes],
        }


class RecordedFailures:
    """A `LabelSource` over the platform's failure records.

    The failure time is when the machine first reported itself down in the failure stop (the
    stop's start when it never did): the stop may begin with hours of idling before the
    failure. The records cannot tell whether a failure had a precursor (`has_precursor` None),
    and the restoration is the end of the failure stop.
    """

    def __init__(self, records: Sequence[FailureRecord], machine_keys: Mapping[int, str]) -> None:
        self._failures = sorted(
            (
                Failure(
                    machine_key=machine_keys[r.machine_id],
                    time_us=r.start_us if r.down_us is None else r.down_us,
                    mode=r.mode,
                    has_precursor=None,
                    restored_us=r.end_us,
                )
                for r in records
                if r.machine_id in machine_keys
            ),
            key=lambda f: (f.time_us, f.machine_key),
        )

    def failures(self, start_us: int, end_us: int) -> list[Failure]:
        """Failures with start_us <= time < end_us, sorted by time."""
        return [f for f in self._failures if start_us <= f.time_us < end_us]


def _window(
    platform: Any, machines: Sequence[MachineTags], start_us: int | None, end_us: int | None
) -> tuple[int, int, int]:
    """(start, end, now): whole hours, end at most the last complete hour of data."""
    now = platform.clock.now_us()
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise InvalidInput(
            "the window must end after it starts", loc=["end_us"], type="invalid_range"
        )
    if end_us is not None and end_us > now:
        raise InvalidInput("the window ends in the future", loc=["end_us"], type="invalid_range")
    if start_us is not None and start_us >= now:
        raise InvalidInput(
            "the window starts in the future", loc=["start_us"], type="invalid_range"
        )
    latest = platform.store.latest(
        np.array(sorted({t for m in machines for t in m.tag_ids}), dtype=np.int32)
    )
    with platform.db.session() as session:
        first = session.scalar(
            select(func.min(MachineStateInterval.start_us)).where(
                MachineStateInterval.machine_id.in_([m.machine_id for m in machines])
            )
        )
    if not len(latest) or first is None:
        raise InvalidInput("no machine data is stored yet", type="no_data")
    # The last complete hour: data up to its end, and the estimation lag passed (install.py).
    data_end = min(int(latest.ts.max()), now - LAG_US) // HOUR_US * HOUR_US
    data_start = int(first)
    start = data_start if start_us is None else max(start_us, data_start)
    start = start // HOUR_US * HOUR_US
    end = data_end if end_us is None else min(end_us // HOUR_US * HOUR_US, data_end)
    if end <= start:
        raise InvalidInput(
            "no complete hour of machine data in the window", type="no_data", loc=["window"]
        )
    return start, end, now


def _restricted(collector: FeatureCollector, lo_hour: int, hi_hour: int) -> FeatureCollector:
    """A collector holding only the rows of hours lo_hour <= hour < hi_hour."""
    out = FeatureCollector(collector.machines.values(), start_us=lo_hour * HOUR_US)
    out.rows = {
        mid: [(h, x) for h, x in rows if lo_hour <= h < hi_hour]
        for mid, rows in collector.rows.items()
    }
    return out


@dataclass(frozen=True)
class _InUse:
    """The version of a class's model the estimator uses now, to compare a new one with."""

    model: LoadedModel
    source: str
    # Trained on records overlapping the validation hours: its figures there are in-sample.
    overlaps: bool


def _in_use(platform: Any, split_us: int, end_us: int) -> dict[str, _InUse]:
    out: dict[str, _InUse] = {}
    with platform.db.session() as session:
        for cls, loaded in model_registry.load_latest(session).items():
            row = session.get(PrognosticModel, loaded.id)
            data = row.training_data if row is not None else {}
            source = str(data.get("source", "unknown"))
            overlaps = (
                row is not None
                and source == "records"
                and row.train_start_us < end_us
                and row.train_end_us > split_us
            )
            out[cls] = _InUse(loaded, source, overlaps)
    return out


def _validation(
    collector: FeatureCollector,
    labels: RecordedFailures,
    cls: str,
    *,
    start_us: int,
    end_us: int,
    seed: int,
    in_use: _InUse | None,
) -> dict[str, Any]:
    """Time-split validation of one class: fit on the earlier part, score on the later one;
    the version in use is scored on the same hours (`in_use`)."""
    split_us = split_time(start_us, end_us)
    keys = {m.machine_key for m in collector.machines.values() if m.machine_class == cls}
    fit_failures = sum(1 for f in labels.failures(start_us, split_us) if f.machine_key in keys)
    test_failures = sum(1 for f in labels.failures(split_us, end_us) if f.machine_key in keys)
    split = {
        "split": "time",
        "fit_start_us": start_us,
        "split_us": split_us,
        "end_us": end_us,
        "fit_failures": fit_failures,
        "test_failures": test_failures,
    }
    if fit_failures == 0 or test_failures == 0:
        return {**split, "skipped": "each part of the time split needs a recorded failure"}
    # Labels of the fit part know only the failures before the split (no look-ahead).
    fit: dict[str, ClassData] = {}
    add_run(fit, _restricted(collector, 0, split_us // HOUR_US), labels, data_end_us=split_us)
    test: dict[str, ClassData] = {}
    test_collector = _restricted(collector, split_us // HOUR_US, end_us // HOUR_US)
    test_collector.first_us = start_us  # failures before the split still bound the labels
    add_run(test, test_collector, labels, data_end_us=end_us)
    trained = train_classes(fit, seed=seed, classes=[cls])
    if cls not in trained or cls not in test:
        return {**split, "skipped": "no usable labelled hours in a part of the time split"}
    x, y = test[cls].arrays()
    if len(y) == 0:
        return {**split, "skipped": "no usable labelled hours after the split"}
    model, _ = trained[cls]
    out = {**split, **fit_metrics(model, x, y)}
    if in_use is not None and list(in_use.model.model.features) == test[cls].features:
        out["in_use"] = {
            "version": in_use.model.version,
            "source": in_use.source,
            "trained_on_these_hours": in_use.overlaps,
            **fit_metrics(in_use.model.model, x, y),
        }
    return out


def split_time(start_us: int, end_us: int) -> int:
    """Where the validation splits the window (a whole hour)."""
    return (start_us + int((end_us - start_us) * VALIDATION_FIT_SHARE)) // HOUR_US * HOUR_US


def _worse_than_in_use(validation: Mapping[str, Any]) -> str | None:
    """Why a new model must not replace the version in use, if it predicts worse than it on
    the validation hours (only a fair comparison counts: neither saw those hours)."""
    current = validation.get("in_use")
    if not current or current["trained_on_these_hours"] or "mae_h" not in validation:
        return None
    if current["mae_h"] >= validation["mae_h"]:
        return None
    return (
        f"the version in use (v{current['version']}, trained on {current['source']} data) "
        f"predicts the validation hours better: MAE {current['mae_h']:.1f} h against "
        f"{validation['mae_h']:.1f} h; register anyway with force"
    )


def retrain_from_records(
    platform: Any,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
    min_failures: int = 3,
    seed: int = 0,
    dry_run: bool = False,
    force: bool = False,
) -> RetrainReport:
    """Train one RUL model per machine class from the platform's historian and failure records.

    Defaults: the window runs from the beginning of the stored machine data to the last
    complete hour. A class with fewer than `min_failures` recorded failures is skipped.
    Unless `dry_run`, every trained class is registered as the next version of its model,
    which the estimator then uses, except when the version in use predicts the validation
    hours better (and had not seen them): a few weeks of records can make a worse model than
    the one in use, and a retraining must not make the predictions worse unless `force`.
    """
    if min_failures < 1:
        raise InvalidInput(
            "min_failures must be at least 1", loc=["min_failures"], type="invalid_value"
        )
    machines = machine_tags(platform.registry)
    if not machines:
        raise InvalidInput("the plant has no machine with condition signals", type="no_data")
    start, end, now = _window(platform, machines, start_us, end_us)
    keys = {m.machine_id: m.machine_key for m in machines}
    class_of = {m.machine_key: m.machine_class for m in machines}
    with platform.db.session() as session:
        records = reliability.failure_records(
            session, machine_ids=sorted(keys), start_us=start, end_us=end, now_us=now
        )
    labels = RecordedFailures(records, keys)
    collector = FeatureCollector(machines, start_us=start)
    collector.collect(platform.store, end)  # reads CHUNK_HOURS at a time
    data: dict[str, ClassData] = {}
    add_run(data, collector, labels, data_end_us=end)

    by_class: dict[str, list[FailureRecord]] = {}
    for r in records:
        by_class.setdefault(class_of[keys[r.machine_id]], []).append(r)
    eligible = []
    outcomes: dict[str, ClassOutcome] = {}
    for cls in sorted({m.machine_class for m in machines}):
        d = data.get(cls)
        n = len(by_class.get(cls, []))
        hours = 0 if d is None else len(d.arrays()[1])
        machines_of = [] if d is None else sorted(d.machines)
        reason = None
        if hours == 0:
            reason = (
                "no usable labelled hours: an hour of a machine is a training label only when a "
                f"recorded failure follows it, or when the data go on for the RUL cap "
                f"({DEFAULT_CAP_H:g} h) after it; the window holds {(end - start) // HOUR_US} h "
                f"of data and {n} recorded failure{'s' if n != 1 else ''} of this class"
            )
        elif n < min_failures:
            reason = (
                f"only {n} recorded failure{'s' if n != 1 else ''} in the window, "
                f"at least {min_failures} needed: with fewer, the model would only learn "
                "'far from failure'"
            )
        if reason is not None:
            outcomes[cls] = ClassOutcome(cls, machines_of, hours, n, None, None, reason, {})
        else:
            eligible.append(cls)
    trained = train_classes(data, seed=seed, classes=eligible)
    in_use = _in_use(platform, split_time(start, end), end)
    for cls in eligible:
        model, metrics = trained[cls]
        class_records = by_class[cls]
        metrics["validation"] = _validation(
            collector, labels, cls, start_us=start, end_us=end, seed=seed, in_use=in_use.get(cls)
        )
        metrics["source"] = "records"
        training_data = {
            "source": "records",
            "start_us": start,
            "end_us": end,
            "failures": len(class_records),
            "failures_by_mode": dict(sorted(Counter(r.mode for r in class_records).items())),
            "ongoing_failures": sum(1 for r in class_records if r.ongoing),
            "failure_records": [
                {
                    "machine": keys[r.machine_id],
                    "start_us": r.start_us,
                    "down_us": r.down_us,
                    "end_us": r.end_us,
                    "mode": r.mode,
                }
                for r in class_records
            ],
            "machines": sorted(data[cls].machines),
            "hours": len(data[cls].arrays()[1]),
            "min_failures": min_failures,
            "seed": seed,
        }
        version = model_id = None
        worse = None if force else _worse_than_in_use(metrics["validation"])
        if worse is None and not dry_run:
            with platform.db.session() as session:
                row = model_registry.create(
                    session,
                    machine_class=cls,
                    model=model,
                    metrics=metrics,
                    train_start_us=start,
                    train_end_us=end,
                    training_data=training_data,
                )
                version, model_id = int(row.version), int(row.id)
            log.info(
                "registered %s v%d (%d recorded failures)", row.name, version, len(class_records)
            )
        outcomes[cls] = ClassOutcome(
            cls,
            sorted(data[cls].machines),
            len(data[cls].arrays()[1]),
            len(class_records),
            version,
            model_id,
            worse,
            metrics,
        )
    return RetrainReport(start, end, len(records), [outcomes[c] for c in sorted(outcomes)])
