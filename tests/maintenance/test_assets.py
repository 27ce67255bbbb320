"""Serialised assets: installation history across machines, swaps at a position, spare parts."""

from __future__ import annotations

import pytest

from ifactory.core.errors import Conflict, InvalidInput
from ifactory.maintenance import assets
from ifactory.platform import Platform

from .conftest import T0, machine_id, stock

DAY = 86_400_000_000


def _spindle(platform: Platform, code: str) -> int:
    with platform.db.session() as s:
        return assets.create_asset(
            s,
            fields={
                "code": code,
                "name": "Main spindle",
                "kind": "spindle",
                "criticality": "A",
                "manufacturer": "GMN",
                "model": "HCS 170",
                "serial_number": f"GMN-{code}",
                "purchased_on": "2023-01-10",
            },
            actor="paul",
        ).id


def test_a_swapped_asset_keeps_its_history_across_machines(platform: Platform) -> None:
    cnc1, cnc2 = machine_id(platform, "cnc1"), machine_id(platform, "cnc2")
    a, b = _spindle(platform, "SP-1"), _spindle(platform, "SP-2")
    with platform.db.session() as s:
        assets.install(
            s, asset=assets.get_asset(s, asset_id=a), machine_id=cnc1, position="spindle",
            at_us=T0, actor="tom",
        )  # fmt: skip
        assets.install(
            s, asset=assets.get_asset(s, asset_id=b), machine_id=cnc2, position="spindle",
            at_us=T0, actor="tom",
        )  # fmt: skip
    with platform.db.session() as s, pytest.raises(Conflict, match="SP-2 is installed"):
        assets.install(
            s, asset=assets.get_asset(s, asset_id=a), machine_id=cnc2, position="spindle",
            at_us=T0 + DAY, actor="eva",
        )  # fmt: skip
    # The swap: SP-1 goes into cnc2 replacing SP-2, which goes to the store.
    with platform.db.session() as s:
        assets.install(
            s, asset=assets.get_asset(s, asset_id=a), machine_id=cnc2, position="spindle",
            at_us=T0 + 10 * DAY, replace=True, actor="eva", note="SP-2 bearing noise",
        )  # fmt: skip
    with platform.db.session() as s:
        sp1, sp2 = assets.get_asset(s, asset_id=a), assets.get_asset(s, asset_id=b)
        assert (sp1.machine_id, sp1.status) == (cnc2, "in_service")
        assert (sp2.machine_id, sp2.status) == (None, "in_store")
        history, total = assets.get_installations(s, asset_id=a)
        assert total == 2
        newest, oldest = history
        assert (oldest.machine_id, oldest.installed_by, oldest.removed_by) == (cnc1, "tom", "eva")
        assert oldest.removed_at == newest.installed_at
        assert (newest.machine_id, newest.installed_by, newest.removed_at) == (cnc2, "eva", None)
        replaced, _ = assets.get_installations(s, asset_id=b)
        assert replaced[0].remove_note == "replaced by SP-1" and replaced[0].removed_by == "eva"
        # The machine's history shows both spindles.
        at_cnc2, _ = assets.get_installations(s, machine_id=cnc2)
        assert [i.asset_id for i in at_cnc2] == [a, b]
        # Removing it later closes the stay; removing twice is refused.
        assets.remove(s, asset=sp1, actor="tom", at_us=T0 + 20 * DAY, status="in_repair")
        assert sp1.status == "in_repair" and sp1.machine_id is None
        with pytest.raises(Conflict, match="not installed"):
            assets.remove(s, asset=sp1, actor="tom")


def test_asset_data_is_validated_and_spare_parts_are_listed(platform: Platform) -> None:
    a = _spindle(platform, "SP-9")
    part = stock(platform, part_number="SP-BRG-7014", on_hand=0, unit_cost=182.5)
    with platform.db.session() as s:
        asset = assets.get_asset(s, asset_id=a)
        with pytest.raises(InvalidInput, match="date"):
            assets.update_asset(s, asset=asset, changes={"warranty_until": "31.12.2027"}, actor="p")
        with pytest.raises(Conflict, match="exists"):
            assets.create_asset(s, fields={"code": "SP-9", "name": "dup"}, actor="p")
        line = next(n.id for n in platform.registry.nodes.values() if n.level == "work_center")
        with pytest.raises(InvalidInput, match="not a machine"):
            assets.install(s, asset=asset, machine_id=line, actor="tom")
        assets.set_spare_part(s, asset=asset, part_id=part, quantity=2, actor="p")
        assets.set_spare_part(s, asset=asset, part_id=part, quantity=4, actor="p")
        listed = assets.get_spare_parts(s, asset_id=a)
        assert [(row.quantity, p.part_number) for row, p in listed] == [(4.0, "SP-BRG-7014")]
        doc = assets.add_document(
            s,
            asset=asset,
            title="Manual",
            url="https://example.com/m.pdf",
            kind="manual",
            actor="p",
        )
        assert [d.id for d in assets.get_documents(s, asset_id=a)] == [doc.id]
        with pytest.raises(InvalidInput):
            assets.add_document(
                s, asset=asset, title="x", url="javascript:alert(1)", kind="manual", actor="p"
            )


def test_only_an_asset_without_history_can_be_deleted(platform: Platform) -> None:
    fresh, used = _spindle(platform, "SP-NEW"), _spindle(platform, "SP-OLD")
    with platform.db.session() as s:
        assets.install(
            s, asset=assets.get_asset(s, asset_id=used), machine_id=machine_id(platform, "cnc3"),
            actor="tom",
        )  # fmt: skip
        assets.delete_asset(s, asset=assets.get_asset(s, asset_id=fresh), actor="paul")
        with pytest.raises(Conflict, match="scrap it instead"):
            assets.delete_asset(s, asset=assets.get_asset(s, asset_id=used), actor="paul")
        assert [a.code for a in assets.get_all_assets(s)[0]] == ["SP-OLD"]
