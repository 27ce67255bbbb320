"""Piecewise-linear RUL labels and sliding windows."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.rul.windows import (
    last_window,
    rul_labels,
    sliding_windows,
    training_windows,
)


def test_labels_count_down_to_zero_and_are_capped() -> None:
    labels = rul_labels(200, cap=125)
    assert labels[-1] == 0
    assert labels[-2] == 1
    assert labels[0] == 125  # 199 cycles left, capped
    assert labels[200 - 126] == 125 and labels[200 - 125] == 124
    assert np.all(np.diff(labels) <= 0)


def test_labels_of_a_truncated_unit_end_at_its_true_rul() -> None:
    labels = rul_labels(5, cap=None, end_rul=30)
    assert labels.tolist() == [34, 33, 32, 31, 30]


def test_sliding_windows_cover_every_end_cycle_in_order() -> None:
    features = np.arange(10, dtype=float).reshape(5, 2)  # cycle i has values (2i, 2i+1)
    windows = sliding_windows(features, 3)
    assert windows.shape == (3, 3, 2)
    assert windows[0].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert windows[-1].tolist() == [[4, 5], [6, 7], [8, 9]]
    assert last_window(features, 3).tolist() == windows[-1].tolist()


def test_a_unit_shorter_than_the_window_is_padded_with_its_first_cycle() -> None:
    features = np.array([[1.0], [2.0]])
    assert last_window(features, 4)[:, 0].tolist() == [1.0, 1.0, 1.0, 2.0]


def test_training_windows_target_the_rul_at_each_window_end() -> None:
    unit_a = np.zeros((6, 1))
    unit_b = np.zeros((2, 1))  # shorter than the window: one padded window at its end
    x, y = training_windows([unit_a, unit_b], 3, cap=4)
    assert x.shape == (5, 3, 1)
    # unit a: windows end at cycles 3..6 → RUL 3, 2, 1, 0; unit b ends at failure → 0
    assert y.tolist() == [3, 2, 1, 0, 0]


def test_windows_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError):
        sliding_windows(np.zeros((5, 2)), 0)
    with pytest.raises(ValueError):
        sliding_windows(np.zeros((0, 2)), 3)
    with pytest.raises(ValueError):
        rul_labels(0)


def test_training_windows_can_start_at_the_first_cycle_with_padding() -> None:
    features = np.arange(4, dtype=float)[:, None] + 1.0  # cycles 1..4 have value 1..4
    x, y = training_windows([features], 3, cap=None, first_end=1)
    # Windows end at cycles 1, 2, 3, 4; those before cycle 3 repeat cycle 1 in front.
    assert x[:, :, 0].tolist() == [[1, 1, 1], [1, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert y.tolist() == [3, 2, 1, 0]
    assert sliding_windows(features, 3, first_end=2).shape == (3, 3, 1)
