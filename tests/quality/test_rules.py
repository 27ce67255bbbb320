"""Each Western Electric and Nelson rule against a series built to fire it exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.quality.rules import NELSON, RULES, WESTERN_ELECTRIC, check_rules, evaluate

# A neutral pattern (centre 0, σ 1): runs of two per side, no trend longer than 3 points,
# no alternation, never 15 points inside ±1σ, never 8 outside: it fires no rule at all.
PERIOD = [0.5, 1.5, -0.5, -1.5]


def base(n: int = 40) -> list[float]:
    return [PERIOD[i % 4] for i in range(n)]


def with_(values: dict[int, float]) -> list[float]:
    x = base()
    for i, v in values.items():
        x[i] = v
    return x


# rule -> (series, index where it must fire, points of the pattern)
CASES: dict[str, tuple[list[float], int, tuple[int, ...]]] = {
    "we1": (with_({10: 3.4}), 10, (10,)),
    "we2": (with_({9: 2.5, 11: 2.2}), 11, (9, 11)),
    "we3": (with_({8: 1.2, 9: 1.5, 10: 1.1, 11: 1.3, 13: 0.5}), 11, (8, 9, 10, 11)),
    "we4": (
        with_({i: 0.3 + 0.1 * (i % 2) for i in range(8, 16)} | {16: -0.5}),
        15,
        tuple(range(8, 16)),
    ),
    "nelson1": (with_({20: -3.2}), 20, (20,)),
    "nelson2": (
        with_({i: -0.3 - 0.2 * (i % 2) for i in range(10, 19)} | {9: 0.5, 19: 0.5}),
        18,
        tuple(range(10, 19)),
    ),
    "nelson3": (
        with_({12: -1.9, 13: -1.2, 14: -0.6, 15: 0.0, 16: 0.6, 17: 1.2, 18: -1.0}),
        17,
        tuple(range(12, 18)),
    ),
    "nelson4": (
        with_({i: (0.8 if i % 2 else -0.8) for i in range(8, 22)} | {22: 0.9}),
        21,
        tuple(range(8, 22)),
    ),
    "nelson5": (with_({25: -2.6, 26: -2.1}), 26, (25, 26)),
    "nelson6": (
        with_({14: -1.4, 15: -1.2, 16: -0.5, 17: -1.8, 18: -1.1, 19: 0.5}),
        18,
        (14, 15, 17, 18),
    ),
    "nelson7": (
        with_({i: 0.1 * ((i * 7) % 5) - 0.2 for i in range(10, 25)}),
        24,
        tuple(range(10, 25)),
    ),
    "nelson8": (
        with_({i: (1.6 if i % 3 else -1.7) for i in range(10, 18)} | {9: 0.5, 18: -0.5}),
        17,
        tuple(range(10, 18)),
    ),
}


def test_the_neutral_series_fires_nothing() -> None:
    assert evaluate(base(), 0.0, 1.0, RULES) == []


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_exactly_once(rule: str) -> None:
    series, index, points = CASES[rule]
    found = evaluate(series, 0.0, 1.0, [rule])
    assert [(v.index, v.points) for v in found] == [(index, points)]


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(WESTERN_ELECTRIC) | set(NELSON) == set(RULES)


def test_rules_are_selectable_and_unknown_ones_refused() -> None:
    series = with_({10: 3.4, 25: -2.6, 26: -2.1})
    assert {v.rule for v in evaluate(series, 0.0, 1.0, ["we1"])} == {"we1"}
    with pytest.raises(ValueError, match="unknown rule"):
        check_rules(["we9"])


def test_sigma_per_point_and_zero_sigma() -> None:
    # p chart style: each point has its own σ; a zero σ signals nothing.
    found = evaluate(np.array([0.0, 5.0, 5.0]), 0.0, np.array([1.0, 1.0, 0.0]), ["we1"])
    assert [v.index for v in found] == [1]
