"""ModbusConnector: runs one coordinator per device on its own event loop thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

from ifactory.connect.base import Sink
from ifactory.connect.modbus.coordinator import ModbusCoordinator
from ifactory.connect.modbus.registers import ModbusDevice, ModbusPoint
from ifactory.core.clock import Clock
from ifactory.core.errors import NotFound

log = logging.getLogger(__name__)


class ModbusConnector:
    """A background service (start/stop) polling every configured device into `sink`."""

    def __init__(
        self,
        devices: list[tuple[ModbusDevice, list[ModbusPoint]]],
        sink: Sink,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.coordinators = [ModbusCoordinator(d, p, sink, clock=clock) for d, p in devices]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Start polling on a background thread."""
        self._thread = threading.Thread(target=self._run, name="modbus", daemon=True)
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        """Stop polling and close the connections."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def write(self, tag_key: str, value: float, *, timeout: float = 10.0) -> None:
        """Write a tag from any thread; serialised with that device's polling."""
        for c in self.coordinators:
            if tag_key in {p.tag_key for p in c.points}:
                if self._loop is None:
                    raise RuntimeError("the Modbus connector is not running")
                fut: Future[None] = asyncio.run_coroutine_threadsafe(
                    c.write(tag_key, value), self._loop
                )
                fut.result(timeout)
                return
        raise NotFound(f"no modbus tag '{tag_key}'", loc=["tag"])

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(c.run(self._stop) for c in self.coordinators))
