"""The edge spool: an append-only, fsync'd, size-bounded store of batches on local disk.

Every batch a source produces is appended here (and fsync'd) before the source is told it was
taken; it leaves only when the platform acknowledged that it stored it (`ack`). Layout of the
directory:

- `seg-<first seq>.spool`: segments of records `header | meta | payload`, where the header is
  `<4sQIIII` (magic, sequence number, points, meta length, payload length, CRC-32 of meta and
  payload), meta is msgpack (the source's resume cursor) and payload is `codec.encode(batch)`.
  A torn tail (the process died mid-write) fails its length or CRC check and is cut off on open.
- `acks.log`: the sequence numbers acknowledged by the platform, 8 bytes each. Written without
  fsync: an acknowledgement lost to a power cut only makes the batch be sent again, which the
  platform's (tag, timestamp) idempotency turns into counted duplicates.
- `cursors.json`: the resume cursors of sources whose records were already deleted.

A segment is deleted once every record in it is acknowledged. When the spool holds
`max_bytes`, `append` blocks (back-pressure: sources stop reading) until the forwarder frees
space; the full state is logged once per episode and exported as a metric.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
import zlib
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

MAGIC = b"IFSP"
HEADER = struct.Struct("<4sQIIII")
ACK = struct.Struct("<Q")
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_SEGMENT_BYTES = 16 << 20


class SpoolClosed(RuntimeError):
    """The spool was closed while a caller waited on it."""


class SpoolFull(TimeoutError):
    """`append` timed out waiting for space (only with a timeout)."""


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Depth and state of the spool (for metrics and the log)."""

    bytes: int
    max_bytes: int
    records: int
    points: int
    appended_records: int
    acked_records: int
    full: bool
    full_episodes: int
    oldest_received_us: int | None


@dataclass(slots=True)
class _Entry:
    segment: int  # first seq of the segment
    offset: int
    size: int
    points: int
    received_us: int


@dataclass(slots=True)
class _Segment:
    first: int
    path: Path
    size: int = 0
    seqs: list[int] = field(default_factory=list)
    unacked: int = 0
    cursors: dict[str, int] = field(default_factory=dict)
    fd: int = -1


def fsync_dir(directory: Path) -> None:
    """Make a file creation, rename or deletion in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append-only batch store with acknowledgements; thread-safe (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if max_bytes <= 0 or segment_bytes <= 0:
            raise ValueError("max_bytes and segment_bytes must be positive")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._cond = threading.Condition()
        self._closed = False
        self._segments: dict[int, _Segment] = {}
        self._entries: dict[int, _Entry] = {}
        self._pending: list[int] = []  # unacked seqs, ascending
        self._acked: set[int] = set()
        self._cursors: dict[str, int] = {}
        self._bytes = 0
        self._points = 0
        self._next_seq = 1
        self._appended = 0
        self._acked_count = 0
        self._full = False
        self._full_episodes = 0
        self._active: _Segment | None = None
        self._recover()
        self._ack_file = open(self.path / "acks.log", "ab")  # noqa: SIM115 (kept open)

    # --- recovery ------------------------------------------------------------------------

    def _recover(self) -> None:
        cursor_file = self.path / "cursors.json"
        if cursor_file.exists():
            self._cursors = {str(k): int(v) for k, v in json.loads(cursor_file.read_text()).items()}
        acks_path = self.path / "acks.log"
        acked: set[int] = set()
        if acks_path.exists():
            raw = acks_path.read_bytes()
            whole = len(raw) - len(raw) % ACK.size
            acked = {v for (v,) in ACK.iter_unpack(raw[:whole])}
        paths = sorted(self.path.glob("seg-*.spool"), key=lambda p: int(p.stem[4:]))
        for p in paths:
            seg = _Segment(int(p.stem[4:]), p)
            self._scan(seg, acked)
            self._segments[seg.first] = seg
            if seg.seqs:
                self._next_seq = max(self._next_seq, seg.seqs[-1] + 1)
            else:
                self._next_seq = max(self._next_seq, seg.first)
        for seg in list(self._segments.values()):
            if seg.unacked == 0:
                self._drop_segment(seg)
        self._acked = {s for s in acked if s in self._entries}
        self._pending.sort()
        self._rewrite_acks()
        if self._pending:
            log.info(
                "spool %s: %d batches (%d points) not yet acknowledged; they will be replayed",
                self.path,
                len(self._pending),
                self._points,
            )

    def _scan(self, seg: _Segment, acked: set[int]) -> None:
        data = seg.path.read_bytes()
        pos = 0
        while pos + HEADER.size <= len(data):
            magic, seq, points, meta_len, payload_len, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + meta_len + payload_len
            if magic != MAGIC or end > len(data):
                break
            body = data[pos + HEADER.size : end]
            if zlib.crc32(body) != crc:
                break
            meta = msgpack.unpackb(body[:meta_len]) if meta_len else {}
            cursor = meta.get("cursor")
            if cursor:
                seg.cursors[str(cursor[0])] = int(cursor[1])
                self._cursors[str(cursor[0])] = int(cursor[1])
            received = int(meta.get("received_us", 0))
            self._entries[seq] = _Entry(seg.first, pos, end - pos, points, received)
            seg.seqs.append(seq)
            if seq not in acked:
                seg.unacked += 1
                self._pending.append(seq)
                self._points += points
            pos = end
        if pos < len(data):
            log.warning(
                "spool segment %s: cut %d bytes of a torn or corrupt tail",
                seg.path,
                len(data) - pos,
            )
            with open(seg.path, "r+b") as f:
                f.truncate(pos)
                os.fsync(f.fileno())
        seg.size = pos
        self._bytes += pos

    # --- writing -------------------------------------------------------------------------

    def append(
        self,
        batch: TelemetryBatch,
        *,
        cursor: tuple[str, int] | None = None,
        timeout: float | None = None,
    ) -> int:
        """Store `batch` durably (fsync) and return its sequence number; blocks while full.

        `cursor` (source name, position) is stored in the same record, so a source restarted
        after a crash resumes exactly after the last batch that reached the disk.
        """
        payload = codec.encode(batch)
        meta_doc: dict[str, object] = {"received_us": int(batch.received_us)}
        if cursor is not None:
            meta_doc["cursor"] = [cursor[0], int(cursor[1])]
        meta = msgpack.packb(meta_doc)
        size = HEADER.size + len(meta) + len(payload)
        if size > self.max_bytes:
            raise ValueError(f"a batch of {size} bytes does not fit a spool of {self.max_bytes}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._bytes + size > self.max_bytes:
                if self._closed:
                    raise SpoolClosed("the spool is closed")
                if not self._full:
                    self._full = True
                    self._full_episodes += 1
                    log.warning(
                        "spool %s is full (%d of %d bytes): sources are paused until the "
                        "platform acknowledges the backlog",
                        self.path,
                        self._bytes,
                        self.max_bytes,
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise SpoolFull(f"spool {self.path} is full")
                self._cond.wait(remaining if remaining is not None else 1.0)
            if self._closed:
                raise SpoolClosed("the spool is closed")
            if self._full:
                self._full = False
                log.info("spool %s has room again; sources resume", self.path)
            seq = self._next_seq
            seg = self._writable_segment(seq, size)
            body = meta + payload
            record = HEADER.pack(MAGIC, seq, len(batch), len(meta), len(payload), zlib.crc32(body))
            offset = seg.size
            os.pwrite(seg.fd, record + body, offset)
            # The fsync runs under the lock: appends are serialised anyway (one file position),
            # and a record must be durable before anyone may send it.
            os.fsync(seg.fd)
            seg.size += size
            seg.seqs.append(seq)
            seg.unacked += 1
            if cursor is not None:
                seg.cursors[cursor[0]] = int(cursor[1])
                self._cursors[cursor[0]] = int(cursor[1])
            self._entries[seq] = _Entry(seg.first, offset, size, len(batch), batch.received_us)
            self._pending.append(seq)
            self._bytes += size
            self._points += len(batch)
            self._next_seq = seq + 1
            self._appended += 1
            self._cond.notify_all()
            return seq

    def _writable_segment(self, seq: int, size: int) -> _Segment:
        seg = self._active
        if seg is not None and seg.size and seg.size + size > self.segment_bytes:
            seg = None
        if seg is None:
            path = self.path / f"seg-{seq:016d}.spool"
            seg = _Segment(seq, path)
            seg.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            fsync_dir(self.path)
            self._segments[seq] = seg
            self._active = seg
        return seg

    # --- reading and acknowledging -------------------------------------------------------

    def pending(self, *, below: int | None = None, limit: int | None = None) -> list[int]:
        """Unacknowledged sequence numbers in order (those `< below`, at most `limit`)."""
        with self._cond:
            end = len(self._pending) if below is None else bisect_left(self._pending, below)
            if limit is not None:
                end = min(end, limit)
            return self._pending[:end]

    def newest(self, *, at_least: int, max_points: int, window_us: int | None = None) -> list[int]:
        """The newest unacknowledged seqs `>= at_least`, in order, holding at most `max_points`
        and received at most `window_us` before the newest one."""
        with self._cond:
            start = bisect_left(self._pending, at_least)
            out: list[int] = []
            total = 0
            pending = self._pending[start:]
            floor = None
            if pending and window_us is not None:
                floor = self._entries[pending[-1]].received_us - window_us
            for seq in reversed(pending):
                entry = self._entries[seq]
                pts = entry.points
                if out and (
                    total + pts > max_points or (floor is not None and entry.received_us < floor)
                ):
                    break
                out.append(seq)
                total += pts
            out.reverse()
            return out

    def points(self, seqs: Iterable[int]) -> int:
        """Total points of the records `seqs`."""
        with self._cond:
            return sum(self._entries[s].points for s in seqs)

    def read(self, seq: int) -> TelemetryBatch:
        """The batch stored under `seq` (KeyError once it was acknowledged and dropped)."""
        with self._cond:
            entry = self._entries[seq]
            seg = self._segments[entry.segment]
            if seg.fd < 0:
                seg.fd = os.open(seg.path, os.O_RDWR)
            # Under the lock: an acknowledgement may close and delete the segment otherwise.
            data = os.pread(seg.fd, entry.size, entry.offset)
        _, _, _, meta_len, _, _ = HEADER.unpack_from(data, 0)
        return codec.decode(data[HEADER.size + meta_len :])

    def ack(self, seqs: Iterable[int]) -> None:
        """The platform stored these records: forget them, delete segments that are all done."""
        with self._cond:
            done = [s for s in seqs if s in self._entries and s not in self._acked]
            if not done:
                return
            self._ack_file.write(b"".join(ACK.pack(s) for s in done))
            self._ack_file.flush()
            dropped = False
            for s in done:
                self._acked.add(s)
                entry = self._entries[s]
                self._points -= entry.points
                seg = self._segments[entry.segment]
                seg.unacked -= 1
                i = bisect_left(self._pending, s)
                if i < len(self._pending) and self._pending[i] == s:
                    del self._pending[i]
                self._acked_count += 1
            for seg in list(self._segments.values()):
                if seg.unacked == 0 and seg is not self._active:
                    self._drop_segment(seg)
                    dropped = True
            if self._active is not None and self._active.unacked == 0 and self._active.size:
                # An idle, fully acknowledged active segment is rolled over and dropped too.
                seg = self._active
                self._active = None
                self._drop_segment(seg)
                dropped = True
            if dropped:
                self._rewrite_acks()
            self._cond.notify_all()

    def _drop_segment(self, seg: _Segment) -> None:
        # Keep the resume cursors of the records about to disappear.
        if seg.cursors:
            tmp = self.path / "cursors.json.tmp"
            with open(tmp, "w") as f:
                json.dump(self._cursors, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / "cursors.json")
        if seg.fd >= 0:
            os.close(seg.fd)
            seg.fd = -1
        seg.path.unlink(missing_ok=True)
        fsync_dir(self.path)
        for s in seg.seqs:
            self._entries.pop(s, None)
            self._acked.discard(s)
        self._bytes -= seg.size
        del self._segments[seg.first]

    def _rewrite_acks(self) -> None:
        tmp = self.path / "acks.log.tmp"
        with open(tmp, "wb") as f:
            f.write(b"".join(ACK.pack(s) for s in sorted(self._acked)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / "acks.log")
        old = getattr(self, "_ack_file", None)
        if old is not None:
            old.close()
            self._ack_file = open(self.path / "acks.log", "ab")  # noqa: SIM115

    # --- waiting, state ------------------------------------------------------------------

    def wait_for_append(self, after_seq: int, timeout: float) -> bool:
        """Wait until a record with seq > `after_seq` exists; False on timeout or close."""
        with self._cond:
            return (
                self._cond.wait_for(lambda: self._closed or self._next_seq - 1 > after_seq, timeout)
                and not self._closed
            )

    @property
    def next_seq(self) -> int:
        """The sequence number the next append will get."""
        with self._cond:
            return self._next_seq

    def cursor(self, source: str) -> int | None:
        """The last position `source` stored with an append, or None."""
        with self._cond:
            return self._cursors.get(source)

    def stats(self) -> SpoolStats:
        """Depth and state for metrics."""
        with self._cond:
            oldest = self._entries[self._pending[0]].received_us if self._pending else None
            return SpoolStats(
                bytes=self._bytes,
                max_bytes=self.max_bytes,
                records=len(self._pending),
                points=self._points,
                appended_records=self._appended,
                acked_records=self._acked_count,
                full=self._full,
                full_episodes=self._full_episodes,
                oldest_received_us=oldest,
            )

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def close(self) -> None:
        """Release the files; waiting appends raise SpoolClosed."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            for seg in self._segments.values():
                if seg.fd >= 0:
                    os.close(seg.fd)
                    seg.fd = -1
            self._ack_file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
