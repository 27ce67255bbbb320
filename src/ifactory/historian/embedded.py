"""The embedded historian store: WAL + in-memory head + compressed per-tag blocks in SQLite.

Write path (one writer at a time): find duplicates (inside the batch, then against stored
points for the few at or below the tag's high-water mark), append the new points to the WAL
and fdatasync, then publish them in the head. The head is swapped when it is full (or old)
and flushed by a background thread into blocks and 1-minute rollups; its WAL segments are
deleted once that commit is on disk. On open the WAL segments not yet flushed are replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from ifactory.core.errors import Unavailable
from ifactory.historian import catalog
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.dedup import batch_columns, classify_repeats, repeats_in_batch
from ifactory.historian.diskdedup import BlockCache, find_on_disk
from ifactory.historian.flush import prepare_flush
from ifactory.historian.hashing import point_hash
from ifactory.historian.head import Head
from ifactory.historian.reads import ViewReads
from ifactory.historian.snapshot import Snapshot
from ifactory.historian.store import (
    MINUTE_US,
    Latest,
    RawPoints,
    RetentionResult,
    WriteResult,
)
from ifactory.historian.tagstate import NO_TS, TagState
from ifactory.historian.textcodec import has_text
from ifactory.historian.wal import WalWriter, fsync_dir, list_segments, read_segment, segment_path

log = logging.getLogger(__name__)

DAY_US = 86_400_000_000
DB_FILE = "blocks.sqlite"
WAL_DIR = "wal"
LOCK_FILE = "LOCK"


class EmbeddedStore(ViewReads):
    """A `HistorianStore` in one directory, for one process (guarded by a lock file)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        counter_max: Mapping[int, float] | None = None,
        head_points: int = 4_000_000,
        head_max_age_s: float = 600.0,
        carry_lookback_us: int = DAY_US,
        flush_chunk_points: int = 1_000_000,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._wal_dir = self.path / WAL_DIR
        self._wal_dir.mkdir(exist_ok=True)
        self._lock_fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise Unavailable(
                f"historian directory {self.path} is in use by another store"
            ) from None
        self.head_points = head_points
        self.head_max_age_s = head_max_age_s
        self.carry_lookback_us = carry_lookback_us
        self.flush_chunk_points = flush_chunk_points
        self._counter_max = np.full(0, np.nan)
        if counter_max:
            self.set_counter_max(counter_max)

        # _lock guards what readers see (head length, flushing head, live state, the
        # commit of a flush); _write_lock serialises writers; _db_lock the write connection.
        self._lock = threading.Lock()
        self._flush_cv = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[Any] = []
        self._closed = False
        self._closing = False

        db_path = self.path / DB_FILE
        catalog.create(db_path)
        self._db_path = db_path
        self._wconn = catalog.connect(db_path)
        self._compressor = zstandard.ZstdCompressor(level=1)
        self._block_cache = BlockCache()
        state = catalog.get_meta(self._wconn, "state")
        self._disk = TagState.decode(state) if state is not None else TagState()
        flushed = catalog.get_meta(self._wconn, "flushed_wal_seq")
        self._flushed_wal_seq = int(flushed) if flushed is not None else -1
        seq = catalog.get_meta(self._wconn, "flush_seq")
        self._flush_seq = int(seq) if seq is not None else 0
        # Block and point totals are kept in the catalog's meta table, updated in the same
        # transaction as each flush and retention, so stats() never scans the blocks table.
        totals = catalog.get_meta(self._wconn, "totals")
        if totals is None:
            self._totals = catalog.totals(self._wconn)
            catalog.put_meta(self._wconn, "totals", _encode_totals(self._totals))
            self._wconn.commit()
        else:
            self._totals = _decode_totals(totals)

        self._live = self._disk.copy()
        self._flushing: Head | None = None
        self._head = self._replay()
        self._next_wal_seq = max([self._flushed_wal_seq, *self._head.wal_segments]) + 1
        self._wal = WalWriter(self._wal_dir, self._next_wal_seq)
        self._head.wal_segments.append(self._next_wal_seq)
        self._next_wal_seq += 1
        self.flush_count = 0
        self.flush_seconds = 0.0
        self.stall_seconds = 0.0  # writers waiting for the previous flush (back-pressure)
        self._flush_error: BaseException | None = None
        self._flusher = threading.Thread(
            target=self._flush_loop, name="historian-flush", daemon=True
        )
        self._flusher.start()

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> EmbeddedStore:
        """Open (or create) the store in `path`, replaying its WAL."""
        return cls(path, **options)

    # -- configuration --------------------------------------------------------------------
    # -- open / close ---------------------------------------------------------------------
    def _replay(self) -> Head:
        segments = list_segments(self._wal_dir)
        replay: list[int] = []
        for s in segments:
            if s <= self._flushed_wal_seq:
                segment_path(self._wal_dir, s).unlink()
            else:
                replay.append(s)
        head = Head(self.head_points + self.head_points // 4, replay)
        points = 0
        for s in replay:
            for rec in read_segment(segment_path(self._wal_dir, s)):
                if len(rec.ts) == 0:
                    continue
                self._live.grow(int(rec.tags.max()) + 1)
                head.n = head.append(rec.tags, rec.ts, rec.values, rec.quality, rec.text)
                self._update_live(rec.tags, rec.ts, rec.values, rec.quality, rec.text)
                points += len(rec.ts)
        if replay:
            fsync_dir(self._wal_dir)
            log.info(
                "historian %s: replayed %d points from %d WAL segments",
                self.path,
                points,
                len(replay),
            )
        return head

    def close(self) -> None:
        """Flush the head to blocks, stop the flush thread and release the directory."""
        with self._write_lock:
            if self._closed:
                return
            if self._head.n:
                self._rotate()
            with self._lock:
                while self._flushing is not None and self._flush_error is None:
                    self._flush_cv.wait(0.5)
                self._closing = True
                self._flush_cv.notify_all()
            self._flusher.join()
            self._wal.close()
            if self._head.n == 0:
                for s in self._head.wal_segments:
                    with contextlib.suppress(FileNotFoundError):
                        segment_path(self._wal_dir, s).unlink()
            with self._lock:
                self._closed = True
            for conn in self._readers:
                conn.close()
            self._wconn.close()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    # -- write path -----------------------------------------------------------------------
    def write(self, batch: TelemetryBatch) -> WriteResult:
        """Store a resolved batch durably; duplicates are ignored, conflicts counted."""
        n = len(batch)
        tags, ts, values, quality, text = batch_columns(batch)
        if n == 0:
            return WriteResult(0, 0, 0)
        with self._write_lock:
            self._check_open()
            if self._flush_error is not None:
                raise Unavailable("the historian cannot flush to disk") from self._flush_error
            size = int(tags.max()) + 1
            if size > len(self._live):
                with self._lock:
                    self._live.grow(size)

            h = point_hash(tags, ts)
            candidate = np.ones(n, dtype=np.bool_)
            later = first_of = np.zeros(0, dtype=np.int64)
            hs = np.sort(h)
            if (hs[1:] == hs[:-1]).any():
                later, first_of = repeats_in_batch(tags, ts)
                candidate[later] = False

            # Only points at or below their tag's high-water mark can already be stored.
            below = candidate & (ts <= self._live.hwm[tags])
            found = np.zeros(0, dtype=np.int64)
            stored: tuple[
                npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.object_] | None
            ] = (
                np.zeros(0),
                np.zeros(0, dtype=np.uint32),
                None,
            )
            if below.any():
                probe = np.flatnonzero(below)
                qi, sv, sq, stext = self._lookup_stored(tags[probe], ts[probe], h[probe])
                found = probe[qi]
                stored = (sv, sq, stext)
                candidate[found] = False

            result = classify_repeats(
                tags, ts, values, quality, text, found, stored, later, first_of
            )
            new = np.flatnonzero(candidate)
            if len(new):
                if len(new) == n:
                    self._append(tags, ts, values, quality, text)
                else:
                    self._append(
                        tags[new],
                        ts[new],
                        values[new],
                        quality[new],
                        None if text is None else text[new],
                    )
            return WriteResult(
                inserted=len(new),
                duplicates=result[0],
                conflicts=len(result[1]),
                inserted_index=new.astype(np.int64),
                conflict_points=result[1],
            )

    def _lookup_stored(
        self, tags: npt.NDArray[np.int32], ts: npt.NDArray[np.int64], h: npt.NDArray[np.uint64]
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.float64],
        npt.NDArray[np.uint32],
        npt.NDArray[np.object_] | None,
    ]:
        """(query index, stored value, quality, text) of the queried points already stored."""
        conn = self._reader()
        with self._lock:
            heads = [self._head] + ([self._flushing] if self._flushing is not None else [])
            disk_hwm = self._disk.hwm
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        try:
            k = len(ts)
            hit = np.zeros(k, dtype=np.bool_)
            sv = np.full(k, np.nan)
            sq = np.zeros(k, dtype=np.uint32)
            stext: npt.NDArray[np.object_] | None = None
            for head in heads:
                rest = np.flatnonzero(~hit)
                if len(rest) == 0:
                    break
                qi, pos = head.find(tags[rest], ts[rest], h[rest])
                q = rest[qi]
                hit[q] = True
                sv[q] = head.values[pos]
                sq[q] = head.quality[pos]
                if head.text is not None:
                    stext = stext if stext is not None else np.full(k, None, dtype=object)
                    stext[q] = head.text[pos]
            rest = np.flatnonzero(~hit)
            inside = tags[rest] < len(disk_hwm)
            rest = rest[inside]
            rest = rest[ts[rest] <= disk_hwm[tags[rest]]]
            if len(rest):
                # (Only the writer thread uses the block cache.)
                found = find_on_disk(conn, self._block_cache, tags[rest], ts[rest])
                q = rest[found.index]
                hit[q] = True
                sv[q] = found.values
                sq[q] = found.quality
                if found.text is not None:
                    stext = stext if stext is not None else np.full(k, None, dtype=object)
                    stext[q] = found.text
            q = np.flatnonzero(hit)
            return q, sv[q], sq[q], None if stext is None else stext[q]
        finally:
            conn.execute("COMMIT")

    def _append(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
    ) -> None:
        """Log durably, then publish in the head; rotate the head when it is full or old."""
        if text is not None and not has_text(text):
            text = None
        self._wal.append(tags, ts, values, quality, text)
        head = self._head
        n_new = head.append(tags, ts, values, quality, text)
        with self._lock:
            head.n = n_new
            self._update_live(tags, ts, values, quality, text)
        if (
            n_new >= self.head_points
            or time.monotonic() - head.created_monotonic > self.head_max_age_s
        ):
            self._rotate()

    def _update_live(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
    ) -> None:
        live = self._live
        np.maximum.at(live.hwm, tags, ts)
        # (tag, ts) is unique among stored points, so at most one point per tag matches.
        latest = np.flatnonzero(ts == live.hwm[tags])
        lt = tags[latest]
        live.value[lt] = values[latest]
        live.quality[lt] = quality[latest]
        if text is not None:
            for tag, s in zip(lt.tolist(), text[latest].tolist(), strict=True):
                if s is None:
                    live.text.pop(tag, None)
                else:
                    live.text[tag] = s
        elif live.text:
            for tag in set(lt.tolist()) & live.text.keys():
                del live.text[tag]

    def _rotate(self) -> None:
        """Freeze the head for the flusher and start a new one (waits if a flush is running)."""
        waited = time.perf_counter()
        with self._lock:
            while self._flushing is not None:
                if self._flush_error is not None:
                    raise Unavailable("the historian cannot flush to disk") from self._flush_error
                self._flush_cv.wait(0.5)
        self.stall_seconds += time.perf_counter() - waited
        seq = self._next_wal_seq
        self._next_wal_seq += 1
        writer = WalWriter(self._wal_dir, seq)
        head = Head(self.head_points + self.head_points // 4, [seq])
        with self._lock:
            self._flushing = self._head
            self._head = head
            self._flush_cv.notify_all()
        self._wal.close()
        self._wal = writer

    def flush(self) -> None:
        """Flush the head to blocks now and wait for it (tests, shutdown, compaction points)."""
        with self._write_lock:
            self._check_open()
            if self._head.n:
                self._rotate()
            with self._lock:
                while self._flushing is not None and self._flush_error is None:
                    self._flush_cv.wait(0.5)
                if self._flush_error is not None:
                    raise Unavailable("the historian cannot flush to disk") from self._flush_error

    # -- background flush -----------------------------------------------------------------
    def _flush_loop(self) -> None:
        failures = 0
        while True:
            with self._lock:
                while self._flushing is None and not self._closing:
                    self._flush_cv.wait()
                head = self._flushing
                if head is None:
                    return
            try:
                started = time.perf_counter()
                self._flush_head(head)
                self.flush_seconds += time.perf_counter() - started
                self.flush_count += 1
                failures = 0
                del head  # let the flushed arrays go now, not at the next flush
            except Exception as exc:
                failures += 1
                log.exception(
                    "historian flush failed (attempt %d); the WAL keeps the data", failures
                )
                if failures >= 5:
                    with self._lock:
                        self._flush_error = exc
                        self._flush_cv.notify_all()
                    return
                time.sleep(0.2 * failures)

    def _flush_head(self, head: Head) -> None:
        view = head.view()
        with self._db_lock:
            conn = self._wconn
            out = prepare_flush(
                view,
                self._disk,
                conn,
                self._counter_max,
                self._compressor,
                self.flush_chunk_points,
            )
            seq = self._flush_seq + 1
            totals = (
                self._totals[0] + len(out.blocks),
                self._totals[1] + sum(b.n for b in out.blocks),
            )
            conn.execute("BEGIN IMMEDIATE")
            try:
                catalog.insert_blocks(conn, out.blocks, seq)
                catalog.insert_rollups(conn, out.segments, seq)
                catalog.put_meta(conn, "totals", _encode_totals(totals))
                catalog.put_meta(conn, "state", out.state.encode())
                catalog.put_meta(conn, "flushed_wal_seq", str(max(head.wal_segments)).encode())
                catalog.put_meta(conn, "flush_seq", str(seq).encode())
                # Readers whose snapshot already holds this commit ignore the frozen head
                # (see _read_view), so the slow fsync'ed commit runs outside the lock.
                head.flush_seq = seq
                conn.execute("COMMIT")
            except BaseException:
                head.flush_seq = None
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            with self._lock:
                self._disk = out.state
                self._flush_seq = seq
                self._flushing = None
                self._totals = totals
                self._flush_cv.notify_all()
        for s in head.wal_segments:
            with contextlib.suppress(FileNotFoundError):
                segment_path(self._wal_dir, s).unlink()
        fsync_dir(self._wal_dir)

    # -- reads ----------------------------------------------------------------------------
    def _reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = catalog.connect(self._db_path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def _read_view(self) -> Snapshot:
        conn = self._reader()
        with self._lock:
            self._check_open()
            heads = [self._head.view()]
            flushing = self._flushing
            conn.execute("BEGIN")
            row = conn.execute("SELECT value FROM meta WHERE key = 'flush_seq'").fetchone()
            capacity = len(self._live)
        if flushing is not None:
            on_disk = int(row[0]) if row is not None else 0
            # A frozen head whose flush is already in this snapshot must not count twice.
            if flushing.flush_seq is None or flushing.flush_seq > on_disk:
                heads.append(flushing.view())
        return Snapshot(conn, heads, self._counter_max, capacity)

    def latest(self, tag_ids: npt.ArrayLike | None = None) -> Latest:
        """The most recent point per tag (all tags with data when `tag_ids` is None)."""
        with self._lock:
            live = self._live
            if tag_ids is None:
                ids = np.flatnonzero(live.hwm != NO_TS).astype(np.int32)
            else:
                ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
                ids = ids[(ids >= 0) & (ids < len(live))]
                ids = ids[live.hwm[ids] != NO_TS]
            text = None
            if live.text:
                found = [live.text.get(t) for t in ids.tolist()]
                if any(s is not None for s in found):
                    text = np.array(found, dtype=object)
            return Latest(
                ids, live.hwm[ids].copy(), live.value[ids].copy(), live.quality[ids].copy(), text
            )

    def raw(
        self,
        tag_ids: npt.ArrayLike,
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> RawPoints:
        """Stored points of `tag_ids` with start_us <= ts < end_us, sorted by (tag, ts)."""
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        with self._read_view() as snap:
            points = snap.points(ids, start_us, end_us)
        if limit is not None and len(points) > limit:
            points = RawPoints(
                points.tags[:limit],
                points.ts[:limit],
                points.values[:limit],
                points.quality[:limit],
                None if points.text is None else points.text[:limit],
            )
        return points

    def retention(self, older_than_us: int) -> RetentionResult:
        """Drop blocks and rollup segments that lie entirely before `older_than_us`."""
        self._check_open()
        with self._db_lock:
            conn = self._wconn
            conn.execute("BEGIN IMMEDIATE")
            try:
                blocks, points, segments = catalog.delete_older_than(
                    conn, older_than_us, older_than_us // MINUTE_US
                )
                totals = (self._totals[0] - blocks, self._totals[1] - points)
                catalog.put_meta(conn, "totals", _encode_totals(totals))
                conn.execute("COMMIT")
                with self._lock:
                    self._totals = totals
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        # Deleted blocks must not answer duplicate lookups any more (and ids may be reused).
        self._block_cache = BlockCache()
        log.info(
            "historian retention before %d: dropped %d blocks (%d points), %d rollup segments",
            older_than_us,
            blocks,
            points,
            segments,
        )
        return RetentionResult(blocks, points, segments)

    # -- introspection --------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts for metrics and benchmarks: points in memory, on disk, bytes on disk."""
        with self._lock:
            head_points = self._head.n + (self._flushing.n if self._flushing is not None else 0)
            blocks, disk_points = self._totals
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {
            "head_points": head_points,
            "disk_points": disk_points,
            "blocks": blocks,
            "bytes": size,
            "flushes": self.flush_count,
            "flush_ms_total": int(self.flush_seconds * 1000),
            "stall_ms_total": int(self.stall_seconds * 1000),
        }


def _encode_totals(totals: tuple[int, int]) -> bytes:
    return f"{totals[0]} {totals[1]}".encode()


def _decode_totals(data: bytes) -> tuple[int, int]:
    blocks, points = data.decode().split()
    return int(blocks), int(points)
