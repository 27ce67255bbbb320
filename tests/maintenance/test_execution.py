"""Doing the work: checklist results and follow-ups, parts from inventory, labour, downtime links."""

from __future__ import annotations

import pytest

from ifactory.core.errors import Conflict, InvalidInput
from ifactory.inventory import service as inventory
from ifactory.maintenance import execution, service
from ifactory.platform import Platform
from ifactory.production.models import DowntimeEvent

from .conftest import T0, machine_id, stock
from .test_service import PAUL, TOM, _move

S = 1_000_000


def _started(platform: Platform, title: str = "Quarterly inspection of press 1") -> int:
    with platform.db.session() as s:
        wo = service.create_work_order(
            s,
            machine_id=machine_id(platform, "press1"),
            type="inspection",
            title=title,
            actor=PAUL,
            state="scheduled",
            due_us=T0,
            now_us=T0,
        )
        wo_id = wo.id
    return wo_id


def test_a_failed_checklist_item_raises_one_linked_follow_up(platform: Platform) -> None:
    wo_id = _started(platform)
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        check = execution.add_task(s, work_order=wo, description="Guard interlock", actor=PAUL).id
        gap = execution.add_task(
            s,
            work_order=wo,
            description="Ram gib clearance",
            kind="measurement",
            unit="mm",
            lower=0.02,
            upper=0.08,
            actor=PAUL,
        ).id
    # Results are recorded while the work is in progress.
    with platform.db.session() as s, pytest.raises(Conflict):
        execution.record_result(
            s, task=execution.get_task(s, task_id=check), result="pass", actor=TOM
        )
    _move(platform, wo_id, "in_progress", TOM, T0 + 60 * S)
    with platform.db.session() as s:
        execution.record_result(
            s, task=execution.get_task(s, task_id=check), result="pass", actor=TOM, now_us=T0
        )
        # A measurement outside its limits fails by itself, and a "pass" claim is refused.
        with pytest.raises(InvalidInput, match="fail"):
            execution.record_result(
                s, task=execution.get_task(s, task_id=gap), value=0.13, result="pass", actor=TOM
            )
    with platform.db.session() as s:
        task = execution.record_result(
            s,
            task=execution.get_task(s, task_id=gap),
            value=0.13,
            note="worn gib plate",
            follow_up=True,
            actor=TOM,
            now_us=T0 + 120 * S,
        )
        assert (task.result, task.done_by) == ("fail", "tom")
        follow_id = task.follow_up_id
        assert follow_id is not None
        follow = service.get_work_order(s, work_order_id=follow_id)
        assert (follow.type, follow.state, follow.parent_id, follow.machine_id) == (
            "corrective",
            "requested",
            wo_id,
            machine_id(platform, "press1"),
        )
        assert "Ram gib clearance" in follow.title and "0.13 mm" in follow.description
        assert follow.evidence is not None and follow.evidence["task_id"] == gap
        # Raising it again gives the same follow-up, not a second one.
        again = execution.raise_follow_up(s, task=execution.get_task(s, task_id=gap), actor=TOM)
        assert again.id == follow_id
        _rows, total = service.get_all(s, filters=service.WorkOrderFilter(parent_id=wo_id))
        assert total == 1
        # A passed item raises nothing.
        with pytest.raises(Conflict):
            execution.raise_follow_up(s, task=execution.get_task(s, task_id=check), actor=TOM)


def test_parts_come_from_inventory_and_out_of_stock_is_a_conflict(platform: Platform) -> None:
    seal_kit = stock(platform, part_number="HP-SEAL-KIT", on_hand=1, unit_cost=240.0)
    wo_id = _started(platform, "Hydraulic pump leaking")
    other_id = _started(platform, "Second pump leaking")
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        line = execution.issue_part(s, work_order=wo, part_id=seal_kit, quantity=1, actor=TOM)
        assert (line.quantity, line.unit_cost, line.movement_id is not None) == (1.0, 240.0, True)
        assert inventory.on_hand(s, part_id=seal_kit) == 0
    # The last kit is gone: a second issue is refused, and nothing is written for it.
    with platform.db.session() as s:
        other = service.get_work_order(s, work_order_id=other_id)
        with pytest.raises(Conflict, match="cannot issue 1 pc of HP-SEAL-KIT") as err:
            execution.issue_part(s, work_order=other, part_id=seal_kit, quantity=1, actor=TOM)
        assert err.value.code == "insufficient_stock"
    with platform.db.session() as s:
        assert execution.get_parts(s, work_order_id=other_id) == []
        # With an explicit, recorded override it goes through (the ledger goes negative).
        other = service.get_work_order(s, work_order_id=other_id)
        line = execution.issue_part(
            s,
            work_order=other,
            part_id=seal_kit,
            quantity=1,
            override=True,
            override_reason="kit from the machine builder's van, booked in later",
            actor=TOM,
        )
        assert line.override is True and "van" in line.override_reason
        assert inventory.on_hand(s, part_id=seal_kit) == -1


def test_reservations_are_released_when_the_work_order_is_cancelled(platform: Platform) -> None:
    bearing = stock(platform, part_number="BRG-23152", on_hand=2, unit_cost=410.0)
    wo_id = _started(platform, "Replace flywheel bearing")
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        execution.reserve_part(s, work_order=wo, part_id=bearing, quantity=2, actor=PAUL)
        assert inventory.available(s, part_id=bearing) == 0
    _move(platform, wo_id, "cancelled", PAUL, T0 + S, comment="bearing replaced under warranty")
    with platform.db.session() as s:
        assert inventory.available(s, part_id=bearing) == 2
        states = [r.state for r in execution.get_reservations(s, work_order_id=wo_id)]
    assert states == ["released"]


def test_labour_needs_a_rate_and_parts_need_scheduled_work(platform: Platform) -> None:
    with platform.db.session() as s:
        wo = service.create_work_order(
            s,
            machine_id=machine_id(platform, "imm1"),
            type="corrective",
            title="Nozzle heater band loose",
            actor=PAUL,
            now_us=T0,
        )
        with pytest.raises(Conflict):
            execution.add_labour(s, work_order=wo, username="tom", hours=1, rate=60, actor=TOM)
    _move(platform, wo.id, "scheduled", PAUL, T0 + S, scheduled_start_us=T0 + 3600 * S)
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo.id)
        with pytest.raises(InvalidInput, match="hourly rate"):
            execution.add_labour(s, work_order=wo, username="tom", hours=1, actor=TOM)
        with pytest.raises(InvalidInput, match="24"):
            execution.add_labour(s, work_order=wo, username="tom", hours=30, rate=60, actor=TOM)


def test_downtime_of_the_machine_links_to_the_work_order(platform: Platform) -> None:
    press1 = machine_id(platform, "press1")
    wo_id = _started(platform)
    with platform.db.session() as s:
        event = DowntimeEvent(machine_id=press1, start_us=T0, end_us=T0 + 1800 * S, states="down")
        other = DowntimeEvent(
            machine_id=machine_id(platform, "press2"), start_us=T0, end_us=T0 + 60 * S
        )
        s.add_all([event, other])
        s.flush()
        wo = service.get_work_order(s, work_order_id=wo_id)
        execution.link_downtime(s, work_order=wo, downtime_id=event.id, actor=TOM)
        execution.link_downtime(s, work_order=wo, downtime_id=event.id, actor=TOM)
        with pytest.raises(InvalidInput, match="another machine"):
            execution.link_downtime(s, work_order=wo, downtime_id=other.id, actor=TOM)
        assert service.downtime_s(s, work_order_id=wo_id) == 1800.0
        assert [d.id for d in execution.get_downtime(s, work_order_id=wo_id)] == [event.id]


def test_planned_items_can_be_removed_but_records_stay(platform: Platform) -> None:
    wo_id = _started(platform)
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        keep = execution.add_task(s, work_order=wo, description="Check oil level", actor=PAUL).id
        drop = execution.add_task(s, work_order=wo, description="Typo item", actor=PAUL).id
        locked = execution.add_loto_step(s, work_order=wo, description="Q1 off", actor=PAUL).id
        spare = execution.add_loto_step(s, work_order=wo, description="duplicate", actor=PAUL).id
        execution.confirm_loto_step(s, step=execution.get_loto_step(s, step_id=locked), actor=TOM)
        execution.delete_task(s, task=execution.get_task(s, task_id=drop), actor=PAUL)
        execution.delete_loto_step(s, step=execution.get_loto_step(s, step_id=spare), actor=PAUL)
        with pytest.raises(Conflict, match="release it first"):
            execution.delete_loto_step(
                s, step=execution.get_loto_step(s, step_id=locked), actor=PAUL
            )
    _move(platform, wo_id, "in_progress", TOM, T0 + S)
    with platform.db.session() as s:
        execution.record_result(
            s, task=execution.get_task(s, task_id=keep), result="pass", actor=TOM, now_us=T0
        )
        with pytest.raises(Conflict, match="stays on record"):
            execution.delete_task(s, task=execution.get_task(s, task_id=keep), actor=PAUL)
        assert [t.id for t in execution.get_tasks(s, work_order_id=wo_id)] == [keep]
        assert [x.id for x in execution.get_loto_steps(s, work_order_id=wo_id)] == [locked]
