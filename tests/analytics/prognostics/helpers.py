"""Hand-made rollups and a stand-in model for the prognostics tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ifactory.analytics.prognostics.features import MINUTE_US, MachineTags
from ifactory.analytics.prognostics.model import Prediction
from ifactory.historian.rollups import Rows

STATE, VIB, TEMP = 11, 12, 13
EXECUTING, DOWN = 1.0, 3.0


def machine(machine_id: int = 7, key: str = "site/line/m1") -> MachineTags:
    """A machine with a state tag, vibration (reference 7.1 mm/s) and bearing temperature."""
    return MachineTags(
        machine_id=machine_id,
        machine_key=key,
        machine_class="mill",
        state_tag=STATE,
        executing_code=EXECUTING,
        down_codes=(DOWN,),
        maintenance_codes=(4.0,),
        analog=((TEMP, "bearing_temp", 85.0), (VIB, "vibration_rms", 7.1)),
    )


class MinuteSource:
    """A historian stand-in: one rollup row per tag and minute, values from `value(tag, minute)`."""

    def __init__(self, value: Callable[[int, int], float]) -> None:
        self.value = value
        self.calls = 0

    def rollups(self, tag_ids: npt.ArrayLike, start_us: int, end_us: int) -> Rows:
        """Rows of minutes in [start_us, end_us), sorted by (tag, minute)."""
        self.calls += 1
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        minutes = np.arange(start_us // MINUTE_US, (end_us - 1) // MINUTE_US + 1, dtype=np.int64)
        tag = np.repeat(ids, len(minutes)).astype(np.int32)
        bucket = np.tile(minutes, len(ids))
        v = np.array([self.value(int(t), int(m)) for t, m in zip(tag, bucket, strict=True)])
        ones = np.ones(len(tag), dtype=np.int64)
        ts = bucket * MINUTE_US
        return Rows(
            tag=tag,
            bucket=bucket,
            n=ones,
            n_ok=ones.copy(),
            vmin=v,
            vmax=v.copy(),
            vsum=v.copy(),
            first_ts=ts,
            last_ts=ts.copy(),
            first_v=v.copy(),
            last_v=v.copy(),
            integral=v * 60.0,
            weight=np.full(len(tag), 60.0),
            inc=np.zeros(len(tag)),
            first_ok_v=v.copy(),
            last_ok_v=v.copy(),
        )


class VibrationModel:
    """A stand-in RUL model: the median falls linearly as vibration nears its alarm level."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        self.cap_h = 168.0
        self._col = features.index("vibration_rms.lvl6")

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(rows, 3) quantiles: median 240 h at 0 vibration, 0 h at the alarm level."""
        x = np.atleast_2d(x)
        med = np.clip(240.0 * (1.0 - np.nan_to_num(x[:, self._col])), 0.0, self.cap_h)
        return np.column_stack([0.7 * med, med, np.minimum(1.3 * med, self.cap_h)])

    def explain(self, x: npt.NDArray[np.float64], top: int = 5) -> Prediction:
        """The band, with vibration as the one contributing signal."""
        low, med, high = self.predict(x)[0]
        return Prediction(float(low), float(med), float(high), [("vibration_rms.lvl6", -10.0)])


def as_model(model: Any) -> Any:
    """The stand-in typed loosely, where a QuantileModel is expected."""
    return model
