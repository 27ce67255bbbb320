"""ModbusConnector: runs one coordinator per device on its own event loop thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from ifactory.connect.base import LoopThread, Sink
from ifactory.connect.modbus.coordinator import ModbusCoordinator
from ifactory.connect.modbus.registers import ModbusDevice, ModbusPoint
from ifactory.core.clock import Clock
from ifactory.core.errors import NotFound


class ModbusConnector(LoopThread):
    """A background service (start/stop) polling every configured device into `sink`."""

    def __init__(
        self,
        devices: list[tuple[ModbusDevice, list[ModbusPoint]]],
        sink: Sink,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.coordinators = [ModbusCoordinator(d, p, sink, clock=clock) for d, p in devices]
        super().__init__(list(self.coordinators), name="modbus", stop_timeout_s=10)

    def write(self, tag_key: str, value: float, *, timeout: float = 10.0) -> None:
        """Write a tag from any thread; serialised with that device's polling."""
        for c in self.coordinators:
            if tag_key in {p.tag_key for p in c.points}:
                if self.loop is None:
                    raise RuntimeError("the Modbus connector is not running")
                fut: Future[None] = asyncio.run_coroutine_threadsafe(
                    c.write(tag_key, value), self.loop
                )
                fut.result(timeout)
                return
        raise NotFound(f"no modbus tag '{tag_key}'", loc=["tag"])
