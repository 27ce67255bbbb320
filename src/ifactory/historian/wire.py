"""The binary wire and spool format of a TelemetryBatch: columnar msgpack, zstd-compressed.

Never pickle: decoding runs no code, and the format is versioned so a spool written by one
release is read by the next. Tag keys are dictionary-encoded (each distinct key once, then an
int32 index per point), numeric columns travel as little-endian raw arrays.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import zstandard

from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import TelemetryBatch

FORMAT_VERSION = 1
CONTENT_TYPE = "application/vnd.ifactory.batch"
ZSTD_LEVEL = 1  # fast; telemetry compresses well even at level 1
MAX_DECODED_BYTES = 512 * 1024 * 1024  # refuse decompression bombs

_I32 = np.dtype("<i4")
_I64 = np.dtype("<i8")
_F64 = np.dtype("<f8")
_U32 = np.dtype("<u4")


def encode(batch: TelemetryBatch, *, level: int = ZSTD_LEVEL) -> bytes:
    """The batch as zstd-compressed msgpack (see the module docstring)."""
    doc: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "n": len(batch),
        "received_us": int(batch.received_us),
        "source": batch.source,
        "ts": np.ascontiguousarray(batch.ts, dtype=_I64).tobytes(),
        "values": np.ascontiguousarray(batch.values, dtype=_F64).tobytes(),
        "quality": np.ascontiguousarray(batch.quality, dtype=_U32).tobytes(),
        "text": None if batch.text is None else [_text(x) for x in batch.text.tolist()],
    }
    if batch.resolved:
        doc["tag_ids"] = np.ascontiguousarray(batch.tags, dtype=_I32).tobytes()
    else:
        keys, index = np.unique(batch.tags.astype(str), return_inverse=True)
        doc["tag_keys"] = keys.tolist()
        doc["tag_index"] = index.astype(_I32).tobytes()
    packed: bytes = msgpack.packb(doc, use_bin_type=True)
    return zstandard.ZstdCompressor(level=level).compress(packed)


def _text(x: object) -> str | None:
    return None if x is None else str(x)


def decode(data: bytes) -> TelemetryBatch:
    """The batch encoded by `encode`; a malformed payload raises InvalidInput."""
    try:
        packed = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_DECODED_BYTES)
        doc = msgpack.unpackb(packed, raw=False, strict_map_key=True)
    except (zstandard.ZstdError, ValueError, msgpack.UnpackException) as exc:
        raise InvalidInput(
            f"not a valid {CONTENT_TYPE} payload: {exc}", loc=["body"], type="invalid_payload"
        ) from exc
    if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION:
        raise InvalidInput(
            f"unsupported batch format version (this release reads version {FORMAT_VERSION})",
            loc=["body", "v"],
            type="invalid_payload",
        )
    try:
        n = int(doc["n"])
        ts = np.frombuffer(doc["ts"], dtype=_I64)
        values = np.frombuffer(doc["values"], dtype=_F64)
        quality = np.frombuffer(doc["quality"], dtype=_U32)
        if "tag_ids" in doc:
            tags: np.ndarray[Any, Any] = np.frombuffer(doc["tag_ids"], dtype=_I32)
        else:
            keys = np.array([*list(doc["tag_keys"]), ""], dtype=object)[:-1]
            index = np.frombuffer(doc["tag_index"], dtype=_I32)
            if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(keys)):
                raise ValueError("tag index out of range")
            tags = keys[index]
        text = doc.get("text")
        text_arr = None if text is None else np.array([*list(text), None], dtype=object)[:-1]
        batch = TelemetryBatch(
            tags.astype(np.int32) if tags.dtype.kind in "iu" else tags,
            ts.astype(np.int64),
            values.astype(np.float64),
            quality.astype(np.uint32),
            int(doc["received_us"]),
            str(doc.get("source", "")),
            text_arr,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed batch: {exc}", loc=["body"], type="invalid_payload") from exc
    if len(batch) != n:
        raise InvalidInput(
            f"the batch says {n} points but holds {len(batch)}",
            loc=["body", "n"],
            type="invalid_payload",
        )
    return batch
