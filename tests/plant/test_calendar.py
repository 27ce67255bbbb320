"""Site calendar: shifts and breaks in site time, holidays, planned stops, 23 h and 25 h days."""

from __future__ import annotations

from datetime import date, datetime

from ifactory.core.clock import from_datetime
from ifactory.plant.calendar import SiteCalendar
from ifactory.plant.spec import SiteSettings

H = 3600


def calendar() -> SiteCalendar:
    return SiteCalendar(
        SiteSettings.model_validate(
            {
                "timezone": "Europe/Berlin",
                "production_day_start": "06:00",
                "calendar": {
                    "shifts": [
                        {
                            "name": "early",
                            "start": "06:00",
                            "end": "14:00",
                            "days": ["mon", "tue", "wed", "thu", "fri"],
                            "breaks": [{"start": "09:00", "end": "09:30"}],
                        },
                        {
                            "name": "night",
                            "start": "22:00",
                            "end": "06:00",
                            "days": ["mon"],
                            "breaks": [{"start": "02:00", "end": "02:30"}],
                        },
                    ],
                    "holidays": ["2026-12-25"],
                    "planned_stops": [
                        {
                            "name": "PM",
                            "start": "2026-11-24T10:00:00",
                            "end": "2026-11-24T12:00:00",
                            "nodes": ["press1"],
                        }
                    ],
                },
            }
        )
    )


def local(*args: int) -> int:
    from zoneinfo import ZoneInfo

    return from_datetime(datetime(*args, tzinfo=ZoneInfo("Europe/Berlin")))  # type: ignore[misc]


def test_planned_time_of_a_day_is_shifts_minus_breaks() -> None:
    cal = calendar()
    # Monday 2026-11-23: early 8 h - 0.5 h break, plus the night shift's first 8 h - 0.5 h.
    start, end = cal.day_bounds(date(2026, 11, 23))
    assert cal.planned_seconds(start, end) == 15 * H
    assert cal.is_planned(local(2026, 11, 23, 8, 0))
    assert not cal.is_planned(local(2026, 11, 23, 9, 10))  # break
    assert not cal.is_planned(local(2026, 11, 23, 15, 0))  # no shift
    assert cal.is_planned(local(2026, 11, 24, 1, 0))  # night shift crosses midnight
    assert not cal.is_planned(local(2026, 11, 24, 2, 15))  # its break is on the next date


def test_planned_stop_applies_only_to_its_nodes() -> None:
    cal = calendar()
    t = local(2026, 11, 24, 11, 0)
    assert cal.is_planned(t)
    assert cal.is_planned(t, {"press2", "press_line"})
    assert not cal.is_planned(t, {"press1", "press_line"})


def test_holiday_has_no_shift() -> None:
    cal = calendar()
    start, end = cal.day_bounds(date(2026, 12, 25))
    assert cal.planned_seconds(start, end) == 0


def test_daylight_saving_days_are_23_and_25_hours() -> None:
    cal = calendar()
    s, e = cal.day_bounds(date(2026, 3, 28))  # clocks go forward at 02:00 on the 29th
    assert e - s == 23 * H * 1_000_000
    s, e = cal.day_bounds(date(2026, 10, 24))  # clocks go back at 03:00 on the 25th
    assert e - s == 25 * H * 1_000_000
    assert cal.production_day(local(2026, 10, 25, 5, 59)) == date(2026, 10, 24)
    assert cal.production_day(local(2026, 10, 25, 6, 0)) == date(2026, 10, 25)


def test_night_shift_over_the_autumn_change_lasts_nine_hours() -> None:
    cal = SiteCalendar(
        SiteSettings.model_validate(
            {
                "timezone": "Europe/Berlin",
                "calendar": {
                    "shifts": [{"name": "night", "start": "22:00", "end": "06:00", "days": ["sat"]}]
                },
            }
        )
    )
    [shift] = cal.shifts(local(2026, 10, 24, 12, 0), local(2026, 10, 25, 12, 0))
    assert shift.end_us - shift.start_us == 9 * H * 1_000_000
