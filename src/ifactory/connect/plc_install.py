"""Wiring of the OPC UA and Modbus connectors into a running platform (composition, not protocol).

The plant model is the configuration: tags with `sources.opcua` / `sources.modbus` and nodes
with `attributes.opcua` / `attributes.modbus` (docs/connect-opcua-modbus.md). Nothing starts
when no tag declares such a source.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from ifactory.historian.batch import TelemetryBatch

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)


def _uses(platform: Platform) -> set[str]:
    """Which of "opcua" / "modbus" some enabled tag reads from."""
    from ifactory.plant.models import Tag

    with platform.db.session() as session:
        rows = session.scalars(select(Tag.sources).where(Tag.enabled.is_(True))).all()
    return {name for sources in rows for name in (sources or {}) if name in ("opcua", "modbus")}


def install(platform: Platform) -> None:
    """Feature installer: one OPC UA and one Modbus connector for the plant's declared sources."""
    used = _uses(platform)
    if not used:
        return
    from ifactory.plant import service as plant_service
    from ifactory.plant.loader import expand

    with platform.db.session() as session:
        plant = expand(plant_service.export(session))

    def sink(batch: TelemetryBatch) -> None:
        platform.pipeline.ingest(batch)

    if "opcua" in used:
        from ifactory.connect.opcua import OpcUaConnector, endpoints_from_plant

        endpoints = endpoints_from_plant(plant)
        platform.extras.append(OpcUaConnector(endpoints, sink, clock=platform.clock))
        log.info(
            "OPC UA: %d endpoint(s), %d tag(s)", len(endpoints), sum(len(p) for _, p in endpoints)
        )
    if "modbus" in used:
        from ifactory.connect.modbus import ModbusConnector, devices_from_plant

        devices = devices_from_plant(plant)
        platform.extras.append(ModbusConnector(devices, sink, clock=platform.clock))
        log.info("Modbus: %d device(s), %d tag(s)", len(devices), sum(len(p) for _, p in devices))
