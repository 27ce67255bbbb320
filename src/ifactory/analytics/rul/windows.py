"""RUL labels and fixed-length sliding windows over a unit's cycles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Piecewise-linear target (Heimes, PHM08; Babu et al. 2016; Li et al. 2018): degradation is
# not observable early in life, so the target is flat at the cap, then falls 1 per cycle.
DEFAULT_CAP = 125


def rul_labels(cycles: int, *, cap: float | None = DEFAULT_CAP, end_rul: float = 0.0) -> np.ndarray:
    """RUL at each of `cycles` cycles of a unit whose last cycle has RUL `end_rul`, capped at `cap`."""
    if cycles < 1:
        raise ValueError("a unit has at least one cycle")
    if end_rul < 0:
        raise ValueError("end_rul must be non-negative")
    rul = end_rul + np.arange(cycles - 1, -1, -1, dtype=float)
    return rul if cap is None else np.minimum(rul, float(cap))


def sliding_windows(
    features: np.ndarray, length: int, *, stride: int = 1, first_end: int | None = None
) -> np.ndarray:
    """Windows (n × length × features) ending at cycles first_end, first_end+stride, …, last.

    By default the first window ends at cycle `length`. A window ending before cycle `length`
    (a unit with a short history) is padded by repeating the unit's first cycle: the engine is
    healthy then, and it is what a prediction early in a unit's life sees online.
    """
    if length < 1 or stride < 1:
        raise ValueError("window length and stride must be positive")
    if features.ndim != 2 or len(features) == 0:
        raise ValueError("features must be a non-empty cycles × features matrix")
    n = len(features)
    first = min(length if first_end is None else max(1, first_end), n)
    pad = max(0, length - first)
    x = np.vstack([np.repeat(features[:1], pad, axis=0), features]) if pad else features
    ends = np.arange(n, first - 1, -stride)[::-1]  # 1-based cycle at each window's end
    view = np.lib.stride_tricks.sliding_window_view(x, length, axis=0)  # n × f × length
    return np.ascontiguousarray(view[ends + pad - length].transpose(0, 2, 1))


def last_window(features: np.ndarray, length: int) -> np.ndarray:
    """The window ending at the unit's last cycle (length × features)."""
    window: np.ndarray = sliding_windows(features, length)[-1]
    return window


def training_windows(
    units: Sequence[np.ndarray],
    length: int,
    *,
    cap: float | None = DEFAULT_CAP,
    first_end: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows of run-to-failure units with the RUL at each window's last cycle as target."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for features in units:
        labels = rul_labels(len(features), cap=cap)
        windows = sliding_windows(features, length, first_end=first_end)
        xs.append(windows)
        # Windows end at consecutive cycles up to the last one, which has RUL 0.
        ys.append(labels[len(labels) - len(windows) :])
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)
