"""Online statistics with O(1) updates, used by the detectors.

>>> s = RunningStats()
>>> for v in (1.0, 2.0, 3.0, 4.0):
...     s.update(v)
>>> s.mean, round(s.variance, 4)
(2.5, 1.6667)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class RunningStats:
    """Mean and sample variance by Welford's algorithm (Knuth TAOCP vol. 2, 4.2.2)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    def update(self, x: float) -> None:
        """Add one observation."""
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (x - self.mean)

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 in the denominator); 0 with fewer than two observations."""
        return self._m2 / (self.n - 1) if self.n > 1 else 0.0

    def state(self) -> dict[str, Any]:
        """Plain values for a checkpoint."""
        return {"n": self.n, "mean": self.mean, "m2": self._m2}

    def load(self, state: dict[str, Any]) -> None:
        """Restore from `state()`."""
        self.n, self.mean, self._m2 = int(state["n"]), float(state["mean"]), float(state["m2"])


class EWStats:
    """Exponentially weighted mean and variance (West 1979 incremental form), weight `alpha`."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.n = 0
        self.mean = 0.0
        self.variance = 0.0

    def update(self, x: float) -> None:
        """Add one observation."""
        if self.n == 0:
            self.mean = x
        else:
            delta = x - self.mean
            incr = self.alpha * delta
            self.mean += incr
            self.variance = (1.0 - self.alpha) * (self.variance + delta * incr)
        self.n += 1

    def state(self) -> dict[str, Any]:
        """Plain values for a checkpoint."""
        return {"n": self.n, "mean": self.mean, "variance": self.variance}

    def load(self, state: dict[str, Any]) -> None:
        """Restore from `state()`."""
        self.n, self.mean, self.variance = (
            int(state["n"]),
            float(state["mean"]),
            float(state["variance"]),
        )


class RollingWindow:
    """The last `size` values in a ring buffer, with their mean and variance."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffer = np.zeros(size)
        self.count = 0
        self.pos = 0
        self._sum = 0.0
        self._sumsq = 0.0

    def update(self, x: float) -> None:
        """Push one value, dropping the oldest when full."""
        if self.count == self.size:
            old = float(self.buffer[self.pos])
            self._sum -= old
            self._sumsq -= old * old
        else:
            self.count += 1
        self.buffer[self.pos] = x
        self._sum += x
        self._sumsq += x * x
        self.pos = (self.pos + 1) % self.size

    @property
    def mean(self) -> float:
        """Mean of the values held."""
        return self._sum / self.count if self.count else 0.0

    @property
    def variance(self) -> float:
        """Population variance of the values held (never negative despite rounding)."""
        if self.count < 2:
            return 0.0
        m = self._sum / self.count
        return max(self._sumsq / self.count - m * m, 0.0)

    def values(self) -> np.ndarray:
        """The values held, oldest first."""
        if self.count < self.size:
            return self.buffer[: self.count].copy()
        return np.concatenate([self.buffer[self.pos :], self.buffer[: self.pos]])

    def state(self) -> dict[str, Any]:
        """Plain values for a checkpoint (the sums are recomputed on load, so no drift survives)."""
        return {"values": self.values()}

    def load(self, state: dict[str, Any]) -> None:
        """Restore from `state()`."""
        self.buffer = np.zeros(self.size)
        self.count = self.pos = 0
        self._sum = self._sumsq = 0.0
        for v in np.asarray(state["values"], dtype=float)[-self.size :]:
            self.update(float(v))


def gaussian_tail(z: float) -> float:
    """Upper tail probability Q(z) = P(Z > z) of the standard normal (erfc form)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))
