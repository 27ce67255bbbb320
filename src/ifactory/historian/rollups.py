"""Rollup rows: mergeable per-(tag, bucket) partial aggregates, computed and merged vectorised.

A row summarises the samples of one tag in one bucket. Samples are *usable* when their
quality is not Bad and their value is finite; min/max/sum/counter use usable samples only.
Time weighting uses step interpolation (a value holds until the next sample of any quality,
so a Bad sample ends the hold of the previous value and its own interval carries no value,
as OPC UA Part 13 excludes Bad intervals). `integral`/`weight` cover only the intervals
between samples *inside* the bucket; the edges (carry-in before the first sample and the
hold after the last) depend on neighbouring buckets and are added at query time.

Two rows of the same (tag, bucket) whose samples do not interleave in time merge exactly
(`merge_ordered`); interleaved ones must be recomputed from raw points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from ifactory.historian.batch import BAD

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def usable_mask(values: F64, quality: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    """Samples that carry a value: severity not Bad (OPC 10000-4) and finite."""
    return (quality < np.uint32(BAD)) & np.isfinite(values)


def counter_step(prev: F64, cur: F64, counter_max: F64) -> F64:
    """Increase of a counter from `prev` to `cur`.

    `counter_max` is the modulus (the value at which the counter wraps to 0; NaN when it
    never wraps). A drop is a rollover when going around costs less than half a turn
    (65530 -> 5 on a 16-bit counter is 11 parts); any other drop is a reset, after which the
    counter counts from 0 again (so the increase is the new value).
    """
    d = cur - prev
    wrapped = d + counter_max
    rollover = np.isfinite(counter_max) & (wrapped <= counter_max / 2)
    return np.where(d >= 0, d, np.where(rollover, wrapped, cur))


@dataclass(slots=True)
class Rows:
    """Columnar rollup rows, sorted by (tag, bucket) unless stated otherwise."""

    tag: npt.NDArray[np.int32]
    bucket: I64
    n: I64
    n_ok: I64
    vmin: F64
    vmax: F64
    vsum: F64
    first_ts: I64
    last_ts: I64
    first_v: F64
    last_v: F64
    integral: F64
    weight: F64
    inc: F64
    first_ok_v: F64
    last_ok_v: F64

    def __len__(self) -> int:
        return len(self.tag)

    @classmethod
    def empty(cls, k: int = 0) -> Rows:
        """`k` rows without samples (n = 0, NaN statistics, zero sums)."""
        nan = np.full(k, np.nan)
        zero_f = np.zeros(k)
        zero_i = np.zeros(k, dtype=np.int64)
        return cls(
            np.zeros(k, dtype=np.int32),
            zero_i.copy(),
            zero_i.copy(),
            zero_i.copy(),
            nan.copy(),
            nan.copy(),
            zero_f.copy(),
            zero_i.copy(),
            zero_i.copy(),
            nan.copy(),
            nan.copy(),
            zero_f.copy(),
            zero_f.copy(),
            zero_f.copy(),
            nan.copy(),
            nan.copy(),
        )

    def columns(self) -> list[npt.NDArray[Any]]:
        """The column arrays in field order."""
        return [getattr(self, f.name) for f in fields(self)]

    def take(self, index: npt.NDArray[Any]) -> Rows:
        """Rows at `index` (positions or mask)."""
        return Rows(*(c[index] for c in self.columns()))

    def put(self, index: npt.NDArray[Any], other: Rows) -> None:
        """Overwrite rows at `index` with `other`."""
        for mine, theirs in zip(self.columns(), other.columns(), strict=True):
            mine[index] = theirs

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        """All rows of `parts`, in order."""
        if not parts:
            return Rows.empty()
        if len(parts) == 1:
            return parts[0]
        cols = zip(*(p.columns() for p in parts), strict=True)
        return Rows(*(np.concatenate(c) for c in cols))

    def to_records(self) -> npt.NDArray[np.void]:
        """Rows as a structured array (one record per row), the form stored in blobs."""
        out = np.empty(len(self), dtype=ROW_DTYPE)
        for f in fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    def to_matrix(self) -> npt.NDArray[np.uint64]:
        """All columns but `tag` as rows of one (15, n) matrix of 8-byte words.

        A segment's blob is a column slice of it, so the stored form is column-major (which
        compresses better) and decoding many segments is one concatenation, not a transpose.
        """
        return np.stack([c.view(np.uint64) for c in self.columns()[1:]])

    @classmethod
    def from_matrix(cls, matrix: npt.NDArray[np.uint64], tag: npt.NDArray[np.int32]) -> Rows:
        """Inverse of `to_matrix` (the columns are views of `matrix`)."""
        cols: list[npt.NDArray[Any]] = [tag.astype(np.int32, copy=False)]
        for f, row in zip(fields(cls)[1:], matrix, strict=True):
            cols.append(row.view(_dtype_of(f.name)))
        return cls(*cols)

    @classmethod
    def from_records(cls, records: npt.NDArray[np.void]) -> Rows:
        """Inverse of `to_records` (copies into contiguous columns)."""
        return cls(*(np.ascontiguousarray(records[f.name]) for f in fields(cls)))


_INT_FIELDS = {"bucket", "n", "n_ok", "first_ts", "last_ts"}
MATRIX_ROWS = 15


def _dtype_of(name: str) -> np.dtype[Any]:
    return np.dtype(np.int64) if name in _INT_FIELDS else np.dtype(np.float64)


ROW_DTYPE = np.dtype(
    [
        (f.name, "<i4" if f.name == "tag" else "<i8" if f.name in _INT_FIELDS else "<f8")
        for f in fields(Rows)
    ]
)


def _sum_by(keys: I64, weights: F64, k: int) -> F64:
    """Sum of `weights` per key in 0..k-1."""
    return np.asarray(np.bincount(keys, weights=weights, minlength=k), dtype=np.float64)


def counter_max_for(tags: npt.NDArray[np.int32], counter_max: F64) -> F64:
    """Per-point counter maximum (NaN where a tag has none) from a table indexed by tag id."""
    if len(counter_max) == 0:
        return np.full(len(tags), np.nan)
    inside = tags < len(counter_max)
    if inside.all():
        return counter_max[tags]
    return np.where(inside, counter_max[np.where(inside, tags, 0)], np.nan)


def counter_max_table(table: F64, counter_max: Mapping[int, float | None]) -> F64:
    """A new tag-id-indexed table of counter maxima: `table` updated with `counter_max`."""
    size = max([len(table), *(int(k) + 1 for k in counter_max)])
    out = np.full(size, np.nan)
    out[: len(table)] = table
    for k, v in counter_max.items():
        out[int(k)] = np.nan if v is None else float(v)
    return out


def compute_rows(
    tags: npt.NDArray[np.int32],
    ts: I64,
    values: F64,
    quality: npt.NDArray[np.uint32],
    bucket: I64,
    counter_max: F64,
) -> Rows:
    """Rows of points sorted by (tag, ts); `bucket` is non-decreasing within each tag."""
    size = len(ts)
    if size == 0:
        return Rows.empty()
    new_seg = np.empty(size, dtype=np.bool_)
    new_seg[0] = True
    np.not_equal(tags[1:], tags[:-1], out=new_seg[1:])
    new_seg[1:] |= bucket[1:] != bucket[:-1]
    starts = np.flatnonzero(new_seg)
    ends = np.append(starts[1:], size)
    seg = np.cumsum(new_seg) - 1
    k = len(starts)

    ok = usable_mask(values, quality)
    vu = np.where(ok, values, np.nan)
    n_ok = np.add.reduceat(ok.astype(np.int64), starts)
    vmin = np.minimum.reduceat(np.where(ok, values, np.inf), starts)
    vmax = np.maximum.reduceat(np.where(ok, values, -np.inf), starts)
    none_ok = n_ok == 0
    vmin[none_ok] = np.nan
    vmax[none_ok] = np.nan
    vsum = np.add.reduceat(np.where(ok, values, 0.0), starts)

    # Step interpolation between consecutive samples of one bucket.
    inner = ~new_seg[1:]
    left_ok = ok[:-1] & inner
    dt = np.diff(ts).astype(np.float64)
    integral = _sum_by(seg[:-1], np.where(left_ok, values[:-1], 0.0) * dt, k)
    weight = _sum_by(seg[:-1], np.where(left_ok, dt, 0.0), k)

    ok_idx = np.flatnonzero(ok)
    vo = values[ok_idx]
    so = seg[ok_idx]
    first_ok_v = np.full(k, np.nan)
    last_ok_v = np.full(k, np.nan)
    inc = np.zeros(k)
    if len(ok_idx):
        change = so[1:] != so[:-1]
        first = np.append(True, change)
        last = np.append(change, True)
        first_ok_v[so[first]] = vo[first]
        last_ok_v[so[last]] = vo[last]
        same = ~change
        if same.any():
            cm = counter_max_for(tags[ok_idx[1:]], counter_max)
            step = counter_step(vo[:-1], vo[1:], cm)
            inc = _sum_by(so[1:][same], step[same], k)

    return Rows(
        tags[starts].astype(np.int32),
        bucket[starts].astype(np.int64),
        (ends - starts).astype(np.int64),
        n_ok,
        vmin,
        vmax,
        vsum,
        ts[starts].copy(),
        ts[ends - 1].copy(),
        vu[starts],
        vu[ends - 1],
        integral,
        weight,
        inc,
        first_ok_v,
        last_ok_v,
    )


def merge_ordered(a: Rows, b: Rows, counter_max: F64) -> Rows:
    """Row-wise merge of aligned rows where every sample of `a` precedes every sample of `b`."""
    a_has = a.n > 0
    b_has = b.n > 0
    both = a_has & b_has
    bridge = both & np.isfinite(a.last_v)
    gap = np.where(bridge, (b.first_ts - a.last_ts).astype(np.float64), 0.0)
    counter_bridge = np.isfinite(a.last_ok_v) & np.isfinite(b.first_ok_v)
    cm = counter_max_for(np.where(b_has, b.tag, a.tag), counter_max)
    step = counter_step(a.last_ok_v, b.first_ok_v, cm)
    return Rows(
        np.where(a_has, a.tag, b.tag).astype(np.int32),
        np.where(a_has, a.bucket, b.bucket),
        a.n + b.n,
        a.n_ok + b.n_ok,
        np.fmin(a.vmin, b.vmin),
        np.fmax(a.vmax, b.vmax),
        a.vsum + b.vsum,
        np.where(a_has, a.first_ts, b.first_ts),
        np.where(b_has, b.last_ts, a.last_ts),
        np.where(a_has, a.first_v, b.first_v),
        np.where(b_has, b.last_v, a.last_v),
        a.integral + b.integral + np.where(bridge, a.last_v, 0.0) * gap,
        a.weight + b.weight + gap,
        a.inc + b.inc + np.where(counter_bridge, step, 0.0),
        np.where(np.isfinite(a.first_ok_v), a.first_ok_v, b.first_ok_v),
        np.where(np.isfinite(b.last_ok_v), b.last_ok_v, a.last_ok_v),
    )


def ffill_index(valid: npt.NDArray[np.bool_]) -> I64:
    """For each position, the index of the last valid position at or before it (-1 if none)."""
    idx = np.where(valid, np.arange(len(valid)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx.astype(np.int64)


def combine(rows: Rows, group: I64, counter_max: F64) -> Rows:
    """Merge runs of consecutive rows with equal `group` (rows sorted by tag and time).

    Used to turn 1-minute rows into wider buckets; the rows of a group must not interleave
    in time, which holds for distinct buckets of one tag.
    """
    k = len(rows)
    if k == 0:
        return Rows.empty()
    new_g = np.empty(k, dtype=np.bool_)
    new_g[0] = True
    np.not_equal(group[1:], group[:-1], out=new_g[1:])
    new_g[1:] |= rows.tag[1:] != rows.tag[:-1]
    gs = np.flatnonzero(new_g)
    ge = np.append(gs[1:], k)
    gid = np.cumsum(new_g) - 1
    m = len(gs)
    inner = ~new_g[1:]

    bridge = inner & np.isfinite(rows.last_v[:-1])
    gap = np.where(bridge, (rows.first_ts[1:] - rows.last_ts[:-1]).astype(np.float64), 0.0)
    bridge_int = _sum_by(gid[1:], np.where(bridge, rows.last_v[:-1], 0.0) * gap, m)
    bridge_w = _sum_by(gid[1:], gap, m)

    # Counter: each row's first usable value continues from the last usable value before it
    # in the same group, possibly several rows back (rows with only Bad samples in between).
    has_last_ok = np.isfinite(rows.last_ok_v)
    prev = ffill_index(has_last_ok)
    prev_of_next = prev[:-1]
    cont = inner & np.isfinite(rows.first_ok_v[1:]) & (prev_of_next >= 0)
    cont &= gid[np.maximum(prev_of_next, 0)] == gid[1:]
    prev_v = rows.last_ok_v[np.maximum(prev_of_next, 0)]
    cm = counter_max_for(rows.tag[1:], counter_max)
    step = np.where(cont, counter_step(prev_v, rows.first_ok_v[1:], cm), 0.0)
    bridge_inc = _sum_by(gid[1:], step, m)

    first_ok_idx = _first_valid_in_group(np.isfinite(rows.first_ok_v), gs, ge)
    last_ok_idx = prev[ge - 1]
    last_ok_idx = np.where(last_ok_idx >= gs, last_ok_idx, -1)

    return Rows(
        rows.tag[gs],
        rows.bucket[gs],
        np.add.reduceat(rows.n, gs),
        np.add.reduceat(rows.n_ok, gs),
        np.fmin.reduceat(rows.vmin, gs),
        np.fmax.reduceat(rows.vmax, gs),
        np.add.reduceat(rows.vsum, gs),
        rows.first_ts[gs],
        rows.last_ts[ge - 1],
        rows.first_v[gs],
        rows.last_v[ge - 1],
        np.add.reduceat(rows.integral, gs) + bridge_int,
        np.add.reduceat(rows.weight, gs) + bridge_w,
        np.add.reduceat(rows.inc, gs) + bridge_inc,
        np.where(first_ok_idx >= 0, rows.first_ok_v[np.maximum(first_ok_idx, 0)], np.nan),
        np.where(last_ok_idx >= 0, rows.last_ok_v[np.maximum(last_ok_idx, 0)], np.nan),
    )


def _first_valid_in_group(valid: npt.NDArray[np.bool_], gs: I64, ge: I64) -> I64:
    """Index of the first valid row of each group [gs, ge), or -1."""
    k = len(valid)
    # Backward fill: the next valid index at or after each position.
    idx = np.where(valid, np.arange(k), k)
    nxt = np.minimum.accumulate(idx[::-1])[::-1]
    first = nxt[gs]
    return np.where(first < ge, first, -1)
