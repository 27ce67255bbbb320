"""ModbusClient: all Modbus TCP I/O behind one object, pymodbus errors translated at the edge."""

from __future__ import annotations

import logging

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from ifactory.connect.modbus.errors import EXCEPTION_NAMES, ModbusNotReady, ModbusReadFailed
from ifactory.connect.modbus.registers import ModbusDevice, Table

log = logging.getLogger(__name__)


class ModbusClient:
    """One TCP connection to a device; reads and writes raise ModbusNotReady / ModbusReadFailed."""

    def __init__(self, device: ModbusDevice) -> None:
        self.device = device
        self._client: AsyncModbusTcpClient | None = None

    @property
    def connected(self) -> bool:
        """True while the TCP connection is open."""
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection (no-op when open); ModbusNotReady when the device is unreachable."""
        if self.connected:
            return
        self.close()
        # reconnect_delay=0: pymodbus must not reconnect behind our back; the coordinator owns
        # the backoff so it can mark the tags' quality and log once.
        client = AsyncModbusTcpClient(
            self.device.host,
            port=self.device.port,
            timeout=self.device.timeout_s,
            retries=self.device.retries,
            reconnect_delay=0,
            name=f"modbus {self.device.name or self.device.host}",
        )
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as exc:
            client.close()
            raise ModbusNotReady(f"{self._where()}: cannot connect ({exc})") from None
        if not ok:
            client.close()
            raise ModbusNotReady(f"{self._where()}: cannot connect")
        self._client = client

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        """Registers (or bits as 0/1) of one block read."""
        client = await self._ready()
        try:
            if table == Table.holding:
                rr = await client.read_holding_registers(address, count=count, device_id=unit)
            elif table == Table.input:
                rr = await client.read_input_registers(address, count=count, device_id=unit)
            elif table == Table.coil:
                rr = await client.read_coils(address, count=count, device_id=unit)
            else:
                rr = await client.read_discrete_inputs(address, count=count, device_id=unit)
        except (ConnectionException, ModbusIOException, OSError) as exc:
            self.close()
            raise ModbusNotReady(f"{self._where()}: no answer ({exc})") from None
        except ModbusException as exc:
            raise ModbusReadFailed(f"{self._where()}: {exc}") from None
        if rr.isError():
            raise self._exception(rr, f"read {table.value} {address}+{count} unit {unit}")
        if table.is_bits:
            # pymodbus pads bits to whole bytes; the block is exactly `count` bits.
            return [int(b) for b in rr.bits[:count]]
        return list(rr.registers)

    async def write_registers(self, unit: int, address: int, values: list[int]) -> None:
        """Write holding registers (FC 16, or FC 6 for one register)."""
        client = await self._ready()
        try:
            if len(values) == 1:
                rr = await client.write_register(address, values[0], device_id=unit)
            else:
                rr = await client.write_registers(address, values, device_id=unit)
        except (ConnectionException, ModbusIOException, OSError) as exc:
            self.close()
            raise ModbusNotReady(f"{self._where()}: no answer ({exc})") from None
        if rr.isError():
            raise self._exception(rr, f"write holding {address} unit {unit}")

    async def write_coil(self, unit: int, address: int, value: bool) -> None:
        """Write one coil (FC 5)."""
        client = await self._ready()
        try:
            rr = await client.write_coil(address, value, device_id=unit)
        except (ConnectionException, ModbusIOException, OSError) as exc:
            self.close()
            raise ModbusNotReady(f"{self._where()}: no answer ({exc})") from None
        if rr.isError():
            raise self._exception(rr, f"write coil {address} unit {unit}")

    async def _ready(self) -> AsyncModbusTcpClient:
        await self.connect()
        assert self._client is not None
        return self._client

    def _exception(self, rr: object, what: str) -> ModbusReadFailed:
        code = getattr(rr, "exception_code", None)
        name = EXCEPTION_NAMES.get(code or -1, f"exception {code}")
        return ModbusReadFailed(f"{self._where()}: {what}: {name}", exception_code=code)

    def _where(self) -> str:
        return f"modbus {self.device.name or ''}@{self.device.host}:{self.device.port}".replace(
            " @", " "
        )
