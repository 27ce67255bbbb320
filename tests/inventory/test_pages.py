"""The inventory pages render stock, reorder status, ledger and reservations from the services."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ifactory.inventory import demo, service
from ifactory.platform import Platform


def test_parts_list_and_part_page(client: TestClient, platform: Platform) -> None:
    ids = demo.seed(platform)
    bearing = ids["BRG-6205-2RS"]
    with platform.db.session() as s:
        service.reserve(s, part_id=bearing, quantity=2, work_order_id=4711, actor="planner")
        part = service.get_part(s, part_id=bearing)
        service.update_part(s, part=part, changes={"name": "Bearing <6205>"}, actor="planner")
    page = client.get("/inventory")
    assert page.status_code == 200
    assert "Bearing &lt;6205&gt;" in page.text  # escaped, not markup
    assert page.text.count('class="inv-below"') == 1  # the inserts
    assert "Below reorder point" in page.text
    only_low = client.get("/inventory?reorder=true")
    assert "INS-APMT-1604" in only_low.text and "BRG-6205-2RS" not in only_low.text
    assert "SPN-HSK63" in client.get("/inventory?q=spindle").text
    detail = client.get(f"/inventory/parts/{bearing}")
    assert detail.status_code == 200
    assert "inventory.js" in detail.text and 'id="receipt-form"' in detail.text
    assert "opening stock" in detail.text and "4711" in detail.text
    assert client.get("/inventory/parts/9999").status_code == 404


def test_parts_list_pages_keep_the_filter(
    client: TestClient, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ifactory.web import inventory_pages

    demo.seed(platform)
    with platform.db.session() as s:
        total = service.get_all_parts(s, offset=0, limit=1000)[1]
    monkeypatch.setattr(inventory_pages, "PARTS_PAGE", 2)
    first = client.get("/inventory")
    pages = -(-total // 2)
    assert f"page 1 of {pages}" in first.text
    assert first.text.count('<tr data-status="') == 2
    assert 'href="?page=2"' in first.text
    last = client.get(f"/inventory?page={pages}")
    assert f"page {pages} of {pages}" in last.text and f'href="?page={pages - 1}"' in last.text
    assert last.text.count('<tr data-status="') == total - 2 * (pages - 1)
    # A search keeps its query on the pager links.
    searched = client.get("/inventory?q=-")
    assert "page 1 of" in searched.text and 'href="?q=-&amp;page=2"' in searched.text
