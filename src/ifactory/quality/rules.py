"""Western Electric and Nelson run rules on a control chart, each rule selectable.

Sources: Western Electric Co., *Statistical Quality Control Handbook* (1956), pp. 25-28
(rules 1-4, "zone tests"); L. S. Nelson, "The Shewhart Control Chart — Tests for Special
Causes", *Journal of Quality Technology* 16(4), 1984, pp. 237-239 (tests 1-8).

Zones are measured in standard deviations σ of the plotted statistic from the centre line
(σ may differ per point, e.g. a p chart with variable sample sizes). A rule *fires at* the point
that completes its pattern; each violation lists that point and every point of the pattern.
Windowed "k of m" rules only fire at a point that is itself beyond the zone, so one pattern
is signalled once rather than at each of the following points of its window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Violation:
    """One signal: the rule, the point where it fired, and the points of the pattern."""

    rule: str
    index: int
    points: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule's id, its text, and how many consecutive points it looks at."""

    id: str
    description: str
    window: int


def _windows_all(mask: BoolArray, k: int) -> BoolArray:
    """ends[i] is True when mask[i-k+1..i] are all True."""
    out = np.zeros(len(mask), dtype=bool)
    if len(mask) >= k:
        out[k - 1 :] = sliding_window_view(mask, k).all(axis=1)
    return out


def _k_of_m(mask: BoolArray, k: int, m: int) -> BoolArray:
    """ends[i]: mask[i] and at least k of mask[i-m+1..i] (fewer points at the start count too)."""
    padded = np.concatenate([np.zeros(m - 1, dtype=bool), mask])
    counts = sliding_window_view(padded, m).sum(axis=1)
    ends: BoolArray = mask & (counts >= k)
    return ends


def _beyond(z: FloatArray, k: float) -> tuple[BoolArray, BoolArray]:
    return z > k, z < -k


def _pattern(mask: BoolArray, end: int, window: int, require_all: bool) -> tuple[int, ...]:
    start = max(0, end - window + 1)
    if require_all:
        return tuple(range(start, end + 1))
    return tuple(i for i in range(start, end + 1) if mask[i])


# Each detector returns (fires_at mask, point mask per side or None, window, all-points flag).
Detector = Callable[[FloatArray], list[tuple[BoolArray, BoolArray, int, bool]]]


def _one_beyond_3(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
    above, below = _beyond(z, 3.0)
    either = above | below
    return [(either, either, 1, True)]


def _k_of_m_beyond(k: int, m: int, sigmas: float) -> Detector:
    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        above, below = _beyond(z, sigmas)
        return [(_k_of_m(side, k, m), side, m, False) for side in (above, below)]

    return detect


def _run_same_side(k: int) -> Detector:
    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        # A point on the centre line belongs to neither side and breaks the run.
        above, below = z > 0, z < 0
        return [(_windows_all(side, k), side, k, True) for side in (above, below)]

    return detect


def _trend(k: int) -> Detector:
    """k points in a row steadily increasing or decreasing (k − 1 strict steps; ties break it)."""

    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        step = np.diff(z)
        out = []
        for up in (step > 0, step < 0):
            ends = np.zeros(len(z), dtype=bool)
            ends[1:] = _windows_all(up, k - 1)
            out.append((ends, np.ones(len(z), dtype=bool), k, True))
        return out

    return detect


def _alternating(k: int) -> Detector:
    """k points in a row alternating up and down (k − 1 steps whose signs alternate)."""

    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        sign = np.sign(np.diff(z))
        flips = (sign[1:] * sign[:-1]) < 0  # step i+1 reverses step i
        ends = np.zeros(len(z), dtype=bool)
        ends[2:] = _windows_all(flips, k - 2)
        return [(ends, np.ones(len(z), dtype=bool), k, True)]

    return detect


def _run_within_1(k: int) -> Detector:
    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        inside = np.abs(z) < 1.0
        return [(_windows_all(inside, k), inside, k, True)]

    return detect


def _run_outside_1(k: int) -> Detector:
    def detect(z: FloatArray) -> list[tuple[BoolArray, BoolArray, int, bool]]:
        outside = np.abs(z) > 1.0
        return [(_windows_all(outside, k), outside, k, True)]

    return detect


RULES: dict[str, tuple[RuleSpec, Detector]] = {
    # Western Electric Handbook (1956), zone tests.
    "we1": (RuleSpec("we1", "1 point beyond 3σ", 1), _one_beyond_3),
    "we2": (RuleSpec("we2", "2 of 3 points beyond 2σ, same side", 3), _k_of_m_beyond(2, 3, 2.0)),
    "we3": (RuleSpec("we3", "4 of 5 points beyond 1σ, same side", 5), _k_of_m_beyond(4, 5, 1.0)),
    "we4": (RuleSpec("we4", "8 points in a row on one side of the centre", 8), _run_same_side(8)),
    # Nelson (1984), tests 1-8.
    "nelson1": (RuleSpec("nelson1", "1 point beyond 3σ", 1), _one_beyond_3),
    "nelson2": (
        RuleSpec("nelson2", "9 points in a row on one side of the centre", 9),
        _run_same_side(9),
    ),
    "nelson3": (RuleSpec("nelson3", "6 points in a row steadily up or down", 6), _trend(6)),
    "nelson4": (
        RuleSpec("nelson4", "14 points in a row alternating up and down", 14),
        _alternating(14),
    ),
    "nelson5": (
        RuleSpec("nelson5", "2 of 3 points beyond 2σ, same side", 3),
        _k_of_m_beyond(2, 3, 2.0),
    ),
    "nelson6": (
        RuleSpec("nelson6", "4 of 5 points beyond 1σ, same side", 5),
        _k_of_m_beyond(4, 5, 1.0),
    ),
    "nelson7": (RuleSpec("nelson7", "15 points in a row within 1σ", 15), _run_within_1(15)),
    "nelson8": (
        RuleSpec("nelson8", "8 points in a row beyond 1σ, either side", 8),
        _run_outside_1(8),
    ),
}
WESTERN_ELECTRIC = ("we1", "we2", "we3", "we4")
NELSON = tuple(f"nelson{i}" for i in range(1, 9))


def describe(rule: str) -> RuleSpec:
    """The spec of a rule id (raises KeyError for an unknown id)."""
    return RULES[rule][0]


def check_rules(rules: Iterable[str]) -> list[str]:
    """Validate rule ids; raises ValueError naming the unknown ones."""
    wanted = list(dict.fromkeys(rules))
    unknown = [r for r in wanted if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return wanted


def zscores(values: npt.ArrayLike, center: npt.ArrayLike, sigma: npt.ArrayLike) -> FloatArray:
    """Distance of each point from the centre line in σ of the plotted statistic."""
    x = np.asarray(values, dtype=np.float64)
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - np.asarray(center, dtype=np.float64)) / s
    # A zero σ (no variation in the baseline) or a missing point signals nothing.
    return np.where(np.isfinite(z), z, 0.0)


def evaluate(
    values: npt.ArrayLike,
    center: npt.ArrayLike,
    sigma: npt.ArrayLike,
    rules: Iterable[str] = WESTERN_ELECTRIC,
) -> list[Violation]:
    """Every violation of the selected rules, ordered by point then rule."""
    z = zscores(values, center, sigma)
    found: list[Violation] = []
    for rule in check_rules(rules):
        _, detect = RULES[rule]
        for fires, mask, window, require_all in detect(z):
            for end in np.flatnonzero(fires):
                points = _pattern(mask, int(end), window, require_all)
                found.append(Violation(rule, int(end), points))
    found.sort(key=lambda v: (v.index, list(RULES).index(v.rule)))
    return found
