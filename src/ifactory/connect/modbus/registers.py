"""Register maps as data: a tag's `sources.modbus` entry, decoding, encoding and block planning."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Modbus Application Protocol V1.1b3, 6.3/6.4: at most 125 registers per read (FC 3/4)
# and 2000 bits per read (FC 1/2).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000


class Table(StrEnum):
    """The four Modbus data tables."""

    holding = "holding"
    input = "input"
    coil = "coil"
    discrete = "discrete"

    @property
    def is_bits(self) -> bool:
        return self in (Table.coil, Table.discrete)


class RegisterType(StrEnum):
    """How the registers of one value are interpreted."""

    int16 = "int16"
    uint16 = "uint16"
    int32 = "int32"
    uint32 = "uint32"
    float32 = "float32"
    float64 = "float64"
    bool = "bool"


# struct format (big-endian) and width in registers of each type.
_FORMATS: dict[RegisterType, tuple[str, int]] = {
    RegisterType.int16: (">h", 1),
    RegisterType.uint16: (">H", 1),
    RegisterType.int32: (">i", 2),
    RegisterType.uint32: (">I", 2),
    RegisterType.float32: (">f", 2),
    RegisterType.float64: (">d", 4),
}


class ModbusSource(BaseModel):
    """A tag's `sources: {modbus: {...}}` entry in plant.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: int = Field(default=1, ge=0, le=255, description="unit (slave) id")
    table: Table = Table.holding
    address: int = Field(ge=0, le=65535, description="0-based protocol address")
    type: RegisterType | None = Field(
        default=None, description="default: uint16 for registers, bool for coils/discretes"
    )
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> ModbusSource:
        kind = self.register_type
        if self.table.is_bits and kind != RegisterType.bool:
            raise ValueError(f"a {self.table.value} holds single bits: type must be bool")
        if not self.table.is_bits and kind == RegisterType.bool:
            raise ValueError(f"type bool needs table coil or discrete, not {self.table.value}")
        if self.address + self.width > 65536:
            raise ValueError(f"{kind.value} at {self.address} runs past address 65535")
        if self.scale == 0 or not math.isfinite(self.scale):
            raise ValueError("scale must be a finite, non-zero number")
        return self

    @property
    def register_type(self) -> RegisterType:
        """The declared type, or the table's default."""
        if self.type is not None:
            return self.type
        return RegisterType.bool if self.table.is_bits else RegisterType.uint16

    @property
    def width(self) -> int:
        """Registers (or bits) the value occupies."""
        kind = self.register_type
        return 1 if kind == RegisterType.bool else _FORMATS[kind][1]


class ModbusDevice(BaseModel):
    """Device settings: a machine node's `attributes: {modbus: {...}}` in plant.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    host: str
    port: int = Field(default=502, gt=0, le=65535)
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=3.0, gt=0)
    retries: int = Field(default=0, ge=0, description="pymodbus retries within one request")
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    max_gap: int = Field(
        default=0,
        ge=0,
        le=MAX_REGISTERS_PER_READ,
        description="unused registers a block read may span (0: contiguous only)",
    )
    max_registers_per_read: int = Field(default=MAX_REGISTERS_PER_READ, ge=1, le=125)
    max_bits_per_read: int = Field(default=MAX_BITS_PER_READ, ge=1, le=2000)


@dataclass(frozen=True, slots=True)
class ModbusPoint:
    """One tag to poll: its key (as the ingest pipeline resolves it) and its address."""

    tag_key: str
    source: ModbusSource


@dataclass(frozen=True, slots=True)
class Block:
    """One read request covering several points of one table of one unit."""

    unit: int
    table: Table
    address: int
    count: int
    points: tuple[int, ...]  # indexes into the coordinator's point list


def plan_blocks(points: list[ModbusPoint], device: ModbusDevice) -> list[Block]:
    """Merge contiguous addresses into block reads no longer than the protocol's limit."""
    groups: dict[tuple[int, Table], list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault((p.source.unit, p.source.table), []).append(i)
    blocks: list[Block] = []
    for (unit, table), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        limit = device.max_bits_per_read if table.is_bits else device.max_registers_per_read
        members.sort(key=lambda i: (points[i].source.address, -points[i].source.width))
        start = end = -1
        current: list[int] = []
        for i in members:
            src = points[i].source
            if src.width > limit:
                raise ValueError(f"{points[i].tag_key}: {src.width} registers exceed one read")
            p_end = src.address + src.width
            fits = (
                current and src.address <= end + device.max_gap and max(end, p_end) - start <= limit
            )
            if fits:
                current.append(i)
                end = max(end, p_end)
                continue
            if current:
                blocks.append(Block(unit, table, start, end - start, tuple(current)))
            current, start, end = [i], src.address, p_end
        if current:
            blocks.append(Block(unit, table, start, end - start, tuple(current)))
    return blocks


def decode(registers: list[int], source: ModbusSource) -> float:
    """The engineering value of `registers` (the value's own words): raw * scale + offset."""
    kind = source.register_type
    fmt, width = _FORMATS[kind]
    words = registers[:width]
    if source.word_order == "little":
        words = words[::-1]
    data = b"".join(
        w.to_bytes(2, "big") if source.byte_order == "big" else w.to_bytes(2, "little")
        for w in words
    )
    raw = struct.unpack(fmt, data)[0]
    return float(raw) * source.scale + source.offset


def encode(value: float, source: ModbusSource) -> list[int]:
    """The registers that hold `value` (the inverse of `decode`); raises ValueError out of range."""
    kind = source.register_type
    fmt, _ = _FORMATS[kind]
    raw: float | int = (value - source.offset) / source.scale
    if kind not in (RegisterType.float32, RegisterType.float64):
        raw = round(raw)
    try:
        data = struct.pack(fmt, raw)
    except struct.error as exc:
        raise ValueError(f"{value} does not fit a {kind.value}: {exc}") from None
    words = [
        int.from_bytes(data[i : i + 2], "big" if source.byte_order == "big" else "little")
        for i in range(0, len(data), 2)
    ]
    return words[::-1] if source.word_order == "little" else words
