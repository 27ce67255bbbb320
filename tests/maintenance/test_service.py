"""Work order service: lifecycle with role rules and who/when, gates, idempotent creation, cost."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from ifactory.auth.principal import Principal
from ifactory.auth.roles import Role
from ifactory.core.errors import Conflict, InvalidInput, PermissionDenied
from ifactory.core.outbox import OutboxRecord
from ifactory.maintenance import catalog, execution, service
from ifactory.maintenance.models import WorkOrder
from ifactory.platform import Platform

from .conftest import T0, machine_id, stock

S = 1_000_000


def person(name: str, *roles: str) -> Principal:
    return Principal(username=name, roles=frozenset(Role(r) for r in roles))


OLGA = person("olga", "operator")
PAUL = person("paul", "planner")
TOM = person("tom", "technician")
MARA = person("mara", "manager")


def _request(platform: Platform, **extra: object) -> int:
    with platform.db.session() as s:
        wo = service.create_work_order(
            s,
            machine_id=machine_id(platform, "cnc1"),
            type="corrective",
            title="Spindle noisy at high speed",
            actor=OLGA,
            now_us=T0,
            **extra,  # type: ignore[arg-type]
        )
        return wo.id


def _move(platform: Platform, wo_id: int, to: str, who: Principal, at: int, **kw: object) -> None:
    with platform.db.session() as s:
        service.transition(s, work_order_id=wo_id, to=to, actor=who, now_us=at, **kw)  # type: ignore[arg-type]


def test_lifecycle_follows_role_rules_and_records_who_and_when(platform: Platform) -> None:
    wo_id = _request(platform)
    # An operator requests but may not approve; a technician may not approve either.
    for who in (OLGA, TOM):
        with pytest.raises(PermissionDenied, match="manager, planner"):
            _move(platform, wo_id, "approved", who, T0 + S)
    _move(platform, wo_id, "approved", PAUL, T0 + 60 * S)
    # A planner schedules (the start comes with the move), a technician may not.
    with pytest.raises(PermissionDenied):
        _move(platform, wo_id, "scheduled", TOM, T0 + 70 * S, scheduled_start_us=T0 + 3600 * S)
    _move(platform, wo_id, "scheduled", PAUL, T0 + 120 * S, scheduled_start_us=T0 + 3600 * S)
    # Only technicians execute: the planner cannot start the work.
    with pytest.raises(PermissionDenied, match="technician"):
        _move(platform, wo_id, "in_progress", PAUL, T0 + 3600 * S)
    _move(platform, wo_id, "in_progress", TOM, T0 + 3600 * S)
    with pytest.raises(InvalidInput, match="say why"):
        _move(platform, wo_id, "on_hold", TOM, T0 + 3700 * S)
    _move(platform, wo_id, "on_hold", TOM, T0 + 3700 * S, comment="waiting for bearing")
    _move(platform, wo_id, "in_progress", TOM, T0 + 7200 * S)
    _move(platform, wo_id, "completed", TOM, T0 + 9000 * S)
    # The technician cannot close his own work; the manager can.
    with pytest.raises(PermissionDenied):
        _move(platform, wo_id, "closed", TOM, T0 + 9100 * S)
    _move(platform, wo_id, "closed", MARA, T0 + 9200 * S)
    with pytest.raises(Conflict, match="cannot go from closed"):
        _move(platform, wo_id, "in_progress", MARA, T0 + 9300 * S)

    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        history = [
            (t.from_state, t.to_state, t.username, t.at_us, t.comment)
            for t in service.get_transitions(s, work_order_id=wo_id)
        ]
        assert (wo.state, wo.started_us, wo.completed_us, wo.closed_us) == (
            "closed",
            T0 + 3600 * S,
            T0 + 9000 * S,
            T0 + 9200 * S,
        )
        events = s.scalars(
            select(OutboxRecord.type).where(OutboxRecord.type.like("maintenance.%"))
        ).all()
    assert history == [
        (None, "requested", "olga", T0, "created"),
        ("requested", "approved", "paul", T0 + 60 * S, ""),
        ("approved", "scheduled", "paul", T0 + 120 * S, ""),
        ("scheduled", "in_progress", "tom", T0 + 3600 * S, ""),
        ("in_progress", "on_hold", "tom", T0 + 3700 * S, "waiting for bearing"),
        ("on_hold", "in_progress", "tom", T0 + 7200 * S, ""),
        ("in_progress", "completed", "tom", T0 + 9000 * S, ""),
        ("completed", "closed", "mara", T0 + 9200 * S, ""),
    ]
    assert events.count("maintenance.work_order_created") == 1
    assert events.count("maintenance.work_order_state_changed") == 7


def test_admin_may_make_every_move_and_cancel_needs_a_reason(platform: Platform) -> None:
    admin = person("ada", "admin")
    wo_id = _request(platform)
    with pytest.raises(InvalidInput):
        _move(platform, wo_id, "cancelled", admin, T0 + S)
    _move(platform, wo_id, "cancelled", admin, T0 + S, comment="duplicate of MWO-000001")
    with platform.db.session() as s:
        assert service.get_work_order(s, work_order_id=wo_id).state == "cancelled"


def test_work_cannot_start_before_every_lockout_step_is_confirmed(platform: Platform) -> None:
    wo_id = _request(platform, state="scheduled", due_us=T0 + 3600 * S)
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        e1 = execution.add_loto_step(
            s, work_order=wo, description="Main switch Q1 off and locked", actor=PAUL
        ).id
        e2 = execution.add_loto_step(
            s,
            work_order=wo,
            description="Air supply valve V2 closed and bled",
            energy_source="pneumatic",
            actor=PAUL,
        ).id
        execution.confirm_loto_step(
            s, step=execution.get_loto_step(s, step_id=e1), actor=TOM, lock_number="L-17", now_us=T0
        )
    with pytest.raises(Conflict, match="Air supply valve V2") as err:
        _move(platform, wo_id, "in_progress", TOM, T0 + 60 * S)
    assert err.value.code == "loto_not_confirmed"
    with platform.db.session() as s:
        step = execution.get_loto_step(s, step_id=e2)
        execution.confirm_loto_step(s, step=step, actor=TOM, now_us=T0 + 90 * S)
        assert (step.confirmed_by, step.confirmed_at is not None) == ("tom", True)
    _move(platform, wo_id, "in_progress", TOM, T0 + 120 * S)
    # Completing needs the locks taken off again.
    with pytest.raises(Conflict) as err:
        _move(platform, wo_id, "completed", TOM, T0 + 600 * S)
    assert err.value.code == "loto_not_released"
    with platform.db.session() as s:
        for step_id in (e1, e2):
            execution.release_loto_step(
                s, step=execution.get_loto_step(s, step_id=step_id), actor=TOM, now_us=T0 + 700 * S
            )
    _move(platform, wo_id, "completed", TOM, T0 + 720 * S)


def test_completion_needs_every_checklist_item_answered(platform: Platform) -> None:
    wo_id = _request(platform, state="scheduled", due_us=T0)
    with platform.db.session() as s:
        wo = service.get_work_order(s, work_order_id=wo_id)
        task_id = execution.add_task(
            s, work_order=wo, description="Check belt tension", actor=PAUL
        ).id
    _move(platform, wo_id, "in_progress", TOM, T0 + S)
    with pytest.raises(Conflict, match="Check belt tension"):
        _move(platform, wo_id, "completed", TOM, T0 + 2 * S)
    with platform.db.session() as s:
        execution.record_result(
            s, task=execution.get_task(s, task_id=task_id), result="pass", actor=TOM, now_us=T0
        )
    _move(platform, wo_id, "completed", TOM, T0 + 3 * S)


def test_source_key_makes_creation_idempotent(platform: Platform) -> None:
    first = _request(platform, source_key="anomaly:cnc1:42", evidence={"type": "x"})
    again = _request(platform, source_key="anomaly:cnc1:42", evidence={"type": "x"})
    assert first == again
    with platform.db.session() as s:
        n = s.scalar(select(func.count(WorkOrder.id)).where(WorkOrder.source_key.is_not(None)))
        created = s.scalar(
            select(func.count(OutboxRecord.id)).where(
                OutboxRecord.type == "maintenance.work_order_created"
            )
        )
    assert (n, created) == (1, 1)


def test_concurrent_creation_with_one_source_key_makes_one_work_order(platform: Platform) -> None:
    cnc2 = machine_id(platform, "cnc2")
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            with platform.db.session() as s:
                wo = service.create_work_order(
                    s,
                    machine_id=cnc2,
                    type="predictive",
                    title="Vibration above limit for 10 min",
                    actor="automation",
                    source_key="condition:cnc2:vibration:1",
                    now_us=T0,
                )
                ids.append(wo.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1 and len(ids) == 4
    with platform.db.session() as s:
        assert s.scalar(select(func.count(WorkOrder.id))) == 1


def test_bad_input_is_refused_with_a_clear_error(platform: Platform) -> None:
    with platform.db.session() as s:
        line = next(n.id for n in platform.registry.nodes.values() if n.level == "work_center")
        with pytest.raises(InvalidInput, match="not a machine"):
            service.create_work_order(s, machine_id=line, type="corrective", title="x", actor=OLGA)
        with pytest.raises(InvalidInput, match="corrective"):
            service.create_work_order(
                s, machine_id=machine_id(platform, "cnc1"), type="repair", title="x", actor=OLGA
            )
        with pytest.raises(InvalidInput, match="starts as"):
            service.create_work_order(
                s,
                machine_id=machine_id(platform, "cnc1"),
                type="corrective",
                title="x",
                actor=OLGA,
                state="completed",
            )


def test_cost_is_labour_hours_times_rate_plus_parts_quantity_times_unit_cost(
    platform: Platform,
) -> None:
    bearing = stock(platform, part_number="BRG-7014", on_hand=4, unit_cost=182.5)
    grease = stock(platform, part_number="GRS-400", on_hand=10, unit_cost=9.8)
    wo_id = _request(platform, state="scheduled", due_us=T0)
    with platform.db.session() as s:
        catalog.create_craft(s, code="MECH", name="Mechanic", hourly_rate=62.0, actor=PAUL)
        wo = service.get_work_order(s, work_order_id=wo_id)
        execution.add_labour(
            s, work_order=wo, username="tom", hours=2.5, craft_code="MECH", actor=TOM
        )
        execution.add_labour(s, work_order=wo, username="eva", hours=1.0, rate=80.0, actor=TOM)
        execution.issue_part(s, work_order=wo, part_id=bearing, quantity=2, actor=TOM)
        execution.issue_part(s, work_order=wo, part_id=grease, quantity=3, actor=TOM)
        # One grease cartridge comes back unused: credited at the cost it was issued at.
        execution.return_part(s, work_order=wo, part_id=grease, quantity=1, actor=TOM)
        cost = service.cost(s, work_order_id=wo_id)
    assert cost.labour == pytest.approx(2.5 * 62.0 + 1.0 * 80.0)
    assert cost.parts == pytest.approx(2 * 182.5 + 2 * 9.8)
    assert cost.total == pytest.approx(235.0 + 384.6)
    assert cost.hours == pytest.approx(3.5)
