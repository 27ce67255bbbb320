"""RUL labels from run-to-failure ground truth."""

from __future__ import annotations

import numpy as np

from ifactory.analytics.prognostics.features import HOUR_US
from ifactory.analytics.prognostics.labels import Failure, GroundTruthLabels, rul_labels

H = HOUR_US


def _truth() -> dict[str, object]:
    return {
        "until_us": 400 * H,
        "failures": [
            {
                "time_us": 100 * H,
                "machine": "m1",
                "mode": "bearing_wear",
                "precursor_onset_us": 20 * H,
                "repaired_us": 105 * H,
                "reason": "BRK-MECH",
            },
            {
                "time_us": 300 * H,
                "machine": "m1",
                "mode": "sudden",
                "precursor_onset_us": None,
                "repaired_us": 301 * H,
                "reason": "BRK-ELEC",
            },
            {
                "time_us": 50 * H,
                "machine": "m2",
                "mode": "seal_leak",
                "precursor_onset_us": 1 * H,
                "repaired_us": 52 * H,
                "reason": "BRK-HYD",
            },
        ],
        "state_intervals": {},
        "outages": [],
        "product_changes": [],
    }


def test_ground_truth_failures_say_whether_they_had_a_precursor() -> None:
    labels = GroundTruthLabels(_truth())
    failures = labels.failures(0, 400 * H)
    assert [(f.machine_key, f.time_us // H, f.has_precursor) for f in failures] == [
        ("m2", 50, True),
        ("m1", 100, True),
        ("m1", 300, False),
    ]
    assert failures[1].restored_us == 105 * H
    assert labels.failures(60 * H, 301 * H)[-1].mode == "sudden"


def test_rul_counts_down_to_the_failure_and_is_capped() -> None:
    m1 = [f for f in GroundTruthLabels(_truth()).failures(0, 400 * H) if f.machine_key == "m1"]
    hours = np.arange(0, 400)
    rul, usable = rul_labels(hours, m1, data_end_us=400 * H, cap_h=48.0)
    # At the end of hour 49 (t = 50 h) the failure at 100 h is 50 h away: capped at 48.
    assert rul[49] == 48.0
    assert rul[59] == 40.0  # end of hour 59 = 60 h
    assert rul[98] == 1.0
    # Failed and under repair (100 h..105 h): no label.
    assert not usable[100:105].any()
    assert usable[105]
    # Within the cap before the sudden failure: the data cannot know, so no label.
    assert not usable[252:299].any()
    assert usable[250]
    # After the last failure the cap is not reached before the data ends: censored.
    assert not usable[360:].any()
    assert usable[300 + 48 - 1 - 1]


def test_unknown_precursor_keeps_its_labels() -> None:
    f = Failure("m", 30 * H, "unknown", has_precursor=None, restored_us=31 * H)
    rul, usable = rul_labels(np.arange(30), [f], data_end_us=100 * H, cap_h=48.0)
    assert usable.all()
    assert rul[0] == 29.0


def test_a_machine_that_never_fails_is_labelled_at_the_cap_until_censored() -> None:
    rul, usable = rul_labels(np.arange(10), [], data_end_us=10 * H, cap_h=5.0)
    assert (rul == 5.0).all()
    assert usable[:5].all() and not usable[5:].any()
