"""Modbus errors, translated at the edge from pymodbus's exceptions (Home Assistant style)."""

from __future__ import annotations

from ifactory.connect.base import ConnectorUnavailable


class ModbusNotReady(ConnectorUnavailable):
    """The device cannot be reached (refused, timed out, closed): retry with backoff."""

    code = "modbus_not_ready"


class ModbusReadFailed(ConnectorUnavailable):
    """The device answered a request with a Modbus exception (illegal address, busy...)."""

    code = "modbus_read_failed"

    def __init__(self, msg: str, *, exception_code: int | None = None) -> None:
        super().__init__(msg)
        self.exception_code = exception_code


# Modbus exception codes (Modbus Application Protocol V1.1b3, section 7).
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
