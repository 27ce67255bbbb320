"""Per-cycle model inputs of a unit: normalised sensors, causally smoothed, plus the cycle count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ifactory.analytics.rul.cmapss import Unit
from ifactory.analytics.rul.preprocess import Normaliser

# The cycle count enters scaled so that a typical C-MAPSS life (~200 cycles) is ~1.
CYCLE_SCALE = 200.0


def exponential_smoothing(values: np.ndarray, alpha: float) -> np.ndarray:
    """Causal exponential smoothing along axis 0: y_t = α·x_t + (1 − α)·y_{t−1}, y_0 = x_0."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    out = np.array(values, dtype=float, copy=True)
    for t in range(1, len(out)):
        out[t] = alpha * out[t] + (1.0 - alpha) * out[t - 1]
    return out


@dataclass(frozen=True)
class FeatureSpec:
    """How per-cycle inputs are built from a unit (fixed before training, part of the protocol)."""

    smoothing: float = 0.2
    cycle_feature: bool = True

    def names(self, normaliser: Normaliser) -> list[str]:
        """Feature names in column order."""
        return [*normaliser.sensor_names, *(["cycle"] if self.cycle_feature else [])]

    def build(self, unit: Unit, normaliser: Normaliser) -> np.ndarray:
        """Cycles × features matrix for one unit; uses only the unit's own past at each cycle."""
        values = normaliser.transform(unit).astype(float)
        if self.smoothing < 1.0:
            values = exponential_smoothing(values, self.smoothing)
        if self.cycle_feature:
            cycles = np.arange(1, unit.cycles + 1, dtype=float)[:, None] / CYCLE_SCALE
            values = np.hstack([values, cycles])
        return values.astype(np.float32)
