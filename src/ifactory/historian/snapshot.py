"""A consistent read view of the embedded store: a SQLite read transaction plus head snapshots.

The store opens the read transaction and captures the heads under the same lock the flusher
holds while it commits a head and forgets it, so a flushed head is seen exactly once: either
in memory or on disk, never both, never neither.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from ifactory.historian.catalog import decode_rollups, read_points, select_rollups
from ifactory.historian.head import HeadView
from ifactory.historian.rollups import Rows, compute_rows, merge_ordered
from ifactory.historian.sorting import order_by_tag_ts
from ifactory.historian.store import MINUTE_US, RawPoints


def row_key(
    tags: npt.NDArray[np.int32],
    buckets: npt.NDArray[np.int64],
    tag_ids: npt.NDArray[np.int32],
    b_lo: int,
    span: int,
) -> npt.NDArray[np.int64]:
    """Sortable int64 key of (tag in sorted `tag_ids`, bucket in [b_lo, b_lo + span))."""
    rank = np.searchsorted(tag_ids, tags).astype(np.int64)
    return rank * np.int64(span) + (buckets - np.int64(b_lo))


class Snapshot:
    """Reads against one consistent state; close it (or use `with`) to end the read transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        heads: list[HeadView],
        counter_max: npt.NDArray[np.float64],
        tag_capacity: int,
    ) -> None:
        self.conn = conn
        self.heads = heads
        self.counter_max = counter_max
        self.tag_capacity = tag_capacity
        self._decompressor = zstandard.ZstdDecompressor()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the read transaction."""
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    # -- raw points ------------------------------------------------------------------------
    def _member(self, tag_ids: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
        lut = np.zeros(max(self.tag_capacity, int(tag_ids.max(initial=-1)) + 1), dtype=np.bool_)
        lut[tag_ids] = True
        return lut

    def head_points(
        self, tag_ids: npt.NDArray[np.int32], start_us: int, end_us: int
    ) -> tuple[list[npt.NDArray[Any]], npt.NDArray[np.object_] | None]:
        """Unsorted head points of `tag_ids` in [start_us, end_us): ([columns], text)."""
        lut = self._member(tag_ids)
        cols: list[list[npt.NDArray[Any]]] = [[], [], [], []]
        texts: list[npt.NDArray[np.object_] | None] = []
        for h in self.heads:
            if len(h) == 0:
                continue
            m = lut[h.tags] & (h.ts >= start_us) & (h.ts < end_us)
            idx = np.flatnonzero(m)
            if len(idx) == 0:
                continue
            columns: tuple[npt.NDArray[Any], ...] = (h.tags, h.ts, h.values, h.quality)
            for c, arr in zip(cols, columns, strict=True):
                c.append(arr[idx])
            texts.append(None if h.text is None else h.text[idx])
        return _concat_columns(cols, texts)

    def points(self, tag_ids: npt.NDArray[np.int32], start_us: int, end_us: int) -> RawPoints:
        """Stored points (disk and heads) of sorted unique `tag_ids` in [start_us, end_us)."""
        if len(tag_ids) == 0 or end_us <= start_us:
            return RawPoints.empty()
        cols: list[list[npt.NDArray[Any]]] = [[], [], [], []]
        texts: list[npt.NDArray[np.object_] | None] = []
        for tag, block in read_points(self.conn, tag_ids.tolist(), start_us, end_us - 1):
            lo = int(np.searchsorted(block.ts, start_us, side="left"))
            hi = int(np.searchsorted(block.ts, end_us, side="left"))
            if hi <= lo:
                continue
            cols[0].append(np.full(hi - lo, tag, dtype=np.int32))
            cols[1].append(block.ts[lo:hi])
            cols[2].append(block.values[lo:hi])
            cols[3].append(block.quality[lo:hi])
            texts.append(None if block.text is None else block.text[lo:hi])
        (h_cols, h_text) = self.head_points(tag_ids, start_us, end_us)
        if len(h_cols[0]):
            for c, arr in zip(cols, h_cols, strict=True):
                c.append(arr)
            texts.append(h_text)
        (tags, ts, values, quality), text = _concat_columns(cols, texts)
        order = order_by_tag_ts(tags, ts)
        return RawPoints(
            tags[order],
            ts[order],
            values[order],
            quality[order],
            None if text is None else text[order],
        )

    # -- rollups ---------------------------------------------------------------------------
    def minute_rows(self, tag_ids: npt.NDArray[np.int32], b_lo: int, b_hi: int) -> Rows:
        """Complete 1-minute rows of sorted unique `tag_ids` for buckets b_lo..b_hi (inclusive)."""
        if len(tag_ids) == 0 or b_hi < b_lo:
            return Rows.empty()
        span = b_hi - b_lo + 1
        segments = select_rollups(self.conn, tag_ids.tolist(), b_lo, b_hi)
        # By tag, then flush: rows of one (tag, bucket) end up in flush order, latest last.
        segments.sort(key=lambda s: (s[1], s[0]))
        disk = decode_rollups(segments, self._decompressor)
        inside = (disk.bucket >= b_lo) & (disk.bucket <= b_hi)
        if not inside.all():
            disk = disk.take(inside)
        # Supersede: for a (tag, bucket) in several segments the latest flush's row is complete.
        d_key = row_key(disk.tag, disk.bucket, tag_ids, b_lo, span)
        step = np.diff(d_key)
        if not (step >= 0).all():
            order = np.argsort(d_key, kind="stable")
            disk = disk.take(order)
            d_key = d_key[order]
            step = np.diff(d_key)
        if not (step > 0).all():
            last = np.append(step != 0, True)
            disk = disk.take(last)
            d_key = d_key[last]

        (tags, ts, values, quality), _ = self.head_points(
            tag_ids, b_lo * MINUTE_US, (b_hi + 1) * MINUTE_US
        )
        if len(ts) == 0:
            return disk
        order = order_by_tag_ts(tags, ts)
        tags, ts, values, quality = tags[order], ts[order], values[order], quality[order]
        head = compute_rows(tags, ts, values, quality, ts // MINUTE_US, self.counter_max)
        h_key = row_key(head.tag, head.bucket, tag_ids, b_lo, span)

        _, di, hi = np.intersect1d(d_key, h_key, assume_unique=True, return_indices=True)
        if len(di) == 0:
            merged = Rows.concat([disk, head])
        else:
            a = disk.take(di)
            b = head.take(hi)
            after = b.first_ts > a.last_ts
            before = b.last_ts < a.first_ts
            parts = [
                disk.take(np.setdiff1d(np.arange(len(disk)), di, assume_unique=True)),
                head.take(np.setdiff1d(np.arange(len(head)), hi, assume_unique=True)),
                merge_ordered(a.take(after), b.take(after), self.counter_max),
                merge_ordered(b.take(before), a.take(before), self.counter_max),
            ]
            interleaved = ~(after | before)
            for tag, bucket in zip(
                a.tag[interleaved].tolist(), a.bucket[interleaved].tolist(), strict=True
            ):
                parts.append(self._recompute(tag, bucket))
            merged = Rows.concat(parts)
        key = row_key(merged.tag, merged.bucket, tag_ids, b_lo, span)
        return merged.take(np.argsort(key, kind="stable"))

    def _recompute(self, tag: int, bucket: int) -> Rows:
        """A (tag, minute) row from raw points, for head points interleaved with flushed ones."""
        p = self.points(
            np.array([tag], dtype=np.int32), bucket * MINUTE_US, (bucket + 1) * MINUTE_US
        )
        return compute_rows(p.tags, p.ts, p.values, p.quality, p.ts // MINUTE_US, self.counter_max)


def _concat_columns(
    cols: list[list[npt.NDArray[Any]]], texts: list[npt.NDArray[np.object_] | None]
) -> tuple[list[npt.NDArray[Any]], npt.NDArray[np.object_] | None]:
    dtypes = (np.int32, np.int64, np.float64, np.uint32)
    out = [
        np.concatenate(c) if c else np.zeros(0, dtype=d) for c, d in zip(cols, dtypes, strict=True)
    ]
    text = None
    if any(t is not None for t in texts):
        sizes = [len(c) for c in cols[1]]
        text = np.concatenate(
            [
                t if t is not None else np.full(k, None, dtype=object)
                for t, k in zip(texts, sizes, strict=True)
            ]
        )
    return out, text
