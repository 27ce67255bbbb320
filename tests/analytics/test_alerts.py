"""Alert suppression: one alert per episode, whatever the score does while it lasts."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.alerts import AlertPolicy, AlertSuppressor, Cleared, Joined, Raised

S = 1_000_000
POLICY = AlertPolicy(
    raise_at=1.0, clear_below=0.7, cooldown_us=600 * S, clear_after_us=60 * S, lookback_us=300 * S
)


def _ts(start_s: int, n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int64) + start_s) * S


def test_a_storm_of_100_points_over_threshold_raises_one_alert() -> None:
    sup = AlertSuppressor(POLICY)
    changes = sup.observe(7, "tag:1", (1,), _ts(1000, 100), np.full(100, 5.0))
    assert len(changes) == 1
    (raised,) = changes
    assert isinstance(raised, Raised)
    assert raised.machine_id == 7 and raised.tag_ids == (1,) and raised.at_us == 1000 * S
    assert raised.ratio == 5.0
    # The evidence starts before the excursion, so the chart shows what normal looked like.
    assert raised.window_start_us == (1000 - 300) * S
    assert sup.is_open(7)


def test_hysteresis_a_score_hovering_around_the_threshold_stays_one_alert() -> None:
    sup = AlertSuppressor(POLICY)
    ratios = np.tile([1.05, 0.95, 0.8, 1.2], 50)  # never below clear_below = 0.7
    changes = sup.observe(7, "tag:1", (1,), _ts(0, len(ratios)), ratios)
    assert [type(c) for c in changes] == [Raised]


def test_clears_only_below_the_lower_level_for_the_clear_delay() -> None:
    sup = AlertSuppressor(POLICY)
    sup.observe(7, "tag:1", (1,), _ts(0, 10), np.full(10, 2.0))
    # Below raise_at but above clear_below: still open.
    assert sup.observe(7, "tag:1", (1,), _ts(10, 100), np.full(100, 0.8)) == []
    # Below clear_below for 59 s: not yet.
    assert sup.observe(7, "tag:1", (1,), _ts(110, 60), np.full(60, 0.1)) == []
    changes = sup.observe(7, "tag:1", (1,), _ts(170, 5), np.full(5, 0.1))
    assert len(changes) == 1 and isinstance(changes[0], Cleared)
    cleared = changes[0]
    assert cleared.at_us == 170 * S
    assert cleared.window_end_us == 109 * S  # the last point at or above clear_below
    assert cleared.peak_ratio == 2.0
    assert not sup.is_open(7)


def test_cooldown_blocks_a_new_alert_until_it_has_passed() -> None:
    sup = AlertSuppressor(POLICY)
    sup.observe(7, "tag:1", (1,), _ts(0, 1), np.array([3.0]))
    (cleared,) = sup.observe(7, "tag:1", (1,), _ts(1, 70), np.zeros(70))
    assert isinstance(cleared, Cleared)
    clear_at = cleared.at_us // S
    # A new excursion within the cooldown (600 s) raises nothing...
    assert sup.observe(7, "tag:1", (1,), _ts(clear_at + 100, 50), np.full(50, 3.0)) == []
    # ...the same excursion still going after the cooldown raises one alert.
    later = sup.observe(7, "tag:1", (1,), _ts(clear_at + 600, 10), np.full(10, 3.0))
    assert [type(c) for c in later] == [Raised]
    assert later[0].at_us == (clear_at + 600) * S


def test_sources_of_one_machine_share_one_alert_and_it_clears_when_all_are_quiet() -> None:
    sup = AlertSuppressor(POLICY)
    first = sup.observe(7, "tag:1", (1,), _ts(0, 5), np.full(5, 2.0))
    second = sup.observe(7, "machine:7", (1, 2, 3), _ts(2, 5), np.full(5, 4.0))
    assert [type(c) for c in first] == [Raised]
    assert [type(c) for c in second] == [Joined]
    assert second[0].tag_ids == (1, 2, 3)
    # tag 1 goes quiet but the machine detector is still high: the alert stays open.
    assert sup.observe(7, "tag:1", (1,), _ts(10, 120), np.zeros(120)) == []
    changes = sup.observe(7, "machine:7", (1, 2, 3), _ts(130, 70), np.zeros(70))
    assert [type(c) for c in changes] == [Cleared]
    assert changes[0].peak_ratio == 4.0


def test_machines_are_independent() -> None:
    sup = AlertSuppressor(POLICY)
    a = sup.observe(1, "tag:1", (1,), _ts(0, 3), np.full(3, 2.0))
    b = sup.observe(2, "tag:9", (9,), _ts(0, 3), np.full(3, 2.0))
    assert [type(c) for c in a + b] == [Raised, Raised]


def test_missing_scores_count_as_quiet() -> None:
    sup = AlertSuppressor(POLICY)
    assert sup.observe(1, "tag:1", (1,), _ts(0, 3), np.array([np.nan, np.inf, 0.2])) == []


def test_resume_after_a_restart_keeps_the_open_alert_and_the_cooldown() -> None:
    sup = AlertSuppressor(POLICY)
    sup.resume(1, at_us=0, peak_ratio=3.0)
    assert sup.observe(1, "tag:1", (1,), _ts(10, 5), np.full(5, 5.0)) == [
        Joined(1, "tag:1", (1,), 10 * S, 5.0)
    ]
    sup.resume_cooldown(2, cleared_at_us=0)
    assert sup.observe(2, "tag:2", (2,), _ts(100, 5), np.full(5, 5.0)) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"raise_at": 0.0}, {"clear_below": 1.0}, {"clear_below": -0.1}, {"cooldown_us": -1}],
)
def test_policy_rejects_inconsistent_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AlertPolicy(**kwargs)  # type: ignore[arg-type]


def test_on_delay_a_fleeting_spike_raises_nothing_a_lasting_excursion_raises_once() -> None:
    policy = AlertPolicy(
        raise_at=1.0,
        clear_below=0.7,
        cooldown_us=600 * S,
        clear_after_us=60 * S,
        on_delay_us=120 * S,
    )
    sup = AlertSuppressor(policy)
    # 60 s over the threshold, then back to normal: shorter than the on-delay.
    spike = np.concatenate([np.full(60, 3.0), np.full(100, 0.2)])
    assert sup.observe(7, "tag:1", (1,), _ts(0, len(spike)), spike) == []
    assert not sup.is_open(7)
    # An excursion that lasts: raised when it has lasted the on-delay, evidence from its start.
    lasting = np.full(300, 2.0)
    changes = sup.observe(7, "tag:1", (1,), _ts(1000, len(lasting)), lasting)
    assert len(changes) == 1 and isinstance(changes[0], Raised)
    assert changes[0].at_us == 1120 * S
    # The evidence begins at least the lookback (600 s) before the raise: before the excursion.
    assert changes[0].window_start_us == (1120 - 600) * S


def test_on_delay_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="on-delay"):
        AlertPolicy(on_delay_us=-1)
