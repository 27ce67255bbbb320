"""Turning a detector's score stream into an alarm state: hysteresis, point by point.

An alarm rises when the score exceeds the threshold and is held until the score falls below
`release` × threshold (a two-limit "deadband" as in process-alarm practice, ISA-18.2 §10.5 /
EEMUA 191 on alarm deadbands). A fault that persists but whose score fluctuates around the
threshold then gives one continuous alarm instead of a chattering one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class HysteresisAlarm:
    """Rise above `threshold`, clear below `release` × `threshold` (0 < release <= 1)."""

    def __init__(self, threshold: float, release: float = 1.0) -> None:
        if not 0.0 < release <= 1.0:
            raise ValueError("release must be in (0, 1]")
        if not math.isfinite(threshold):
            raise ValueError("threshold must be finite")
        self.threshold = threshold
        self.release = release
        self.active = False

    def update(self, score: float) -> bool:
        """Feed one score (NaN keeps the current state); True while the alarm is active."""
        if math.isnan(score):
            return self.active
        if self.active:
            self.active = score > self.release * self.threshold
        else:
            self.active = score > self.threshold
        return self.active

    def update_many(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Alarm state (0/1) after each score of a batch, in order; same as `update` one by one."""
        update = self.update
        return np.asarray([update(s) for s in np.asarray(scores, dtype=float).tolist()], dtype=int)
