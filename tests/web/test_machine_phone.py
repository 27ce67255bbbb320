"""The machine page's state timeline and time-in-state table read cleanly on a phone.

Drives Debian's Chromium through Playwright against the demo server of test_live_page.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.test_live_page import (  # noqa: F401 (fixtures)
    CNC1,
    HOUR_US,
    LIVE_TIMEOUT_MS,
    _site,
    browser,
    demo_url,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MINUTE_US = 60 * 1_000_000
# The panel with the state timeline, its time axis and the time-in-state table.
TIMELINE_PANEL = "section[aria-labelledby=timeline-title]"

# Each time-axis label's box and text, in the order drawn.
AXIS_LABELS = """() => [...document.querySelectorAll('#timeline-axis span')].map((s) => {
    const r = s.getBoundingClientRect();
    return { left: r.left, right: r.right, text: s.textContent };
})"""

# Two frames: a resize is laid out and its ResizeObserver callbacks have run.
NEXT_FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _now_us(pg: Any) -> int:
    """The plant time the page was served at."""
    data = pg.evaluate("JSON.parse(document.getElementById('page-data').textContent)")
    return int(data["now_us"])


def _assert_apart(labels: list[dict[str, Any]], where: str) -> None:
    """At least two labels, and no two of them overlap."""
    assert len(labels) >= 2, (where, labels)
    boxes = sorted(labels, key=lambda b: b["left"])
    for a, b in itertools.pairwise(boxes):
        assert a["right"] <= b["left"], f"{where}: {a['text']!r} overlaps {b['text']!r}: {boxes}"


@pytest.mark.parametrize("width", [360, 390])
def test_timeline_axis_labels_do_not_overlap_on_a_phone(
    demo_url: str,  # noqa: F811
    page: Any,  # noqa: F811
    width: int,
    tmp_path: Path,
) -> None:
    """Fewer ticks on a narrow axis: every label is readable, none runs into the next."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{demo_url}/machines/{CNC1}")
    now = _now_us(page)
    # A quarter of an hour starting a minute past a tick of the wide screen's 2-minute axis: its
    # first label sits near the left end (drawn from its tick rightwards, not centred on it).
    quarter = (now - 3 * HOUR_US) // (2 * MINUTE_US) * (2 * MINUTE_US) + MINUTE_US
    # Eight hours two days ago: the first label carries its date.
    dated = (now - 50 * HOUR_US) // HOUR_US * HOUR_US + 30 * MINUTE_US
    views = {
        "live 15 min": "range=900",
        "live 1 h": "range=3600",
        "live 8 h": "range=28800",
        "fixed 15 min": f"range=900&start_us={quarter}&end_us={quarter + 15 * MINUTE_US}",
        "fixed 8 h, dated": f"range=900&start_us={dated}&end_us={dated + 8 * HOUR_US}",
    }
    for name, query in views.items():
        page.goto(f"{demo_url}/machines/{CNC1}?{query}")
        page.wait_for_selector("#timeline-axis span", timeout=LIVE_TIMEOUT_MS)
        page.locator(TIMELINE_PANEL).screenshot(path=str(tmp_path / f"{width}-{name}.png"))
        _assert_apart(page.evaluate(AXIS_LABELS), f"{name} at {width} px")


def test_timeline_axis_follows_a_resize_without_a_clock_tick(
    demo_url: str,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    """A window narrowed to a phone's width (no live stream to redraw it) gets fewer ticks."""
    page.route(re.compile(r"/api/events\b"), lambda route: route.abort())
    page.goto(f"{demo_url}/machines/{CNC1}")
    start = (_now_us(page) - 3 * HOUR_US) // HOUR_US * HOUR_US + MINUTE_US
    page.goto(f"{demo_url}/machines/{CNC1}?range=900&start_us={start}&end_us={start + HOUR_US}")
    # The states are in, or found missing (either way the timeline is drawn with them): nothing
    # else redraws it for the next 30 s.
    page.wait_for_selector("#state-summary tbody tr", timeout=LIVE_TIMEOUT_MS)
    wide = page.evaluate(AXIS_LABELS)
    _assert_apart(wide, "1920 px")
    page.set_viewport_size({"width": 360, "height": 900})
    page.evaluate(NEXT_FRAMES)
    narrow = page.evaluate(AXIS_LABELS)
    _assert_apart(narrow, "narrowed to 360 px")
    assert len(narrow) < len(wide)


@pytest.mark.parametrize(
    ("span_us", "step_us"),
    [(15 * MINUTE_US, 2 * MINUTE_US), (HOUR_US, 10 * MINUTE_US), (8 * HOUR_US, HOUR_US)],
    ids=["15-min", "1-h", "8-h"],
)
def test_timeline_axis_keeps_its_ticks_on_a_wide_screen(
    demo_url: str,  # noqa: F811
    page: Any,  # noqa: F811
    span_us: int,
    step_us: int,
) -> None:
    """At 1920 px the axis keeps a tick every 2 min in 15 min, 10 min in 1 h, 1 h in 8 h."""
    page.goto(f"{demo_url}/machines/{CNC1}")
    tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
    start = (_now_us(page) - 10 * HOUR_US) // MINUTE_US * MINUTE_US + 7 * MINUTE_US
    end = start + span_us
    page.goto(f"{demo_url}/machines/{CNC1}?range=900&start_us={start}&end_us={end}")
    page.wait_for_selector("#timeline-axis span", timeout=LIVE_TIMEOUT_MS)
    labels = page.evaluate(AXIS_LABELS)
    ticks = range(math.ceil(start / step_us) * step_us, end + 1, step_us)
    # The time on each label's first line (a dated window adds the date under some).
    assert [b["text"].split("\n")[0] for b in labels] == [f"{_site(t, tz):%H:%M}" for t in ticks]
    _assert_apart(labels, "1920 px")


@pytest.mark.parametrize("width", [360, 390])
def test_state_summary_figures_stay_on_one_line_on_a_phone(
    demo_url: str,  # noqa: F811
    page: Any,  # noqa: F811
    width: int,
    tmp_path: Path,
) -> None:
    """A figure and its unit ("7 h 12 min", "90.0 %") are never split over two lines."""
    seconds = {"executing": 7.2 * 3600, "down": 0.8 * 3600}
    summary = {
        "seconds": seconds,
        "planned_seconds": seconds,
        "counts": {"executing": 12, "down": 11},
    }

    def serve_states(route: Any) -> None:
        route.fulfill(json={"intervals": [], "summary": summary})

    page.route(re.compile(r"/api/machines/.+/states\?"), serve_states)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{demo_url}/machines/{CNC1}?range=28800")
    page.wait_for_selector("#state-summary tbody .state-badge", timeout=LIVE_TIMEOUT_MS)
    page.locator(TIMELINE_PANEL).screenshot(path=str(tmp_path / f"state-summary-{width}.png"))
    # The number of line boxes each figure's text is laid out in.
    cells = page.evaluate(
        """() => [...document.querySelectorAll('#state-summary tbody td.num')].map((td) => {
            const range = document.createRange();
            range.selectNodeContents(td);
            const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            return { text: td.textContent, lines: tops.size };
        })"""
    )
    assert [c["text"] for c in cells] == [  # down first: what needs attention leads
        *["48 min", "10.0 %", "48 min", "11"],
        *["7 h 12 min", "90.0 %", "7 h 12 min", "12"],
    ]
    assert all(c["lines"] == 1 for c in cells), cells
