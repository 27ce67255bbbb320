"""Unified namespace (UNS) JSON over MQTT: topic <-> tag mapping and payload decoding.

Convention: a tag's topic is its key, the ISA-95 path `<enterprise>/<site>/<area>/<line>/
<machine>/<tag>` (DESIGN.md, "Plant as code"), optionally below a prefix. The payload is one
of
  - a bare value: `21.5`, `true`, `"P-100"`;
  - a point object: `{"ts": ..., "value": ..., "quality": ...}` (ts and quality optional);
  - a JSON array of point objects. On a tag's topic they are points of that tag; an element
    with `"tag": "<name>"` names a tag below the topic, so a machine can send all its tags
    in one message on `<...>/<machine>`.
`ts` is epoch milliseconds (the UNS/Sparkplug habit) or an ISO-8601 string; `ts_us` gives
epoch microseconds. `quality` is an OPC UA status code (int) or "good"/"uncertain"/"bad".
A point without a timestamp is stamped with the receive time, once, here where it enters.

A tag whose device does not follow the convention declares `sources: {mqtt: {topic: ...,
field: a.b}}` in the plant file: the value is taken from that (dotted) JSON field of the
messages on that topic; several tags may share one topic. An optional `ts_field` names the
field holding the timestamp.

Topics that map to no tag still produce points, keyed by the topic, so the ingest pipeline
dead-letters them as `unknown_tag`; a payload that is not JSON of these shapes raises
`UndecodablePayload` (dead-lettered as `undecodable` by the connector's owner).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from ifactory.historian.batch import BAD, GOOD, UNCERTAIN, TelemetryBatch

UNDECODABLE = "undecodable"
QUALITY_NAMES = {"good": GOOD, "uncertain": UNCERTAIN, "bad": BAD}
NAN = math.nan
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UndecodablePayload(ValueError):
    """The payload is not UNS JSON (or not the field a tag's mapping names)."""


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """A tag fed from a JSON field of another topic's payload (`sources.mqtt` in the plant file)."""

    tag: str
    path: tuple[str, ...]
    ts_path: tuple[str, ...] | None = None


@dataclass
class Columns:
    """Points accumulated from many messages, turned into one batch (one store commit)."""

    tags: list[str] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    has_text: bool = False

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, tag: str, ts: int, value: Any, quality: int) -> None:
        """Append one point; strings go to `text`, booleans become 0/1, null becomes NaN."""
        self.tags.append(tag)
        self.ts.append(ts)
        self.quality.append(quality)
        if value is None:
            self.values.append(NAN)
            self.text.append(None)
        elif isinstance(value, str):
            self.values.append(NAN)
            self.text.append(value)
            self.has_text = True
        elif isinstance(value, bool | int | float):
            self.values.append(float(value))
            self.text.append(None)
        else:
            # The pipeline rejects this as `wrong_type`, showing what was sent.
            self.values.append(NAN)
            self.text.append(orjson.dumps(value).decode())
            self.has_text = True

    def truncate(self, n: int) -> None:
        """Drop the points after the first `n`."""
        for column in (self.tags, self.ts, self.values, self.quality, self.text):
            del column[n:]

    def to_batch(self, *, received_us: int, source: str) -> TelemetryBatch:
        """One TelemetryBatch of every point added so far."""
        return TelemetryBatch(
            np.array(self.tags, dtype=object),
            np.array(self.ts, dtype=np.int64),
            np.array(self.values, dtype=np.float64),
            np.array(self.quality, dtype=np.uint32),
            received_us,
            source,
            np.array(self.text, dtype=object) if self.has_text else None,
        )


class UnsMapping:
    """Topic -> tag resolution for one plant: the convention plus per-tag overrides."""

    def __init__(
        self,
        tag_keys: Iterable[str],
        *,
        prefix: str = "",
        overrides: Mapping[str, Iterable[FieldMapping]] | None = None,
    ) -> None:
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.tag_keys = frozenset(tag_keys)
        self.overrides: dict[str, tuple[FieldMapping, ...]] = {
            topic: tuple(maps) for topic, maps in (overrides or {}).items()
        }

    @classmethod
    def from_tags(
        cls, tags: Iterable[tuple[str, Mapping[str, Any]]], *, prefix: str = ""
    ) -> UnsMapping:
        """Build from `(tag key, sources)` pairs as stored in the plant model."""
        keys: list[str] = []
        overrides: dict[str, list[FieldMapping]] = {}
        for key, sources in tags:
            keys.append(key)
            mqtt = (sources or {}).get("mqtt")
            if not mqtt:
                continue
            if isinstance(mqtt, str):
                mqtt = {"topic": mqtt}
            topic = str(mqtt.get("topic") or key).strip("/")
            path = tuple(str(mqtt["field"]).split(".")) if mqtt.get("field") else ()
            ts_path = tuple(str(mqtt["ts_field"]).split(".")) if mqtt.get("ts_field") else None
            overrides.setdefault(topic, []).append(FieldMapping(key, path, ts_path))
        return cls(keys, prefix=prefix, overrides=overrides)

    def subscriptions(self) -> list[str]:
        """Topic filters covering the convention and every override."""
        filters = {f"{self.prefix}#"} if self.prefix else {"#"}
        if self.prefix:
            filters.update(t for t in self.overrides if not t.startswith(self.prefix))
        return sorted(filters)

    def decode(self, topic: str, payload: bytes, received_us: int, out: Columns) -> int:
        """Append the points of one message to `out`; returns how many points it held."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise UndecodablePayload(f"not JSON: {exc}") from None
        before = len(out)
        try:
            maps = self.overrides.get(topic)
            if maps is not None:
                for m in maps:
                    _mapped(m, data, received_us, out)
                return len(out) - before
            path = self.tag_key(topic)
            if isinstance(data, list):
                _points(path, data, received_us, out)
            elif isinstance(data, dict) and "tag" in data:
                _point(f"{path}/{data['tag']}", data, received_us, out)
            else:
                _point(path, data, received_us, out)
        except UndecodablePayload:
            # A message is stored whole or dead-lettered whole, never half.
            out.truncate(before)
            raise
        return len(out) - before

    def tag_key(self, topic: str) -> str:
        """The tag key a conventional topic names (the topic below the prefix)."""
        if self.prefix and topic.startswith(self.prefix):
            return topic[len(self.prefix) :]
        return topic


def topic_of(tag_key: str, prefix: str = "") -> str:
    """The UNS topic of a tag by the convention."""
    prefix = prefix.strip("/")
    return f"{prefix}/{tag_key}" if prefix else tag_key


def _points(path: str, items: list[Any], received_us: int, out: Columns) -> None:
    """The points of an array payload; the common shape (numbers, `ts_us`/`ts`, no text) is
    appended inline, because this loop is the hot path of batched messages."""
    tags, tss, values, qualities, texts = out.tags, out.ts, out.values, out.quality, out.text
    prefix = path + "/"
    for item in items:
        if type(item) is dict:
            value = item.get("value")
            ts = item.get("ts_us")
            if ts is None and type(item.get("ts")) is int:
                ts = item["ts"] * 1000
            quality = item.get("quality", GOOD)
            if (
                (type(value) is float or type(value) is int)
                and type(ts) is int
                and type(quality) is int
                and 0 <= quality <= 0xFFFFFFFF
            ):
                name = item.get("tag")
                tags.append(path if name is None else prefix + str(name))
                tss.append(ts)
                values.append(float(value))
                qualities.append(quality)
                texts.append(None)
                continue
            if "tag" in item:
                _point(prefix + str(item["tag"]), item, received_us, out)
                continue
        _point(path, item, received_us, out)


def _point(tag: str, item: Any, received_us: int, out: Columns) -> None:
    if isinstance(item, dict):
        if "value" not in item:
            raise UndecodablePayload(f"point object for '{tag}' has no 'value'")
        out.add(tag, _ts(item, received_us), item["value"], _quality(item.get("quality")))
    elif isinstance(item, list):
        raise UndecodablePayload(f"nested array in the payload for '{tag}'")
    else:
        out.add(tag, received_us, item, GOOD)


def _mapped(m: FieldMapping, data: Any, received_us: int, out: Columns) -> None:
    value = _dig(data, m.path, m.tag)
    ts = received_us
    if m.ts_path is not None:
        ts = _ts_value(_dig(data, m.ts_path, m.tag), m.tag)
    if isinstance(value, dict | list):
        _point(m.tag, value, received_us, out)
    else:
        out.add(m.tag, ts, value, GOOD)


def _dig(data: Any, path: tuple[str, ...], tag: str) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            raise UndecodablePayload(
                f"field '{'.'.join(path)}' (tag '{tag}') is not in the payload"
            )
        data = data[part]
    return data


def _ts(item: dict[str, Any], received_us: int) -> int:
    if "ts_us" in item:
        value = item["ts_us"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise UndecodablePayload("'ts_us' must be an integer (epoch microseconds)")
        return value
    if "ts" in item and item["ts"] is not None:
        return _ts_value(item["ts"], "")
    return received_us


def _ts_value(value: Any, tag: str) -> int:
    if isinstance(value, bool):
        raise UndecodablePayload(f"timestamp {value!r} is not a time")
    if isinstance(value, int | float):
        # Epoch milliseconds, as UNS publishers and Sparkplug B use.
        return round(value * 1000)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UndecodablePayload(f"timestamp {value!r} is not ISO 8601") from None
        if dt.tzinfo is None:
            raise UndecodablePayload(f"timestamp {value!r} has no time zone")
        return (dt - EPOCH) // timedelta(microseconds=1)
    raise UndecodablePayload(f"timestamp {value!r} is not a time{f' (tag {tag!r})' if tag else ''}")


def _quality(value: Any) -> int:
    if value is None:
        return GOOD
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return value
    if isinstance(value, str) and value.lower() in QUALITY_NAMES:
        return QUALITY_NAMES[value.lower()]
    raise UndecodablePayload(
        f"quality {value!r} is neither an OPC UA status code nor good/uncertain/bad"
    )
