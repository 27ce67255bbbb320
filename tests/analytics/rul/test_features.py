"""Per-cycle model inputs: causal smoothing and the cycle count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.rul.cmapss import Unit, load_subset
from ifactory.analytics.rul.features import FeatureSpec, exponential_smoothing
from ifactory.analytics.rul.preprocess import fit_normaliser
from tests.analytics.rul.synthetic import write_subset


def test_exponential_smoothing_of_a_step() -> None:
    smoothed = exponential_smoothing(np.array([[0.0], [10.0], [10.0]]), 0.2)
    assert smoothed[:, 0].tolist() == pytest.approx([0.0, 2.0, 3.6])
    with pytest.raises(ValueError):
        exponential_smoothing(np.zeros((2, 1)), 0.0)


def test_features_at_a_cycle_do_not_change_when_later_cycles_arrive(tmp_path: Path) -> None:
    write_subset(tmp_path, "FD001", train_units=5, test_units=2)
    subset = load_subset(tmp_path, "FD001")
    norm = fit_normaliser(subset.train)
    spec = FeatureSpec()
    whole = subset.train[0]
    prefix = Unit(unit=whole.unit, settings=whole.settings[:50], sensors=whole.sensors[:50])
    full = spec.build(whole, norm)
    np.testing.assert_allclose(spec.build(prefix, norm), full[:50], rtol=1e-6)
    assert spec.names(norm)[-1] == "cycle"
    assert full.shape[1] == len(spec.names(norm))
    assert full[-1, -1] == pytest.approx(whole.cycles / 200.0)
