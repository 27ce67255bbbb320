"""The inventory pages render stock, reorder status, ledger and reservations from the services."""

from __future__ import annotations

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
