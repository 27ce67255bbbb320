"""Process capability and performance indices: Cp, Cpk (within σ̂) and Pp, Ppk (overall s).

Definitions: ISO 22514-2:2017 / AIAG SPC manual (2nd ed., 2005), ch. IV; Montgomery (2019) 8.3.
- Cp  = (USL − LSL) / 6σ̂_within,  Cpk = min(USL − μ, μ − LSL) / 3σ̂_within,
  σ̂_within = R̄/d₂ for subgroups (n ≥ 2) or MR̄/d₂(2) = MR̄/1.128 for individuals;
- Pp  = (USL − LSL) / 6s,          Ppk = min(USL − μ, μ − LSL) / 3s, s the overall sample
  standard deviation (n − 1 in the denominator).
With one specification limit only Cp and Pp are undefined (None) and Cpk/Ppk use that side.
Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ifactory.quality.spc import d2


@dataclass(frozen=True, slots=True)
class Capability:
    """Indices of one characteristic over one period (None where undefined)."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None


def sigma_within(values: npt.ArrayLike, subgroup_size: int) -> float:
    """σ̂ within subgroups: R̄/d₂(n), or MR̄/1.128 when `subgroup_size` is 1."""
    x = np.asarray(values, dtype=np.float64)
    if subgroup_size == 1:
        if len(x) < 2:
            raise ValueError("at least 2 values are needed")
        return float(np.abs(np.diff(x)).mean() / d2(2))
    groups = len(x) // subgroup_size
    if groups < 1:
        raise ValueError(f"at least one complete subgroup of {subgroup_size} is needed")
    data = x[: groups * subgroup_size].reshape(groups, subgroup_size)
    r_bar = float((data.max(axis=1) - data.min(axis=1)).mean())
    return r_bar / d2(subgroup_size)


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 or not math.isfinite(den) else num / den


def capability(
    values: npt.ArrayLike,
    *,
    lsl: float | None,
    usl: float | None,
    subgroup_size: int = 1,
) -> Capability:
    """Cp, Cpk, Pp, Ppk of `values` (in time order, grouped consecutively by `subgroup_size`)."""
    if lsl is None and usl is None:
        raise ValueError("capability needs at least one specification limit")
    if lsl is not None and usl is not None and not lsl < usl:
        raise ValueError("the lower specification limit must be below the upper one")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError("capability needs at least 2 finite values")
    mean = float(x.mean())
    s_within = sigma_within(x, subgroup_size)
    s_overall = float(x.std(ddof=1))

    def indices(sigma: float) -> tuple[float | None, float | None]:
        spread = None if lsl is None or usl is None else _ratio(usl - lsl, 6 * sigma)
        sides = [
            d
            for d in (
                (usl - mean) if usl is not None else None,
                (mean - lsl) if lsl is not None else None,
            )
            if d is not None
        ]
        return spread, _ratio(min(sides), 3 * sigma)

    cp, cpk = indices(s_within)
    pp, ppk = indices(s_overall)
    return Capability(len(x), mean, s_within, s_overall, cp, cpk, pp, ppk)
