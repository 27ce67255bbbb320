"""The RUL model of a machine class: LightGBM quantile regressors for the band (10/50/90 %).

Gradient-boosted trees take the hourly condition features as they are (missing values
included, which gaps and stopped machines produce) and quantile regression gives the
uncertainty band directly, without assuming a distribution of the error. The artifact is
LightGBM's own model text inside a JSON document: it loads without running code (no pickle).

Boosting starts from half the cap (`init_h`), not from the label quantile: most labels sit at
the cap, so the quantile is the cap itself, every residual is zero or of one sign, and the
median regressor would find no split at all (every gradient equal).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from ifactory.core.errors import InvalidInput

ARTIFACT_FORMAT = "ifactory.prognostics.lightgbm-quantiles/1"
QUANTILES = (0.1, 0.5, 0.9)
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
DEFAULT_ROUNDS = 300


@dataclass(frozen=True)
class Prediction:
    """RUL quantiles (hours) of one feature vector, and the features that pulled the median down."""

    low_h: float
    median_h: float
    high_h: float
    contributions: list[
        tuple[str, float]
    ]  # (feature, hours it adds to the median), most negative first


class QuantileModel:
    """Three LightGBM boosters (low, median, high quantile) over named features."""

    def __init__(
        self,
        features: Sequence[str],
        boosters: dict[float, lgb.Booster],
        *,
        cap_h: float,
        init_h: float = 0.0,
    ) -> None:
        if set(boosters) != set(QUANTILES):
            raise InvalidInput(f"need boosters for quantiles {QUANTILES}", type="invalid_model")
        self.features = list(features)
        self.boosters = boosters
        self.cap_h = cap_h
        self.init_h = init_h

    @classmethod
    def train(
        cls,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        features: Sequence[str],
        *,
        cap_h: float,
        seed: int = 0,
        rounds: int = DEFAULT_ROUNDS,
        params: dict[str, Any] | None = None,
    ) -> QuantileModel:
        """Fit one quantile regressor per band quantile on features `x` and RUL hours `y`."""
        if x.ndim != 2 or x.shape[1] != len(features) or len(y) != len(x):
            raise InvalidInput("x must be (rows, len(features)) and y (rows,)", type="bad_shape")
        if len(y) == 0:
            raise InvalidInput("no training rows", type="no_data")
        init_h = cap_h / 2.0
        boosters = {}
        for q in QUANTILES:
            p = {**DEFAULT_PARAMS, **(params or {}), "objective": "quantile", "alpha": q}
            p["seed"] = seed
            data = lgb.Dataset(
                x,
                label=y,
                init_score=np.full(len(y), init_h),
                feature_name=list(features),
                free_raw_data=True,
            )
            boosters[q] = lgb.train(p, data, num_boost_round=rounds)
        return cls(features, boosters, cap_h=cap_h, init_h=init_h)

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Quantiles (rows, 3) in hours, clipped to [0, cap] and sorted so low <= median <= high."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = self.init_h + np.column_stack(
            [self.boosters[q].predict(x, num_threads=1) for q in QUANTILES]
        )
        return np.sort(np.clip(out, 0.0, self.cap_h), axis=1)

    def explain(self, x: npt.NDArray[np.float64], top: int = 5) -> Prediction:
        """The band of one feature vector and its top contributions to the median (SHAP values)."""
        row = np.asarray(x, dtype=np.float64).reshape(1, -1)
        low, med, high = self.predict(row)[0]
        contrib = np.asarray(self.boosters[0.5].predict(row, pred_contrib=True, num_threads=1))[0][
            :-1
        ]
        order = np.argsort(contrib, kind="stable")[:top]
        signals = [(self.features[i], float(contrib[i])) for i in order if contrib[i] < 0]
        return Prediction(float(low), float(med), float(high), signals)

    def to_json(self) -> str:
        """The artifact: JSON holding each booster's LightGBM model text (no executable content)."""
        return json.dumps(
            {
                "format": ARTIFACT_FORMAT,
                "features": self.features,
                "cap_h": self.cap_h,
                "init_h": self.init_h,
                "quantiles": list(QUANTILES),
                "boosters": {str(q): self.boosters[q].model_to_string() for q in QUANTILES},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> QuantileModel:
        """Load an artifact written by `to_json` (checks the format first)."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"model artifact is not JSON: {exc}", type="invalid_model") from exc
        if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
            raise InvalidInput(
                f"unknown model artifact format (expected {ARTIFACT_FORMAT})", type="invalid_model"
            )
        boosters = {float(q): lgb.Booster(model_str=s) for q, s in doc["boosters"].items()}
        return cls(
            doc["features"],
            boosters,
            cap_h=float(doc["cap_h"]),
            init_h=float(doc.get("init_h", 0.0)),
        )
