"""Control-chart constants and limits against the published tables (Montgomery 2019, App. VI)."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.quality import spc

# n: A2, A3, c4, B3, B4, d2, d3, D3, D4 — Montgomery, Introduction to SQC (8th ed.), Appendix VI.
PUBLISHED = {
    2: (1.880, 2.659, 0.7979, 0.000, 3.267, 1.128, 0.853, 0.000, 3.267),
    3: (1.023, 1.954, 0.8862, 0.000, 2.568, 1.693, 0.888, 0.000, 2.574),
    4: (0.729, 1.628, 0.9213, 0.000, 2.266, 2.059, 0.880, 0.000, 2.282),
    5: (0.577, 1.427, 0.9400, 0.000, 2.089, 2.326, 0.864, 0.000, 2.114),
    6: (0.483, 1.287, 0.9515, 0.030, 1.970, 2.534, 0.848, 0.000, 2.004),
    7: (0.419, 1.182, 0.9594, 0.118, 1.882, 2.704, 0.833, 0.076, 1.924),
    8: (0.373, 1.099, 0.9650, 0.185, 1.815, 2.847, 0.820, 0.136, 1.864),
    9: (0.337, 1.032, 0.9693, 0.239, 1.761, 2.970, 0.808, 0.184, 1.816),
    10: (0.308, 0.975, 0.9727, 0.284, 1.716, 3.078, 0.797, 0.223, 1.777),
    11: (0.285, 0.927, 0.9754, 0.321, 1.679, 3.173, 0.787, 0.256, 1.744),
    12: (0.266, 0.886, 0.9776, 0.354, 1.646, 3.258, 0.778, 0.283, 1.717),
    13: (0.249, 0.850, 0.9794, 0.382, 1.618, 3.336, 0.770, 0.307, 1.693),
    14: (0.235, 0.817, 0.9810, 0.406, 1.594, 3.407, 0.763, 0.328, 1.672),
    15: (0.223, 0.789, 0.9823, 0.428, 1.572, 3.472, 0.756, 0.347, 1.653),
    16: (0.212, 0.763, 0.9835, 0.448, 1.552, 3.532, 0.750, 0.363, 1.637),
    17: (0.203, 0.739, 0.9845, 0.466, 1.534, 3.588, 0.744, 0.378, 1.622),
    18: (0.194, 0.718, 0.9854, 0.482, 1.518, 3.640, 0.739, 0.391, 1.608),
    19: (0.187, 0.698, 0.9862, 0.497, 1.503, 3.689, 0.734, 0.403, 1.597),
    20: (0.180, 0.680, 0.9869, 0.510, 1.490, 3.735, 0.729, 0.415, 1.585),
    21: (0.173, 0.663, 0.9876, 0.523, 1.477, 3.778, 0.724, 0.425, 1.575),
    22: (0.167, 0.647, 0.9882, 0.534, 1.466, 3.819, 0.720, 0.434, 1.566),
    23: (0.162, 0.633, 0.9887, 0.545, 1.455, 3.858, 0.716, 0.443, 1.557),
    24: (0.157, 0.619, 0.9892, 0.555, 1.445, 3.895, 0.712, 0.451, 1.548),
    25: (0.153, 0.606, 0.9896, 0.565, 1.435, 3.931, 0.708, 0.459, 1.541),
}
FUNCS = (spc.a2, spc.a3, spc.c4, spc.b3, spc.b4, spc.d2, spc.d3, spc.d3_factor, spc.d4_factor)
NAMES = ("A2", "A3", "c4", "B3", "B4", "d2", "d3", "D3", "D4")


@pytest.mark.parametrize("n", sorted(PUBLISHED))
def test_constants_match_the_published_table(n: int) -> None:
    for name, fn, published in zip(NAMES, FUNCS, PUBLISHED[n], strict=True):
        digits = 4 if name == "c4" else 3
        # The table is rounded: a computed value must round to within one unit of the last digit.
        assert fn(n) == pytest.approx(published, abs=1.01 * 10**-digits), f"{name}({n})"


def test_d2_for_two_is_the_closed_form() -> None:
    # E|Z1 - Z2| = 2/sqrt(pi); Var = 2 - 4/pi (Montgomery 6.2 footnote).
    assert spc.d2(2) == pytest.approx(2 / np.sqrt(np.pi), rel=1e-6)
    assert spc.d3(2) == pytest.approx(np.sqrt(2 - 4 / np.pi), rel=1e-4)


def test_subgroup_size_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between 2 and 25"):
        spc.d2(26)


def test_xbar_r_limits_by_hand() -> None:
    groups = [[1.0, 3.0], [2.0, 2.0], [4.0, 2.0]]  # means 2, 2, 3; ranges 2, 0, 2
    chart = spc.xbar_r(groups)
    r_bar = 4 / 3
    assert chart.values.tolist() == [2.0, 2.0, 3.0]
    assert chart.limits.center[0] == pytest.approx(7 / 3)
    assert chart.limits.ucl[0] == pytest.approx(7 / 3 + spc.a2(2) * r_bar)
    assert chart.dispersion_limits is not None
    assert chart.dispersion_limits.ucl[0] == pytest.approx(spc.d4_factor(2) * r_bar)
    assert chart.sigma_hat == pytest.approx(r_bar / spc.d2(2))


def test_limits_come_from_the_baseline_only() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(10, 1, size=(25, 5))
    shifted = rng.normal(13, 1, size=(10, 5))
    chart = spc.xbar_s(np.vstack([base, shifted]), baseline=25)
    assert chart.limits.center[0] == pytest.approx(base.mean())
    assert (chart.values[25:] > chart.limits.ucl[25:]).mean() > 0.8


def test_imr_uses_moving_range_over_1128() -> None:
    chart = spc.imr([10.0, 12.0, 11.0, 13.0])  # MR = 2, 1, 2
    assert chart.sigma_hat == pytest.approx((5 / 3) / 1.128379, rel=1e-5)
    assert chart.limits.ucl[0] == pytest.approx(11.5 + 3 * chart.sigma_hat)


def test_p_chart_with_variable_sample_sizes() -> None:
    chart = spc.attribute_chart("p", [5, 10, 2], [100, 200, 50])
    p_bar = 17 / 350
    assert chart.limits.center[1] == pytest.approx(p_bar)
    assert chart.limits.ucl[0] == pytest.approx(p_bar + 3 * np.sqrt(p_bar * (1 - p_bar) / 100))
    assert chart.limits.ucl[2] > chart.limits.ucl[1]  # smaller sample, wider limits
    assert chart.limits.lcl.min() >= 0


def test_u_c_np_charts() -> None:
    u = spc.attribute_chart("u", [4, 6], [2, 3])
    assert u.limits.center[0] == pytest.approx(2.0)
    c = spc.attribute_chart("c", [4, 6, 5])
    assert c.limits.ucl[0] == pytest.approx(5 + 3 * np.sqrt(5))
    np_chart = spc.attribute_chart("np", [4, 6], [100, 100])
    assert np_chart.limits.center[0] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="constant sample size"):
        spc.attribute_chart("np", [4, 6], [100, 90])
