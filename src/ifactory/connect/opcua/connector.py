"""OpcUaConnector: runs one subscriber per endpoint on its own event loop thread."""

from __future__ import annotations

from ifactory.connect.base import LoopThread, Sink
from ifactory.connect.opcua.config import OpcUaEndpoint, OpcUaPoint
from ifactory.connect.opcua.subscriber import OpcUaSubscriber
from ifactory.core.clock import Clock


class OpcUaConnector(LoopThread):
    """A background service (start/stop) keeping every configured endpoint subscribed.

    `stop` unsubscribes, flushes what was received and closes the sessions.
    """

    def __init__(
        self,
        endpoints: list[tuple[OpcUaEndpoint, list[OpcUaPoint]]],
        sink: Sink,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.subscribers = [OpcUaSubscriber(e, p, sink, clock=clock) for e, p in endpoints]
        super().__init__(list(self.subscribers), name="opcua", stop_timeout_s=15)
