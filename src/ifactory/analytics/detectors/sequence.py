"""A fast sequence-memory detector with HTM's NAB scoring pipeline (anomaly likelihood, spatial check).

Numenta HTM's NAB entry (Ahmad et al. 2017, Neurocomputing 262:134-147) is three stages:
a temporal memory gives a raw score per point (the share of the input that was not predicted
from the sequence context), the anomaly likelihood turns the raw scores into how unusual their
recent average is, and a spatial check flags values outside the range seen so far. This module
keeps the second and third stages as published and replaces the temporal memory (the costly
part, about 10² points/s) by a variable-order Markov context model over quantised values,
which costs a handful of dictionary look-ups per point.

Stage 1, sequence memory (ours; its four settings, bins = 16, order = 1, min_count = 1,
share = 0.1, have the best mean standard-profile score over seeds 0 and 1 of the synthetic files
of benchmarks/nab_tune_synthetic.py --detector seqlik, never NAB's labels; with purely temporal
anomalies added (--temporal: segments played backwards or at double speed) longer contexts
still did not score better, so they stay available but are not the default):
- a value is quantised to level `floor((v - min_value) / width)`, `width = (max_value -
  min_value) / bins` (NAB's runner gives every detector the file's value range, as HTM's encoder
  and CAD OSE use it); without a range, the range of the first `learning_period` values padded
  by 20 % on each side (HTM's NAB padding) is used, and nothing is learnt before it is known;
- contexts are the previous 1..`order` levels; each context counts the levels that followed it;
- the support of the current level in a context is `(n(q) + (n(q-1) + n(q+1)) / 2) /
  max(min_count, share · n)` capped at 1 (neighbouring levels half count, as overlapping
  encodings do in HTM; a level is "predicted" once it followed the context `min_count` times and
  is at least a `share` of what follows it), read in the longest context seen at least
  `min_count` times (backing off to shorter ones, as the temporal memory falls back to the
  first-order prediction when a sequence is new); the raw score is 1 - support, 1 when even
  the first-order context is new.

Stage 2, anomaly likelihood (nupic `AnomalyLikelihood`, defaults as NAB's numenta detector sets
them): the raw scores of the first `learning_period` points are not used; afterwards the mean
of the last `averaging_window` = 10 raw scores is compared with the mean and variance of such
averages over the last `historic_window` = 8640 points (re-estimated every
`reestimation_period` = 100 points; mean at least 0.03 and variance at least 0.0003, nupic's
lower-bound check); the tail probability is the Gaussian Q of the distance from the mean
(mirrored below it, as nupic does); a tail <= 1e-5 right after another one <= 1e-5 is raised
to 1e-3 (nupic `_filterLikelihoods`), and the score is nupic's `computeLogLikelihood`,
log(1.0000000001 - L) / log(1e-10) with L = 1 - tail. Before `learning_period +
estimation_samples` points the likelihood is 0.5, as in nupic.
Deviation: nupic re-derives the averages from the raw scores in its window at each
re-estimation; here each point's average is kept as it was computed (the first averages after
the learning period include raw scores from inside it).

Stage 3, spatial anomaly (NAB numenta_detector.py): a value beyond the extremes seen so far by
more than `spatial_tolerance` = 5 % of their range scores 1.0.

Figures (NAB's 7 realKnownCause files, thresholds from NAB's optimiser, scored once):
`ifactory eval nab --data ../shared/data/nab --detector seqlik` gives 44.63 standard / 38.63
low FP / 49.05 low FN, against 55.47 / 49.27 / 61.54 for Numenta HTM's published outputs on
the same files and 45.41 / 39.33 / 49.57 for our CAD OSE port. Speed on one core of a shared
2-core machine (load 8-14): 0.9-1.4·10⁵ points/s wall clock and 1.4-2.6·10⁵ in CPU time, in
`ifactory eval nab` and benchmarks/detector_speed.py (CAD OSE: 4-9·10³).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from ifactory.analytics.detectors.univariate import _StepDetector

_LOG_1E_10 = math.log(1.0 - 0.9999999999)  # nupic computeLogLikelihood's denominator
_RED = 1.0 - 0.99999  # nupic _filterLikelihoods: redThreshold as a tail probability
_YELLOW = 1.0 - 0.999  # ... and yellowThreshold
_SQRT2 = 1.4142  # nupic tailProbability divides by this rounded constant
_RANGE_PAD = 0.2  # NAB numenta_detector: rangePadding = 20 % of the range on each side


class SequenceLikelihoodDetector(_StepDetector):
    """Variable-order Markov sequence memory, scored with HTM's anomaly likelihood; [0, 1].

    >>> d = SequenceLikelihoodDetector(min_value=0.0, max_value=4.0, learning_period=50,
    ...                                estimation_samples=50)
    >>> scores = d.score_learn_many([float(i % 4) for i in range(400)] + [0.0, 3.0, 0.0, 3.0])
    >>> float(scores[-5]) < 0.5 < float(scores[-1])
    True
    """

    name = "seqlik"

    def __init__(
        self,
        min_value: float | None = None,
        max_value: float | None = None,
        bins: int = 16,
        order: int = 1,
        min_count: int = 1,
        share: float = 0.1,
        learning_period: int = 288,
        estimation_samples: int = 100,
        historic_window: int = 8640,
        reestimation_period: int = 100,
        averaging_window: int = 10,
        spatial_tolerance: float = 0.05,
    ) -> None:
        if (min_value is None) != (max_value is None):
            raise ValueError("give both min_value and max_value, or neither")
        if min_value is not None and max_value is not None:
            if not (math.isfinite(min_value) and math.isfinite(max_value)):
                raise ValueError("min_value and max_value must be finite")
            if max_value < min_value:
                raise ValueError("min_value must be <= max_value")
        if bins < 1 or order < 1 or min_count < 1:
            raise ValueError("bins, order and min_count must be >= 1")
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1]")
        if learning_period < 1 or estimation_samples < 1 or averaging_window < 1:
            raise ValueError("learning_period, estimation_samples, averaging_window must be >= 1")
        if historic_window < averaging_window or reestimation_period < 1:
            raise ValueError("historic_window >= averaging_window and reestimation_period >= 1")
        self.min_value = min_value
        self.max_value = max_value
        self.bins = bins
        self.order = order
        self.min_count = min_count
        self.share = share
        self.learning_period = learning_period
        self.estimation_samples = estimation_samples
        self.historic_window = historic_window
        self.reestimation_period = reestimation_period
        self.averaging_window = averaging_window
        self.spatial_tolerance = spatial_tolerance
        self._probation = learning_period + estimation_samples  # nupic's probationaryPeriod
        self._reset()

    def _reset(self) -> None:
        self._origin: float | None = None
        self._width = 1.0
        if self.min_value is not None and self.max_value is not None:
            self._set_range(self.min_value, self.max_value, pad=0.0)
        self._warm: list[float] = []  # values seen before the range is known (no range given)
        # Sequence memory: context (tuple of previous levels, oldest first) -> [total, {level: n}].
        self._memory: dict[tuple[int, ...], list[Any]] = {}
        self._history: tuple[int, ...] = ()  # the last `order` levels, oldest first
        self._contexts: list[tuple[int, ...]] = []  # its suffixes, longest first
        self._entries: list[list[Any] | None] = []  # their memory entries (None: not yet seen)
        # Spatial check: extremes seen so far.
        self._lo = math.nan
        self._hi = math.nan
        # Likelihood: iteration count, the last raw scores, the averages in the window.
        self._n = 0
        self._raw: deque[float] = deque(maxlen=self.averaging_window)
        self._raw_sum = 0.0
        self._avgs: deque[float] = deque()
        self._avg_sum = 0.0
        self._avg_sq = 0.0
        self._mean = 0.0
        self._sd = 0.0
        self._have_dist = False
        self._prev_red = False

    def _set_range(self, lo: float, hi: float, pad: float) -> None:
        span = hi - lo
        if span <= 0.0:
            span = 1.0  # a constant stream: any width separates a later change
        self._origin = lo - pad * span
        self._width = span * (1.0 + 2.0 * pad) / self.bins

    # --- stage 1 ---------------------------------------------------------------------------

    def _raw_score(self, level: int) -> float:
        """1 - support of `level` in the longest well-known context of the history."""
        min_count = self.min_count
        chosen: list[Any] | None = None
        for entry in self._entries:  # longest context first
            if entry is not None:
                chosen = entry
                if entry[0] >= min_count:
                    break
        if chosen is None:
            return 1.0
        total, follow = chosen
        got = follow.get(level, 0) + 0.5 * (follow.get(level - 1, 0) + follow.get(level + 1, 0))
        need = max(min_count, self.share * total)
        return 0.0 if got >= need else 1.0 - got / need

    def _learn_level(self, level: int) -> None:
        memory = self._memory
        for ctx, entry in zip(self._contexts, self._entries, strict=True):
            if entry is None:
                memory[ctx] = [1, {level: 1}]
            else:
                entry[0] += 1
                follow = entry[1]
                follow[level] = follow.get(level, 0) + 1
        hist = (*self._history, level)
        self._set_history(hist[-self.order :] if len(hist) > self.order else hist)

    def _set_history(self, hist: tuple[int, ...]) -> None:
        """The history and, longest first, its contexts and their memory entries (None: new)."""
        self._history = hist
        self._contexts = [hist[-k:] for k in range(len(hist), 0, -1)]
        self._entries = [self._memory.get(ctx) for ctx in self._contexts]

    # --- one step ----------------------------------------------------------------------------

    def _step(self, v: float, learn: bool) -> float:
        if math.isinf(v):
            return 0.0
        origin = self._origin
        if origin is None:
            raw = 1.0
            level = 0
        else:
            level = math.floor((v - origin) / self._width)
            raw = self._raw_score(level)
        # Stage 3's test uses the extremes before this value (NAB numenta_detector.py).
        lo, hi = self._lo, self._hi
        spatial = False
        if hi > lo:
            tol = (hi - lo) * self.spatial_tolerance
            spatial = v > hi + tol or v < lo - tol
        # Stage 2: the average of the last raw scores, against the distribution of such averages.
        window = self._raw
        size = len(window)
        full = size == self.averaging_window
        raw_sum = self._raw_sum - (window[0] if full else 0.0) + raw
        avg = raw_sum / (size if full else size + 1)
        n = self._n
        red = False
        dist_mean, dist_sd, have = self._mean, self._sd, self._have_dist
        if n < self._probation:
            likelihood = 0.5
        else:
            if not have or n % self.reestimation_period == 0:
                dist_mean, dist_sd = self._estimate()
                have = True
            x = avg if avg >= dist_mean else 2.0 * dist_mean - avg
            tail = 0.5 * math.erfc((x - dist_mean) / dist_sd / _SQRT2)
            red = tail <= _RED
            if red and self._prev_red:
                tail = _YELLOW
            likelihood = 1.0 - tail
        score = 1.0 if spatial else math.log(1.0000000001 - likelihood) / _LOG_1E_10
        if learn:
            if n >= self._probation:
                self._prev_red = red
            self._mean, self._sd, self._have_dist = dist_mean, dist_sd, have
            self._raw_sum = raw_sum
            window.append(raw)
            if n >= self.learning_period:
                avgs = self._avgs
                if len(avgs) == self.historic_window:
                    old = avgs.popleft()
                    self._avg_sum -= old
                    self._avg_sq -= old * old
                avgs.append(avg)
                self._avg_sum += avg
                self._avg_sq += avg * avg
            self._n = n + 1
            self._lo = v if not lo <= v else lo
            self._hi = v if not hi >= v else hi
            if origin is None:
                self._warm.append(v)
                if len(self._warm) >= self.learning_period:
                    self._set_range(min(self._warm), max(self._warm), pad=_RANGE_PAD)
                    self._warm = []
            else:
                self._learn_level(level)
        return score

    def score_learn_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The batch path: `_step(v, learn=True)` written out over local variables.

        Same numbers as point by point (the contract test checks it); the per-point attribute
        traffic of `_step` is most of its cost. Points before the value range is known, and
        non-finite values, go through `_step` itself.
        """
        values = np.asarray(xs, dtype=float).tolist()
        out = [0.0] * len(values)
        erfc, log, isinf = math.erfc, math.log, math.isinf
        awin, probation, reest = self.averaging_window, self._probation, self.reestimation_period
        learning, hist_win, tol_share = (
            self.learning_period,
            self.historic_window,
            self.spatial_tolerance,
        )
        min_count, share = self.min_count, self.share
        window, avgs = self._raw, self._avgs
        learn_level = self._learn_level
        for i, v in enumerate(values):
            if v != v or isinf(v):
                continue  # missing: score 0, state unchanged (as `_step` and `learn_one`)
            if self._origin is None:
                out[i] = self._step(v, True)
                continue
            level = math.floor((v - self._origin) / self._width)
            # Stage 1, as `_raw_score`.
            chosen: list[Any] | None = None
            for entry in self._entries:
                if entry is not None:
                    chosen = entry
                    if entry[0] >= min_count:
                        break
            if chosen is None:
                raw = 1.0
            else:
                total, follow = chosen
                got = follow.get(level, 0) + 0.5 * (
                    follow.get(level - 1, 0) + follow.get(level + 1, 0)
                )
                need = max(min_count, share * total)
                raw = 0.0 if got >= need else 1.0 - got / need
            # Stage 3.
            lo, hi = self._lo, self._hi
            spatial = False
            if hi > lo:
                tol = (hi - lo) * tol_share
                spatial = v > hi + tol or v < lo - tol
            # Stage 2.
            size = len(window)
            full = size == awin
            raw_sum = self._raw_sum - (window[0] if full else 0.0) + raw
            avg = raw_sum / (size if full else size + 1)
            n = self._n
            if n < probation:
                likelihood = 0.5
            else:
                if not self._have_dist or n % reest == 0:
                    self._mean, self._sd = self._estimate()
                    self._have_dist = True
                dist_mean = self._mean
                x = avg if avg >= dist_mean else 2.0 * dist_mean - avg
                tail = 0.5 * erfc((x - dist_mean) / self._sd / _SQRT2)
                red = tail <= _RED
                if red and self._prev_red:
                    tail = _YELLOW
                self._prev_red = red
                likelihood = 1.0 - tail
            out[i] = 1.0 if spatial else log(1.0000000001 - likelihood) / _LOG_1E_10
            # Learning, as in `_step`.
            self._raw_sum = raw_sum
            window.append(raw)
            if n >= learning:
                if len(avgs) == hist_win:
                    old = avgs.popleft()
                    self._avg_sum -= old
                    self._avg_sq -= old * old
                avgs.append(avg)
                self._avg_sum += avg
                self._avg_sq += avg * avg
            self._n = n + 1
            if not lo <= v:
                self._lo = v
            if not hi >= v:
                self._hi = v
            learn_level(level)
        return np.asarray(out)

    def _estimate(self) -> tuple[float, float]:
        """Mean and standard deviation of the averaged raw scores (nupic lower-bound check)."""
        count = len(self._avgs)
        if count == 0:
            return 0.03, math.sqrt(0.0003)
        mean = self._avg_sum / count
        var = max(self._avg_sq / count - mean * mean, 0.0)
        return max(mean, 0.03), math.sqrt(max(var, 0.0003))

    # --- checkpoint ----------------------------------------------------------------------

    def _get_state(self) -> dict[str, Any]:
        contexts: list[list[int]] = []
        levels: list[list[int]] = []
        counts: list[list[int]] = []
        for ctx, (_, follow) in self._memory.items():
            contexts.append(list(ctx))
            levels.append(list(follow.keys()))
            counts.append(list(follow.values()))
        return {
            "origin": self._origin,
            "width": self._width,
            "warm": np.asarray(self._warm, dtype=float),
            "contexts": contexts,
            "levels": levels,
            "counts": counts,
            "history": list(self._history),
            "lo": self._lo,
            "hi": self._hi,
            "n": self._n,
            "raw": np.asarray(self._raw, dtype=float),
            "raw_sum": self._raw_sum,
            "avgs": np.asarray(self._avgs, dtype=float),
            "avg_sum": self._avg_sum,
            "avg_sq": self._avg_sq,
            "mean": self._mean,
            "sd": self._sd,
            "have_dist": self._have_dist,
            "prev_red": self._prev_red,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._reset()
        origin = state["origin"]
        self._origin = None if origin is None else float(origin)
        self._width = float(state["width"])
        self._warm = [float(v) for v in state["warm"]]
        if not len(state["contexts"]) == len(state["levels"]) == len(state["counts"]):
            raise ValueError("checkpoint memory lists differ in length")
        for ctx, lv, ct in zip(state["contexts"], state["levels"], state["counts"], strict=True):
            if len(lv) != len(ct) or not 1 <= len(ctx) <= self.order:
                raise ValueError("checkpoint memory entry is malformed")
            follow = {int(a): int(b) for a, b in zip(lv, ct, strict=True)}
            self._memory[tuple(int(c) for c in ctx)] = [sum(follow.values()), follow]
        self._set_history(tuple(int(h) for h in state["history"])[-self.order :])
        self._lo, self._hi = float(state["lo"]), float(state["hi"])
        self._n = int(state["n"])
        raw = [float(v) for v in state["raw"]]
        if len(raw) > self.averaging_window:
            raise ValueError("checkpoint averaging window does not match the detector's")
        self._raw = deque(raw, maxlen=self.averaging_window)
        self._raw_sum = float(state["raw_sum"])
        avgs = [float(v) for v in state["avgs"]]
        if len(avgs) > self.historic_window:
            raise ValueError("checkpoint historic window does not match the detector's")
        self._avgs = deque(avgs)
        self._avg_sum, self._avg_sq = float(state["avg_sum"]), float(state["avg_sq"])
        self._mean, self._sd = float(state["mean"]), float(state["sd"])
        self._have_dist = bool(state["have_dist"])
        self._prev_red = bool(state["prev_red"])
