"""Turning a frozen head into blocks, rollup segments and the new per-tag disk state.

Runs in the background flush thread. Live tags (every flushed point newer than what is on
disk for the tag) are handled vectorised: their rollups are computed from the head alone and
the bucket that straddles the previous flush is merged with the cached tail row. Backfilled
tags (some point at or below the tag's disk high-water mark) take a per-tag path that
recomputes every touched bucket from raw points, so backfill never leaves a rollup stale.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

from ifactory.historian.blocks import EncodedBlock, encode_blocks
from ifactory.historian.catalog import read_points
from ifactory.historian.head import HeadView
from ifactory.historian.rollups import Rows, compute_rows, merge_ordered
from ifactory.historian.sorting import order_by_tag_ts, run_bounds
from ifactory.historian.store import MINUTE_US
from ifactory.historian.tagstate import TagState

CHUNK_POINTS = 1_000_000


@dataclass
class FlushOutput:
    """Everything one flush writes, in one transaction."""

    blocks: list[EncodedBlock]
    segments: list[tuple[int, int, int, int, bytes]]
    state: TagState
    points: int


def prepare_flush(
    view: HeadView,
    disk: TagState,
    conn: sqlite3.Connection,
    counter_max: npt.NDArray[np.float64],
    compressor: zstandard.ZstdCompressor,
    chunk_points: int = CHUNK_POINTS,
) -> FlushOutput:
    """Compute the rows to write for the points of `view` given the current disk state."""
    order = order_by_tag_ts(view.tags, view.ts)
    sorted_tags = view.tags[order]
    run_starts, _ = run_bounds(sorted_tags)
    state = disk.copy()
    state.grow(int(sorted_tags[run_starts].max()) + 1)
    out = FlushOutput([], [], state, len(order))
    # Whole tags at a time, about CHUNK_POINTS points per step: bounds the temporaries.
    at = np.searchsorted(run_starts, np.arange(0, len(order), max(1, chunk_points)))
    cuts = run_starts[np.minimum(at, len(run_starts) - 1)]
    bounds = [*np.unique(cuts).tolist(), len(order)]
    for a, b in itertools.pairwise(bounds):
        idx = order[a:b]
        _flush_tags(
            sorted_tags[a:b],
            view.ts[idx],
            view.values[idx],
            view.quality[idx],
            None if view.text is None else view.text[idx],
            state,
            conn,
            counter_max,
            compressor,
            out,
        )
    return out


def _flush_tags(
    tags: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint32],
    text: npt.NDArray[np.object_] | None,
    state: TagState,
    conn: sqlite3.Connection,
    counter_max: npt.NDArray[np.float64],
    compressor: zstandard.ZstdCompressor,
    out: FlushOutput,
) -> None:
    """Blocks, rollup segments and state updates of whole tags' points sorted by (tag, ts)."""
    starts, ends = run_bounds(tags)
    run_tags = tags[starts]

    rows = compute_rows(tags, ts, values, quality, ts // MINUTE_US, counter_max)
    row_starts, row_ends = run_bounds(rows.tag)  # same tag runs, same order as `run_tags`

    backfill = ts[starts] <= state.hwm[run_tags]

    # Live tags: merge the first bucket with the tail row when it continues it.
    tail = state.tail.take(run_tags)
    first = rows.take(row_starts)
    straddle = ~backfill & (tail.n > 0) & (tail.bucket == first.bucket)
    if straddle.any():
        rows.put(
            row_starts[straddle],
            merge_ordered(tail.take(straddle), first.take(straddle), counter_max),
        )

    if backfill.any():
        keep = np.repeat(~backfill, row_ends - row_starts)
        parts = [rows.take(keep)]
        for r in np.flatnonzero(backfill).tolist():
            a, b = int(starts[r]), int(ends[r])
            parts.append(
                _recompute_tag(
                    conn, int(run_tags[r]), ts[a:b], values[a:b], quality[a:b], counter_max
                )
            )
        rows = Rows.concat(parts)
        rows = rows.take(np.argsort(rows.tag, kind="stable"))
        row_starts, row_ends = run_bounds(rows.tag)

    # New tails: each tag's last row, unless a backfill only touched older buckets.
    last = rows.take(row_ends - 1)
    old_tail = state.tail.take(last.tag)
    newer = (old_tail.n == 0) | (last.bucket >= old_tail.bucket)
    state.tail.put(last.tag[newer], last.take(newer))

    # Disk high-water mark and latest value per tag.
    last_ts = ts[ends - 1]
    advance = last_ts > state.hwm[run_tags]
    adv_tags = run_tags[advance]
    adv_pos = (ends - 1)[advance]
    state.hwm[adv_tags] = last_ts[advance]
    state.value[adv_tags] = values[adv_pos]
    state.quality[adv_tags] = quality[adv_pos]
    if text is not None:
        for tag, pos in zip(adv_tags.tolist(), adv_pos.tolist(), strict=True):
            s = text[pos]
            if s is None:
                state.text.pop(tag, None)
            else:
                state.text[tag] = s

    out.blocks.extend(encode_blocks(tags, ts, values, quality, text, starts, ends))

    matrix = rows.to_matrix()
    compress = compressor.compress
    out.segments.extend(
        (int(t), int(lo), int(hi), b - a, compress(matrix[:, a:b].tobytes()))
        for t, lo, hi, a, b in zip(
            rows.tag[row_starts].tolist(),
            rows.bucket[row_starts].tolist(),
            rows.bucket[row_ends - 1].tolist(),
            row_starts.tolist(),
            row_ends.tolist(),
            strict=True,
        )
    )


def _recompute_tag(
    conn: sqlite3.Connection,
    tag: int,
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint32],
    counter_max: npt.NDArray[np.float64],
) -> Rows:
    """Complete rows of every bucket touched by `ts` of `tag`: stored points plus the new ones."""
    touched = np.unique(ts // MINUTE_US)
    lo = int(touched[0]) * MINUTE_US
    hi = (int(touched[-1]) + 1) * MINUTE_US - 1
    all_ts = [ts]
    all_v = [values]
    all_q = [quality]
    for _, block in read_points(conn, [tag], lo, hi):
        inside = np.isin(block.ts // MINUTE_US, touched)
        all_ts.append(block.ts[inside])
        all_v.append(block.values[inside])
        all_q.append(block.quality[inside])
    t = np.concatenate(all_ts)
    order = np.argsort(t, kind="stable")
    t = t[order]
    tags = np.full(len(t), tag, dtype=np.int32)
    return compute_rows(
        tags,
        t,
        np.concatenate(all_v)[order],
        np.concatenate(all_q)[order],
        t // MINUTE_US,
        counter_max,
    )
