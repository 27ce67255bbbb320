"""The pages render the plant from the registry, without a running platform or a browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifactory.plant.registry import PlantRegistry
from ifactory.web import pages, views

from .conftest import PagePlatform

WEB = Path(pages.__file__).resolve().parent
CNC1 = "acme/springfield/machining/machining_line/cnc1"


@pytest.fixture
def client(page_platform: PagePlatform) -> TestClient:
    app = FastAPI()
    app.state.platform = page_platform
    pages.mount(app)
    return TestClient(app)


def _page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert match, "the page embeds its data for the scripts"
    return json.loads(match.group(1))


def test_overview_shows_every_machine_with_its_state(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    cards = re.findall(r'<article class="machine-card"[^>]*data-state="(\w+)"', r.text)
    assert len(cards) == 13
    assert cards.count("down") == 1 and cards.count("executing") == 12
    # The state is written out, not only coloured.
    assert ">Down</span>" in r.text and ">Executing</span>" in r.text
    assert "Air Compressor 1" in r.text and "utility" in r.text
    # Monday 10:00 site time is inside the early shift.
    assert r.text.count('data-planned="yes"') == 13


def test_overview_summary_counts_states(client: TestClient) -> None:
    r = client.get("/")
    assert re.search(r'data-count="down">1<', r.text)
    assert re.search(r'data-count="executing">12<', r.text)


def test_overview_cards_carry_key_values_with_metadata(client: TestClient) -> None:
    html = client.get("/").text
    data = _page_data(html)
    ids = {int(i) for i in re.findall(r'class="value [^"]*" data-tag-id="(\d+)"', html)}
    assert ids and ids <= {int(k) for k in data["tags"]}
    vib = next(t for t in data["tags"].values() if t["key"] == f"{CNC1}/vibration_rms")
    assert vib["unit"] == "mm/s" and vib["limits"]["alarm_high"] == 7.1
    temp = next(t for t in data["tags"].values() if t["key"] == f"{CNC1}/bearing_temp")
    assert temp["unit"] == "°C"


def test_machine_page_lists_every_tag_and_chart_choices(
    client: TestClient, example_registry: PlantRegistry
) -> None:
    r = client.get(f"/machines/{CNC1}")
    assert r.status_code == 200
    node = example_registry.nodes_by_key[CNC1]
    tags = example_registry.machine_tags(node.id)
    assert len(re.findall(r"<tr data-row-tag-id=", r.text)) == len(tags)
    data = _page_data(r.text)
    assert data["machine"]["key"] == CNC1
    names = {t["id"]: t["name"] for t in data["tags"]}
    assert [names[i] for i in data["trend_default"]] == [
        "spindle_speed",
        "vibration_rms",
        "bearing_temp",
    ]
    assert "alarm &gt; 7.1" in r.text
    assert 'id="timeline"' in r.text and 'id="trend"' in r.text
    assert "/static/vendor/uplot/uPlot.iife.min.js" in r.text


def test_unknown_machine_is_a_404_page(client: TestClient) -> None:
    r = client.get("/machines/acme/nowhere/cnc9")
    assert r.status_code == 404
    assert "There is no machine" in r.text
    line = client.get("/machines/acme/springfield/machining/machining_line")
    assert line.status_code == 404
    assert "Machining Line 1 is a production line" in line.text


def test_text_from_the_plant_model_is_escaped(
    page_platform: PagePlatform, client: TestClient
) -> None:
    node = page_platform.registry.nodes_by_key[CNC1]
    node.name = "<script>alert(1)</script>"
    html = client.get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dead_letters_page_and_static_assets(client: TestClient) -> None:
    assert client.get("/dead-letters").status_code == 200
    for path in (
        "app.css",
        "app.js",
        "overview.js",
        "machine.js",
        "dead-letters.js",
        "vendor/uplot/uPlot.iife.min.js",
        "vendor/uplot/uPlot.min.css",
        "vendor/uplot/LICENSE",
    ):
        assert client.get(f"/static/{path}").status_code == 200, path


def test_nav_offers_login_with_the_way_back(client: TestClient) -> None:
    html = client.get(f"/machines/{CNC1}").text
    assert 'href="/login?next=/machines/acme/springfield/machining/machining_line/cnc1"' in html


def test_pages_load_nothing_from_other_hosts() -> None:
    """The plant network has no internet: no CDN, no web font, no external script."""
    external = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.I)
    for path in [
        *WEB.glob("templates/*.html"),
        *WEB.glob("static/*.js"),
        *WEB.glob("static/*.css"),
    ]:
        text = path.read_text(encoding="utf-8")
        assert not external.search(text), path.name
        assert "@import" not in text and "url(http" not in text, path.name


def test_key_tags_pick_condition_signals(example_registry: PlantRegistry) -> None:
    def names(key: str) -> list[str]:
        node = example_registry.nodes_by_key[key]
        return [t.name for t in views.key_tags(example_registry.machine_tags(node.id))]

    assert names(CNC1) == [
        "vibration_rms",
        "bearing_temp",
        "motor_current",
        "cycle_count",
        "dimension",
    ]
    assert names("acme/springfield/utilities/compressor1") == [
        "discharge_pressure",
        "outlet_temp",
        "vibration_rms",
        "motor_current",
    ]
    for machine in example_registry.machines():
        assert 3 <= len(views.key_tags(example_registry.machine_tags(machine.id))) <= 5


def test_units_and_labels_read_as_people_write_them() -> None:
    assert views.unit_symbol("degC") == "°C"
    assert views.unit_symbol("N*m") == "N·m"
    assert views.unit_symbol("") == ""
    assert views.tag_label("vibration_rms") == "Vibration RMS"
    assert views.tag_label("oil_temp") == "Oil temp"
