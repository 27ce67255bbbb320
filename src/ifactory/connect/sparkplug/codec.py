"""Sparkplug B payload codec: the Payload and Metric messages of Eclipse Tahu's sparkplug_b.proto.

The schema is built here with the field numbers of the official `sparkplug_b.proto`
(package org.eclipse.tahu.protobuf, Sparkplug B 3.0, chapter 6.4) into a *private* descriptor
pool, so it never clashes with another Sparkplug library loaded in the same process. Only
the parts a host reads are declared; protobuf skips the rest (DataSet, Template, PropertySet
values) as unknown fields, which keeps decoding fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "org.eclipse.tahu.protobuf"

# Sparkplug B 3.0, 6.4.16 "Datatypes".
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
TEXT_TYPES = frozenset({STRING, TEXT, UUID})
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _message(
    name: str, fields: list[tuple[str, int, int, int, str | None, int | None]]
) -> descriptor_pb2.DescriptorProto:
    m = descriptor_pb2.DescriptorProto(name=name)
    for fname, number, ftype, label, type_name, oneof in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof
    return m


def _build() -> tuple[Any, Any]:
    fd = descriptor_pb2.FileDescriptorProto(
        name="ifactory/sparkplug_b.proto", package=PACKAGE, syntax="proto2"
    )
    metric = _message(
        "Metric",
        [
            ("name", 1, _F.TYPE_STRING, _OPT, None, None),
            ("alias", 2, _F.TYPE_UINT64, _OPT, None, None),
            ("timestamp", 3, _F.TYPE_UINT64, _OPT, None, None),
            ("datatype", 4, _F.TYPE_UINT32, _OPT, None, None),
            ("is_historical", 5, _F.TYPE_BOOL, _OPT, None, None),
            ("is_transient", 6, _F.TYPE_BOOL, _OPT, None, None),
            ("is_null", 7, _F.TYPE_BOOL, _OPT, None, None),
            ("int_value", 10, _F.TYPE_UINT32, _OPT, None, 0),
            ("long_value", 11, _F.TYPE_UINT64, _OPT, None, 0),
            ("float_value", 12, _F.TYPE_FLOAT, _OPT, None, 0),
            ("double_value", 13, _F.TYPE_DOUBLE, _OPT, None, 0),
            ("boolean_value", 14, _F.TYPE_BOOL, _OPT, None, 0),
            ("string_value", 15, _F.TYPE_STRING, _OPT, None, 0),
            ("bytes_value", 16, _F.TYPE_BYTES, _OPT, None, 0),
        ],
    )
    metric.oneof_decl.add(name="value")
    payload = _message(
        "Payload",
        [
            ("timestamp", 1, _F.TYPE_UINT64, _OPT, None, None),
            ("metrics", 2, _F.TYPE_MESSAGE, _REP, f".{PACKAGE}.Payload.Metric", None),
            ("seq", 3, _F.TYPE_UINT64, _OPT, None, None),
            ("uuid", 4, _F.TYPE_STRING, _OPT, None, None),
            ("body", 5, _F.TYPE_BYTES, _OPT, None, None),
        ],
    )
    payload.nested_type.append(metric)
    fd.message_type.append(payload)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    payload_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))
    metric_cls = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{PACKAGE}.Payload.Metric")
    )
    return payload_cls, metric_cls


Payload, Metric = _build()


class PayloadInvalid(ValueError):
    """The bytes are not a Sparkplug B payload."""


def decode(data: bytes) -> Any:
    """Parse a Sparkplug B payload (a `Payload` message)."""
    payload = Payload()
    try:
        payload.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError, or others on garbage
        raise PayloadInvalid(f"not a Sparkplug B payload: {exc}") from None
    return payload


def metric_value(metric: Any, datatype: int) -> Any:
    """The metric's value as a Python value (None for null), signed types sign-extended.

    Sparkplug B 3.0 (6.4.16) carries signed integers as the two's complement bits in the
    unsigned `int_value`/`long_value` fields.
    """
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(metric, kind)
    bits = _SIGNED_BITS.get(datatype)
    if bits is not None and isinstance(value, int) and not isinstance(value, bool):
        value &= (1 << bits) - 1
        if value >= 1 << (bits - 1):
            value -= 1 << bits
    return value


def encode(
    *,
    timestamp_ms: int,
    seq: int | None,
    metrics: Sequence[tuple[str | None, int | None, int, Any, int | None]],
) -> bytes:
    """A payload of `(name, alias, datatype, value, timestamp_ms)` metrics (for NCMD and tests)."""
    payload = Payload(timestamp=timestamp_ms)
    if seq is not None:
        payload.seq = seq
    for name, alias, datatype, value, ts in metrics:
        m = payload.metrics.add(datatype=datatype)
        if name is not None:
            m.name = name
        if alias is not None:
            m.alias = alias
        if ts is not None:
            m.timestamp = ts
        if value is None:
            m.is_null = True
        elif datatype == BOOLEAN:
            m.boolean_value = bool(value)
        elif datatype in TEXT_TYPES:
            m.string_value = str(value)
        elif datatype == FLOAT:
            m.float_value = float(value)
        elif datatype == DOUBLE:
            m.double_value = float(value)
        elif datatype in (INT64, UINT64, DATETIME):
            m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
        else:
            m.int_value = int(value) & 0xFFFFFFFF
    return bytes(payload.SerializeToString())
