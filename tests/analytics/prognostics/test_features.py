"""Hourly condition features from 1-minute rollups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from ifactory import models as all_models
from ifactory.analytics.prognostics.features import (
    HOUR_US,
    DerivedRule,
    MachineHistory,
    MachineTags,
    machine_tags,
    summarize_hours,
)
from ifactory.core.db import Base, Database
from ifactory.historian.rollups import Rows
from ifactory.plant import service as plant_service
from ifactory.plant.loader import load_plant

from .helpers import DOWN, EXECUTING, STATE, TEMP, VIB, MinuteSource, machine

IDLE = 0.0
CURRENT, STROKES = 21, 22


def test_hour_levels_use_only_the_minutes_the_machine_executed() -> None:
    # First half of each hour executing at 4 mm/s, second half idle at 0.4 mm/s.
    def value(tag: int, minute: int) -> float:
        executing = minute % 60 < 30
        if tag == STATE:
            return EXECUTING if executing else IDLE
        if tag == VIB:
            return 4.0 if executing else 0.4
        return 60.0

    m = machine()
    rows = MinuteSource(value).rollups(m.tag_ids, 10 * HOUR_US, 12 * HOUR_US)
    hours = summarize_hours(m, rows, 10, 11)
    assert [h.hour for h in hours] == [10, 11]
    assert hours[0].exec_minutes == 30
    vib = [name for _, name, _ in m.analog].index("vibration_rms")
    assert hours[0].levels[vib] == pytest.approx(4.0)
    assert not hours[0].down


def test_features_show_a_rise_over_the_machines_own_baseline() -> None:
    def value(tag: int, minute: int) -> float:
        hour = minute // 60
        if tag == STATE:
            return DOWN if hour == 5 else EXECUTING
        if tag == VIB:
            return 2.0 if hour < 200 else 3.0  # +50 % over the last 10 hours
        return 60.0

    m = machine()
    history = MachineHistory(m)
    rows = MinuteSource(value).rollups(m.tag_ids, 0, 210 * HOUR_US)
    for summary in summarize_hours(m, rows, 0, 209):
        history.add(summary)
    f = dict(zip(m.feature_names(), history.features(), strict=True))
    assert f["vibration_rms.rel6"] == pytest.approx(0.5)
    assert f["vibration_rms.lvl6"] == pytest.approx(3.0 / 7.1)
    assert f["vibration_rms.slope24"] == pytest.approx(0.5)  # last 6 h vs 18-24 h ago
    assert f["bearing_temp.rel6"] == pytest.approx(0.0)
    assert f["hours_since_down"] == 204.0
    assert f["exec_frac24"] == pytest.approx(1.0)
    assert np.isnan(f["scrap_rate24"])  # no counters on this machine


def test_hours_must_come_in_order_and_gaps_are_filled() -> None:
    m = machine()
    history = MachineHistory(m)
    rows = MinuteSource(lambda tag, minute: EXECUTING if tag == STATE else 1.0).rollups(
        m.tag_ids, 0, 10 * HOUR_US
    )
    hours = summarize_hours(m, rows, 0, 9)
    history.add(hours[0])
    history.add(hours[5])  # hours 1-4 had no data (an outage)
    assert [h.hour for h in history.hours] == [0, 1, 2, 3, 4, 5]
    assert np.isnan(history.hours[2].levels).all()
    with pytest.raises(ValueError):
        history.add(hours[3])
    assert TEMP in m.tag_ids


def _derived_press(rules: tuple[DerivedRule, ...]) -> MachineTags:
    """A retrofitted press: no state tag; its state comes from a stroke counter and the current."""
    return MachineTags(
        machine_id=9,
        machine_key="site/line/press3",
        machine_class="press",
        state_tag=None,
        executing_code=None,
        down_codes=(),
        maintenance_codes=(),
        analog=((CURRENT, "motor_current", 150.0), (VIB, "vibration_rms", 7.1)),
        cycle_tag=STROKES,
        derived=rules,
        derived_otherwise="down",
    )


def test_a_machine_without_a_state_tag_gets_its_state_from_the_derivation_rules() -> None:
    # Minutes 0-19 stroking (executing), 20-39 powered without strokes (idle), 40-59 off (down).
    def value(tag: int, minute: int) -> float:
        phase = minute % 60
        if tag == STROKES:
            return float(min(minute - minute % 60 + phase, minute - minute % 60 + 19))
        if tag == CURRENT:
            return 60.0 if phase < 20 else (12.0 if phase < 40 else 0.5)
        return 4.0 if phase < 20 else 0.3

    class Counting(MinuteSource):
        def rollups(self, tag_ids: npt.ArrayLike, start_us: int, end_us: int) -> Rows:
            rows = super().rollups(tag_ids, start_us, end_us)
            stroking = (rows.tag == STROKES) & (rows.bucket % 60 < 20)
            rows.inc[:] = np.where(stroking, 1.0, 0.0)
            return rows

    m = _derived_press(
        (
            DerivedRule(state="executing", counter_tag=STROKES),
            DerivedRule(state="idle", tag=CURRENT, above=8.0),
        )
    )
    assert set(m.tag_ids) == {CURRENT, VIB, STROKES}
    hours = summarize_hours(m, Counting(value).rollups(m.tag_ids, 0, HOUR_US), 0, 0)
    assert hours[0].exec_minutes == 20
    assert hours[0].down  # the derivation's fallback is "down" (20 minutes off)
    vib = [name for _, name, _ in m.analog].index("vibration_rms")
    assert hours[0].levels[vib] == pytest.approx(4.0)  # executing minutes only


def test_a_derived_state_needs_data_a_silent_machine_is_not_down() -> None:
    m = _derived_press((DerivedRule(state="idle", tag=CURRENT, above=8.0),))
    empty = MinuteSource(lambda tag, minute: 0.0).rollups([], 0, HOUR_US)
    hours = summarize_hours(m, empty, 0, 0)
    assert hours[0].exec_minutes == 0
    assert not hours[0].down


def test_a_classless_machine_with_a_class_s_condition_tags_is_read_as_that_class(
    tmp_path: Path,
) -> None:
    all_models.import_all()
    db = Database(f"sqlite:///{tmp_path / 'plant.db'}")
    Base.metadata.create_all(db.engine)
    with db.session() as session:
        plant_service.seed(session, load_plant(), user="test")
    with db.session() as session:
        registry = plant_service.registry(session)
    db.dispose()
    by_key = {m.machine_key: m for m in machine_tags(registry)}
    press3 = by_key["acme/springfield/press_shop/press_line/press3"]
    press1 = by_key["acme/springfield/press_shop/press_line/press1"]
    assert press3.machine_class == "press"
    assert press3.feature_names() == press1.feature_names()  # the press model applies
    assert press3.state_tag is None
    assert [r.state for r in press3.derived] == ["executing", "idle"]
    assert press3.derived_otherwise == "down"
