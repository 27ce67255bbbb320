"""Counter increases across rollovers and resets."""

from __future__ import annotations

import numpy as np

from ifactory.historian.rollups import counter_step

NAN = float("nan")


def step(prev: float, cur: float, modulus: float) -> float:
    return float(counter_step(np.array([prev]), np.array([cur]), np.array([modulus]))[0])


def test_forward_counting_is_the_difference() -> None:
    assert step(100, 130, 65536) == 30
    assert step(100, 130, NAN) == 30


def test_a_16_bit_counter_rolling_over_counts_the_parts_around_the_wrap() -> None:
    # A counter showing 0..65535 goes 65530 -> 65535 -> 0 -> 5: eleven parts.
    assert step(65530, 5, 65536) == 11


def test_a_drop_that_is_not_a_short_wrap_is_a_reset() -> None:
    # 35757 -> 35571 would be 65350 parts "around": a reset to 0 that counted up again.
    assert step(35757, 35571, 65536) == 35571
    assert step(500, 7, NAN) == 7  # no modulus: every drop is a reset
