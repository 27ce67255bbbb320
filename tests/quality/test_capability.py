"""Capability indices on a hand-computed example."""

from __future__ import annotations

import pytest

from ifactory.quality.capability import capability


def test_cp_cpk_pp_ppk_by_hand() -> None:
    # Subgroups of 2: (10.0, 10.2), (9.9, 10.1), (10.0, 10.4): ranges 0.2, 0.2, 0.4, R̄ = 0.26667,
    # σ̂ = R̄ / d2(2) = 0.26667 / 1.128379 = 0.236327; mean 10.1; s = sqrt(0.16 / 5) = 0.178885.
    values = [10.0, 10.2, 9.9, 10.1, 10.0, 10.4]
    result = capability(values, lsl=9.5, usl=10.9, subgroup_size=2)
    assert result.mean == pytest.approx(10.1)
    assert result.sigma_within == pytest.approx(0.236327, rel=1e-5)
    assert result.sigma_overall == pytest.approx(0.178885, rel=1e-5)
    assert result.cp == pytest.approx(1.4 / (6 * 0.236327), rel=1e-5)  # 0.98733
    assert result.cpk == pytest.approx(0.6 / (3 * 0.236327), rel=1e-5)  # 0.84628
    assert result.pp == pytest.approx(1.4 / (6 * 0.178885), rel=1e-5)  # 1.30437
    assert result.ppk == pytest.approx(0.6 / (3 * 0.178885), rel=1e-5)  # 1.11803


def test_one_sided_specification() -> None:
    result = capability([1.0, 2.0, 1.5, 1.7], lsl=None, usl=3.0)
    assert result.cp is None and result.pp is None
    assert result.cpk is not None and result.cpk > 0


def test_limits_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match="below"):
        capability([1.0, 2.0], lsl=3.0, usl=1.0)
