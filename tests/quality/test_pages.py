"""The quality pages render their frame, lists and the data the page scripts need."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ifactory.platform import Platform
from ifactory.quality import genealogy, service


def test_overview_chart_and_trace_pages(client: TestClient, platform: Platform) -> None:
    with platform.db.session() as s:
        plan = service.create_plan(
            s, name="Bore", product_code="P-100", operation="milling", active=True, user="qe"
        )
        char = service.create_characteristic(
            s,
            plan=plan,
            user="qe",
            fields={
                "name": "bore <diameter>",
                "nominal": 25.0,
                "lsl": 24.9,
                "usl": 25.1,
                "sample_size": 1,
                "chart": "imr",
                "rules": ["we1"],
                "baseline_subgroups": 5,
            },
        )
        genealogy.create_lot(s, code="RM-1", material="bar", user="qe")
        service.place_hold(s, lot_code="RM-1", reason="cracks", ncr_id=None, user="qe")
        char_id = char.id
    page = client.get("/quality")
    assert page.status_code == 200
    assert "bore &lt;diameter&gt;" in page.text  # escaped, not markup
    assert 'href="/quality/lots/RM-1"' in page.text and "cracks" in page.text
    chart = client.get(f"/quality/characteristics/{char_id}")
    assert chart.status_code == 200 and "quality-chart.js" in chart.text and "uPlot" in chart.text
    trace = client.get("/quality/lots/RM-1?direction=forward")
    assert trace.status_code == 200 and '"direction": "forward"' in trace.text
    assert client.get("/quality/lots").status_code == 200
    assert client.get("/quality/lots/NOPE").status_code == 404
    assert client.get("/quality/characteristics/999").status_code == 404
