"""Tag proposals from a browse: what a plant engineer reviews and accepts into the plant model."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ifactory.connect.opcua.client import BrowsedVariable
from ifactory.plant.spec import DataType

# OPC UA built-in types (OPC 10000-6, 5.1.2) -> plant data types; others are not proposed.
_TYPES = {
    "Boolean": DataType.bool,
    "SByte": DataType.int,
    "Byte": DataType.int,
    "Int16": DataType.int,
    "UInt16": DataType.int,
    "Int32": DataType.int,
    "UInt32": DataType.int,
    "Int64": DataType.int,
    "UInt64": DataType.int,
    "Float": DataType.float,
    "Double": DataType.float,
    "String": DataType.string,
    "LocalizedText": DataType.string,
}
# Engineering-unit display names servers use that pint spells differently.
_UNIT_ALIASES = {"°C": "degC", "°F": "degF", "%": "percent", "1/min": "1/min", "U/min": "rpm"}


class TagProposal(BaseModel):
    """A variable the server offers, shaped as a tag; `node_key` is the machine it seems to belong to."""

    node_id: str
    browse_path: list[str]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    data_type: DataType
    unit: str = ""
    description: str = ""
    low: float | None = None
    high: float | None = None
    node_key: str | None = Field(
        default=None, description="plant node whose id path matches the browse path"
    )
    exists: bool = Field(default=False, description="a tag already reads this node id")
    sampling_interval_ms: float = -1
    deadband: float | None = None


def tag_name(display_name: str) -> str:
    """A plant-file identifier from an OPC UA display name ("Spindle Speed" -> spindle_speed)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", display_name.strip()).strip("_.-").lower()
    return (name or "tag")[:64]


def unit_of(display: str) -> str:
    """The server's engineering unit as the plant model spells it; "" when pint cannot read it."""
    from ifactory.plant.loader import _UNITS

    unit = _UNIT_ALIASES.get(display, display)
    if not unit:
        return ""
    try:
        _UNITS.parse_units(unit)
    except Exception:  # pint raises several unrelated types for unknown units
        return ""
    return unit


def propose(
    variables: list[BrowsedVariable],
    *,
    node_keys: set[str] | frozenset[str] = frozenset(),
    known_node_ids: set[str] | frozenset[str] = frozenset(),
) -> list[TagProposal]:
    """One proposal per variable of a type the plant model can hold."""
    out: list[TagProposal] = []
    for v in variables:
        kind = _TYPES.get(v.data_type)
        if kind is None:
            continue
        path = list(v.browse_path)
        owner = None
        for cut in range(len(path) - 1, 0, -1):  # the deepest plant node along the path
            candidate = "/".join(path[:cut])
            if candidate in node_keys:
                owner = candidate
                break
        unit = unit_of(v.unit)
        description = v.description if v.description != v.display_name else ""
        if v.unit and not unit:
            description = f"{description} (server unit: {v.unit})".strip()
        limits_ok = v.eu_low is not None and v.eu_high is not None and v.eu_low < v.eu_high
        out.append(
            TagProposal(
                node_id=v.node_id,
                browse_path=path,
                name=tag_name(v.display_name),
                data_type=kind,
                unit=unit,
                description=description,
                low=v.eu_low if limits_ok else None,
                high=v.eu_high if limits_ok else None,
                node_key=owner,
                exists=v.node_id in known_node_ids,
            )
        )
    return out
