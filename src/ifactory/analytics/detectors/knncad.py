"""KNN-CAD: conformalised k-nearest-neighbour anomaly detection on sliding windows.

Burnaev & Ishimtsev (2016), "Conformalized density- and distance-based anomaly detection in
time-series data", arXiv:1608.04585; NAB competition entry "KNN CAD" (NAB
nab/detectors/knncad/knncad_detector.py @ ea702d75). Every constant is the published one:
- a sample is the window of the last `dim` = 19 values;
- its non-conformity (NCM) is the sum of the squared Mahalanobis distances to its `k` = 27
  nearest windows of the training set, with Σ = (XᵀX)⁻¹ of the training windows X, refit every
  half probation period (kept when XᵀX is singular);
- the training set is the first `probation` windows, then a sliding set of the same size; the
  calibration set holds the NCMs of the training windows (computed once, at the end of the
  probation, with each window's own zero distance among its k + 1 nearest);
- the score is the conformal rank: the share of calibration NCMs strictly below the new NCM;
- a rank of at least `alarm_level` (0.9965) is an alarm: the window is learnt like any other
  (NAB's entry only sets its rest counter, `self.pred`, then slides), and the next
  `probation` / 5 points score `rest_score` (0.5) and are not learnt (NAB's entry).
  Keeping the alarm window out of the sets, as an earlier version of this port did, censors
  exactly the largest NCMs from the calibration set, so later ranks are biased upwards and on
  plain noise the detector alarmed again right after nearly every rest period;
- the calibration NCMs are not recomputed when Σ is refit: NAB's entry computes them once
  (`if len(self.scores) == 0`) and then only slides them, and so does this port.
`probation` is NAB's probationary period (15 % of the file, at most 750 rows), which NAB's
runner gives every detector; online, it is the number of samples learnt before scoring.
It is the published baseline for comparisons (`ifactory eval nab --detector knncad`): each point
costs a k-NN search over `probation` windows, about 10⁴ points/s on one core, so high-rate tags
should use the rank detector.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left, insort
from collections import deque
from typing import Any

import numpy as np

from ifactory.analytics.detectors.univariate import _StepDetector


class KnnCadDetector(_StepDetector):
    """Conformal rank of a window's k-NN Mahalanobis non-conformity; scores in [0, 1]."""

    name = "knncad"

    def __init__(
        self,
        probation: int = 750,
        dim: int = 19,
        k: int = 27,
        alarm_level: float = 0.9965,
        rest_score: float = 0.5,
    ) -> None:
        if dim < 1 or k < 1:
            raise ValueError("dim and k must be >= 1")
        if probation < k + dim + 2:
            raise ValueError("probation must exceed k + dim + 1 samples")
        if not 0.0 < alarm_level <= 1.0:
            raise ValueError("alarm_level must be in (0, 1]")
        self.probation = probation
        self.dim = dim
        self.k = k
        self.alarm_level = alarm_level
        self.rest_score = rest_score
        self.count = 0  # samples seen (NAB's record_count)
        self.buf: deque[float] = deque(maxlen=dim)
        # Training windows: a list while in probation, then a fixed ring (`head` = oldest row).
        self.pending: list[list[float]] = []
        self.training = np.zeros((0, dim))
        self.head = 0
        self.calibration = np.zeros(0)  # NCM of each training row, same ring positions
        self.ranked: list[float] = []  # the calibration NCMs, sorted
        self.sigma: np.ndarray = np.eye(dim)
        self.rest_left = 0

    def _ncm(self, item: np.ndarray, train: np.ndarray, sigma: np.ndarray, extra: int = 0) -> float:
        diff = train - item
        dist = ((diff @ sigma) * diff).sum(axis=1)
        kk = min(self.k + extra, len(dist))
        return float(np.sum(np.partition(dist, kk - 1)[:kk]))

    def _step(self, v: float, learn: bool) -> float:
        count = self.count + 1
        if len(self.buf) + 1 < self.dim:
            if learn:
                self.buf.append(v)
                self.count = count
            return 0.0
        window = [*list(self.buf)[len(self.buf) - (self.dim - 1) :], v]
        if count < self.probation:
            if learn:
                self.buf.append(v)
                self.pending.append(window)
                self.count = count
            return 0.0
        train, sigma, calibration, ranked = self.training, self.sigma, self.calibration, self.ranked
        if self.pending:
            train = np.asarray([*self.training.tolist(), *self.pending], dtype=float)
        phase = count % self.probation
        if phase == 0 or phase == self.probation // 2:
            # NAB's entry keeps the previous Σ when XᵀX is singular.
            with contextlib.suppress(np.linalg.LinAlgError):
                sigma = np.asarray(np.linalg.inv(train.T @ train), dtype=float)
        if not ranked:
            calibration = np.asarray([self._ncm(t, train, sigma, extra=1) for t in train])
            ranked = sorted(calibration.tolist())
        item = np.asarray(window, dtype=float)
        ncm = self._ncm(item, train, sigma)
        result = bisect_left(ranked, ncm) / len(ranked)  # share of NCMs strictly below
        resting = self.rest_left > 0
        if not learn:
            return self.rest_score if resting else result
        self.buf.append(v)
        self.count = count
        self.pending = []
        self.training, self.sigma, self.calibration, self.ranked = train, sigma, calibration, ranked
        if resting:
            self.rest_left -= 1
            return self.rest_score
        if result >= self.alarm_level:
            # NAB's entry: `self.pred = int(probationaryPeriod / 5)`, then it slides as usual.
            self.rest_left = self.probation // 5
        # Slide: the new window and its NCM replace the oldest ones.
        del ranked[bisect_left(ranked, float(calibration[self.head]))]
        insort(ranked, ncm)
        calibration[self.head] = ncm
        train[self.head] = item
        self.head = (self.head + 1) % len(train)
        return result

    def _get_state(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "buf": np.asarray(self.buf, dtype=float),
            "pending": np.asarray(self.pending, dtype=float).reshape(-1, self.dim),
            "training": self.training,
            "head": self.head,
            "calibration": self.calibration,
            "sigma": self.sigma,
            "rest_left": self.rest_left,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        training = np.asarray(state["training"], dtype=float).reshape(-1, self.dim)
        sigma = np.asarray(state["sigma"], dtype=float)
        if sigma.shape != (self.dim, self.dim) or not np.isfinite(sigma).all():
            raise ValueError("checkpoint Σ does not match the detector's dim")
        self.count = int(state["count"])
        self.buf = deque((float(v) for v in state["buf"]), maxlen=self.dim)
        self.pending = np.asarray(state["pending"], dtype=float).reshape(-1, self.dim).tolist()
        self.training = training.copy()
        self.head = int(state["head"])
        self.calibration = np.asarray(state["calibration"], dtype=float).copy()
        self.ranked = sorted(self.calibration.tolist())
        self.sigma = sigma.copy()
        self.rest_left = int(state["rest_left"])
