"""Operating-regime clustering, sensor selection and per-regime normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ifactory.analytics.rul.cmapss import load_subset
from ifactory.analytics.rul.preprocess import Normaliser, find_regimes, fit_normaliser
from tests.analytics.rul.synthetic import CONDITIONS, write_subset

INFORMATIVE = [f"s{j + 1}" for j in range(21) if j not in (0, 4, 5, 9, 15, 17, 18)]


def test_six_flight_conditions_are_found_as_six_regimes() -> None:
    rng = np.random.default_rng(0)
    settings = CONDITIONS[rng.integers(6, size=3000)] + rng.normal(0, 0.002, size=(3000, 3))
    centroids = find_regimes(settings)
    assert len(centroids) == 6
    found = sorted(map(tuple, np.round(centroids, 1)))
    assert found == sorted(map(tuple, np.round(CONDITIONS, 1)))


def test_noise_around_one_condition_is_one_regime() -> None:
    rng = np.random.default_rng(0)
    settings = np.column_stack(
        [rng.normal(0, 0.002, 2000), rng.normal(0, 0.0003, 2000), np.full(2000, 100.0)]
    )
    assert len(find_regimes(settings)) == 1


def test_multi_condition_sensors_are_zscored_per_regime_and_constants_dropped(
    tmp_path: Path,
) -> None:
    write_subset(tmp_path, "FD002", train_units=12, test_units=4, regimes=6)
    subset = load_subset(tmp_path, "FD002")
    norm = fit_normaliser(subset.train)
    assert norm.n_regimes == 6
    assert norm.sensor_names == INFORMATIVE
    features = np.vstack([norm.transform(u) for u in subset.train])
    # Regime offsets (30 units per regime) are gone: every feature is ~N(0, 1) overall.
    assert np.abs(features.mean(0)).max() < 0.05
    assert np.abs(features.std(0) - 1).max() < 0.05


def test_single_condition_drops_the_same_sensors_as_the_literature(tmp_path: Path) -> None:
    write_subset(tmp_path, "FD001", train_units=6, test_units=2)
    norm = fit_normaliser(load_subset(tmp_path, "FD001").train)
    assert norm.n_regimes == 1
    assert norm.sensor_names == INFORMATIVE


def test_normaliser_state_round_trips_through_plain_data(tmp_path: Path) -> None:
    write_subset(tmp_path, "FD002", train_units=6, test_units=2, regimes=6)
    subset = load_subset(tmp_path, "FD002")
    norm = fit_normaliser(subset.train)
    restored = Normaliser.from_dict(norm.to_dict())
    np.testing.assert_array_equal(
        restored.transform(subset.test[0]), norm.transform(subset.test[0])
    )
