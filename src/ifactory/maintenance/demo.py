"""Demo data for maintenance: crafts, the failure code catalogue, serialised assets in the example
plant's machines (with a swap in their history), and a few work orders in different states.

Seeded once, on a database without crafts, when `ifactory demo` starts. Spare parts come from
the inventory demo when it has seeded them (matched by part number); none are created here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.core.audit import SYSTEM
from ifactory.inventory.models import SparePart
from ifactory.maintenance import assets, catalog, execution, service
from ifactory.maintenance.models import Asset, Craft

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
HOUR_US = 3_600_000_000
USER = "planner"

CRAFTS = [
    ("MECH", "Mechanic", 62.0),
    ("ELEC", "Electrician", 68.0),
    ("HYD", "Hydraulics technician", 66.0),
    ("INST", "Instrumentation technician", 70.0),
]

FAILURE_CODES = {
    "problem": [
        ("VIB", "Excessive vibration"),
        ("NOISE", "Abnormal noise"),
        ("LEAK", "Leak (oil, air, coolant)"),
        ("OVERHEAT", "Overheating"),
        ("TRIP", "Electrical trip"),
        ("NOSTART", "Does not start"),
        ("DIM", "Parts out of tolerance"),
    ],
    "cause": [
        ("WEAR", "Wear / end of life"),
        ("LUBE", "Lubrication missing or degraded"),
        ("MISALIGN", "Misalignment"),
        ("CONTAM", "Contamination"),
        ("SEAL", "Seal failure"),
        ("ELEC", "Electrical fault"),
        ("OPER", "Operating error"),
    ],
    "remedy": [
        ("REPLACE", "Replace component"),
        ("REPAIR", "Repair component"),
        ("ADJUST", "Adjust / realign"),
        ("LUBRICATE", "Lubricate"),
        ("CLEAN", "Clean"),
        ("RESET", "Reset and test"),
    ],
}

# (code, name, kind, criticality, manufacturer, model, serial, machine, position, parts)
ASSETS = [
    ("SP-1001", "Main spindle 24k rpm", "spindle", "A", "GMN", "HCS 170-24000/22", "GMN-77120",
     "cnc1", "spindle", ["SP-BRG-7014"]),
    ("SP-1002", "Main spindle 24k rpm", "spindle", "A", "GMN", "HCS 170-24000/22", "GMN-77342",
     "cnc2", "spindle", ["SP-BRG-7014"]),
    ("SP-1003", "Main spindle 18k rpm", "spindle", "A", "Kessler", "DMS 100", "KS-40917",
     "cnc3", "spindle", ["SP-BRG-7014", "SPN-HSK63-12K"]),
    ("SP-1004", "Main spindle 24k rpm (spare, reconditioned)", "spindle", "A", "GMN",
     "HCS 170-24000/22", "GMN-70155", None, "", ["SP-BRG-7014"]),
    ("HP-2001", "Main hydraulic pump", "hydraulic_pump", "A", "Bosch Rexroth", "A10VSO 71",
     "R902-1180", "press1", "hydraulic pump", ["HP-SEAL-KIT", "FLT-HYD-0160R010"]),
    ("HP-2002", "Main hydraulic pump", "hydraulic_pump", "A", "Bosch Rexroth", "A10VSO 45",
     "R902-1410", "press2", "hydraulic pump", ["HP-SEAL-KIT", "FLT-HYD-0160R010"]),
    ("HP-2003", "Clamp hydraulic pump", "hydraulic_pump", "B", "Parker", "PV046", "PK-88310",
     "imm1", "hydraulic pump", ["HP-SEAL-KIT"]),
    ("BR-3001", "Flywheel bearing", "bearing", "B", "SKF", "23152 CC/W33", "SKF-5520",
     "press1", "flywheel bearing", ["GRS-LGEP2"]),
    ("MO-4001", "Compressor drive motor 55 kW", "motor", "A", "Siemens", "1LE1003-2CB", "SIE-90311",
     "compressor1", "drive motor", ["BLT-SPA-1250", "FLT-AIR-CMP"]),
]  # fmt: skip


def _machines(platform: Platform) -> dict[str, int]:
    return {n.key.rsplit("/", 1)[-1]: n.id for n in platform.registry.machines()}


def seed(platform: Platform) -> int:
    """Crafts, failure codes, assets and sample work orders; nothing if crafts exist already."""
    machines = _machines(platform)
    now = platform.clock.now_us()
    with platform.db.session() as session:
        if session.scalar(select(Craft.code).limit(1)) is not None:
            return 0
        for code, name, rate in CRAFTS:
            catalog.create_craft(session, code=code, name=name, hourly_rate=rate, actor=USER)
        for kind, codes in FAILURE_CODES.items():
            for code, name in codes:
                catalog.create_failure_code(session, kind=kind, code=code, name=name, actor=USER)
        parts = {p.part_number: p.id for p in session.scalars(select(SparePart)).all()}
        made: dict[str, Asset] = {}
        for row in ASSETS:
            code, name, kind, crit, maker, model, serial, machine, position, spare = row
            asset = assets.create_asset(
                session,
                fields={
                    "code": code,
                    "name": name,
                    "kind": kind,
                    "criticality": crit,
                    "manufacturer": maker,
                    "model": model,
                    "serial_number": serial,
                    "purchased_on": "2022-05-16",
                },
                actor=USER,
            )
            made[code] = asset
            assets.add_document(
                session,
                asset=asset,
                title=f"{maker} {model} operating manual",
                url=f"https://example.com/manuals/{maker.lower().replace(' ', '-')}/{model}",
                kind="manual",
                actor=USER,
            )
            for part_number in spare:
                if part_number in parts:
                    assets.set_spare_part(
                        session, asset=asset, part_id=parts[part_number], quantity=1, actor=USER
                    )
            if machine is not None and machine in machines:
                assets.install(
                    session,
                    asset=asset,
                    machine_id=machines[machine],
                    position=position,
                    at_us=now - 400 * 24 * HOUR_US,
                    actor="tech",
                )
        # History of a swap: the spare spindle ran in cnc2 for a while before SP-1002 came back.
        if "cnc2" in machines and "cnc1" in machines:
            spare_spindle, back = made["SP-1004"], made["SP-1002"]
            assets.install(
                session,
                asset=spare_spindle,
                machine_id=machines["cnc2"],
                position="spindle",
                replace=True,
                at_us=now - 120 * 24 * HOUR_US,
                note="SP-1002 out for bearing replacement",
                actor="tech",
            )
            assets.install(
                session,
                asset=back,
                machine_id=machines["cnc2"],
                position="spindle",
                replace=True,
                at_us=now - 90 * 24 * HOUR_US,
                note="SP-1002 back from reconditioning",
                actor="tech",
            )
        _work_orders(session, machines, made, now)
    log.info("seeded maintenance demo data (%d assets)", len(ASSETS))
    return len(ASSETS)


def _work_orders(
    session: Session, machines: dict[str, int], made: dict[str, Asset], now: int
) -> None:
    if "press2" in machines:
        wo = service.create_work_order(
            session,
            machine_id=machines["press2"],
            type="inspection",
            title="Quarterly safety inspection of press guards and light curtains",
            priority="high",
            actor=USER,
            due_us=now + 48 * HOUR_US,
            state="scheduled",
            now_us=now,
            craft_code="ELEC",
            estimated_hours=2.0,
        )
        for text in (
            "Light curtain stops the ram within the safety distance",
            "Two-hand control: both buttons needed within 0.5 s",
            "Guard interlocks open the safety circuit",
        ):
            execution.add_task(session, work_order=wo, description=text, actor=USER)
        execution.add_task(
            session,
            work_order=wo,
            description="Stopping time at top dead centre",
            kind="measurement",
            unit="ms",
            upper=180.0,
            actor=USER,
        )
        execution.add_loto_step(
            session,
            work_order=wo,
            description="Main switch Q1 in cabinet E-P2 off, padlock and tag",
            energy_source="electrical",
            actor=USER,
        )
        execution.add_loto_step(
            session,
            work_order=wo,
            description="Hydraulic accumulator discharged, valve V3 locked open",
            energy_source="hydraulic",
            actor=USER,
        )
    if "cnc3" in machines:
        service.create_work_order(
            session,
            machine_id=machines["cnc3"],
            type="improvement",
            title="Fit chip conveyor guard extension",
            description="Chips fall beside the conveyor at the rear; extend the guard by 200 mm.",
            priority="low",
            actor="olga",
            now_us=now,
        )
    if "compressor1" in machines:
        service.create_work_order(
            session,
            machine_id=machines["compressor1"],
            asset_id=made["MO-4001"].id if "MO-4001" in made else None,
            type="predictive",
            title="Drive motor bearing temperature trending up: plan bearing change",
            priority="medium",
            actor=SYSTEM,
            state="approved",
            now_us=now,
            craft_code="MECH",
        )
