"""PCA T²+Q detector on a lag-embedded, standardized sample (one instance per machine).

Why this detector: SKAB's T²+Q baseline (waico/SKAB, core/T2.py; MacGregor & Kourti 1995,
"Statistical process control of multivariate processes") watches two things at once: Hotelling's
T² in the principal subspace (how far the sample lies along the directions the process normally
moves in) and the squared prediction error Q (how much of the sample the normal correlation
structure cannot explain, Jackson & Mudholkar 1979). A valve manipulation breaks the normal
relation between flow, pressure, current and vibration, which shows in Q even when each sensor
stays inside its own range. Stacking the last `lags` samples next to the current one (dynamic
PCA, Ku, Storer & Georgakakis 1995) lets the model learn the normal short-term dynamics too.

Both statistics are put on the same scale before they are added: T²/k and Q/θ₁ have mean 1 on
the training data (k retained components; θ₁ = sum of the discarded eigenvalues of the
correlation matrix, which is E[Q], Jackson & Mudholkar 1979 eq. 3), so the score is ~1 for
normal data. It is then smoothed by an exponentially weighted average (`smoothing`) because a
fault in SKAB lasts minutes: the average keeps a persistent deviation above the threshold and
shrinks isolated noise spikes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ifactory.analytics.base import Detector
from ifactory.analytics.detectors.multivariate import FeatureVectors


class PcaT2QDetector(FeatureVectors, Detector):
    """Smoothed (T²/k + Q/θ₁)/2 of a dynamic-PCA model learnt online, optionally frozen.

    The model (mean, standard deviations and correlation of the embedded vector) is learnt with
    Welford's update until `freeze_after` samples have been learnt (None: never frozen); the PCA
    keeps the fewest components that explain `variance` of the total. The embedded vector is the
    current sample followed by the `lags` previous ones. A missing feature is replaced by its
    learnt mean (it adds nothing to either statistic); a sample with every feature missing scores
    0, is not learnt and does not enter the lag buffer. Scores are 0 until `grace` samples have
    been learnt and while the lag buffer is filling.
    """

    name = "pca_t2q"

    def __init__(
        self,
        features: Sequence[str] | None = None,
        lags: int = 0,
        variance: float = 0.9,
        smoothing: float = 0.1,
        freeze_after: int | None = None,
        refit_every: int = 50,
        grace: int = 50,
        track: float = 0.0,
        gate: float = math.inf,
        tracked: Sequence[str] | None = None,
    ) -> None:
        if lags < 0:
            raise ValueError("lags must be >= 0")
        if not 0.0 < variance < 1.0:
            raise ValueError("variance must be in (0, 1)")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError("smoothing must be in (0, 1]")
        if not 0.0 <= track < 1.0:
            raise ValueError("track must be in [0, 1)")
        self.features = list(features) if features is not None else None
        self._features = self.features
        self.lags = lags
        self.variance = variance
        self.smoothing = smoothing
        self.freeze_after = freeze_after
        self.refit_every = refit_every
        self.grace = grace
        self.track = track
        self.gate = gate
        self.tracked = list(tracked) if tracked is not None else None
        self._p = len(self._features) if self._features else 0
        self._init_arrays()

    def _init_arrays(self) -> None:
        d = self._p * (self.lags + 1)
        self.n = 0
        self.mean = np.zeros(d)
        self.comoment = np.zeros((d, d))
        # The last `lags` imputed samples, most recent first, and how many are valid.
        self.history = np.zeros((self.lags, self._p))
        self.filled = 0
        # Per-feature slow baseline subtracted before embedding (stays 0 when track is 0).
        self.base = np.zeros(self._p)
        self.seen = 0
        self.level = 0.0
        self.fitted_at = -1
        self._center = np.zeros(d)
        self._scale = np.ones(d)
        self._loadings = np.zeros((d, 0))
        self._eig = np.zeros(0)
        self._theta1 = 1.0

    # --- sample handling -----------------------------------------------------------------

    def _deviation(self, v: np.ndarray) -> np.ndarray:
        """The sample minus the slow baseline; a missing feature gets its learnt mean deviation."""
        dev = np.where(np.isnan(v), self.mean[: self._p], v - self.base)
        if self.track > 0.0 and self.seen == 0:
            # The first sample starts the baseline of the tracked features: deviation 0 there.
            dev = np.where(self._mask(), self.mean[: self._p], dev)
        return dev

    def _track(self, v: np.ndarray) -> None:
        """Follow slow drift of the tracked features, only while the score is below `gate`."""
        if self.track <= 0.0:
            return
        if self.seen == 0:
            # Untracked features keep a zero baseline: they are modelled as measured.
            self.base = np.where(np.isnan(v) | ~self._mask(), 0.0, v)
        elif self.level < self.gate:
            rate = self.track * self._mask()
            self.base = np.where(np.isnan(v), self.base, self.base + rate * (v - self.base))
        self.seen += 1

    def _mask(self) -> np.ndarray:
        if self.tracked is None or self._features is None:
            return np.ones(self._p, dtype=bool)
        return np.asarray([f in self.tracked for f in self._features], dtype=bool)

    def _embed(self, v: np.ndarray) -> np.ndarray | None:
        """The current sample followed by the previous `lags` ones; None while filling."""
        if self.filled < self.lags:
            return None
        return np.concatenate([v, self.history.ravel()])

    def _push(self, v: np.ndarray) -> None:
        if self.lags:
            self.history = np.vstack([v[None, :], self.history[:-1]])
            self.filled = min(self.filled + 1, self.lags)

    # --- model ---------------------------------------------------------------------------

    def _fit(self) -> None:
        """Refit the PCA at most every `refit_every` samples; the fit is checkpointed."""
        if self.fitted_at == self.n or (
            self.fitted_at >= 0
            and self.n - self.fitted_at < self.refit_every
            and self.n >= 2 * self.refit_every
        ):
            return
        cov = self.comoment / max(self.n - 1, 1)
        var = np.diag(cov).copy()
        # A constant feature gets a tiny floor relative to its level, so it neither divides by
        # zero nor dominates the score with rounding noise.
        floor = 1e-12 * (1.0 + self.mean**2)
        sd = np.sqrt(np.maximum(var, floor))
        corr = cov / np.outer(sd, sd)
        vals, vecs = np.linalg.eigh(corr)
        order = np.argsort(vals)[::-1]
        vals, vecs = np.maximum(vals[order], 0.0), vecs[:, order]
        total = float(vals.sum()) or 1.0
        d = len(vals)
        k = int(np.searchsorted(np.cumsum(vals) / total, self.variance) + 1)
        k = max(1, min(k, d - 1)) if d > 1 else 1
        eps = 1e-6 * total / max(d, 1)
        self._center = self.mean.copy()
        self._scale = sd
        self._loadings = vecs[:, :k].copy()
        self._eig = np.maximum(vals[:k], eps)
        self._theta1 = max(float(vals[k:].sum()), eps)
        self.fitted_at = self.n

    def _statistic(self, e: np.ndarray) -> float:
        """(T²/k + Q/θ₁)/2 of an embedded vector: ~1 for normal data."""
        if self.n < max(self.grace, 2):
            return 0.0
        self._fit()
        z = (e - self._center) / self._scale
        t = z @ self._loadings
        k = len(self._eig)
        t2 = float(np.sum(t * t / self._eig))
        q = max(float(z @ z) - float(t @ t), 0.0)
        return 0.5 * (t2 / k + q / self._theta1)

    # --- online API ----------------------------------------------------------------------

    def score_one(self, x: Any) -> float:
        """Smoothed statistic of the sample against the current model; the state is unchanged."""
        v = self._vector(x)
        if np.isnan(v).all():
            return 0.0
        e = self._embed(self._deviation(v))
        if e is None:
            return 0.0
        return self.level + self.smoothing * (self._statistic(e) - self.level)

    def learn_one(self, x: Any) -> None:
        """Advance the smoothing filter and the lag buffer; update the model unless frozen."""
        v = self._vector(x)
        if np.isnan(v).all():
            return
        dev = self._deviation(v)
        e = self._embed(dev)
        self._push(dev)
        if e is not None:
            self.level += self.smoothing * (self._statistic(e) - self.level)
        self._track(v)
        if e is None or (self.freeze_after is not None and self.n >= self.freeze_after):
            return
        self.n += 1
        delta = e - self.mean
        self.mean = self.mean + delta / self.n
        self.comoment += np.outer(delta, e - self.mean)

    def fresh_stream(self) -> PcaT2QDetector:
        """A copy with the learnt model but the per-stream state of a new stream.

        The lag buffer, the slow baseline and the smoothing level start again as at the first
        sample, while the mean, scales and PCA stay. This is how the frozen model replays its
        own training rows to set a threshold from in-sample scores: replaying them from the
        state at the end of training would start the baseline and the lags at the wrong end
        of the recording.
        """
        copy = self.clone()
        copy._set_state(self._get_state())
        copy.history = np.zeros_like(self.history)
        copy.filled = 0
        copy.base = np.zeros_like(self.base)
        copy.seen = 0
        copy.level = 0.0
        return copy

    def _get_state(self) -> dict[str, Any]:
        return {
            **super()._get_state(),
            "history": self.history,
            "filled": self.filled,
            "base": self.base,
            "seen": self.seen,
            "level": self.level,
            "fitted_at": self.fitted_at,
            "center": self._center,
            "scale": self._scale,
            "loadings": self._loadings,
            "eig": self._eig,
            "theta1": self._theta1,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.history = np.asarray(state["history"], dtype=float)
        self.filled = int(state["filled"])
        self.base = np.asarray(state["base"], dtype=float)
        self.seen = int(state["seen"])
        self.level = float(state["level"])
        self.fitted_at = int(state["fitted_at"])
        self._center = np.asarray(state["center"], dtype=float)
        self._scale = np.asarray(state["scale"], dtype=float)
        self._loadings = np.asarray(state["loadings"], dtype=float)
        self._eig = np.asarray(state["eig"], dtype=float)
        self._theta1 = float(state["theta1"])
