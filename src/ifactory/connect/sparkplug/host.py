"""Sparkplug B 3.0 primary host application: STATE, births, deaths, aliases, sequence numbers.

- STATE (spec 5.3, 6.4.x): on connect the host publishes `spBv1.0/STATE/<host_id>` =
  `{"online": true, "timestamp": t}` (QoS 1, retained) and registered the same topic with
  `"online": false` and the same `t` as its MQTT will, so edge nodes store and forward while
  the host is away and resend with `is_historical`.
- NBIRTH/DBIRTH give each metric's name, alias and datatype; NDATA/DDATA may carry only
  aliases. A metric with an alias the last birth did not define, or without name and alias,
  cannot be attributed: it is dead-lettered (`unknown_tag`, keyed by the alias) and a rebirth
  is requested, as the spec asks of a host that lost track of a node.
- `seq` (0..255) must increase by one per message of a node (NBIRTH resets it to 0); on a gap
  the host publishes NCMD `Node Control/Rebirth` = true (spec 6.4.5, 7.x "rebirth").
- NDEATH (matching the birth's `bdSeq`) and DDEATH make the node's/device's machines
  *unknown*: each of their numeric tags gets a point with quality Bad_NoCommunication
  (OPC 10000-4 0x80310000) and NaN at the death time; unknown is never downtime.
- Metrics with `is_historical` are stored with their own timestamps like any other.

Mapping to tags: a metric's name is the tag key (Sparkplug allows '/' in names), unless a
tag declares `sources: {sparkplug: {node, device, metric, group}}` in the plant file.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ifactory.connect.base import Sink, deliver
from ifactory.connect.mqtt.client import Message, MqttOptions, MqttSession
from ifactory.connect.mqtt.connector import Undecodable, UndecodableSink
from ifactory.connect.mqtt.uns import Columns
from ifactory.connect.sparkplug import codec
from ifactory.historian.batch import BAD, BAD_NO_COMMUNICATION, GOOD

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"
SOURCE = "sparkplug"
# Do not ask the same node for a rebirth more than once in this many seconds.
REBIRTH_HOLDOFF_S = 2.0


@dataclass
class _Endpoint:
    """What the last birth of a node or device told us."""

    aliases: dict[int, tuple[str, int]] = field(default_factory=dict)  # alias -> (name, type)
    names: dict[str, int] = field(default_factory=dict)  # name -> datatype
    online: bool = False
    last_us: int = 0  # newest timestamp received (the death is placed after it)


@dataclass
class _Node:
    node: _Endpoint = field(default_factory=_Endpoint)
    devices: dict[str, _Endpoint] = field(default_factory=dict)
    seq: int | None = None
    bd_seq: int | None = None
    rebirth_at: float = 0.0


class SparkplugMapping:
    """(group, node, device, metric name) -> tag key: the convention plus per-tag overrides."""

    def __init__(self, overrides: Mapping[tuple[str | None, str, str | None, str], str]) -> None:
        self.overrides = dict(overrides)
        self.any_group = {(n, d, m): k for (g, n, d, m), k in self.overrides.items() if g is None}

    @classmethod
    def from_tags(cls, tags: Iterable[tuple[str, Mapping[str, Any]]]) -> SparkplugMapping:
        """Build from `(tag key, sources)` pairs as stored in the plant model."""
        overrides: dict[tuple[str | None, str, str | None, str], str] = {}
        for key, sources in tags:
            spb = (sources or {}).get("sparkplug")
            if isinstance(spb, dict) and spb.get("node") and spb.get("metric"):
                overrides[(spb.get("group"), spb["node"], spb.get("device"), spb["metric"])] = key
        return cls(overrides)

    def tag_key(self, group: str, node: str, device: str | None, metric: str) -> str:
        """The tag key a metric feeds."""
        if self.overrides:
            key = self.overrides.get((group, node, device, metric)) or self.any_group.get(
                (node, device, metric)
            )
            if key is not None:
                return key
        return metric


class SparkplugHost:
    """A primary host application delivering Sparkplug B metrics to `sink`."""

    def __init__(
        self,
        options: MqttOptions,
        mapping: SparkplugMapping,
        sink: Sink,
        *,
        host_id: str = "ifactory",
        group: str = "+",
        on_undecodable: UndecodableSink | None = None,
    ) -> None:
        self.mapping = mapping
        self.sink = sink
        self.host_id = host_id
        self.on_undecodable = on_undecodable
        self.nodes: dict[tuple[str, str], _Node] = {}
        self.rebirths_requested = 0
        self._stopping = False
        self.seq_gaps = 0
        self.state_topic = f"{NAMESPACE}/STATE/{host_id}"
        self._online_ts = int(time.time() * 1000)
        will = (self.state_topic, self._state_payload(False), 1, True)
        topics = [f"{NAMESPACE}/{group}/#" if group != "+" else f"{NAMESPACE}/+/+/#"]
        self.session = MqttSession(
            options,
            topics,
            self._handle,
            will=will,
            on_connected=self._on_connected,
            name="sparkplug-host",
        )

    def _state_payload(self, online: bool) -> bytes:
        return orjson.dumps({"online": online, "timestamp": self._online_ts})

    def start(self) -> None:
        """Connect, publish STATE online, start receiving."""
        self.session.start()

    def stop(self) -> None:
        """Publish STATE offline and disconnect (edge nodes start storing and forwarding)."""
        self._stopping = True
        if self.session.connected:
            info = self.session.client.publish(
                self.state_topic, self._state_payload(False), qos=1, retain=True
            )
            info.wait_for_publish(timeout=5)
        self.session.stop()

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until connected (raises ConnectorUnavailable / ConnectorAuthFailed)."""
        self.session.wait_connected(timeout)

    def _state_seen(self, host_id: str, payload: bytes) -> None:
        """Sparkplug B 3.0: a host that sees itself declared offline (say, the will of its own
        previous connection, delivered late) publishes its online STATE again."""
        if host_id != self.host_id or self._stopping:
            return
        try:
            online = bool(orjson.loads(payload).get("online"))
        except (orjson.JSONDecodeError, AttributeError):
            online = False
        if not online:
            log.info("STATE of %s says offline while it runs: publishing online again", host_id)
            self.session.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)

    def _on_connected(self, session: MqttSession) -> None:
        session.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)

    # -- message handling ----------------------------------------------------------------
    def _handle(self, messages: Sequence[Message]) -> None:
        out = Columns()
        bad: list[Undecodable] = []
        for m in messages:
            parts = m.topic.split("/")
            if len(parts) == 3 and parts[1] == "STATE":
                self._state_seen(parts[2], m.payload)
                continue
            if len(parts) < 4 or parts[0] != NAMESPACE:
                continue
            _, group, kind, node_id, *rest = parts
            device = rest[0] if rest else None
            if kind in ("NCMD", "DCMD"):
                continue
            try:
                payload = codec.decode(m.payload)
            except codec.PayloadInvalid as exc:
                bad.append(Undecodable(m.topic, m.payload, str(exc), m.received_us))
                continue
            self._message(group, kind, node_id, device, payload, m.received_us, out)
        if bad:
            if self.on_undecodable is None:
                for b in bad:
                    log.warning("undecodable Sparkplug payload on %s: %s", b.topic, b.reason)
            else:
                self.on_undecodable(bad)
        if len(out):
            deliver(self.sink, out.to_batch(received_us=time.time_ns() // 1000, source=SOURCE))

    def _message(
        self,
        group: str,
        kind: str,
        node_id: str,
        device: str | None,
        payload: Any,
        received_us: int,
        out: Columns,
    ) -> None:
        state = self.nodes.setdefault((group, node_id), _Node())
        payload_us = payload.timestamp * 1000 if payload.HasField("timestamp") else received_us
        if kind == "NBIRTH":
            state.node = _Endpoint(online=True)
            state.devices = {}
            state.seq = payload.seq if payload.HasField("seq") else 0
            for metric in payload.metrics:
                if metric.name == BD_SEQ:
                    state.bd_seq = int(codec.metric_value(metric, metric.datatype) or 0)
            self._birth(state.node, payload)
            self._points(group, node_id, None, state.node, payload, payload_us, out, birth=True)
            return
        if kind == "NDEATH":
            bd = next((m for m in payload.metrics if m.name == BD_SEQ), None)
            bd_seq = None if bd is None else codec.metric_value(bd, bd.datatype)
            if state.bd_seq is not None and bd_seq is not None and bd_seq != state.bd_seq:
                # The will of an older session, arriving after the node was born again.
                log.info("ignoring stale NDEATH of %s/%s (bdSeq %s)", group, node_id, bd_seq)
                return
            # A will carries the connect time, not the death time: the death is now.
            self._death(group, node_id, None, state.node, received_us, out)
            for dev_id, dev in state.devices.items():
                self._death(group, node_id, dev_id, dev, received_us, out)
            state.seq = None
            return
        if not self._seq_ok(state, payload):
            self.seq_gaps += 1
            self._request_rebirth(group, node_id, state, "sequence gap")
        if kind == "DBIRTH" and device is not None:
            endpoint = _Endpoint(online=True)
            state.devices[device] = endpoint
            self._birth(endpoint, payload)
            self._points(group, node_id, device, endpoint, payload, payload_us, out, birth=True)
        elif kind == "DDEATH" and device is not None:
            self._death(
                group, node_id, device, state.devices.get(device) or _Endpoint(), payload_us, out
            )
        elif kind == "NDATA":
            if not state.node.online:
                self._request_rebirth(group, node_id, state, "data before birth")
            self._points(group, node_id, None, state.node, payload, payload_us, out)
        elif kind == "DDATA" and device is not None:
            known = state.devices.get(device)
            if known is None or not known.online:
                self._request_rebirth(group, node_id, state, f"data of unborn device {device}")
            self._points(group, node_id, device, known or _Endpoint(), payload, payload_us, out)

    def _seq_ok(self, state: _Node, payload: Any) -> bool:
        if not payload.HasField("seq"):
            return True
        seq = int(payload.seq)
        expected = None if state.seq is None else (state.seq + 1) % 256
        state.seq = seq
        return expected is None or seq == expected

    @staticmethod
    def _birth(endpoint: _Endpoint, payload: Any) -> None:
        for metric in payload.metrics:
            if metric.name:
                endpoint.names[metric.name] = metric.datatype
                if metric.HasField("alias"):
                    endpoint.aliases[metric.alias] = (metric.name, metric.datatype)

    def _points(
        self,
        group: str,
        node_id: str,
        device: str | None,
        endpoint: _Endpoint,
        payload: Any,
        payload_us: int,
        out: Columns,
        *,
        birth: bool = False,
    ) -> None:
        where = f"{group}/{node_id}" + (f"/{device}" if device else "")
        unattributed = False
        for metric in payload.metrics:
            name = metric.name
            datatype = metric.datatype
            if not name:
                known = endpoint.aliases.get(metric.alias) if metric.HasField("alias") else None
                if known is None:
                    # Never dropped: stored as a dead letter under a key that says what it was.
                    unattributed = True
                    alias = metric.alias if metric.HasField("alias") else "none"
                    name = f"{NAMESPACE}/{where}#alias={alias}"
                else:
                    name, birth_type = known
                    datatype = datatype or birth_type
            elif not datatype:
                datatype = endpoint.names.get(name, 0)
            if name == BD_SEQ or name.startswith("Node Control/") or name.startswith("Properties/"):
                continue
            ts = metric.timestamp * 1000 if metric.HasField("timestamp") else payload_us
            value = codec.metric_value(metric, datatype)
            quality = GOOD
            if value is None:
                if birth:
                    continue  # a birth declaring a metric with no value yet: not a sample
                value, quality = math.nan, BAD
            elif isinstance(value, bytes):
                value = value.hex()
            endpoint.last_us = max(endpoint.last_us, ts)
            out.add(self.mapping.tag_key(group, node_id, device, name), ts, value, quality)
        if unattributed:
            state = self.nodes[(group, node_id)]
            self._request_rebirth(group, node_id, state, "metric with an unknown alias")

    def _death(
        self,
        group: str,
        node_id: str,
        device: str | None,
        endpoint: _Endpoint,
        at_us: int,
        out: Columns,
    ) -> None:
        endpoint.online = False
        # The node was alive at least until its newest point: a death stamped by a clock a
        # little behind the edge's must not land before data it already sent.
        at_us = max(at_us, endpoint.last_us + 1)
        for name, datatype in endpoint.names.items():
            if name == BD_SEQ or name.startswith("Node Control/") or datatype in codec.TEXT_TYPES:
                continue
            out.add(
                self.mapping.tag_key(group, node_id, device, name),
                at_us,
                math.nan,
                BAD_NO_COMMUNICATION,
            )

    def _request_rebirth(self, group: str, node_id: str, state: _Node, why: str) -> None:
        now = time.monotonic()
        if now - state.rebirth_at < REBIRTH_HOLDOFF_S:
            return
        state.rebirth_at = now
        self.rebirths_requested += 1
        log.warning("requesting a rebirth of %s/%s: %s", group, node_id, why)
        payload = codec.encode(
            timestamp_ms=int(time.time() * 1000),
            seq=None,
            metrics=[(REBIRTH, None, codec.BOOLEAN, True, None)],
        )
        # NCMD is sent with QoS 0 (Sparkplug B 3.0, 6.4.x: commands are not queued).
        self.session.publish(f"{NAMESPACE}/{group}/NCMD/{node_id}", payload, qos=0)
