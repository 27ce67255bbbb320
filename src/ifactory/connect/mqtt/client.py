"""MQTT protocol I/O with paho-mqtt 2: persistent session, QoS 1, acknowledgement after storage.

Every message is acknowledged to the broker (PUBACK) only after the handler returned, i.e.
after its points are durably stored; paho's `manual_ack` makes that possible. The session is
persistent (fixed client id, clean session/start off, MQTT 5 session expiry "never"), so the
broker keeps the subscription and queues QoS 1 messages while the platform is down.

Back-pressure: the broker sends at most its `max_inflight_messages` (MQTT 5: our Receive
Maximum) unacknowledged messages; since we acknowledge only after the store, a slow store
slows delivery and the broker holds the backlog instead of anyone dropping it.

Messages received are handled in groups (up to `max_batch` at a time), so a flood of single
point messages becomes one store commit per group, not one per message.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ifactory.connect.base import (
    ConnectorAuthFailed,
    ConnectorConfigInvalid,
    ConnectorUnavailable,
)

log = logging.getLogger(__name__)

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
# CONNACK codes that mean "the credentials are wrong" (MQTT 3.1.1: 4, 5; MQTT 5: 0x86, 0x87, 0x8C).
_AUTH_CODES = {4, 5, 0x86, 0x87, 0x8C}


@dataclass(frozen=True)
class MqttOptions:
    """Where and how to connect; parsed from `mqtt[s]://user:pass@host:port` by `from_url`."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "ifactory"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    mqtt5: bool = False
    keepalive: int = 30
    qos: int = 1
    # Messages handled per store commit at most; also the MQTT 5 Receive Maximum.
    max_batch: int = 1000
    # How long to wait for more messages before storing a group that is not full.
    linger_s: float = 0.005
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MqttOptions:
        """Options from a URL such as `mqtt://user:secret@broker:1883` (`mqtts://` for TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConnectorConfigInvalid(
                f"MQTT URL {url!r} must start with mqtt:// or mqtts://", loc=["mqtt", "url"]
            )
        tls = parts.scheme in ("mqtts", "ssl")
        if not parts.hostname:
            raise ConnectorConfigInvalid(f"MQTT URL {url!r} has no host", loc=["mqtt", "url"])
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            **options,
        )


@dataclass
class Message:
    """A received message, with what is needed to acknowledge it on the connection it came on."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_us: int
    generation: int


Handler = Callable[[Sequence[Message]], None]


@dataclass
class _State:
    connected: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)  # CONNACK, good or bad
    subscribed: threading.Event = field(default_factory=threading.Event)  # every SUBACK back
    pending: set[int] = field(default_factory=set)  # SUBSCRIBE packet ids not yet acknowledged
    error: Exception | None = None
    generation: int = 0


class MqttSession:
    """One persistent MQTT session: subscribe, hand messages to `handler` in groups, ack after.

    `handler(messages)` must return only when the messages are dealt with for good (stored, or
    dead-lettered); if it raises, none of them is acknowledged and the session is re-opened
    after a pause, so the broker delivers them again.
    """

    def __init__(
        self,
        options: MqttOptions,
        topics: Sequence[str],
        handler: Handler,
        *,
        will: tuple[str, bytes, int, bool] | None = None,
        on_connected: Callable[[MqttSession], None] | None = None,
        name: str = "mqtt",
    ) -> None:
        self.options = options
        self.topics = list(topics)
        self.handler = handler
        self.on_connected = on_connected
        self.name = name
        self._state = _State()
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=max(1, options.max_batch) * 2)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.handled = 0
        self.failures = 0
        protocol = MQTTProtocolVersion.MQTTv5 if options.mqtt5 else MQTTProtocolVersion.MQTTv311
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            clean_session=None if options.mqtt5 else False,
            protocol=protocol,
            manual_ack=True,
        )
        if options.username is not None:
            self.client.username_pw_set(options.username, options.password)
        if options.tls:
            self.client.tls_set(
                ca_certs=options.ca_certs,
                certfile=options.certfile,
                keyfile=options.keyfile,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos=qos, retain=retain)
        # paho keeps outgoing QoS>0 messages (acks, our own publishes) until sent: no limit.
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(
            min_delay=max(1, int(options.reconnect_min_s)), max_delay=int(options.reconnect_max_s)
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and start handling messages."""
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name=f"{self.name}-ingest", daemon=True)
        self._worker.start()
        self._connect()
        self.client.loop_start()

    def _connect(self) -> None:
        o = self.options
        properties = None
        if o.mqtt5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
            properties.ReceiveMaximum = max(1, min(o.max_batch, 65535))
        self.client.connect_async(
            o.host,
            o.port,
            keepalive=o.keepalive,
            clean_start=False if o.mqtt5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until connected and subscribed; raise the translated error if refused or away.

        Waiting for the SUBACKs too means a message published after this returns is delivered:
        the broker drops messages on topics nobody has subscribed to yet.
        """
        deadline = time.monotonic() + timeout
        self._state.answered.wait(timeout)
        if self._state.connected.is_set():
            if self._state.subscribed.wait(max(0.0, deadline - time.monotonic())):
                return
            raise ConnectorUnavailable(
                f"MQTT broker {self.options.host}:{self.options.port} did not acknowledge the "
                f"subscriptions within {timeout:g} s",
                loc=["mqtt"],
            )
        if self._state.error is not None:
            raise self._state.error
        raise ConnectorUnavailable(
            f"MQTT broker {self.options.host}:{self.options.port} not reachable "
            f"within {timeout:g} s",
            loc=["mqtt"],
        )

    @property
    def connected(self) -> bool:
        """True while the session is connected."""
        return self._state.connected.is_set()

    def stop(self) -> None:
        """Finish the group in hand, then disconnect; the rest is redelivered next session."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish a message (used by the Sparkplug host for STATE and NCMD)."""
        self.client.publish(topic, payload, qos=qos, retain=retain)

    # -- paho callbacks (network thread) -------------------------------------------------------
    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            code = reason.value
            if code in _AUTH_CODES:
                self._state.error = ConnectorAuthFailed(
                    f"MQTT broker {self.options.host} refused the credentials ({reason})",
                    loc=["mqtt"],
                )
                log.error("%s: %s; not retrying", self.name, self._state.error)
                client.disconnect()
            else:
                self._state.error = ConnectorUnavailable(
                    f"MQTT broker {self.options.host} refused the connection ({reason})",
                    loc=["mqtt"],
                )
                log.warning("%s: %s", self.name, self._state.error)
            self._state.answered.set()
            return
        # Messages of the previous connection that were not acknowledged come again; their
        # packet ids mean nothing on this connection, so they must never be acknowledged.
        self._state.generation += 1
        self._state.error = None
        if not flags.session_present:
            log.info("%s: new session for client id %r", self.name, self.options.client_id)
        self._state.subscribed.clear()
        self._state.pending.clear()
        for topic in self.topics:
            _, mid = client.subscribe(topic, qos=self.options.qos)
            if mid is not None:
                self._state.pending.add(mid)
        if not self._state.pending:
            self._state.subscribed.set()
        self._state.connected.set()
        self._state.answered.set()
        log.info("%s: connected to %s:%d", self.name, self.options.host, self.options.port)
        if self.on_connected is not None:
            self.on_connected(self)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for code in reason_codes:
            if code.is_failure:
                log.error("%s: the broker refused a subscription (%s)", self.name, code)
        self._state.pending.discard(mid)
        if not self._state.pending:
            self._state.subscribed.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._state.connected.clear()
        self._state.subscribed.clear()
        if not self._stop.is_set():
            log.warning("%s: disconnected (%s); reconnecting", self.name, reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        message = Message(
            msg.topic,
            bytes(msg.payload),
            msg.mid,
            msg.qos,
            bool(msg.retain),
            time.time_ns() // 1000,
            self._state.generation,
        )
        # Blocks the network thread when the store falls behind: back-pressure to the broker.
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- worker ------------------------------------------------------------------------------------
    def _work(self) -> None:
        limit = max(1, self.options.max_batch)
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            group = [first]
            # Linger a few milliseconds for more: one durable commit costs about as much for
            # one point as for a thousand, so a trickle is stored in groups too.
            deadline = time.monotonic() + self.options.linger_s
            while len(group) < limit:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        group.append(self._queue.get(timeout=remaining))
                    except queue.Empty:
                        break
            current = self._state.generation
            group = [m for m in group if m.generation == current]
            if not group:
                continue
            try:
                self.handler(group)
            except Exception:
                self.failures += 1
                log.exception(
                    "%s: storing %d messages failed; not acknowledged, reconnecting",
                    self.name,
                    len(group),
                )
                self._reopen()
                continue
            self.handled += len(group)
            if self._state.generation != current:
                # The connection changed while storing: these packet ids belong to the old
                # one. The broker redelivers the messages; storing them again is idempotent.
                continue
            for m in group:
                if m.qos > 0:
                    self.client.ack(m.mid, m.qos)

    def _reopen(self) -> None:
        """Re-open the session so the broker redelivers what was not acknowledged."""
        self._state.generation += 1  # drop what is queued from this connection
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.wait(self.options.reconnect_min_s)
        if not self._stop.is_set():
            self._connect()
            self.client.loop_start()
