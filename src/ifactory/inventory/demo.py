"""Demo data for inventory: the maintenance stores of the example plant.

Storage locations (the main maintenance store and a line-side cabinet at the machining line),
the spare parts the plant's machines need (bearings, a spindle cartridge, belts, filters, seals,
a hydraulic pump, tool inserts, lubricants) with realistic planning parameters, and opening
receipts as the first ledger entries. The milling inserts start below their reorder point, so
the demo shows a purchase requisition (and its event) from the first minute.

The maintenance demo links its assets' spare-part lists by part number (SP-BRG-7014 for the
spindles, HP-SEAL-KIT for the hydraulic pumps), so keep those numbers stable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from ifactory.core.clock import to_datetime
from ifactory.inventory import service
from ifactory.inventory.models import SparePart

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
STORES = "stores"  # the actor of the opening receipts

# code, store, bin, description
LOCATIONS: list[tuple[str, str, str, str]] = [
    ("MS-A-01", "Main maintenance store", "A-01", "Rolling bearings"),
    ("MS-A-02", "Main maintenance store", "A-02", "Belts and chains"),
    ("MS-B-01", "Main maintenance store", "B-01", "Filters"),
    ("MS-B-02", "Main maintenance store", "B-02", "Seals and seal kits"),
    ("MS-C-01", "Main maintenance store", "C-01", "Hydraulic components (heavy shelf)"),
    ("MS-C-02", "Main maintenance store", "C-02", "Spindles (climate-controlled cabinet)"),
    ("MS-D-01", "Main maintenance store", "D-01", "Lubricants"),
    ("LS-L1-01", "Line 1 line-side cabinet", "01", "Tooling at the machining line"),
]


@dataclass(frozen=True)
class DemoPart:
    """A spare part of the demo and its opening stock."""

    part_number: str
    name: str
    unit: str
    unit_cost: float
    manufacturer: str
    manufacturer_part_number: str
    min_stock: float
    reorder_point: float
    max_stock: float
    lead_time_days: int
    location: str
    opening: float
    description: str = ""


PARTS: list[DemoPart] = [
    DemoPart("BRG-6205-2RS", "Deep groove ball bearing 6205-2RS C3", "pc", 9.80, "SKF",
             "6205-2RSH/C3", 4, 8, 20, 5, "MS-A-01", 14,
             "Conveyor rollers, packaging machine drives, fan motors"),
    DemoPart("SP-BRG-7014", "Spindle bearing set 7014 ACD/P4A, matched pair", "set", 1480.0,
             "SKF", "7014 ACD/P4ADGA", 1, 2, 4, 42, "MS-A-01", 3,
             "Front bearing set of the CNC mills' motor spindle"),
    DemoPart("SPN-HSK63-12K", "Motor spindle cartridge HSK-A63, 12 000 rpm", "pc", 18500.0,
             "Kessler", "DMS 120.17.HSK63", 0, 1, 1, 70, "MS-C-02", 1,
             "Exchange spindle for the 3-axis machining centres (CNC mills)"),
    DemoPart("BLT-SPA-1250", "V-belt SPA 1250 Lw", "pc", 14.60, "Optibelt", "SK SPA 1250",
             4, 6, 16, 7, "MS-A-02", 10, "Compressor and press flywheel drives (sets of 4)"),
    DemoPart("BLT-HTD-1200-8M-30", "Timing belt HTD 1200-8M, 30 mm", "pc", 48.20, "Gates",
             "1200-8MGT-30", 2, 3, 8, 10, "MS-A-02", 5, "Robot cell axis 7 track drive"),
    DemoPart("FLT-HYD-0160R010", "Hydraulic return filter element 10 µm", "pc", 42.0, "HYDAC",
             "0160 R 010 BN4HC", 3, 5, 12, 14, "MS-B-01", 8,
             "Stamping press and injection moulder hydraulic units"),
    DemoPart("FLT-AIR-CMP", "Compressor air intake filter element", "pc", 38.50, "Kaeser",
             "6.4149.0", 1, 2, 6, 10, "MS-B-01", 4, "Screw compressor, changed every 3000 h"),
    DemoPart("FLT-COOL-25", "Coolant filter bag 25 µm", "pc", 6.90, "Eaton", "PONG-25-P02S",
             10, 20, 60, 7, "MS-B-01", 40, "CNC mill coolant tanks"),
    DemoPart("SEAL-RWDR-45X62X8", "Radial shaft seal 45x62x8 FKM", "pc", 7.40, "Freudenberg",
             "BAUM 45X62X8 FKM", 4, 6, 20, 7, "MS-B-02", 12, "Gearbox output shafts"),
    DemoPart("SEAL-KIT-CYL80", "Press cylinder seal kit Ø80", "set", 186.0, "Parker",
             "PK-CYL80-SK", 1, 1, 3, 21, "MS-B-02", 2, "Main cylinder of the stamping presses"),
    DemoPart("HP-SEAL-KIT", "Hydraulic pump seal kit A10VSO 45/71", "set", 312.0,
             "Bosch Rexroth", "R902603104", 1, 2, 4, 28, "MS-B-02", 3,
             "Shaft seal and O-rings of the presses' and moulder's main hydraulic pumps"),
    DemoPart("PMP-A10VSO28", "Hydraulic axial piston pump A10VSO 28", "pc", 3950.0,
             "Bosch Rexroth", "A10VSO28DFR/31R-PPA12N00", 0, 1, 1, 56, "MS-C-01", 1,
             "Critical spare: stamping press hydraulic unit"),
    DemoPart("INS-APMT-1604", "Milling insert APMT 1604 PDER, coated carbide", "pc", 8.90,
             "Sandvik Coromant", "R390-170408M-PM 1130", 20, 40, 150, 3, "LS-L1-01", 30,
             "Face mills of the CNC mills (10 per box)"),
    DemoPart("GRS-LGEP2", "Bearing grease EP2, 1 kg can", "kg", 24.0, "SKF", "LGEP 2/1",
             2, 4, 10, 5, "MS-D-01", 6.5, "Re-lubrication of conveyor and fan bearings"),
    DemoPart("OIL-HLP46", "Hydraulic oil HLP 46", "l", 3.20, "Shell", "Tellus S2 MX 46",
             40, 60, 200, 5, "MS-D-01", 120, "Top-up and oil changes of the hydraulic units"),
]  # fmt: skip


def seed(platform: Platform) -> dict[str, int]:
    """Create the demo stores on an empty inventory; returns part number → part id.

    Idempotent: when any spare part exists, nothing is added (a kept data directory keeps its
    own stock).
    """
    with platform.db.session() as session:
        existing = dict(session.execute(select(SparePart.part_number, SparePart.id)).all())
        if existing:
            return {str(k): int(v) for k, v in existing.items()}
        at = to_datetime(platform.clock.now_us())
        locations = {
            code: service.create_location(
                session, code=code, store=store, bin=bin_, description=text, actor=STORES
            ).id
            for code, store, bin_, text in LOCATIONS
        }
        ids: dict[str, int] = {}
        for p in PARTS:
            part = service.create_part(
                session,
                actor=STORES,
                part_number=p.part_number,
                name=p.name,
                description=p.description,
                unit=p.unit,
                unit_cost=p.unit_cost,
                manufacturer=p.manufacturer,
                manufacturer_part_number=p.manufacturer_part_number,
                min_stock=p.min_stock,
                reorder_point=p.reorder_point,
                max_stock=p.max_stock,
                lead_time_days=p.lead_time_days,
                default_location_id=locations[p.location],
            )
            service.receive(
                session,
                part_id=part.id,
                quantity=p.opening,
                reference="opening stock",
                actor=STORES,
                occurred_at=at,
            )
            ids[p.part_number] = part.id
    platform.relay.notify()
    log.info("seeded %d spare parts in %d storage locations", len(PARTS), len(LOCATIONS))
    return ids
