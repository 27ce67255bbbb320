"""The UNS JSON connector: MQTT messages -> TelemetryBatches -> sink, acknowledged after storage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ifactory.connect.base import Sink, deliver
from ifactory.connect.mqtt.client import Message, MqttOptions, MqttSession
from ifactory.connect.mqtt.uns import Columns, UndecodablePayload, UnsMapping

log = logging.getLogger(__name__)
SOURCE = "mqtt"
SPARKPLUG_NAMESPACE = "spBv1.0/"


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A message that could not be decoded: kept whole, with the reason, for the dead letters."""

    topic: str
    payload: bytes
    reason: str
    received_us: int


UndecodableSink = Callable[[Sequence[Undecodable]], object]


class UnsConnector:
    """Subscribes to the unified namespace and delivers its points to `sink`.

    `on_undecodable` receives payloads that are not UNS JSON; it must store them durably
    before returning (the platform writes them as `undecodable` dead letters), because the
    messages are acknowledged right after.
    """

    def __init__(
        self,
        options: MqttOptions,
        mapping: UnsMapping,
        sink: Sink,
        *,
        on_undecodable: UndecodableSink | None = None,
        topics: Sequence[str] | None = None,
    ) -> None:
        self.mapping = mapping
        self.sink = sink
        self.on_undecodable = on_undecodable
        self.points = 0
        self.undecodable = 0
        self.session = MqttSession(
            options, list(topics or mapping.subscriptions()), self._handle, name="mqtt-uns"
        )

    def start(self) -> None:
        """Connect and start delivering."""
        self.session.start()

    def stop(self) -> None:
        """Stop; unacknowledged messages stay with the broker."""
        self.session.stop()

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until connected (raises ConnectorUnavailable / ConnectorAuthFailed)."""
        self.session.wait_connected(timeout)

    def _handle(self, messages: Sequence[Message]) -> None:
        out = Columns()
        bad: list[Undecodable] = []
        for m in messages:
            if m.topic.startswith(SPARKPLUG_NAMESPACE) or m.topic.startswith("$"):
                continue  # Sparkplug B (protobuf) is the Sparkplug host's; $SYS is the broker's
            try:
                self.mapping.decode(m.topic, m.payload, m.received_us, out)
            except UndecodablePayload as exc:
                bad.append(Undecodable(m.topic, m.payload, str(exc), m.received_us))
        if bad:
            self.undecodable += len(bad)
            if self.on_undecodable is None:
                for b in bad:
                    log.warning("undecodable payload on %s: %s", b.topic, b.reason)
            else:
                self.on_undecodable(bad)
        if len(out):
            batch = out.to_batch(received_us=time.time_ns() // 1000, source=SOURCE)
            deliver(self.sink, batch)
            self.points += len(batch)
