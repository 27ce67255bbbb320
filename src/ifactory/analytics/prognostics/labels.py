"""Run-to-failure labels: where failures come from, and the remaining useful life at each hour.

A `LabelSource` lists the failures of machines over a window. Today that is the simulator's
recorded ground truth (`GroundTruthLabels`); later it is the corrective work orders, through
the same interface. The RUL of an hour is the time from the end of that hour to the machine's
next failure, capped (a piecewise-linear target, as the C-MAPSS literature uses): far from a
failure the data cannot tell 10 days from 30, so the target says "at least the cap".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ifactory.analytics.prognostics.features import HOUR_US

# Ten days: well past the 72 h horizon, so the model can tell 'soon' from 'not yet'.
DEFAULT_CAP_H = 240.0


@dataclass(frozen=True)
class Failure:
    """A functional failure of a machine (IEC 60050-192: termination of the ability to perform).

    `has_precursor` is True for a degradation failure, False for one known to come without
    warning (e.g. an electrical trip), None when the source cannot tell. `restored_us` is when
    the machine was back (end of repair), if known.
    """

    machine_key: str
    time_us: int
    mode: str
    has_precursor: bool | None
    precursor_onset_us: int | None = None
    restored_us: int | None = None


class LabelSource(Protocol):
    """Where run-to-failure labels come from."""

    def failures(self, start_us: int, end_us: int) -> list[Failure]:
        """Failures with start_us <= time < end_us, sorted by time."""
        ...


class GroundTruthLabels:
    """Labels from a simulation's recorded ground truth (sim.ground_truth.GroundTruth or its dict)."""

    def __init__(self, truth: Any) -> None:
        data = truth.to_dict() if hasattr(truth, "to_dict") else truth
        self._failures = sorted(
            (
                Failure(
                    machine_key=str(f["machine"]),
                    time_us=int(f["time_us"]),
                    mode=str(f["mode"]),
                    has_precursor=f["precursor_onset_us"] is not None,
                    precursor_onset_us=f["precursor_onset_us"],
                    restored_us=int(f["repaired_us"]),
                )
                for f in data["failures"]
            ),
            key=lambda f: (f.time_us, f.machine_key),
        )
        self.until_us = int(data["until_us"])

    def failures(self, start_us: int, end_us: int) -> list[Failure]:
        """Failures with start_us <= time < end_us, sorted by time."""
        return [f for f in self._failures if start_us <= f.time_us < end_us]


def rul_labels(
    hours: npt.NDArray[np.int64],
    failures: Iterable[Failure],
    *,
    data_end_us: int,
    cap_h: float = DEFAULT_CAP_H,
    drop_unpredictable: bool = True,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """RUL in hours at the end of each hour of one machine, and which hours are usable labels.

    An hour is not usable when:
    - the machine is failed (between a failure and its restoration): there is nothing to predict;
    - the next failure is beyond the data and the cap is not reached before `data_end_us`
      (right-censored: the true RUL is unknown);
    - with `drop_unpredictable`, it lies within the cap before a failure known to have no
      precursor: its features are those of a healthy machine, and a low RUL there would only
      teach the model noise (such failures are a matter of reliability statistics, not RUL).
    """
    t_end = (np.asarray(hours, dtype=np.int64) + 1) * HOUR_US
    cap_us = cap_h * HOUR_US
    ordered = sorted(failures, key=lambda f: f.time_us)
    times = np.array([f.time_us for f in ordered], dtype=np.int64)
    rul = np.full(len(t_end), cap_h)
    usable = np.ones(len(t_end), dtype=bool)
    nxt = np.searchsorted(times, t_end, side="left")  # first failure at or after the hour end
    has_next = nxt < len(times)
    if len(times):
        gap = np.where(has_next, times[np.minimum(nxt, len(times) - 1)] - t_end, 0)
        rul = np.where(has_next, np.minimum(gap / HOUR_US, cap_h), cap_h)
    usable &= has_next | (data_end_us - t_end >= cap_us)
    for f in ordered:
        restored = f.restored_us if f.restored_us is not None else f.time_us
        usable &= ~((t_end > f.time_us) & (t_end - HOUR_US < restored))
        if drop_unpredictable and f.has_precursor is False:
            usable &= ~((t_end <= f.time_us) & (f.time_us - t_end < cap_us))
    return rul.astype(np.float64), usable


def failures_by_machine(failures: Sequence[Failure]) -> dict[str, list[Failure]]:
    """Failures grouped by machine key, each list sorted by time."""
    out: dict[str, list[Failure]] = {}
    for f in sorted(failures, key=lambda f: f.time_us):
        out.setdefault(f.machine_key, []).append(f)
    return out
