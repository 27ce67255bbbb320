"""The pages in a real browser against the real demo server: they render the plant and stay live.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

import ifactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
STATES = {"executing", "setup", "idle", "down", "maintenance", "unknown"}
CNC1 = "acme/springfield/machining/machining_line/cnc1"
SERVER_START_TIMEOUT_S = 90
LIVE_TIMEOUT_MS = 20_000
NO_VALUE = "\u2013"  # what the pages show before a value arrives

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's Chromium is not installed (apt-get install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ifactory demo` at 60x in a subprocess, as a user would start it."""
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("demo")
    log_path = tmp_path_factory.mktemp("demo-log") / "server.log"
    env = dict(os.environ)
    # The package the tests import is the one the server runs, installed or from src/.
    src = str(Path(ifactory.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.setdefault("IFACTORY_ADMIN_PASSWORD", "browser-test-password")
    options = f"--host 127.0.0.1 --port {port} --speed 60".split()
    cmd = [sys.executable, "-m", "ifactory.cli.main", "demo", *options, "--data-dir", str(data_dir)]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while not _healthy(url):
                if proc.poll() is not None:
                    pytest.fail(f"the demo server exited ({proc.returncode}):\n{_tail(log_path)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo server did not answer /health:\n{_tail(log_path)}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A control-room sized page; script errors fail the test."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def test_overview_shows_every_machine_and_updates_live(
    demo_url: str, page: Any, tmp_path: Path
) -> None:
    page.goto(demo_url + "/")
    page.wait_for_selector("#live-status[data-live=live]", timeout=LIVE_TIMEOUT_MS)

    cards = page.locator(".machine-card")
    assert cards.count() == 13
    for i in range(13):
        card = cards.nth(i)
        assert card.get_attribute("data-state") in STATES
        badge = card.locator(".state-badge").inner_text().strip().lower()
        assert badge in STATES, "each machine names its state in words"

    # Values arrive from the event stream, then change, all without a reload.
    page.evaluate("window.__notReloaded = true")
    values = page.locator(".machine-card .value .v")
    page.wait_for_function(
        "(none) => [...document.querySelectorAll('.machine-card .value .v')]"
        ".every(e => e.textContent !== none)",
        arg=NO_VALUE,
        timeout=LIVE_TIMEOUT_MS,
    )
    before = values.all_inner_texts()
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('.machine-card .value .v')]"
        ".some((e, i) => e.textContent !== before[i])",
        arg=before,
        timeout=LIVE_TIMEOUT_MS,
    )
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#plant-clock").inner_text().strip() not in ("", NO_VALUE)
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)


def test_machine_page_shows_chart_and_state_timeline(
    demo_url: str, page: Any, tmp_path: Path
) -> None:
    page.goto(f"{demo_url}/machines/{CNC1}")
    # Three default tags, one chart each; uPlot draws on a canvas once the history is in.
    page.wait_for_selector(".trend-panel canvas", timeout=LIVE_TIMEOUT_MS)
    assert page.locator(".trend-panel").count() == 3
    page.wait_for_selector("#timeline .seg", timeout=LIVE_TIMEOUT_MS)
    segment_state = page.locator("#timeline .seg").first.get_attribute("data-state")
    assert segment_state in STATES
    page.wait_for_selector("#state-summary tbody .state-badge", timeout=LIVE_TIMEOUT_MS)

    # Every tag row gets a live value.
    page.wait_for_function(
        "(none) => [...document.querySelectorAll('.tag-table .value .v')]"
        ".every(e => e.textContent !== none)",
        arg=NO_VALUE,
        timeout=LIVE_TIMEOUT_MS,
    )

    # A wider range switches to one-minute aggregates and keeps the charts.
    page.get_by_role("button", name="8 h").click()
    page.wait_for_function("() => location.search.includes('range=28800')")
    page.wait_for_selector(".trend-panel canvas", timeout=LIVE_TIMEOUT_MS)
    assert "time-weighted" in page.locator("#trend-note").inner_text()
    page.screenshot(path=str(tmp_path / "machine.png"), full_page=True)


def test_machine_page_opens_a_linked_window_fixed_until_a_range_is_chosen(
    demo_url: str, page: Any
) -> None:
    """An evidence link (start_us, end_us, tag ids) shows that window, not the last 15 minutes."""
    page.goto(f"{demo_url}/machines/{CNC1}")
    data = page.evaluate("JSON.parse(document.getElementById('page-data').textContent)")
    now_us = int(data["now_us"])
    tag_id = int(page.locator(".tag-picker input[type=checkbox]").first.get_attribute("value"))
    start_us, end_us = now_us - 6 * 3600 * 1_000_000, now_us - 2 * 3600 * 1_000_000
    page.goto(
        f"{demo_url}/machines/{CNC1}?range=900&tags={tag_id}&start_us={start_us}&end_us={end_us}"
    )
    page.wait_for_selector(".trend-panel canvas", timeout=LIVE_TIMEOUT_MS)
    assert page.locator(".trend-panel").count() == 1, "the linked tag, by id, is the one charted"
    assert page.locator("#fixed-window").is_visible()
    # The note names the window in site time (with dates when it is not within today).
    note = page.locator("#fixed-window").inner_text()
    tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
    assert f"{_site(start_us, tz):%H:%M} – " in note and f"{_site(end_us, tz):%H:%M})" in note
    # Four hours is past the raw limit: one-minute aggregates, and the window does not slide.
    assert "time-weighted" in page.locator("#trend-note").inner_text()
    shown = page.locator("#timeline-range").inner_text()
    page.wait_for_timeout(2500)
    assert page.locator("#timeline-range").inner_text() == shown
    assert page.get_by_role("button", name="15 min").get_attribute("aria-pressed") == "false"
    # A range button goes back to live.
    page.get_by_role("button", name="15 min").click()
    assert not page.locator("#fixed-window").is_visible()
    page.wait_for_function("() => !location.search.includes('start_us')")


def _site(us: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz)


def _site_us(local: datetime) -> int:
    return int(local.timestamp()) * 1_000_000


def test_machine_page_dates_a_linked_window_that_is_not_within_today(
    demo_url: str, page: Any
) -> None:
    """An hour yesterday, or a night across midnight, is ambiguous as bare times: dates are shown."""
    page.goto(f"{demo_url}/machines/{CNC1}")
    data = page.evaluate("JSON.parse(document.getElementById('page-data').textContent)")
    tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
    today = _site(int(data["now_us"]), tz).replace(hour=0, minute=0, second=0, microsecond=0)
    earlier = today - timedelta(days=2)
    night = earlier.replace(hour=22)
    morning = night + timedelta(hours=3)  # 01:00 the next day (a 02:00 may not exist: DST)
    windows = [
        # Within one earlier day: the date once, then the end time.
        (earlier.replace(hour=10), earlier.replace(hour=12), f"{earlier:%Y-%m-%d} 10:00 – 12:00"),
        # Across midnight: both dates, or the end would read as earlier than the start.
        (night, morning, f"{night:%Y-%m-%d} 22:00 – {morning:%Y-%m-%d} 01:00"),
        # Within today: the bare times (checked against the page's clock, which runs at 60x).
        (today.replace(hour=10), today.replace(hour=12), "10:00 – 12:00"),
    ]
    for start, end, expected in windows:
        page.goto(
            f"{demo_url}/machines/{CNC1}?range=900"
            f"&start_us={_site_us(start)}&end_us={_site_us(end)}"
        )
        page.wait_for_selector("#fixed-window:not([hidden])", timeout=LIVE_TIMEOUT_MS)
        # Every chart draws on its own: wait for all of them, not the first.
        page.wait_for_function(
            """() => {
                const charts = [...document.querySelectorAll('.trend-chart')];
                return charts.length >= 3 && charts.every((c) => c.dataset.timeTicks);
            }""",
            timeout=LIVE_TIMEOUT_MS,
        )
        page.wait_for_selector("#timeline-axis span", timeout=LIVE_TIMEOUT_MS)
        note, timeline_range, timeline_ticks, chart_ticks, now_us = page.evaluate(
            """[document.getElementById('fixed-window').innerText,
                document.getElementById('timeline-range').textContent,
                [...document.querySelectorAll('#timeline-axis span')].map((s) => s.textContent),
                [...document.querySelectorAll('.trend-chart')].map((c) => c.dataset.timeTicks),
                IF.clock.now_us]"""
        )
        if start.date() == today.date() and _site(now_us, tz).date() != today.date():
            expected = f"{today:%Y-%m-%d} 10:00 – 12:00"  # the demo's clock passed midnight
        assert f"({expected})" in note
        # The state timeline names the same range the same way, and both time axes are dated
        # (or not) by the same rule.
        assert timeline_range == expected
        dated = "-" in expected
        _assert_tick_dates(timeline_ticks, start, dated)
        assert len(chart_ticks) == 3, "the default tags are charted"
        for ticks in chart_ticks:
            _assert_tick_dates(ticks.split(" | "), start, dated)


def test_machine_page_dates_state_segments_that_are_not_within_today(
    demo_url: str, page: Any
) -> None:
    """A segment's tooltip gives its times to the second, dated unless it lies within today.

    The demo's history starts when it does, so the states endpoint answers with segments across
    last midnight; the page's own code formats them.
    """
    page.goto(f"{demo_url}/machines/{CNC1}")
    data = page.evaluate("JSON.parse(document.getElementById('page-data').textContent)")
    tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
    today = _site(int(data["now_us"]), tz).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    at = {  # every segment boundary, in site time
        "y21": yesterday.replace(hour=21, minute=30, second=15),
        "y23": yesterday.replace(hour=23, minute=10, second=20),
        "t00": today.replace(minute=40, second=5),
        "t01": today.replace(hour=1, minute=30),
    }
    segments = [("executing", "y21", "y23"), ("idle", "y23", "t00"), ("down", "t00", "t01")]
    intervals = [
        {"state": s, "start_us": _site_us(at[a]), "end_us": _site_us(at[b]), "source": "tag"}
        for s, a, b in segments
    ]
    seconds = {s: (at[b] - at[a]).total_seconds() for s, a, b in segments}
    summary = {"seconds": seconds, "planned_seconds": seconds, "counts": dict.fromkeys(seconds, 1)}
    page.route(
        re.compile(r"/api/machines/.+/states\?"),
        lambda route: route.fulfill(json={"intervals": intervals, "summary": summary}),
    )
    window = (
        f"start_us={_site_us(yesterday.replace(hour=22))}&end_us={_site_us(today.replace(hour=2))}"
    )
    page.goto(f"{demo_url}/machines/{CNC1}?range=900&{window}")
    page.wait_for_selector("#timeline .seg[data-state=down]", timeout=LIVE_TIMEOUT_MS)
    titles, now_us = page.evaluate(
        "[[...document.querySelectorAll('#timeline .seg')].map((s) => s.title), IF.clock.now_us]"
    )
    y, t = f"{yesterday:%Y-%m-%d}", f"{today:%Y-%m-%d}"
    # Within the last day before today, the date once; across midnight, both dates.
    expected = [f"Executing: {y} 21:30:15 – 23:10:20 (", f"Idle: {y} 23:10:20 – {t} 00:40:05 ("]
    if _site(now_us, tz).date() == today.date():
        expected.append("Down: 00:40:05 – 01:30:00 (")  # within today: bare times
    else:
        expected.append(f"Down: {t} 00:40:05 – 01:30:00 (")  # the demo's clock passed midnight
    assert len(titles) == 3, titles
    for title, want in zip(titles, expected, strict=True):
        assert title.startswith(want), (title, want)


HOUR_US = 3600 * 1_000_000


@pytest.mark.parametrize(
    ("hours", "is_open"),
    [
        pytest.param((-3, -1), False, id="past-window"),
        pytest.param((-1, 1), True, id="window-into-the-future"),
        pytest.param(None, True, id="live-15-min"),
    ],
)
def test_machine_page_last_state_segment_is_open_only_when_the_window_reaches_now(
    demo_url: str, page: Any, hours: tuple[int, int] | None, is_open: bool
) -> None:
    """The last segment, in the machine's current state, reads "– now" only in a window reaching
    the present; a window in the past ends it at the window's end.

    The states endpoint is answered as the server does (intervals cut at the window's end or at
    now), with the state on the page to the end; the live stream is held off so that this state
    and the page's clock stay as served.
    """
    served: dict[str, Any] = {}

    def serve_page(route: Any) -> None:
        response = route.fetch()
        html = response.text()
        served["state"] = re.search(r'class="machine-head"[^>]*data-state="(\w+)"', html)[1]
        served["now_us"] = int(re.search(r'<body[^>]*data-now-us="(\d+)"', html)[1])
        route.fulfill(response=response)

    def serve_states(route: Any) -> None:
        query = parse_qs(urlsplit(route.request.url).query)
        start = int(query["start_us"][0])
        end = min(int(query["end_us"][0]), served["now_us"])
        seconds = {served["state"]: (end - start) / 1e6}
        summary = {"seconds": seconds, "planned_seconds": seconds, "counts": {served["state"]: 1}}
        interval = {"state": served["state"], "start_us": start, "end_us": end, "source": "tag"}
        route.fulfill(json={"intervals": [interval], "summary": summary})

    page.route(re.compile(r"/api/events\b"), lambda route: route.abort())
    page.route(lambda url: urlsplit(url).path.startswith("/machines/"), serve_page)
    page.route(re.compile(r"/api/machines/.+/states\?"), serve_states)
    page.goto(f"{demo_url}/machines/{CNC1}?range=900")
    labels = page.evaluate("IF.STATE_LABELS")
    start_us = None
    if hours is not None:
        now_us = served["now_us"]
        start_us, end_us = now_us + hours[0] * HOUR_US, now_us + hours[1] * HOUR_US
        page.goto(f"{demo_url}/machines/{CNC1}?range=900&start_us={start_us}&end_us={end_us}")
    page.wait_for_selector("#timeline .seg", timeout=LIVE_TIMEOUT_MS)
    title, width = page.evaluate(
        "(s => [s.title, parseFloat(s.style.width)])(document.querySelector('#timeline .seg'))"
    )
    assert title.startswith(f"{labels[served['state']]}: "), title
    if is_open:
        assert " – now (" in title, title
    else:
        tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
        assert title.endswith(f" – {_site(end_us, tz):%H:%M:%S} (2 h 00 min)"), title
    if start_us is not None:
        # Drawn up to now, and no further: a window into the future shows no state there.
        shown_to = min(end_us, served["now_us"])
        assert width == pytest.approx(100 * (shown_to - start_us) / (end_us - start_us), abs=0.1)


def _assert_tick_dates(labels: list[str], start: datetime, dated: bool) -> None:
    """Labels "HH:MM" in time order; if `dated`, the first and each new day's carry the date."""
    assert len(labels) >= 2, labels
    day, previous = start.date(), None
    for label in labels:
        time_of_day, *date = label.split()
        new_day = previous is not None and time_of_day < previous
        if new_day:
            day += timedelta(days=1)
        want = [f"{day:%Y-%m-%d}"] if dated and (previous is None or new_day) else []
        assert date == want, f"{label!r} in {labels}"
        previous = time_of_day


def test_machine_page_live_range_is_bare_times_within_today(demo_url: str, page: Any) -> None:
    """The live 15 minutes within today read "HH:MM – HH:MM", no date on the start alone."""
    page.goto(f"{demo_url}/machines/{CNC1}?range=900")
    page.wait_for_selector("#timeline-axis span", timeout=LIVE_TIMEOUT_MS)
    tz = ZoneInfo(page.evaluate("document.body.dataset.tz"))
    text, ticks, now_us = page.evaluate(
        """[document.getElementById('timeline-range').textContent,
            [...document.querySelectorAll('#timeline-axis span')].map((s) => s.textContent),
            IF.clock.now_us]"""
    )
    # The text may be one clock tick old; near midnight the window spans two days: dated then.
    earliest, latest = now_us - 17 * 60 * 1_000_000, now_us + 60 * 1_000_000
    if _site(earliest, tz).date() == _site(latest, tz).date():
        assert re.fullmatch(r"\d\d:\d\d – \d\d:\d\d", text), text
        assert all(re.fullmatch(r"\d\d:\d\d", t) for t in ticks), ticks


def test_dead_letters_page_loads(demo_url: str, page: Any, tmp_path: Path) -> None:
    page.goto(demo_url + "/dead-letters")
    page.wait_for_selector("#dl-counts .reason-chip", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('#dl-rows').textContent.includes('Loading')",
        timeout=LIVE_TIMEOUT_MS,
    )
    page.screenshot(path=str(tmp_path / "dead_letters.png"), full_page=True)
    assert page.locator(".load-error").count() == 0, page.locator(".load-error").all_inner_texts()
    assert page.locator("#dl-rows tr").count() >= 1
