"""Wiring of the MQTT connectors into a running platform (the composition side, not the protocol).

The connectors themselves know nothing of the historian: this module hands them the plant's
tag keys and `sources`, the pipeline as their sink, and the dead-letter store for payloads
that cannot be decoded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from ifactory.connect.mqtt.client import MqttOptions
from ifactory.connect.mqtt.connector import Undecodable, UnsConnector
from ifactory.connect.mqtt.uns import UNDECODABLE, UnsMapping
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.deadletter import DeadLetterBatch

if TYPE_CHECKING:
    from ifactory.connect.sparkplug.host import SparkplugHost
    from ifactory.platform import Platform

MAX_PAYLOAD_SHOWN = 2000


def tag_sources(platform: Platform) -> list[tuple[str, dict[str, Any]]]:
    """(tag key, sources) of every enabled tag, as stored in the plant model."""
    from ifactory.plant.models import Tag

    with platform.db.session() as session:
        rows = session.execute(select(Tag.key, Tag.sources).where(Tag.enabled.is_(True))).all()
    return [(key, dict(sources or {})) for key, sources in rows]


def dead_letter_writer(platform: Platform, source: str) -> Any:
    """A callback storing undecodable payloads as `undecodable` dead letters (durably)."""

    def write(items: Sequence[Undecodable]) -> None:
        if not items:
            return
        shown = [i.payload[:MAX_PAYLOAD_SHOWN].decode("utf-8", "backslashreplace") for i in items]
        platform.dead_letters.add(
            [
                DeadLetterBatch(
                    UNDECODABLE,
                    time.time_ns() // 1000,
                    source,
                    np.array([i.topic for i in items], dtype=object),
                    np.array([i.received_us for i in items], dtype=np.int64),
                    np.full(len(items), np.nan),
                    np.array(shown, dtype=object),
                    [i.reason for i in items],
                )
            ]
        )

    return write


def pipeline_sink(platform: Platform) -> Any:
    """The platform's durable sink: returns after the historian commit."""

    def ingest(batch: TelemetryBatch) -> object:
        return platform.pipeline.ingest(batch)

    return ingest


def attach_uns(
    platform: Platform,
    url: str,
    *,
    prefix: str = "",
    client_id: str = "ifactory-uns",
    mqtt5: bool = False,
    **options: Any,
) -> UnsConnector:
    """Add a UNS JSON connector for `url` to the platform (started with the platform)."""
    mapping = UnsMapping.from_tags(tag_sources(platform), prefix=prefix)
    connector = UnsConnector(
        MqttOptions.from_url(url, client_id=client_id, mqtt5=mqtt5, **options),
        mapping,
        pipeline_sink(platform),
        on_undecodable=dead_letter_writer(platform, "mqtt"),
    )
    platform.extras.append(connector)
    return connector


def attach_sparkplug(
    platform: Platform,
    url: str,
    *,
    host_id: str = "ifactory",
    group: str = "+",
    client_id: str | None = None,
    mqtt5: bool = False,
    **options: Any,
) -> SparkplugHost:
    """Add a Sparkplug B primary host application for `url` to the platform."""
    from ifactory.connect.sparkplug.host import SparkplugHost, SparkplugMapping

    host = SparkplugHost(
        MqttOptions.from_url(url, client_id=client_id or f"{host_id}-spb", mqtt5=mqtt5, **options),
        SparkplugMapping.from_tags(tag_sources(platform)),
        pipeline_sink(platform),
        host_id=host_id,
        group=group,
        on_undecodable=dead_letter_writer(platform, "sparkplug"),
    )
    platform.extras.append(host)
    return host


def install(platform: Platform) -> None:
    """Feature installer: attach the connectors named in the settings (`mqtt_url`), if any."""
    url = platform.settings.mqtt_url
    if not url:
        return
    attach_uns(platform, url, prefix=platform.settings.mqtt_prefix)
    if platform.settings.mqtt_sparkplug:
        attach_sparkplug(platform, url)
