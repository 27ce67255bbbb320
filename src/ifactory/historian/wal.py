"""Write-ahead log: columnar batch records, each synced to disk before `write` returns.

Record = 20-byte header (magic, payload length, point count, flags, crc32) + payload
(int32 tags | int64 ts | float64 values | uint32 quality | optional text). The crc covers the
first four header fields and the payload, so a torn or corrupted tail is detected on replay
and truncated: everything before it was acknowledged, the torn record never was.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ifactory.historian.textcodec import decode_text, encode_text

log = logging.getLogger(__name__)

MAGIC = 0x1FAC7001
_HEAD = struct.Struct("<IIII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size
FLAG_TEXT = 1
SUFFIX = ".wal"


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One replayed batch."""

    tags: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None


def segment_path(directory: Path, seq: int) -> Path:
    """The file of WAL segment `seq`."""
    return directory / f"{seq:016d}{SUFFIX}"


def list_segments(directory: Path) -> list[int]:
    """Sequence numbers of the WAL segments present, ascending."""
    return sorted(int(p.name[: -len(SUFFIX)]) for p in directory.glob(f"*{SUFFIX}"))


def fsync_dir(directory: Path) -> None:
    """Make a file creation or removal in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WalWriter:
    """Appends records to one segment file; every append is fdatasync'ed before it returns."""

    def __init__(self, directory: Path, seq: int) -> None:
        self.seq = seq
        self.path = segment_path(directory, seq)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fsync_dir(directory)
        self.bytes = os.fstat(self._fd).st_size

    def append(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
    ) -> None:
        """Write one record and wait until it is on disk."""
        arrays = (
            np.ascontiguousarray(tags, dtype=np.int32),
            np.ascontiguousarray(ts, dtype=np.int64),
            np.ascontiguousarray(values, dtype=np.float64),
            np.ascontiguousarray(quality, dtype=np.uint32),
        )
        parts = [memoryview(a.data).cast("B") for a in arrays]
        flags = 0
        if text is not None:
            parts.append(memoryview(encode_text(text)))
            flags |= FLAG_TEXT
        length = sum(p.nbytes for p in parts)
        head = _HEAD.pack(MAGIC, length, len(ts), flags)
        crc = zlib.crc32(head)
        for p in parts:
            crc = zlib.crc32(p, crc)
        buffers = [memoryview(head + _CRC.pack(crc)), *parts]
        total = HEADER_SIZE + length
        written = os.writev(self._fd, buffers)
        if written != total:
            # A short write to a regular file means the disk is full or failing; write the
            # rest so the record is whole, or fail loudly (the caller has not acknowledged).
            rest = b"".join(bytes(b) for b in buffers)[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        os.fdatasync(self._fd)
        self.bytes += total

    def close(self) -> None:
        """Close the segment file (it stays on disk until its head is flushed)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_segment(path: Path) -> Iterator[WalRecord]:
    """Records of a segment in order; a torn or corrupt tail is truncated away (and logged)."""
    data = path.read_bytes()
    offset = 0
    size = len(data)
    while offset < size:
        record = _parse(data, offset)
        if record is None:
            log.warning(
                "WAL %s: torn or corrupt record at byte %d of %d; truncating", path, offset, size
            )
            with open(path, "r+b") as f:
                f.truncate(offset)
                f.flush()
                os.fsync(f.fileno())
            return
        rec, offset = record
        yield rec


def _parse(data: bytes, offset: int) -> tuple[WalRecord, int] | None:
    if offset + HEADER_SIZE > len(data):
        return None
    magic, length, n, flags = _HEAD.unpack_from(data, offset)
    if magic != MAGIC:
        return None
    (crc,) = _CRC.unpack_from(data, offset + _HEAD.size)
    start = offset + HEADER_SIZE
    end = start + length
    if end > len(data) or length < 24 * n:
        return None
    view = memoryview(data)
    if zlib.crc32(view[start:end], zlib.crc32(view[offset : offset + _HEAD.size])) != crc:
        return None
    pos = start
    tags = np.frombuffer(data, dtype=np.int32, count=n, offset=pos).copy()
    pos += 4 * n
    ts = np.frombuffer(data, dtype=np.int64, count=n, offset=pos).copy()
    pos += 8 * n
    values = np.frombuffer(data, dtype=np.float64, count=n, offset=pos).copy()
    pos += 8 * n
    quality = np.frombuffer(data, dtype=np.uint32, count=n, offset=pos).copy()
    pos += 4 * n
    text = decode_text(view[pos:end], n) if flags & FLAG_TEXT else None
    return WalRecord(tags, ts, values, quality, text), end
