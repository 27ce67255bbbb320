"""Checklist items and lockout/tagout steps are numbered per work order, each list on its own."""

from __future__ import annotations

from ifactory.maintenance import execution, service
from ifactory.platform import Platform

from .test_execution import _started
from .test_service import PAUL


def test_items_and_steps_count_from_one_per_list_and_follow_the_last(platform: Platform) -> None:
    first, other = _started(platform, "Inspection A"), _started(platform, "Inspection B")
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=first)
        for text in ("Guard interlock", "Oil level", "Ram gib clearance"):
            execution.add_task(s, work_order=wo, description=text, actor=PAUL)
        execution.add_loto_step(s, work_order=wo, description="Main isolator", actor=PAUL)
        execution.add_loto_step(
            s, work_order=wo, description="Accumulator", energy_source="hydraulic", actor=PAUL
        )
        execution.add_task(
            s,
            work_order=service.get_work_order(s, work_order_id=other),
            description="Belt",
            actor=PAUL,
        )
    with platform.db.session() as s:
        tasks = execution.get_tasks(s, work_order_id=first)
        assert [(t.position, t.description) for t in tasks] == [
            (1, "Guard interlock"),
            (2, "Oil level"),
            (3, "Ram gib clearance"),
        ]
        steps = execution.get_loto_steps(s, work_order_id=first)
        assert [(p.position, p.description) for p in steps] == [
            (1, "Main isolator"),
            (2, "Accumulator"),
        ]
        assert [t.position for t in execution.get_tasks(s, work_order_id=other)] == [1]
        # The next number follows the last one on the list: a gap in the middle stays a gap,
        # and removing the last one frees its number.
        execution.delete_task(s, task=tasks[1], actor=PAUL)
        wo = service.get_work_order(s, work_order_id=first)
        added = execution.add_task(s, work_order=wo, description="Lubrication", actor=PAUL)
        assert added.position == 4
        execution.delete_loto_step(s, step=steps[1], actor=PAUL)
        again = execution.add_loto_step(s, work_order=wo, description="Air supply", actor=PAUL)
        assert again.position == 2
