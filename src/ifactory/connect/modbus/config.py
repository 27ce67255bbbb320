"""Read the register maps and device settings declared in the plant model (tags as data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ifactory.connect.modbus.registers import ModbusDevice, ModbusPoint, ModbusSource
from ifactory.core.errors import InvalidInput
from ifactory.plant.loader import Node, Plant


def device_settings(node: Node, plant: Plant) -> ModbusDevice | None:
    """The `attributes.modbus` settings of the node or its nearest ancestor that has them."""
    current: Node | None = node
    while current is not None:
        raw = current.spec.attributes.get("modbus")
        if raw is not None:
            try:
                return ModbusDevice.model_validate({"name": current.key, **raw})
            except ValidationError as exc:
                raise InvalidInput(
                    f"{current.key}: attributes.modbus: {_first(exc)}",
                    loc=[current.key, "attributes", "modbus"],
                ) from None
        current = plant.node(current.parent_key) if current.parent_key else None
    return None


def parse_source(tag_key: str, raw: Mapping[str, Any]) -> ModbusSource:
    """A tag's `sources.modbus` entry, or InvalidInput naming the tag and the field."""
    try:
        return ModbusSource.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(
            f"{tag_key}: sources.modbus: {_first(exc)}", loc=[tag_key, "sources", "modbus"]
        ) from None


def devices_from_plant(
    plant: Plant,
    *,
    overrides: Mapping[str, ModbusSource] | None = None,
    default: ModbusDevice | None = None,
) -> list[tuple[ModbusDevice, list[ModbusPoint]]]:
    """Every Modbus device of the plant with its points, grouped by device settings.

    `overrides` maps tag keys to sources (e.g. the simulator's generated map) and takes
    precedence over the tags' own `sources.modbus`; `default` is the device of tags whose
    nodes declare none (e.g. the simulator's server for the whole plant).
    """
    grouped: dict[ModbusDevice, list[ModbusPoint]] = {}
    for node in plant.nodes:
        for tag in node.tags:
            source = (overrides or {}).get(tag.key)
            if source is None:
                raw = tag.spec.sources.get("modbus")
                if raw is None:
                    continue
                source = parse_source(tag.key, raw)
            device = device_settings(node, plant) or default
            if device is None:
                raise InvalidInput(
                    f"{tag.key} has a modbus source but neither '{node.key}' nor an ancestor"
                    " declares attributes.modbus (host, port...)",
                    loc=[node.key, "attributes", "modbus"],
                )
            grouped.setdefault(device, []).append(ModbusPoint(tag.key, source))
    return list(grouped.items())


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
