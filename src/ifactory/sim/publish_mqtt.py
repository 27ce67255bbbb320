"""The simulated plant speaking MQTT: its batches published as UNS JSON and/or Sparkplug B.

`MqttPlantPublisher` is a sink for `SimulationRunner`: each call publishes the batch and
returns once the broker has acknowledged it (QoS 1), so a slow broker slows the simulation
down instead of losing points.

- UNS JSON: one message per machine and batch on `<prefix>/<machine key>`, a JSON array of
  `{"tag", "ts_us", "value", "quality"}` (at most `chunk` points per message), the shape
  `connect/mqtt/uns.py` decodes.
- Sparkplug B: one edge node (`group`/`node`) with one device per machine (the machine key
  with '/' replaced by '.', because Sparkplug ids must not contain '/'). Metric names are tag
  keys; births define aliases and data messages carry only aliases. NBIRTH carries `bdSeq`
  and the will is the matching NDEATH; an NCMD `Node Control/Rebirth` is answered with new
  births. Data is QoS 0 as Sparkplug B 3.0 prescribes for NDATA/DDATA.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.sparkplug import codec
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.plant.spec import DataType

log = logging.getLogger(__name__)

SPB = "spBv1.0"
SPB_TYPES = {
    DataType.float: codec.DOUBLE,
    DataType.int: codec.INT64,
    DataType.bool: codec.BOOLEAN,
    DataType.string: codec.STRING,
    DataType.enum: codec.INT32,
}


class MqttPlantPublisher:
    """Publishes simulated batches (tags as keys) to an MQTT broker as UNS JSON and/or Sparkplug B."""

    def __init__(
        self,
        plant: Plant,
        options: MqttOptions,
        *,
        uns: bool = True,
        sparkplug: bool = False,
        prefix: str = "",
        group: str = "ifactory",
        node: str = "sim",
        chunk: int = 1000,
    ) -> None:
        if not uns and not sparkplug:
            raise ValueError("publish UNS JSON, Sparkplug B, or both")
        self.options = options
        self.uns = uns
        self.sparkplug = sparkplug
        self.prefix = prefix.strip("/")
        self.group = group
        self.node = node
        self.chunk = chunk
        self.published = 0
        # tag key -> (machine key, tag name, Sparkplug datatype, alias)
        self.tags: dict[str, tuple[str, str, int, int]] = {}
        self.machine_tags: dict[str, list[str]] = defaultdict(list)
        alias = 0
        for node_ in plant.nodes:
            for tag in node_.tags:
                alias += 1
                self.tags[tag.key] = (node_.key, tag.name, SPB_TYPES[tag.spec.data_type], alias)
                self.machine_tags[node_.key].append(tag.key)
        self._seq = 0
        # bdSeq of the will registered for the next connection, and of the current birth.
        self._bd_seq = 0
        self._birth_bd_seq = 0
        self._last: dict[str, tuple[Any, int]] = {}  # last value per tag, for births
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{options.client_id}-sim",
            protocol=MQTTProtocolVersion.MQTTv5 if options.mqtt5 else MQTTProtocolVersion.MQTTv311,
        )
        if options.username is not None:
            self.client.username_pw_set(options.username, options.password)
        if options.tls:
            self.client.tls_set(ca_certs=options.ca_certs)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        if sparkplug:
            self.client.will_set(self._topic("NDEATH"), self._death_payload(0), qos=0)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Connect (and publish the Sparkplug births)."""
        self.client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"no MQTT connection to {self.options.host}:{self.options.port}")

    def stop(self) -> None:
        """Publish NDEATH (Sparkplug) and disconnect."""
        if self.sparkplug and self._connected.is_set():
            death = self._death_payload(self._birth_bd_seq)
            self.client.publish(self._topic("NDEATH"), death, qos=0).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("simulator publisher: connection refused (%s)", reason)
            return
        if self.sparkplug:
            client.subscribe(self._topic("NCMD"), qos=1)
            # This connection's will carries self._bd_seq; the birth must say the same, and
            # the will registered for the next connection gets the next number.
            self._birth_bd_seq = self._bd_seq
            self._births()
            self._bd_seq = (self._bd_seq + 1) % 256
            self.client.will_set(self._topic("NDEATH"), self._death_payload(self._bd_seq), qos=0)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            payload = codec.decode(bytes(msg.payload))
        except codec.PayloadInvalid:
            return
        if any(m.name == "Node Control/Rebirth" and m.boolean_value for m in payload.metrics):
            log.info("simulator publisher: rebirth requested")
            self._births()

    # -- Sparkplug -------------------------------------------------------------------------------
    def _topic(self, kind: str, device: str | None = None) -> str:
        return f"{SPB}/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    @staticmethod
    def device_id(machine_key: str) -> str:
        """The Sparkplug device id of a machine (ids must not contain '/')."""
        return machine_key.replace("/", ".")

    def _death_payload(self, bd_seq: int) -> bytes:
        return codec.encode(
            timestamp_ms=int(time.time() * 1000),
            seq=None,
            metrics=[("bdSeq", None, codec.INT64, bd_seq, None)],
        )

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % 256
        return seq

    def _births(self) -> None:
        with self._lock:
            now = int(time.time() * 1000)
            self._seq = 0
            self.client.publish(
                self._topic("NBIRTH"),
                codec.encode(
                    timestamp_ms=now,
                    seq=self._next_seq(),
                    metrics=[
                        ("bdSeq", None, codec.INT64, self._birth_bd_seq, None),
                        ("Node Control/Rebirth", None, codec.BOOLEAN, False, None),
                    ],
                ),
                qos=0,
            )
            for machine, keys in self.machine_tags.items():
                metrics: list[tuple[str | None, int | None, int, Any, int | None]] = []
                for key in keys:
                    _, _, datatype, alias = self.tags[key]
                    value, ts = self._last.get(key, (None, now * 1000))
                    metrics.append((key, alias, datatype, value, ts // 1000))
                self.client.publish(
                    self._topic("DBIRTH", self.device_id(machine)),
                    codec.encode(timestamp_ms=now, seq=self._next_seq(), metrics=metrics),
                    qos=0,
                )

    # -- the sink ----------------------------------------------------------------------------------
    def __call__(self, batch: TelemetryBatch) -> None:
        """Publish `batch` (tags are keys); returns when the broker has it."""
        by_machine: dict[str, list[int]] = defaultdict(list)
        keys = batch.tags.tolist()
        for i, key in enumerate(keys):
            info = self.tags.get(key)
            if info is not None:
                by_machine[info[0]].append(i)
        ts = batch.ts.tolist()
        values = batch.values.tolist()
        quality = batch.quality.tolist()
        text = None if batch.text is None else batch.text.tolist()
        last_info = None
        for machine, idx in by_machine.items():
            for start in range(0, len(idx), self.chunk):
                part = idx[start : start + self.chunk]
                if self.uns:
                    doc = [
                        {
                            "tag": self.tags[keys[i]][1],
                            "ts_us": ts[i],
                            "value": _value(values[i], None if text is None else text[i]),
                            "quality": quality[i],
                        }
                        for i in part
                    ]
                    topic = f"{self.prefix}/{machine}" if self.prefix else machine
                    last_info = self.client.publish(topic, orjson.dumps(doc), qos=1)
                if self.sparkplug:
                    with self._lock:
                        metrics: list[tuple[str | None, int | None, int, Any, int | None]] = []
                        for i in part:
                            _, _, datatype, alias = self.tags[keys[i]]
                            value = _value(values[i], None if text is None else text[i])
                            self._last[keys[i]] = (value, ts[i])
                            metrics.append((None, alias, datatype, value, ts[i] // 1000))
                        self.client.publish(
                            self._topic("DDATA", self.device_id(machine)),
                            codec.encode(
                                timestamp_ms=int(time.time() * 1000),
                                seq=self._next_seq(),
                                metrics=metrics,
                            ),
                            qos=0,
                        )
                self.published += len(part)
        if last_info is not None:
            last_info.wait_for_publish(timeout=60)


def _value(value: float, text: Any) -> Any:
    if text is not None:
        return text
    if math.isnan(value):
        return None
    return value
