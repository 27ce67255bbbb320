"""Training: hourly features over run-to-failure histories, RUL labels, one model per class."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ifactory.analytics.prognostics.features import (
    HOUR_US,
    HourSummary,
    MachineHistory,
    MachineTags,
    RollupSource,
    summarize_hours,
)
from ifactory.analytics.prognostics.labels import DEFAULT_CAP_H, LabelSource, rul_labels
from ifactory.analytics.prognostics.model import QuantileModel
from ifactory.core.errors import InvalidInput

# Hours read from the historian at once (bounds memory on long histories).
CHUNK_HOURS = 24


class FeatureCollector:
    """Features of every machine at every completed hour, built as the online estimator does."""

    def __init__(self, machines: Iterable[MachineTags], *, start_us: int | None = None) -> None:
        """`start_us`: where the data begins (else the first `collect` takes only its last hour)."""
        self.machines = {m.machine_id: m for m in machines}
        self.histories = {mid: MachineHistory(m) for mid, m in self.machines.items()}
        self.rows: dict[int, list[tuple[int, npt.NDArray[np.float64]]]] = {
            mid: [] for mid in self.machines
        }
        self.next_hour: int | None = None if start_us is None else start_us // HOUR_US
        self.first_us: int | None = start_us

    def collect(self, source: RollupSource, now_us: int) -> None:
        """Add the features of every hour completed by `now_us`."""
        last = now_us // HOUR_US - 1
        first = last if self.next_hour is None else self.next_hour
        if self.first_us is None:
            self.first_us = first * HOUR_US
        ids = np.array(sorted({t for m in self.machines.values() for t in m.tag_ids}), np.int32)
        for lo in range(first, last + 1, CHUNK_HOURS):
            hi = min(lo + CHUNK_HOURS - 1, last)
            rows = source.rollups(ids, lo * HOUR_US, (hi + 1) * HOUR_US)
            for mid, m in self.machines.items():
                for summary in summarize_hours(m, rows, lo, hi):
                    self.add(mid, summary)
        self.next_hour = max(last + 1, first)

    def add(self, machine_id: int, summary: HourSummary) -> None:
        """Add one hour summary of a machine and, unless it was down, its features."""
        history = self.histories[machine_id]
        history.add(summary)
        if not summary.down:
            self.rows[machine_id].append((summary.hour, history.features()))


@dataclass
class ClassData:
    """Training rows of one machine class."""

    features: list[str]
    x: list[npt.NDArray[np.float64]] = field(default_factory=list)
    y: list[npt.NDArray[np.float64]] = field(default_factory=list)
    failures: int = 0
    failures_with_precursor: int = 0
    machines: set[str] = field(default_factory=set)

    def arrays(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Stacked features and labels."""
        if not self.x:
            return np.empty((0, len(self.features))), np.empty(0)
        return np.vstack(self.x), np.concatenate(self.y)


def add_run(
    data: dict[str, ClassData],
    collector: FeatureCollector,
    labels: LabelSource,
    *,
    data_end_us: int,
    cap_h: float = DEFAULT_CAP_H,
) -> None:
    """Label one run's collected features and add them to the per-class training data."""
    start = collector.first_us or 0
    for mid, m in collector.machines.items():
        rows = collector.rows[mid]
        if not rows:
            continue
        failures = [
            f for f in labels.failures(start, data_end_us) if f.machine_key == m.machine_key
        ]
        hours = np.array([h for h, _ in rows], dtype=np.int64)
        x = np.vstack([f for _, f in rows])
        y, usable = rul_labels(hours, failures, data_end_us=data_end_us, cap_h=cap_h)
        cls = data.setdefault(m.machine_class, ClassData(m.feature_names()))
        if cls.features != m.feature_names():
            raise InvalidInput(
                f"machine '{m.machine_key}' has other features than its class", type="features"
            )
        cls.x.append(x[usable])
        cls.y.append(y[usable])
        cls.failures += len(failures)
        cls.failures_with_precursor += sum(1 for f in failures if f.has_precursor)
        cls.machines.add(m.machine_key)


def fit_metrics(
    model: QuantileModel, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> dict[str, float]:
    """MAE of the median, RMSE, and band coverage (share of labels inside the 10-90 % band).

    On the training rows these are in-sample figures: they show the fit, not the accuracy.
    """
    if len(y) == 0:
        return {}
    q = model.predict(x)
    err = q[:, 1] - y
    near = y < model.cap_h
    metrics = {
        "rows": float(len(y)),
        "mae_h": float(np.mean(np.abs(err))),
        "rmse_h": float(np.sqrt(np.mean(err**2))),
        # Half an hour of slack: labels at the cap and a band clipped to it count as inside.
        "band_coverage": float(np.mean((y >= q[:, 0] - 0.5) & (y <= q[:, 2] + 0.5))),
    }
    if near.any():
        metrics["mae_below_cap_h"] = float(np.mean(np.abs(err[near])))
    return metrics


def train_classes(
    data: Mapping[str, ClassData],
    *,
    cap_h: float = DEFAULT_CAP_H,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, tuple[QuantileModel, dict[str, Any]]]:
    """One quantile model per machine class, with its fit metrics and training summary."""
    out: dict[str, tuple[QuantileModel, dict[str, Any]]] = {}
    for cls, d in sorted(data.items()):
        if classes is not None and cls not in classes:
            continue
        x, y = d.arrays()
        if len(y) == 0:
            continue
        model = QuantileModel.train(x, y, d.features, cap_h=cap_h, seed=seed, params=params)
        metrics: dict[str, Any] = {
            "train": fit_metrics(model, x, y),
            "failures": d.failures,
            "failures_with_precursor": d.failures_with_precursor,
            "machines": sorted(d.machines),
        }
        out[cls] = (model, metrics)
    return out
