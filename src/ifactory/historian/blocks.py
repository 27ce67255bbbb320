"""Per-tag compressed blocks: the on-disk form of raw points.

A block holds the points of one tag from one flush, sorted by time. Timestamps are stored as
deltas and values as their float64 bytes, both byte-shuffled (byte 0 of every value, then
byte 1, ...) so zstd sees long runs of equal exponent and sign bytes; quality codes follow
as-is (almost always all zero, which zstd reduces to nothing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

from ifactory.historian.textcodec import decode_text, encode_text, has_text

ZSTD_LEVEL = 1

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    # zstandard (de)compressors are not thread-safe; one per thread.
    c: zstandard.ZstdCompressor | None = getattr(_local, "c", None)
    if c is None:
        c = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        _local.c = c
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _local.d = d
    return d


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """One row of the `blocks` table."""

    tag_id: int
    t_min: int
    t_max: int
    n: int
    data: bytes
    text: bytes | None


@dataclass(frozen=True, slots=True)
class DecodedBlock:
    """The points of one block."""

    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None


def _shuffled(arr: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Bytes of an 8-byte-per-item array as an (8, n) matrix: byte planes, C-contiguous."""
    return np.ascontiguousarray(arr.view(np.uint8).reshape(-1, 8).T)


def encode_blocks(
    tags: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint32],
    text: npt.NDArray[np.object_] | None,
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
) -> list[EncodedBlock]:
    """Encode points sorted by (tag, ts), one block per [starts[i], ends[i]) run of one tag."""
    deltas = np.diff(ts, prepend=ts[:1])
    deltas[starts] = 0
    ts_planes = _shuffled(deltas)
    value_planes = _shuffled(values)
    compress = _compressor().compress
    starts_l = starts.tolist()
    ends_l = ends.tolist()
    tag_l = tags[starts].tolist()
    tmin_l = ts[starts].tolist()
    tmax_l = ts[ends - 1].tolist()
    out: list[EncodedBlock] = []
    for i, (a, b) in enumerate(zip(starts_l, ends_l, strict=True)):
        raw = b"".join(
            (ts_planes[:, a:b].tobytes(), value_planes[:, a:b].tobytes(), quality[a:b].tobytes())
        )
        block_text = None
        if text is not None:
            t = text[a:b]
            if has_text(t):
                block_text = compress(encode_text(t))
        out.append(EncodedBlock(tag_l[i], tmin_l[i], tmax_l[i], b - a, compress(raw), block_text))
    return out


def decode_block(t_min: int, n: int, data: bytes, text: bytes | None) -> DecodedBlock:
    """Points of a block, sorted by ts."""
    decompress = _decompressor().decompress
    raw = decompress(data, max_output_size=20 * n)
    planes = np.frombuffer(raw, dtype=np.uint8, count=16 * n).reshape(2, 8, n)
    deltas = np.ascontiguousarray(planes[0].T).view(np.int64).reshape(n)
    ts = np.cumsum(deltas) + np.int64(t_min)
    values = np.ascontiguousarray(planes[1].T).view(np.float64).reshape(n)
    quality = np.frombuffer(raw, dtype=np.uint32, count=n, offset=16 * n).copy()
    decoded_text = None
    if text is not None:
        decoded_text = decode_text(decompress(text), n)
    return DecodedBlock(ts, values, quality, decoded_text)
