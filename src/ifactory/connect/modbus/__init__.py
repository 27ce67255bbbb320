"""Modbus TCP poller: register maps from plant.yaml, block reads, one batch per poll."""

from __future__ import annotations

from ifactory.connect.modbus.client import ModbusClient
from ifactory.connect.modbus.config import devices_from_plant
from ifactory.connect.modbus.connector import ModbusConnector
from ifactory.connect.modbus.coordinator import ModbusCoordinator
from ifactory.connect.modbus.errors import ModbusNotReady, ModbusReadFailed
from ifactory.connect.modbus.registers import (
    ModbusDevice,
    ModbusPoint,
    ModbusSource,
    RegisterType,
    Table,
    plan_blocks,
)

__all__ = [
    "ModbusClient",
    "ModbusConnector",
    "ModbusCoordinator",
    "ModbusDevice",
    "ModbusNotReady",
    "ModbusPoint",
    "ModbusReadFailed",
    "ModbusSource",
    "RegisterType",
    "Table",
    "devices_from_plant",
    "plan_blocks",
]
