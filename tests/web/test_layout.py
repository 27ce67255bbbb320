"""The top bar and the machine page fit the screen, from a control-room display down to a phone.

Drives Debian's Chromium through Playwright against the demo server of test_live_page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.test_live_page import LIVE_TIMEOUT_MS, browser, demo_url  # noqa: F401 (fixtures)

# Its page fixture (script errors fail the test), by another name: the tests above make their own.
from tests.web.test_live_page import page as checked_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Control-room display, a tablet in landscape (where the bar overflowed), a phone.
WIDTHS = [1920, 1000, 390]
# Dead letters shows neither the plant clock nor the connection pill; the overview shows both.
PAGES = {"/dead-letters": False, "/": True}

BOXES = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
  };
  const one = (selector) => {
    const el = document.querySelector(selector);
    return el ? box(el) : null;
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    brand: one(".topbar .brand"),
    live: one("#live-status"),
    login: one(".topbar .login-link"),
    links: [...document.querySelectorAll(".mainnav a")].map(box),
  };
}"""


def _inside(box: dict[str, float], width: int) -> bool:
    return box["left"] >= 0 and box["right"] <= width and box["bottom"] > 0


@pytest.mark.parametrize("width", WIDTHS)
def test_top_bar_fits_the_screen(
    demo_url: str,  # noqa: F811
    browser: Any,  # noqa: F811
    width: int,
    tmp_path: Path,
) -> None:
    """No sideways scrolling; the connection pill, log-in and every link are on screen."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        for path, has_live in PAGES.items():
            page.goto(demo_url + path)
            if has_live:
                page.wait_for_selector("#live-status[data-live=live]", timeout=LIVE_TIMEOUT_MS)
            page.screenshot(path=str(tmp_path / f"{width}{path.replace('/', '_')}.png"))
            m = page.evaluate(BOXES)
            assert m["scrollWidth"] <= m["innerWidth"] == width, (path, m)
            assert m["login"] is not None and _inside(m["login"], width), (path, m["login"])
            if has_live:
                assert m["live"] is not None and _inside(m["live"], width), (path, m["live"])
            assert len(m["links"]) >= 7, "every main page has a link"
            for link in m["links"]:
                assert _inside(link, width), (path, link)
            # On the wide screen the links stay in one row beside the brand, as before; narrower,
            # they get a row of their own below it.
            brand_bottom = m["brand"]["bottom"]
            if width == 1920:
                assert all(link["top"] < brand_bottom for link in m["links"]), m
            else:
                assert all(link["top"] >= brand_bottom for link in m["links"]), m
        # The links work where they are: a click on the last one, the first to be pushed off a
        # narrow screen, opens its page.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Dead letters").click()
        page.wait_for_url(demo_url + "/dead-letters")
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


def test_a_wrapping_table_cell_keeps_a_readable_width_on_a_tablet(
    demo_url: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    """Work order titles may wrap, but not down to a letter per line: the table scrolls instead."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    try:
        page.goto(demo_url + "/maintenance")
        page.wait_for_selector("#wo-table td.wrap", timeout=LIVE_TIMEOUT_MS)
        widths = page.evaluate(
            """() => [...document.querySelectorAll('#wo-table td.wrap')]
                .map((td) => td.getBoundingClientRect().width / parseFloat(
                    getComputedStyle(document.documentElement).fontSize))"""
        )
        assert widths and min(widths) >= 12.0, widths  # rem
        assert page.evaluate("document.documentElement.scrollWidth") <= 1000
    finally:
        context.close()


# The machine with the longest unified-namespace path in the example plant.
WELD_CELL = "acme/springfield/machining/machining_line/weld_cell"


@pytest.mark.parametrize("width", [390, 360])
def test_machine_page_fits_a_phone(
    demo_url: str,  # noqa: F811
    checked_page: Any,  # noqa: F811
    width: int,
    tmp_path: Path,
) -> None:
    """No sideways scrolling of the page: the header wraps, wide tables scroll in their own box."""
    page = checked_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{demo_url}/machines/{WELD_CELL}")
    # Measured once everything the script adds is in: the charts and the time-in-state rows.
    page.wait_for_selector("#state-summary tbody .state-badge", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_function(
        """() => {
            const charts = [...document.querySelectorAll('.trend-chart')];
            return charts.length > 0 && charts.every((c) => c.dataset.timeTicks);
        }""",
        timeout=LIVE_TIMEOUT_MS,
    )
    page.screenshot(path=str(tmp_path / f"machine-{width}.png"), full_page=True)
    m = page.evaluate(
        """() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
            path: document.querySelector('.machine-head-meta .mono').getBoundingClientRect().right,
        })"""
    )
    assert m["scrollWidth"] <= m["innerWidth"] == width, m
    assert m["path"] <= width, "the UNS path wraps rather than running off the screen"
