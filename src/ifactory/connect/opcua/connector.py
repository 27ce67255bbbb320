"""OpcUaConnector: runs one subscriber per endpoint on its own event loop thread."""

from __future__ import annotations

import asyncio
import threading

from ifactory.connect.base import Sink
from ifactory.connect.opcua.config import OpcUaEndpoint, OpcUaPoint
from ifactory.connect.opcua.subscriber import OpcUaSubscriber
from ifactory.core.clock import Clock


class OpcUaConnector:
    """A background service (start/stop) keeping every configured endpoint subscribed."""

    def __init__(
        self,
        endpoints: list[tuple[OpcUaEndpoint, list[OpcUaPoint]]],
        sink: Sink,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.subscribers = [OpcUaSubscriber(e, p, sink, clock=clock) for e, p in endpoints]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Connect and subscribe on a background thread."""
        self._thread = threading.Thread(target=self._run, name="opcua", daemon=True)
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        """Unsubscribe, flush what was received and close the sessions."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(s.run(self._stop) for s in self.subscribers))
