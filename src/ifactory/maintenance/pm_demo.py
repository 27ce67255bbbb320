"""PM plans for the example plant: what a maintenance planner would set up for its machines.

Calendar plans start a few days before "now" so the calendar shows a rhythm at once without a
flood of catch-up work; meter plans count from now; condition plans watch the tags and the
analytics events. Seeded once, on a database without PM plans, when `ifactory demo` starts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ifactory.maintenance import pm
from ifactory.maintenance.pm_models import PMPlan
from ifactory.maintenance.pm_schemas import PlanCreate

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
DAY_US = 86_400_000_000
USER = "planner"


def _weekly(days: float = 7, mode: str = "fixed") -> dict[str, Any]:
    return {"kind": "calendar", "every": days, "unit": "days", "mode": mode}


def _months(n: int) -> dict[str, Any]:
    return {"kind": "calendar", "every": n, "unit": "months", "mode": "fixed"}


def plans(machines: dict[str, int]) -> list[dict[str, Any]]:
    """The example plant's PM plans (PlanCreate fields; `start_days` ago sets the phase)."""
    out: list[dict[str, Any]] = [
        {
            "name": "CNC mill: weekly lubrication and way-wiper check",
            "equipment_class": "cnc_mill",
            "tasks": [
                "Top up way-lube oil reservoir",
                "Check and clean way wipers",
                {
                    "description": "Coolant concentration",
                    "kind": "measurement",
                    "unit": "%",
                    "lower": 5,
                    "upper": 8,
                },
            ],
            "estimated_hours": 0.75,
            "duration_s": 3600,
            "triggers": [_weekly()],
            "start_days": 5,
        },
        {
            "name": "CNC mill: spindle bearing inspection",
            "equipment_class": "cnc_mill",
            "work_order_type": "inspection",
            "tasks": [
                "Measure spindle runout at 300 mm",
                "Listen for bearing noise at 8 000 rpm",
                {
                    "description": "Spindle bearing temperature after 10 min",
                    "kind": "measurement",
                    "unit": "degC",
                    "upper": 60,
                },
            ],
            "estimated_hours": 2.5,
            "duration_s": 3 * 3600,
            "combine": "any",
            "lead_time_s": 3 * 86_400,
            "triggers": [
                _months(3),
                {"kind": "meter", "meter": "run_hours", "mode": "every", "value": 500},
            ],
            "start_days": 80,
        },
        {
            "name": "CNC mill: vibration high, inspect spindle",
            "equipment_class": "cnc_mill",
            "work_order_type": "predictive",
            "priority": "high",
            "tasks": ["Check tool holder and clamping", "Measure spindle vibration spectrum"],
            "estimated_hours": 1.5,
            "duration_s": 2 * 3600,
            "triggers": [
                {
                    "kind": "condition",
                    "tag_name": "vibration_rms",
                    "operator": "above",
                    "limit": 7.1,
                    "duration_s": 600,
                },
            ],
        },
        {
            "name": "Anomaly detected: inspect machine",
            "equipment_class": "cnc_mill",
            "work_order_type": "predictive",
            "priority": "high",
            "tasks": ["Review the anomaly's historian window", "Inspect the machine"],
            "estimated_hours": 1.0,
            "duration_s": 3600,
            "triggers": [{"kind": "condition", "event_type": "anomaly.detected"}],
        },
        {
            "name": "Press: hydraulic oil filter change",
            "equipment_class": "press",
            "tasks": ["Replace return-line filter element", "Take oil sample for analysis"],
            "estimated_hours": 1.5,
            "duration_s": 2 * 3600,
            "lead_time_s": 2 * 86_400,
            "triggers": [{"kind": "meter", "meter": "cycles", "mode": "every", "value": 100_000}],
        },
        {
            # Every third monthly test is done by the quarterly inspection: skip it.
            "name": "Press: monthly guard and light-curtain test",
            "equipment_class": "press",
            "work_order_type": "inspection",
            "tasks": ["Light-curtain stop test", "Two-hand control test", "Guard interlocks"],
            "estimated_hours": 0.5,
            "duration_s": 1800,
            "skip_every": 3,
            "triggers": [_months(1)],
            "start_days": 25,
        },
        {
            "name": "Press: quarterly safety inspection",
            "equipment_class": "press",
            "work_order_type": "inspection",
            "tasks": ["Full safety inspection per checklist SI-7", "Stopping-time measurement"],
            "estimated_hours": 3.0,
            "duration_s": 4 * 3600,
            "triggers": [_months(3)],
            "start_days": 85,
        },
        {
            "name": "Press failure predicted: plan the repair",
            "equipment_class": "press",
            "work_order_type": "predictive",
            "priority": "high",
            "estimated_hours": 2.0,
            "triggers": [{"kind": "condition", "event_type": "prognostics.failure_predicted"}],
        },
        {
            "name": "Injection moulder: heater band and thermocouple check",
            "equipment_class": "injection_moulder",
            "tasks": ["Check heater band currents", "Compare thermocouples with reference probe"],
            "estimated_hours": 1.0,
            "duration_s": 3600,
            "triggers": [_weekly(14, "floating")],
            "start_days": 10,
        },
        {
            "name": "Flow wrapper: clean sealing jaws",
            "equipment_class": "packaging_machine",
            "estimated_hours": 0.5,
            "duration_s": 1800,
            "combine": "any",
            "triggers": [
                _weekly(),
                {"kind": "meter", "meter": "cycles", "mode": "every", "value": 50_000},
            ],
            "start_days": 3,
        },
        {
            "name": "Compressor: 4 000 h service (oil, filters, separator)",
            "machine": "compressor1",
            "tasks": ["Change compressor oil", "Replace oil and air filters", "Replace separator"],
            "estimated_hours": 4.0,
            "duration_s": 5 * 3600,
            "lead_time_s": 7 * 86_400,
            "triggers": [
                {
                    "kind": "meter",
                    "meter": "tag",
                    "tag_name": "run_hours",
                    "mode": "every",
                    "value": 4000,
                }
            ],
        },
        {
            "name": "Compressor: outlet temperature high, check cooler",
            "machine": "compressor1",
            "work_order_type": "predictive",
            "priority": "high",
            "estimated_hours": 1.0,
            "triggers": [
                {
                    "kind": "condition",
                    "tag_name": "outlet_temp",
                    "operator": "above",
                    "limit": 100,
                    "duration_s": 600,
                },
            ],
        },
        {
            "name": "Robot cell: 2 000 h service (grease axes, check cables)",
            "machine": "weld_cell",
            "tasks": ["Grease axes 1-6", "Inspect dress pack and cables", "Back up controller"],
            "estimated_hours": 3.0,
            "duration_s": 4 * 3600,
            "lead_time_s": 5 * 86_400,
            "triggers": [{"kind": "meter", "meter": "run_hours", "mode": "every", "value": 2000}],
        },
        {
            "name": "Press 3 (retrofit): hydraulic oil filter change",
            "machine": "press3",
            "estimated_hours": 1.5,
            "duration_s": 2 * 3600,
            "triggers": [{"kind": "meter", "meter": "cycles", "mode": "every", "value": 80_000}],
        },
        {
            # Press 3 has no equipment class in the plant model, so the class plan above does not
            # cover it; its failures are predicted all the same (its class is read from its tags).
            "name": "Press 3 (retrofit) failure predicted: plan the repair",
            "machine": "press3",
            "work_order_type": "predictive",
            "priority": "high",
            "estimated_hours": 2.0,
            "triggers": [{"kind": "condition", "event_type": "prognostics.failure_predicted"}],
        },
    ]
    return [p for p in out if "machine" not in p or p["machine"] in machines]


def seed(platform: Platform) -> int:
    """Create the example plant's PM plans; nothing if any PM plan exists."""
    machines = {n.key.rsplit("/", 1)[-1]: n.id for n in platform.registry.machines()}
    now = platform.clock.now_us()
    made = 0
    with platform.db.session() as session:
        if session.scalar(select(PMPlan.id).limit(1)) is not None:
            return 0
        for spec in plans(machines):
            fields = dict(spec)
            start_days = fields.pop("start_days", 0)
            machine = fields.pop("machine", None)
            if machine is not None:
                fields["machine_id"] = machines[machine]
            fields["start_us"] = now - int(start_days * DAY_US)
            body = PlanCreate.model_validate(fields)
            pm.create_plan(
                session,
                fields=body.model_dump(),
                user=USER,
                now_us=now,
                registry=platform.registry,
            )
            made += 1
    log.info("seeded %d PM plans for the example plant", made)
    return made
