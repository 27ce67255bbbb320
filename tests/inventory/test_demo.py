"""The demo stores: parts with opening stock, once, and a requisition for what starts low."""

from __future__ import annotations

from ifactory.inventory import demo, service
from ifactory.platform import Platform


def test_demo_seeds_parts_locations_and_opening_stock_once(platform: Platform) -> None:
    ids = demo.seed(platform)
    assert len(ids) == len(demo.PARTS) and len(ids) >= 12
    assert demo.seed(platform) == ids  # a second start adds nothing
    with platform.db.session() as s:
        assert len(service.get_all_locations(s)) == len(demo.LOCATIONS)
        for p in demo.PARTS:
            assert service.on_hand(s, part_id=ids[p.part_number]) == p.opening
            _, count = service.get_ledger(s, part_id=ids[p.part_number])
            assert count == 1
        below = [p.part_number for p in demo.PARTS if p.opening < p.reorder_point]
        requisitions, total = service.get_requisitions(s)
        assert total == len(below) == 1
        assert requisitions[0].part_id == ids["INS-APMT-1604"]
        assert requisitions[0].quantity == 120.0  # up to the maximum of 150
