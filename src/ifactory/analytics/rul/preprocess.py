"""Operating-regime clustering, sensor selection and per-regime normalisation, fitted on training units.

Multi-condition subsets (C-MAPSS FD002, FD004) fly six discrete operating regimes whose effect
on the sensors dwarfs degradation; the standard remedy is to cluster the operating settings
and z-score every sensor within its regime (e.g. Wang et al., PHM08; Zheng et al., ICPHM 2017).
Single-condition subsets (FD001, FD003) come out as one regime, i.e. plain z-scoring.
Everything here is fitted on training units only; test units are transformed with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ifactory.analytics.rul.cmapss import SENSOR_NAMES, Unit

FORMAT_VERSION = 1
# A regime count k is accepted when clustering explains this share (99.9 %) of the operating settings'
# variance: discrete flight conditions explain ~100 %, sensor noise around one condition far less.
EXPLAINED_VARIANCE = 0.999
MAX_REGIMES = 10
# A sensor with this few distinct values within a regime is a constant or a quantisation flicker
# (C-MAPSS FD001: s1, s5, s6, s10, s16, s18, s19), carrying no degradation signal.
MIN_DISTINCT_VALUES = 3
_EPS = 1e-9


def kmeans(
    x: np.ndarray, k: int, *, seed: int = 0, restarts: int = 4, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding; returns (centroids k × d, inertia)."""
    if k < 1 or k > len(x):
        raise ValueError(f"k must be in 1..{len(x)}")
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, float] | None = None
    for _ in range(restarts):
        centroids = x[rng.integers(len(x))][None, :]
        while len(centroids) < k:
            d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1).min(1)
            total = d2.sum()
            pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=d2 / total)
            centroids = np.vstack([centroids, x[pick]])
        for _ in range(iterations):
            labels = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1).argmin(1)
            moved = np.array(
                [x[labels == j].mean(0) if (labels == j).any() else centroids[j] for j in range(k)]
            )
            if np.allclose(moved, centroids):
                break
            centroids = moved
        inertia = float(((x - centroids[labels]) ** 2).sum())
        if best is None or inertia < best[1]:
            best = (centroids, inertia)
    assert best is not None
    return best


def find_regimes(settings: np.ndarray, *, seed: int = 0, max_samples: int = 5000) -> np.ndarray:
    """Centroids of the operating regimes: the smallest k whose clusters explain ≥ 99.9 % of variance."""
    x = np.asarray(settings, dtype=float)
    scale = x.std(0)
    varying = scale > _EPS
    if not varying.any():
        return x[:1].copy()
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= max_samples else x[rng.choice(len(x), max_samples, replace=False)]
    z = (sample[:, varying] - sample[:, varying].mean(0)) / scale[varying]
    total = float((z**2).sum())
    for k in range(1, min(MAX_REGIMES, len(z)) + 1):
        centroids_z, inertia = kmeans(z, k, seed=seed)
        if inertia <= (1.0 - EXPLAINED_VARIANCE) * total:
            break
    else:
        return np.atleast_2d(x.mean(0))
    if k == 1:
        return np.atleast_2d(x.mean(0))
    labels = ((z[:, None, :] - centroids_z[None, :, :]) ** 2).sum(-1).argmin(1)
    return np.array([sample[labels == j].mean(0) for j in range(k)])


def assign_regimes(settings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest regime centroid for each row, distance scaled per setting."""
    scale = np.ptp(centroids, axis=0)
    scale[scale <= _EPS] = 1.0
    d2 = (((settings[:, None, :] - centroids[None, :, :]) / scale) ** 2).sum(-1)
    labels: np.ndarray = d2.argmin(1)
    return labels


@dataclass
class Normaliser:
    """Regimes, kept sensors and per-regime mean/std, fitted on training units."""

    centroids: np.ndarray
    sensors: list[int]
    mean: np.ndarray
    std: np.ndarray
    sensor_names: list[str] = field(default_factory=list)

    @property
    def n_regimes(self) -> int:
        """Number of operating regimes found."""
        return int(self.centroids.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features per cycle after transformation."""
        return len(self.sensors)

    def transform(self, unit: Unit) -> np.ndarray:
        """Kept sensors of one unit, z-scored within each cycle's regime (cycles × features)."""
        regimes = assign_regimes(unit.settings, self.centroids)
        values = unit.sensors[:, self.sensors]
        scaled: np.ndarray = (values - self.mean[regimes]) / self.std[regimes]
        return scaled.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Versioned, non-executable state (lists and numbers)."""
        return {
            "format": "ifactory.rul.normaliser",
            "version": FORMAT_VERSION,
            "centroids": self.centroids.tolist(),
            "sensors": list(self.sensors),
            "sensor_names": list(self.sensor_names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Normaliser:
        """Restore from `to_dict` output; refuses another format or version."""
        if (
            state.get("format") != "ifactory.rul.normaliser"
            or state.get("version") != FORMAT_VERSION
        ):
            raise ValueError("not an ifactory.rul.normaliser state of a known version")
        return cls(
            centroids=np.asarray(state["centroids"], dtype=float),
            sensors=[int(i) for i in state["sensors"]],
            sensor_names=[str(n) for n in state["sensor_names"]],
            mean=np.asarray(state["mean"], dtype=float),
            std=np.asarray(state["std"], dtype=float),
        )


def fit_normaliser(units: Sequence[Unit], *, seed: int = 0) -> Normaliser:
    """Find regimes, drop uninformative sensors and fit per-regime mean/std on training units."""
    if not units:
        raise ValueError("no training units")
    settings = np.vstack([u.settings for u in units])
    sensors = np.vstack([u.sensors for u in units])
    centroids = find_regimes(settings, seed=seed)
    regimes = assign_regimes(settings, centroids)
    k = len(centroids)
    kept: list[int] = []
    for j in range(sensors.shape[1]):
        distinct = [
            len(np.unique(sensors[regimes == r, j])) for r in range(k) if (regimes == r).any()
        ]
        if float(np.median(distinct)) >= MIN_DISTINCT_VALUES:
            kept.append(j)
    if not kept:
        raise ValueError("no sensor varies within the operating regimes")
    mean = np.zeros((k, len(kept)))
    std = np.ones((k, len(kept)))
    for r in range(k):
        rows = sensors[regimes == r][:, kept]
        if len(rows):
            mean[r] = rows.mean(0)
            s = rows.std(0)
            std[r] = np.where(s > _EPS, s, 1.0)
    return Normaliser(
        centroids=centroids,
        sensors=kept,
        mean=mean,
        std=std,
        sensor_names=[SENSOR_NAMES[j] for j in kept],
    )
