"""Shewhart control charts: X̄-R, X̄-S, I-MR with limits from a baseline, and p, np, c, u charts.

Pure numpy, no I/O. Formulas and constants follow Montgomery, *Introduction to Statistical
Quality Control* (8th ed., 2019), ch. 6-7 and Appendix VI, and ASTM E2587-16 ("Standard
Practice for Use of Control Charts in Statistical Process Control"), Table 1/6.

Constants for subgroup size n (2..25):
- d₂(n) = E[R/σ], the mean relative range of n normal values, computed by numerical integration
  of d₂ = ∫ 1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ dx (Tippett 1925);
- d₃(n) = sd[R/σ], from E[(R/σ)²] = 2∬_{x<y} 1 − Φ(y)ⁿ − (1 − Φ(x))ⁿ + (Φ(y) − Φ(x))ⁿ dx dy
  (Tippett 1925; Harter 1960), integrated on a grid (the tests check both against the
  published tables of Montgomery App. VI);
- c₄(n) = √(2/(n−1)) · Γ(n/2) / Γ((n−1)/2) = E[s/σ] (exact);
- A₂ = 3/(d₂√n), D₃ = max(0, 1 − 3d₃/d₂), D₄ = 1 + 3d₃/d₂ (X̄-R);
- A₃ = 3/(c₄√n), B₃ = max(0, 1 − 3√(1−c₄²)/c₄), B₄ = 1 + 3√(1−c₄²)/c₄ (X̄-S).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ChartKind = Literal["xbar_r", "xbar_s", "imr"]
AttributeKind = Literal["p", "np", "c", "u"]
MIN_N = 2
MAX_N = 25


def _check_n(n: int) -> None:
    if not MIN_N <= n <= MAX_N:
        raise ValueError(f"subgroup size must be between {MIN_N} and {MAX_N}, got {n}")


def _phi(x: FloatArray) -> FloatArray:
    """Standard normal CDF (numpy has no erf; math.erf per element is exact enough and fast)."""
    erf = np.frompyfunc(math.erf, 1, 1)
    values = np.asarray(erf(x / math.sqrt(2.0)), dtype=np.float64)
    return 0.5 * (1.0 + values)


@cache
def d2(n: int) -> float:
    """Mean of the relative range R/σ of n normal values (Tippett 1925), by integration."""
    _check_n(n)
    x = np.linspace(-9.0, 9.0, 18_001)
    cdf = _phi(x)
    integrand = 1.0 - cdf**n - (1.0 - cdf) ** n
    return float(np.trapezoid(integrand, x))


@cache
def d3(n: int) -> float:
    """Standard deviation of the relative range R/σ of n normal values, by integration."""
    _check_n(n)
    x = np.linspace(-8.0, 8.0, 2001)
    step = x[1] - x[0]
    cdf = _phi(x)
    lo, hi = cdf[:, None], cdf[None, :]
    idx = np.arange(len(x))
    # Region x < y, with the diagonal at half weight (the integrand is not 0 there).
    region = (idx[None, :] > idx[:, None]) + 0.5 * np.eye(len(x))
    integrand = 1.0 - hi**n - (1.0 - lo) ** n + np.clip(hi - lo, 0.0, None) ** n
    mean_square = 2.0 * float((integrand * region).sum()) * step * step
    return math.sqrt(mean_square - d2(n) ** 2)


def c4(n: int) -> float:
    """E[s/σ] for n normal values: √(2/(n−1))·Γ(n/2)/Γ((n−1)/2)."""
    _check_n(n)
    return math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def a2(n: int) -> float:
    """X̄ chart factor from R̄: A₂ = 3/(d₂√n)."""
    return 3.0 / (d2(n) * math.sqrt(n))


def a3(n: int) -> float:
    """X̄ chart factor from S̄: A₃ = 3/(c₄√n)."""
    return 3.0 / (c4(n) * math.sqrt(n))


def d3_factor(n: int) -> float:
    """R chart lower factor D₃ = max(0, 1 − 3d₃/d₂)."""
    return max(0.0, 1.0 - 3.0 * d3(n) / d2(n))


def d4_factor(n: int) -> float:
    """R chart upper factor D₄ = 1 + 3d₃/d₂."""
    return 1.0 + 3.0 * d3(n) / d2(n)


def b3(n: int) -> float:
    """S chart lower factor B₃ = max(0, 1 − 3√(1−c₄²)/c₄)."""
    c = c4(n)
    return max(0.0, 1.0 - 3.0 * math.sqrt(1.0 - c * c) / c)


def b4(n: int) -> float:
    """S chart upper factor B₄ = 1 + 3√(1−c₄²)/c₄."""
    c = c4(n)
    return 1.0 + 3.0 * math.sqrt(1.0 - c * c) / c


@dataclass(frozen=True)
class Limits:
    """Centre line and control limits of one plotted statistic, per point.

    `sigma` is the standard deviation of the plotted statistic (for the zone rules);
    lower limits that would be negative for a non-negative statistic are clipped to 0.
    """

    center: FloatArray
    lcl: FloatArray
    ucl: FloatArray
    sigma: FloatArray


@dataclass(frozen=True)
class ControlChart:
    """A chart: the plotted statistic and its limits, plus the dispersion chart when there is one."""

    kind: str
    values: FloatArray
    limits: Limits
    sigma_hat: float  # estimated process σ (within subgroups) from the baseline
    dispersion_kind: str | None = None
    dispersion: FloatArray = field(default_factory=lambda: np.zeros(0))
    dispersion_limits: Limits | None = None


def _full(value: float, size: int) -> FloatArray:
    return np.full(size, value, dtype=np.float64)


def _limits(center: float, half_width: float, sigma: float, size: int) -> Limits:
    return Limits(
        _full(center, size),
        _full(center - half_width, size),
        _full(center + half_width, size),
        _full(sigma, size),
    )


def _as_subgroups(data: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError("subgroups must be a 2-D array (subgroup × measurement)")
    if not np.isfinite(arr).all():
        raise ValueError("measurements must be finite numbers")
    _check_n(arr.shape[1])
    return arr


def _baseline(data: FloatArray, baseline: int | None) -> FloatArray:
    count = len(data) if baseline is None else baseline
    if count < 2 or count > len(data):
        raise ValueError(f"the baseline needs between 2 and {len(data)} subgroups, got {count}")
    return data[:count]


def xbar_r(subgroups: npt.ArrayLike, *, baseline: int | None = None) -> ControlChart:
    """X̄-R chart; limits from the first `baseline` subgroups (all when None); σ̂ = R̄/d₂."""
    data = _as_subgroups(subgroups)
    n = data.shape[1]
    means = data.mean(axis=1)
    ranges = data.max(axis=1) - data.min(axis=1)
    base = _baseline(data, baseline)
    grand = float(base.mean())
    r_bar = float((base.max(axis=1) - base.min(axis=1)).mean())
    sigma_hat = r_bar / d2(n)  # Montgomery (6.6)
    size = len(data)
    # X̄ ± A₂R̄ (Montgomery 6.4); R chart D₃R̄, D₄R̄ (6.5); σ_R = d₃σ̂.
    xbar_limits = _limits(grand, a2(n) * r_bar, sigma_hat / math.sqrt(n), size)
    r_limits = Limits(
        _full(r_bar, size),
        _full(d3_factor(n) * r_bar, size),
        _full(d4_factor(n) * r_bar, size),
        _full(d3(n) * sigma_hat, size),
    )
    return ControlChart("xbar_r", means, xbar_limits, sigma_hat, "r", ranges, r_limits)


def xbar_s(subgroups: npt.ArrayLike, *, baseline: int | None = None) -> ControlChart:
    """X̄-S chart; limits from the first `baseline` subgroups; σ̂ = S̄/c₄."""
    data = _as_subgroups(subgroups)
    n = data.shape[1]
    means = data.mean(axis=1)
    sds = data.std(axis=1, ddof=1)
    base = _baseline(data, baseline)
    grand = float(base.mean())
    s_bar = float(base.std(axis=1, ddof=1).mean())
    sigma_hat = s_bar / c4(n)  # Montgomery (6.28)
    size = len(data)
    # X̄ ± A₃S̄ (Montgomery 6.29); S chart B₃S̄, B₄S̄ (6.27); σ_s = σ̂√(1−c₄²).
    xbar_limits = _limits(grand, a3(n) * s_bar, sigma_hat / math.sqrt(n), size)
    s_limits = Limits(
        _full(s_bar, size),
        _full(b3(n) * s_bar, size),
        _full(b4(n) * s_bar, size),
        _full(sigma_hat * math.sqrt(1.0 - c4(n) ** 2), size),
    )
    return ControlChart("xbar_s", means, xbar_limits, sigma_hat, "s", sds, s_limits)


def imr(values: npt.ArrayLike, *, baseline: int | None = None) -> ControlChart:
    """Individuals and moving-range chart; σ̂ = MR̄/d₂(2) = MR̄/1.128 (Montgomery 6.33)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError("individual values must be a 1-D array of finite numbers")
    base = _baseline(x.reshape(-1, 1), baseline)[:, 0]
    mr = np.concatenate([[np.nan], np.abs(np.diff(x))])
    mr_bar = float(np.abs(np.diff(base)).mean())
    sigma_hat = mr_bar / d2(2)
    center = float(base.mean())
    size = len(x)
    x_limits = _limits(center, 3.0 * sigma_hat, sigma_hat, size)
    mr_limits = Limits(
        _full(mr_bar, size),
        _full(0.0, size),
        _full(d4_factor(2) * mr_bar, size),
        _full(d3(2) * sigma_hat, size),
    )
    return ControlChart("imr", x, x_limits, sigma_hat, "mr", mr, mr_limits)


def variables_chart(
    kind: ChartKind, data: npt.ArrayLike, *, baseline: int | None = None
) -> ControlChart:
    """Dispatch to X̄-R, X̄-S or I-MR (`data` is subgroups, or individual values for I-MR)."""
    if kind == "xbar_r":
        return xbar_r(data, baseline=baseline)
    if kind == "xbar_s":
        return xbar_s(data, baseline=baseline)
    if kind == "imr":
        return imr(data, baseline=baseline)
    raise ValueError(f"unknown chart kind '{kind}'")


# --- attribute charts (Montgomery ch. 7) -----------------------------------------------------


def _counts(counts: npt.ArrayLike, sizes: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    c = np.asarray(counts, dtype=np.float64)
    n = np.ones_like(c) if sizes is None else np.asarray(sizes, dtype=np.float64)
    if c.ndim != 1 or c.shape != n.shape:
        raise ValueError("counts and sample sizes must be 1-D arrays of the same length")
    if len(c) == 0 or (c < 0).any() or (n <= 0).any():
        raise ValueError("counts must be ≥ 0 and sample sizes > 0")
    return c, n


def attribute_chart(
    kind: AttributeKind,
    counts: npt.ArrayLike,
    sizes: npt.ArrayLike | None = None,
    *,
    baseline: int | None = None,
) -> ControlChart:
    """p, np, c or u chart; p and u accept variable sample sizes (limits per point).

    p: p̄ ± 3√(p̄(1−p̄)/nᵢ) (Montgomery 7.8, 7.14); np: np̄ ± 3√(np̄(1−p̄)) (7.13);
    c: c̄ ± 3√c̄ (7.17); u: ū ± 3√(ū/nᵢ) (7.19). Negative lower limits become 0.
    """
    c, n = _counts(counts, sizes)
    count = len(c) if baseline is None else baseline
    if count < 1 or count > len(c):
        raise ValueError(f"the baseline needs between 1 and {len(c)} samples, got {count}")
    cb, nb = c[:count], n[:count]
    if kind == "p":
        if (c > n).any():
            raise ValueError("nonconforming count exceeds the sample size")
        p_bar = float(cb.sum() / nb.sum())
        sigma = np.sqrt(p_bar * (1 - p_bar) / n)
        values, center = c / n, p_bar
    elif kind == "np":
        if not np.all(n == n[0]):
            raise ValueError("an np chart needs a constant sample size (use a p chart)")
        p_bar = float(cb.sum() / nb.sum())
        sigma = np.full_like(c, math.sqrt(n[0] * p_bar * (1 - p_bar)))
        values, center = c, n[0] * p_bar
    elif kind == "c":
        c_bar = float(cb.mean())
        sigma = np.full_like(c, math.sqrt(c_bar))
        values, center = c, c_bar
    elif kind == "u":
        u_bar = float(cb.sum() / nb.sum())
        sigma = np.sqrt(u_bar / n)
        values, center = c / n, u_bar
    else:
        raise ValueError(f"unknown attribute chart '{kind}'")
    limits = Limits(
        np.full_like(c, center),
        np.maximum(center - 3 * sigma, 0.0),
        center + 3 * sigma,
        np.asarray(sigma, dtype=np.float64),
    )
    return ControlChart(kind, np.asarray(values, dtype=np.float64), limits, float("nan"))
