"""Univariate streaming detectors, one instance per tag."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from ifactory.analytics.base import Detector
from ifactory.analytics.stats import EWStats

_SQRT2 = math.sqrt(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LN10 = math.log(10.0)


def _value(x: Any) -> float:
    """A univariate sample: a number, or a one-entry mapping (river-style dict)."""
    if isinstance(x, dict):
        if not x:
            return math.nan
        (x,) = x.values()
    if x is None:
        return math.nan
    return float(x)


class ZScoreDetector(Detector):
    """Distance of a value from its exponentially weighted mean in standard deviations, squashed to [0, 1).

    >>> d = ZScoreDetector(alpha=0.1, grace=3)
    >>> for v in [1.0, 1.1, 0.9, 1.0, 1.05]:
    ...     d.learn_one(v)
    >>> d.score_one(1.0) < 0.5 < d.score_one(10.0)
    True
    """

    name = "zscore"

    def __init__(self, alpha: float = 0.01, grace: int = 30) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.grace = grace
        self._stats = EWStats(alpha)

    def learn_one(self, x: Any) -> None:
        """Update the weighted mean and variance."""
        v = _value(x)
        if not math.isnan(v):
            self._stats.update(v)

    def score_one(self, x: Any) -> float:
        """1 - exp(-z²/8): 0.39 at 2σ, 0.68 at 3σ; 0 during the first `grace` samples."""
        v = _value(x)
        if math.isnan(v) or self._stats.n < self.grace:
            return 0.0
        sd = math.sqrt(self._stats.variance) + 1e-12
        z = (v - self._stats.mean) / sd
        return 1.0 - math.exp(-z * z / 8.0)

    def _get_state(self) -> dict[str, Any]:
        return self._stats.state()

    def _set_state(self, state: dict[str, Any]) -> None:
        self._stats.load(state)


class _StepDetector(Detector):
    """A univariate detector defined by `_step(value, learn)`: the public methods around it."""

    def _step(self, v: float, learn: bool) -> float:
        raise NotImplementedError

    def learn_one(self, x: Any) -> None:
        """Update the state with one value (NaN/None: skipped)."""
        v = _value(x)
        if not math.isnan(v):
            self._step(v, learn=True)

    def score_one(self, x: Any) -> float:
        """Anomaly score in [0, 1] of one value; the state is unchanged."""
        v = _value(x)
        if math.isnan(v):
            return 0.0
        return self._step(v, learn=False)

    def score_learn_one(self, x: Any) -> float:
        """Score, then learn, in a single pass."""
        v = _value(x)
        if math.isnan(v):
            return 0.0
        return self._step(v, learn=True)

    def score_learn_many(self, xs: Sequence[Any] | np.ndarray) -> np.ndarray:
        """The batch path: one loop over the values, same numbers as point by point."""
        values = np.asarray(xs, dtype=float).tolist()
        out = [0.0] * len(values)
        step = self._step
        for i, v in enumerate(values):
            if v == v:  # not NaN
                out[i] = step(v, True)
        return np.asarray(out)


class LikelihoodDetector(_StepDetector):
    """Surprise of a value against its recent past, turned into an anomaly likelihood (NAB-grade).

    Three stages, all O(1) per point:
    1. raw surprise: |x - μ| / σ with an exponentially weighted mean and variance (`alpha`), plus
       the shift of a fast mean (`fast_alpha`) away from the slow one, in the same σ units;
    2. anomaly likelihood after Ahmad et al. (2017, Neurocomputing 262, sec. 4.2): the mean of the
       last `short_window` raw scores against the mean/variance of raw scores over a long
       exponential window (`likelihood_alpha`), as the Gaussian tail Q(z), reported as
       1 - exp(-(-log10 Q)/10) so that the score is in [0, 1) and never saturates;
    3. repeat suppression: a score that does not exceed the decaying peak of earlier scores
       (factor `peak_decay` per point) is multiplied by `repeat_damping`, so one event raises
       one alert rather than a storm, whatever threshold is applied later.
    Scores are 0 for the first `grace` points (NAB's probation covers them).
    """

    name = "likelihood"

    def __init__(
        self,
        alpha: float = 0.005,
        fast_alpha: float = 0.2,
        short_window: int = 10,
        likelihood_alpha: float = 0.001,
        grace: int = 150,
        peak_decay: float = 0.999,
        repeat_damping: float = 0.5,
    ) -> None:
        for nm, a in (
            ("alpha", alpha),
            ("fast_alpha", fast_alpha),
            ("likelihood_alpha", likelihood_alpha),
        ):
            if not 0.0 < a <= 1.0:
                raise ValueError(f"{nm} must be in (0, 1]")
        if short_window < 1:
            raise ValueError("short_window must be >= 1")
        self.alpha = alpha
        self.fast_alpha = fast_alpha
        self.short_window = short_window
        self.likelihood_alpha = likelihood_alpha
        self.grace = grace
        self.peak_decay = peak_decay
        self.repeat_damping = repeat_damping
        self._reset()

    def _reset(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.fast = 0.0
        self.recent: list[float] = [0.0] * self.short_window
        self.recent_sum = 0.0
        self.pos = 0
        self.raw_mean = 0.0
        self.raw_var = 0.0
        self.peak = 0.0

    # The whole step is written out once, in `_step`, so that score_one, learn_one and the fast
    # batch path give bit-identical numbers.
    def _step(self, v: float, learn: bool) -> float:
        n, mean, var, fast = self.n, self.mean, self.var, self.fast
        if n == 0:
            if learn:
                self.n, self.mean, self.fast = 1, v, v
            return 0.0
        sd = math.sqrt(var) + 1e-9 * (abs(mean) + 1.0)
        # log1p keeps one huge jump from dominating the raw-score distribution learnt below.
        raw = math.log1p((abs(v - mean) + abs(fast - mean)) / sd)
        old = self.recent[self.pos]
        short = (self.recent_sum - old + raw) / self.short_window
        raw_sd = math.sqrt(self.raw_var) + 1e-6
        if n < self.grace:
            score = 0.0
        else:
            z = (short - self.raw_mean) / raw_sd
            # -log10 of the Gaussian tail Q(z), mapped to [0, 1) without saturating, so that
            # very unlikely events still rank against each other (HTM's log scale clips at 1).
            if z < 5.0:
                surprise = -math.log10(0.5 * math.erfc(z / _SQRT2))
            else:
                surprise = (0.5 * z * z + math.log(z) + _HALF_LOG_2PI) / _LN10
            score = 1.0 - math.exp(-surprise / 10.0)
        peak = self.peak * self.peak_decay
        out = score if score > peak else score * self.repeat_damping
        if learn:
            d = v - mean
            a = self.alpha
            self.mean = mean + a * d
            self.var = (1.0 - a) * (var + d * a * d)
            self.fast = fast + self.fast_alpha * (v - fast)
            self.n = n + 1
            self.recent_sum += raw - old
            self.recent[self.pos] = raw
            self.pos = (self.pos + 1) % self.short_window
            la = self.likelihood_alpha if n > 1.0 / self.likelihood_alpha else 1.0 / n
            rd = short - self.raw_mean
            self.raw_mean += la * rd
            self.raw_var = (1.0 - la) * (self.raw_var + rd * la * rd)
            self.peak = score if score > peak else peak
        return out

    def _get_state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "fast": self.fast,
            "recent": np.asarray(self.recent, dtype=float),
            "recent_sum": self.recent_sum,
            "pos": self.pos,
            "raw_mean": self.raw_mean,
            "raw_var": self.raw_var,
            "peak": self.peak,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        recent = [float(v) for v in state["recent"]]
        if len(recent) != self.short_window:
            raise ValueError("checkpoint short_window does not match the detector's")
        self.n = int(state["n"])
        self.mean, self.var, self.fast = (
            float(state["mean"]),
            float(state["var"]),
            float(state["fast"]),
        )
        self.recent = recent
        # The running sum is stored, not recomputed, so that a restore is bit-exact.
        self.recent_sum = float(state["recent_sum"])
        self.pos = int(state["pos"])
        self.raw_mean, self.raw_var = float(state["raw_mean"]), float(state["raw_var"])
        self.peak = float(state["peak"])


class _SortedWindow:
    """A multiset of floats kept sorted in blocks: O(√n) insert/remove, count of values below x.

    The blocks are sorted and each block's values are <= the next block's, so the values below
    x are whole blocks (by their maxima) plus a bisection inside one block. The block layout
    never changes a count, so a window rebuilt from the same values counts exactly alike.
    """

    LOAD = 512

    def __init__(self, values: list[float] | None = None) -> None:
        ordered = sorted(values or [])
        self.blocks = [ordered[i : i + self.LOAD] for i in range(0, len(ordered), self.LOAD)]
        self.maxes = [b[-1] for b in self.blocks]
        self.sizes = [len(b) for b in self.blocks]
        self.size = len(ordered)

    def __len__(self) -> int:
        return self.size

    def count_below(self, x: float) -> int:
        """How many values are strictly below x."""
        j = bisect_left(self.maxes, x)
        if j == len(self.blocks):
            return self.size
        return sum(self.sizes[:j]) + bisect_left(self.blocks[j], x)

    def add(self, x: float) -> None:
        """Insert one value."""
        if not self.blocks:
            self.blocks, self.maxes, self.sizes, self.size = [[x]], [x], [1], 1
            return
        j = bisect_left(self.maxes, x)
        if j == len(self.blocks):
            j -= 1
        block = self.blocks[j]
        insort(block, x)
        self.maxes[j] = block[-1]
        self.sizes[j] += 1
        self.size += 1
        if self.sizes[j] > 2 * self.LOAD:
            half = block[self.LOAD :]
            del block[self.LOAD :]
            self.blocks.insert(j + 1, half)
            self.maxes[j] = block[-1]
            self.maxes.insert(j + 1, half[-1])
            self.sizes[j] = len(block)
            self.sizes.insert(j + 1, len(half))

    def remove(self, x: float) -> None:
        """Remove one occurrence of a value that is present."""
        j = bisect_left(self.maxes, x)
        block = self.blocks[j]
        del block[bisect_left(block, x)]
        self.size -= 1
        if block:
            self.maxes[j] = block[-1]
            self.sizes[j] -= 1
        else:
            del self.blocks[j], self.maxes[j], self.sizes[j]


class RankDetector(_StepDetector):
    """How exceptional a value is compared with everything this stream has shown so far.

    Three surprise features are computed per point from exponentially weighted statistics:
    the distance of the value from the slow mean (`alpha`), the distance of a fast mean
    (`fast_alpha`) from the slow one (level shifts), and the step from the previous value,
    each in units of the slow standard deviation. Each feature is turned into its empirical
    rank among the last `history` values of the same feature (the share of earlier values
    strictly below it), and the score is the largest rank: 1.0 for a value more extreme than
    anything in the history, whatever the scale or noise of the tag, so one threshold fits
    every tag. A score that does not exceed the largest score of the previous `cooldown`
    points is multiplied by `repeat_damping`, so one event raises one alert.
    Scores are 0 for the first `grace` points, whose features are not kept in the history.
    Defaults were chosen on synthetic NAB-like files (benchmarks/nab_tune_synthetic.py), not on
    NAB's labels.
    """

    name = "rank"

    def __init__(
        self,
        alpha: float = 0.003,
        fast_alpha: float = 0.2,
        history: int = 20000,
        cooldown: int = 50,
        repeat_damping: float = 0.5,
        grace: int = 100,
    ) -> None:
        for nm, a in (("alpha", alpha), ("fast_alpha", fast_alpha)):
            if not 0.0 < a <= 1.0:
                raise ValueError(f"{nm} must be in (0, 1]")
        if history < 2 or cooldown < 1:
            raise ValueError("history must be >= 2 and cooldown >= 1")
        self.alpha = alpha
        self.fast_alpha = fast_alpha
        self.history = history
        self.cooldown = cooldown
        self.repeat_damping = repeat_damping
        self.grace = grace
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.fast = 0.0
        self.prev = 0.0
        # Per feature: values in arrival order (to forget the oldest) and the same values sorted.
        self.fifo: list[deque[float]] = [deque(), deque(), deque()]
        self.sorted = [_SortedWindow(), _SortedWindow(), _SortedWindow()]
        # Recent scores as (index, score) with decreasing scores: a sliding-window maximum.
        self.recent_max: list[tuple[int, float]] = []

    def _step(self, v: float, learn: bool) -> float:
        n = self.n
        if n == 0:
            if learn:
                self.n, self.mean, self.fast, self.prev = 1, v, v, v
            return 0.0
        mean = self.mean
        sd = math.sqrt(self.var) + 1e-9 * (abs(mean) + 1.0)
        f0 = abs(v - mean) / sd
        f1 = abs(self.fast - mean) / sd
        f2 = abs(v - self.prev) / sd
        s0, s1, s2 = self.sorted
        size = len(s0)  # the three histories always hold the same number of values
        if n >= self.grace and size:
            rank = max(s0.count_below(f0), s1.count_below(f1), s2.count_below(f2)) / size
            score = rank
        else:
            score = 0.0
        window = self.recent_max
        start = 0
        horizon = n - self.cooldown
        size_w = len(window)
        while start < size_w and window[start][0] <= horizon:
            start += 1
        out = score if start == size_w or score > window[start][1] else score * self.repeat_damping
        if learn:
            # Features computed while the mean and variance are still warming up (the grace
            # period) are inflated; kept, they would outrank real anomalies for `history` points.
            if n >= self.grace:
                q0, q1, q2 = self.fifo
                if size == self.history:
                    s0.remove(q0.popleft())
                    s1.remove(q1.popleft())
                    s2.remove(q2.popleft())
                q0.append(f0)
                q1.append(f1)
                q2.append(f2)
                s0.add(f0)
                s1.add(f1)
                s2.add(f2)
            if start:
                del window[:start]
            while window and window[-1][1] <= score:
                window.pop()
            window.append((n, score))
            d = v - mean
            a = self.alpha
            self.mean = mean + a * d
            self.var = (1.0 - a) * (self.var + d * a * d)
            self.fast += self.fast_alpha * (v - self.fast)
            self.prev = v
            self.n = n + 1
        return out

    def _get_state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "fast": self.fast,
            "prev": self.prev,
            "fifo": [np.asarray(f, dtype=float) for f in self.fifo],
            "recent_index": np.asarray([i for i, _ in self.recent_max], dtype=np.int64),
            "recent_score": np.asarray([s for _, s in self.recent_max], dtype=float),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.n = int(state["n"])
        self.mean, self.var = float(state["mean"]), float(state["var"])
        self.fast, self.prev = float(state["fast"]), float(state["prev"])
        self.fifo = [deque(float(v) for v in f) for f in state["fifo"]]
        self.sorted = [_SortedWindow(list(f)) for f in self.fifo]
        self.recent_max = [
            (int(i), float(s))
            for i, s in zip(state["recent_index"], state["recent_score"], strict=True)
        ]
