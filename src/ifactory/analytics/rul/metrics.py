"""RUL error metrics used by the prognostics literature (RMSE and the PHM08 score)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# PHM08 challenge scoring (Saxena, Goebel, Simon, Eklund, "Damage Propagation Modeling for
# Aircraft Engine Run-to-Failure Simulation", PHM08): d = predicted − true RUL,
# s = Σ exp(−d/13) − 1 for d < 0 (early prediction) and exp(d/10) − 1 for d ≥ 0 (late
# prediction: penalised harder, a late maintenance call costs a failure).
EARLY_DIVISOR = 13.0
LATE_DIVISOR = 10.0


def _pair(
    predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=float).ravel()
    t = np.asarray(true, dtype=float).ravel()
    if p.shape != t.shape:
        raise ValueError(f"predicted ({p.size}) and true ({t.size}) differ in length")
    if p.size == 0:
        raise ValueError("no predictions to score")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions and true values must be finite")
    return p, t


def rmse(predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> float:
    """Root-mean-square error, in cycles."""
    p, t = _pair(predicted, true)
    return math.sqrt(float(np.mean((p - t) ** 2)))


def phm08_score(
    predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray
) -> float:
    """PHM08 asymmetric score Σ (e^(−d/13) − 1 if d < 0 else e^(d/10) − 1), d = predicted − true."""
    p, t = _pair(predicted, true)
    d = p - t
    per_unit = np.where(d < 0, np.expm1(-d / EARLY_DIVISOR), np.expm1(d / LATE_DIVISOR))
    return float(np.sum(per_unit))
