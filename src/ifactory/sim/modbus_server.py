"""The simulated plant as a Modbus TCP server: one unit per machine, registers per a generated map."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Mapping

import numpy as np
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from ifactory.connect.modbus.registers import ModbusSource, RegisterType, Table, encode
from ifactory.historian.batch import TelemetryBatch, is_good
from ifactory.plant.loader import Plant
from ifactory.plant.spec import DataType

log = logging.getLogger(__name__)

# Function code -> table (Modbus Application Protocol V1.1b3, section 6).
_FC_TABLE = {1: Table.coil, 5: Table.coil, 15: Table.coil, 2: Table.discrete, 4: Table.input}
_FC_TABLE.update({fc: Table.holding for fc in (3, 6, 16, 22, 23)})


def generated_map(plant: Plant, *, first_unit: int = 1) -> dict[str, ModbusSource]:
    """A register map for every machine: unit = machine index, tags packed from address 0.

    float tags -> float32 holding registers, int -> int32, enum -> uint16, bool -> a coil;
    string tags have no Modbus representation and are left out.
    """
    sources: dict[str, ModbusSource] = {}
    for unit, machine in enumerate(plant.machines(), start=first_unit):
        address = 0
        coil = 0
        for tag in machine.tags:
            kind = tag.spec.data_type
            if kind == DataType.bool:
                sources[tag.key] = ModbusSource(unit=unit, table=Table.coil, address=coil)
                coil += 1
                continue
            reg_type = {
                DataType.float: RegisterType.float32,
                DataType.int: RegisterType.int32,
                DataType.enum: RegisterType.uint16,
            }.get(kind)
            if reg_type is None:
                continue
            src = ModbusSource(unit=unit, table=Table.holding, address=address, type=reg_type)
            sources[tag.key] = src
            address += src.width
    return sources


class _Unit:
    """The register images of one unit, kept by us and copied into pymodbus on each request."""

    def __init__(self, size: dict[Table, int]) -> None:
        self.registers = {t: [0] * size[t] for t in (Table.holding, Table.input)}
        self.bits = {t: [False] * size[t] for t in (Table.coil, Table.discrete)}


class SimModbusServer:
    """A real pymodbus TCP server whose registers hold the latest simulated values.

    `update(batch)` (any thread) stores each tag's last value; clients read registers and
    may write holding registers and coils (as a machine's setpoints).
    """

    def __init__(
        self,
        sources: Mapping[str, ModbusSource],
        *,
        host: str = "127.0.0.1",
        port: int = 5020,
        tag_keys: Mapping[int, str] | None = None,
        size: int | None = None,
    ) -> None:
        self.sources = dict(sources)
        self.host = host
        self.port = port
        self._tag_keys = dict(tag_keys or {})
        self._lock = threading.Lock()
        need: dict[int, dict[Table, int]] = {}
        for src in self.sources.values():
            unit = need.setdefault(src.unit, {t: 1 for t in Table})
            unit[src.table] = max(unit[src.table], src.address + src.width)
        if size is not None:  # a fixed address space per table, e.g. for tests and benchmarks
            for unit_size in need.values():
                for t in Table:
                    unit_size[t] = max(unit_size[t], size)
        self.units = {u: _Unit(s) for u, s in need.items()}
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_plant(cls, plant: Plant, **kwargs: object) -> SimModbusServer:
        """A server exposing every machine of `plant` with the generated map."""
        return cls(generated_map(plant), **kwargs)  # type: ignore[arg-type]

    async def start(self) -> None:
        """Listen on host:port."""
        devices = [self._device(u, unit) for u, unit in sorted(self.units.items())]
        self._server = ModbusTcpServer(devices, address=(self.host, self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        # serve_forever binds in its first steps; wait until the socket listens.
        for _ in range(200):
            if self._server.is_active():
                break
            await asyncio.sleep(0.01)
        log.info("simulated Modbus server on %s:%d (%d units)", self.host, self.port, len(devices))

    async def stop(self) -> None:
        """Close the server and every client connection."""
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def set_registers(self, unit: int, table: Table, address: int, values: list[int]) -> None:
        """Set raw registers (or bits) of a unit, e.g. to lay out a test map."""
        with self._lock:
            u = self.units[unit]
            if table.is_bits:
                u.bits[table][address : address + len(values)] = [bool(v) for v in values]
            else:
                u.registers[table][address : address + len(values)] = [int(v) for v in values]

    def set_value(self, tag_key: str, value: float) -> None:
        """Store a tag's engineering value in its registers, encoded per its source."""
        src = self.sources[tag_key]
        if src.register_type == RegisterType.bool:
            self.set_registers(src.unit, src.table, src.address, [int(bool(value))])
            return
        try:
            words = encode(value, src)
        except ValueError:
            return  # out of the register type's range: the device would clamp; keep the last
        self.set_registers(src.unit, src.table, src.address, words)

    def update(self, batch: TelemetryBatch) -> None:
        """Store the last good value of every mapped tag in `batch`."""
        good = is_good(batch.quality) & ~np.isnan(batch.values)
        last: dict[str, float] = {}
        for tag, value, ok in zip(
            batch.tags.tolist(), batch.values.tolist(), good.tolist(), strict=True
        ):
            if ok:
                key = str(self._tag_keys.get(tag, tag) if isinstance(tag, int) else tag)
                last[key] = value
        for key, value in last.items():
            if key in self.sources and math.isfinite(value):
                self.set_value(key, value)

    def _device(self, unit_id: int, unit: _Unit) -> SimDevice:
        def bits(n: int) -> list[SimData]:
            return [SimData(0, count=(n + 15) // 16, values=0, datatype=SimType.BITS)]

        def regs(n: int) -> list[SimData]:
            return [SimData(0, count=n, values=0, datatype=SimType.REGISTERS)]

        async def action(
            fc: int,
            start: int,
            address: int,
            count: int,
            current: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            table = _FC_TABLE.get(fc)
            if table is None:
                return ExcCodes.ILLEGAL_FUNCTION
            with self._lock:
                if table.is_bits:
                    image = unit.bits[table]
                    first = address // 16 - start  # bit tables are packed 16 bits per register
                    if set_values is not None:
                        image[address : address + len(set_values)] = [bool(v) for v in set_values]
                    chunk = image[(first + start) * 16 : (first + start + count) * 16]
                    chunk += [False] * (count * 16 - len(chunk))
                    current[first : first + count] = SimUtils.bitsToRegisters(chunk)
                else:
                    image_regs = unit.registers[table]
                    if set_values is not None:
                        image_regs[address : address + len(set_values)] = [
                            int(v) for v in set_values
                        ]
                    off = address - start
                    current[off : off + count] = image_regs[address : address + count]
            return None

        return SimDevice(
            id=unit_id,
            simdata=(
                bits(len(unit.bits[Table.coil])),
                bits(len(unit.bits[Table.discrete])),
                regs(len(unit.registers[Table.holding])),
                regs(len(unit.registers[Table.input])),
            ),
            action=action,
        )
