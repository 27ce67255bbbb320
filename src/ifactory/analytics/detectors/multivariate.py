"""Multivariate streaming detectors, one instance per machine (a sample is a dict of tag values)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ifactory.analytics.base import Detector


class FeatureVectors:
    """Turns a sample (a mapping of feature names, or a sequence) into a vector of floats.

    The feature names are fixed by the first mapping seen (sorted) unless given; a missing or
    None feature becomes NaN. Shared by the multivariate detectors, which must provide
    `_features`, `_p` and `_init_arrays` (sizing their state once the width is known, including
    the Welford running mean `mean` and co-moment matrix `comoment` over `n` samples).

    The mixin also saves and restores that shared part of the state (feature names and Welford
    state); a detector extends `_get_state`/`_set_state` with its own fields through `super()`.
    One without the Welford state overrides both and restores its width with `_restore_features`.
    """

    _features: list[str] | None
    _p: int
    n: int
    mean: np.ndarray
    comoment: np.ndarray

    def _init_arrays(self) -> None:
        raise NotImplementedError

    def _restore_features(self, state: dict[str, Any]) -> None:
        """Take the feature names (hence the width) from a checkpoint and size the state afresh."""
        # The width comes first: `_init_arrays` sizes every array before the learnt values land.
        self._features = list(state["features"]) if state["features"] is not None else None
        self._p = len(self._features) if self._features else 0
        self._init_arrays()

    def _get_state(self) -> dict[str, Any]:
        return {
            "features": self._features,
            "n": self.n,
            "mean": self.mean,
            "comoment": self.comoment,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._restore_features(state)
        self.n = int(state["n"])
        self.mean = np.asarray(state["mean"], dtype=float)
        self.comoment = np.asarray(state["comoment"], dtype=float)

    def _vector(self, x: Mapping[str, Any] | Sequence[float] | np.ndarray) -> np.ndarray:
        if isinstance(x, Mapping):
            if self._features is None:
                if not x:
                    return np.full(self._p or 1, math.nan)
                self._features = sorted(x)
                self._p = len(self._features)
                self._init_arrays()
            vals = [x.get(k) for k in self._features]
            return np.asarray([math.nan if v is None else float(v) for v in vals], dtype=float)
        arr = np.asarray(x, dtype=float).ravel()
        if self._features is None:
            self._features = [f"x{i}" for i in range(len(arr))]
            self._p = len(arr)
            self._init_arrays()
        if len(arr) != self._p:
            raise ValueError(f"expected {self._p} features, got {len(arr)}")
        return arr


class MahalanobisDetector(FeatureVectors, Detector):
    """Smoothed squared Mahalanobis distance per feature, after Hotelling's T² (Hotelling 1947).

    The mean and covariance are learnt online (Welford's update of the co-moment matrix) until
    `freeze_after` samples have been learnt (None: never frozen), the covariance is shrunk
    towards its diagonal by `shrinkage` (Ledoit & Wolf 2004 target, fixed intensity) so that a
    few hundred samples give a stable inverse, and the score is an exponentially weighted
    average (`smoothing`) of d²/p, which is ~1 for normal data under a Gaussian model.
    A missing feature is replaced by its learnt mean, i.e. it contributes nothing to the
    distance; a sample with every feature missing scores 0 and is not learnt.
    `features` fixes the order of the dict keys; when None it is taken from the first sample.
    """

    name = "mahalanobis"

    def __init__(
        self,
        features: Sequence[str] | None = None,
        shrinkage: float = 0.1,
        smoothing: float = 0.1,
        freeze_after: int | None = None,
        refit_every: int = 50,
        grace: int = 50,
        drift_horizon: float = 0.0,
        drift_sd: Sequence[float] | None = None,
    ) -> None:
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError("shrinkage must be in [0, 1]")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError("smoothing must be in (0, 1]")
        self.features = list(features) if features is not None else None
        # The order in use; learnt from the first dict when `features` is None.
        self._features = self.features
        self.shrinkage = shrinkage
        self.smoothing = smoothing
        self.freeze_after = freeze_after
        self.refit_every = refit_every
        self.grace = grace
        self.drift_horizon = drift_horizon
        self.drift_sd = [float(v) for v in drift_sd] if drift_sd is not None else None
        if (
            self.drift_sd is not None
            and self._features is not None
            and len(self.drift_sd) != len(self._features)
        ):
            raise ValueError("drift_sd needs one value per feature")
        self._p = len(self._features) if self._features else 0
        self._init_arrays()

    def _init_arrays(self) -> None:
        p = self._p
        self.n = 0
        self.mean = np.zeros(p)
        self.comoment = np.zeros((p, p))
        # Co-moment of each feature with the sample index: the least-squares slope per feature.
        self.t_mean = 0.0
        self.t_m2 = 0.0
        self.tx_comoment = np.zeros(p)
        self.level = 0.0
        self.fitted_at = -1
        self._inv: np.ndarray = np.eye(p)

    # --- sample handling -----------------------------------------------------------------

    def _inverse(self) -> np.ndarray:
        # Refit at most every `refit_every` samples (every sample while young); the inverse is
        # part of the checkpoint so a restored detector scores exactly like the original.
        if (
            self.fitted_at < 0
            or self.n - self.fitted_at >= self.refit_every
            or self.n < 2 * self.refit_every
        ) and self.fitted_at != self.n:
            cov = self.comoment / max(self.n - 1, 1)
            diag = np.diag(np.diag(cov)) + np.eye(self._p) * 1e-9 * (1.0 + float(np.trace(cov)))
            target = (1.0 - self.shrinkage) * cov + self.shrinkage * diag
            if self.drift_horizon > 0.0 and self.t_m2 > 0.0:
                # A feature that trended while learning is expected to keep moving: its variance
                # is inflated by the drift the learnt slope predicts over `drift_horizon` samples.
                slope = self.tx_comoment / self.t_m2
                target = target + np.diag((slope * self.drift_horizon) ** 2)
            if self.drift_sd is not None:
                # Normal operation wanders further than a short training stretch shows: each
                # feature's variance is widened by its expected wander, in its own SD units.
                extra = np.asarray(self.drift_sd, dtype=float)
                if len(extra) != self._p:
                    raise ValueError("drift_sd needs one value per feature")
                target = target + np.diag(extra**2 * np.diag(cov))
            self._inv = np.asarray(np.linalg.pinv(target), dtype=float)
            self.fitted_at = self.n
        return self._inv

    def _distance(self, v: np.ndarray) -> float:
        if self.n < max(self.grace, 2):
            return 0.0
        d = np.where(np.isnan(v), 0.0, v - self.mean)
        return float(d @ self._inverse() @ d) / max(self._p, 1)

    # --- online API ----------------------------------------------------------------------

    def score_one(self, x: Any) -> float:
        """Smoothed d²/p of the sample against the current model; the state is unchanged."""
        v = self._vector(x)
        if np.isnan(v).all():
            return 0.0
        dist = self._distance(v)
        return self.level + self.smoothing * (dist - self.level)

    def learn_one(self, x: Any) -> None:
        """Advance the smoothing filter; update mean and covariance unless frozen."""
        v = self._vector(x)
        if np.isnan(v).all():
            return
        dist = self._distance(v)
        self.level += self.smoothing * (dist - self.level)
        if self.freeze_after is not None and self.n >= self.freeze_after:
            return
        v = np.where(np.isnan(v), self.mean, v)
        t = float(self.n)
        self.n += 1
        delta = v - self.mean
        self.mean = self.mean + delta / self.n
        self.comoment += np.outer(delta, v - self.mean)
        dt = t - self.t_mean
        self.t_mean += dt / self.n
        self.t_m2 += dt * (t - self.t_mean)
        self.tx_comoment += dt * (v - self.mean)

    def score_learn_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Score then learn each row of a 2-D array (or sequence of dicts) in order."""
        return np.asarray([self.score_learn_one(x) for x in xs], dtype=float)

    def _get_state(self) -> dict[str, Any]:
        return {
            **super()._get_state(),
            "level": self.level,
            "t_mean": self.t_mean,
            "t_m2": self.t_m2,
            "tx_comoment": self.tx_comoment,
            "fitted_at": self.fitted_at,
            "inverse": self._inv,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.level = float(state["level"])
        self.t_mean, self.t_m2 = float(state["t_mean"]), float(state["t_m2"])
        self.tx_comoment = np.asarray(state["tx_comoment"], dtype=float)
        self.fitted_at = int(state["fitted_at"])
        self._inv = np.asarray(state["inverse"], dtype=float)
