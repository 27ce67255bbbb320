"""Bucket aggregates from rollup rows: time-weighted average, counter delta, gaps, time in state.

Inputs are rows whose `bucket` is the output bucket index (0..nb-1) plus, per tag, a
"carry" row: the last non-empty bucket before the first output bucket. The value of the
previous non-empty bucket's last sample holds from a bucket's start to its first sample
(step interpolation); the last sample of a bucket holds to the bucket's end. Buckets without
samples stay explicit: count 0 and NaN aggregates.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ifactory.core.errors import InvalidInput
from ifactory.historian.rollups import (
    Rows,
    combine,
    compute_rows,
    counter_max_for,
    counter_step,
    ffill_index,
    usable_mask,
)
from ifactory.historian.store import (
    MINUTE_US,
    AggregateKind,
    Aggregates,
    RawPoints,
    StateDurations,
)

NEAR_LOOKBACK_MIN = 15


class PointSource(Protocol):
    """A consistent read view of a store: raw points and complete 1-minute rollup rows."""

    def points(self, tag_ids: npt.NDArray[np.int32], start_us: int, end_us: int) -> RawPoints:
        """Stored points of sorted unique `tag_ids` in [start_us, end_us), sorted by (tag, ts)."""
        ...

    def minute_rows(self, tag_ids: npt.NDArray[np.int32], b_lo: int, b_hi: int) -> Rows:
        """Complete 1-minute rows of sorted unique `tag_ids` for buckets b_lo..b_hi (inclusive)."""
        ...


def _prev_along(
    values: npt.NDArray[np.float64], has: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """For column b >= 1 of a (nt, nb + 1) grid: the value at the last column < b where `has`."""
    cols = np.arange(values.shape[1])
    idx = np.maximum.accumulate(np.where(has, cols, -1), axis=1)[:, :-1]
    out = np.take_along_axis(values, np.maximum(idx, 0), axis=1)
    return np.where(idx >= 0, out, np.nan)


def build(
    tag_ids: npt.NDArray[np.int32],
    start_us: int,
    bucket_us: int,
    nb: int,
    rows: Rows,
    carry: Rows,
    counter_max: npt.NDArray[np.float64],
) -> Aggregates:
    """Aggregates of `rows` (bucket = output index) with per-tag `carry` rows (n == 0: none)."""
    nt = len(tag_ids)
    ti = np.searchsorted(tag_ids, rows.tag)
    bi = rows.bucket

    def grid(
        col: npt.NDArray[np.float64] | npt.NDArray[np.int64], fill: float
    ) -> npt.NDArray[np.float64]:
        g = np.full((nt, nb), fill)
        g[ti, bi] = col
        return g

    count = np.zeros((nt, nb), dtype=np.int64)
    count[ti, bi] = rows.n
    nonempty = count > 0

    # Column 0 is the carry (before the first bucket); column b + 1 is bucket b.
    has = np.zeros((nt, nb + 1), dtype=np.bool_)
    has[:, 0] = carry.n > 0
    has[:, 1:] = nonempty
    last_v = np.full((nt, nb + 1), np.nan)
    last_v[:, 0] = carry.last_v
    last_v[ti, bi + 1] = rows.last_v
    last_ok = np.full((nt, nb + 1), np.nan)
    last_ok[:, 0] = carry.last_ok_v
    last_ok[ti, bi + 1] = rows.last_ok_v
    carry_v = _prev_along(last_v, has)
    carry_ok = _prev_along(last_ok, np.isfinite(last_ok))

    bstart = (start_us + np.arange(nb, dtype=np.int64) * bucket_us)[None, :]
    bend = bstart + bucket_us
    first_ts = grid(rows.first_ts, 0.0)
    last_ts = grid(rows.last_ts, 0.0)
    lv = grid(rows.last_v, np.nan)
    head_w = np.where(nonempty & np.isfinite(carry_v), first_ts - bstart, 0.0)
    tail_w = np.where(nonempty & np.isfinite(lv), bend - last_ts, 0.0)
    num = (
        grid(rows.integral, 0.0)
        + np.where(head_w > 0, carry_v, 0.0) * head_w
        + np.where(tail_w > 0, lv, 0.0) * tail_w
    )
    weight = grid(rows.weight, 0.0) + head_w + tail_w
    with np.errstate(invalid="ignore", divide="ignore"):
        twa = np.where(nonempty & (weight > 0), num / np.where(weight > 0, weight, 1.0), np.nan)

    first_ok = grid(rows.first_ok_v, np.nan)
    cm = np.broadcast_to(counter_max_for(tag_ids, counter_max)[:, None], (nt, nb))
    bridge = np.isfinite(carry_ok) & np.isfinite(first_ok)
    step = np.where(bridge, counter_step(carry_ok, first_ok, cm), 0.0)
    delta = np.where(nonempty, grid(rows.inc, 0.0) + step, np.nan)

    return Aggregates(
        tags=tag_ids,
        bucket_start=bstart[0],
        bucket_us=bucket_us,
        count=count,
        twa=twa,
        min=grid(rows.vmin, np.nan),
        max=grid(rows.vmax, np.nan),
        first=first_ok,
        last=grid(rows.last_ok_v, np.nan),
        counter_delta=delta,
    )


def time_in_state(
    points: RawPoints,
    tag_ids: npt.NDArray[np.int32],
    carry: Rows,
    start_us: int,
    bucket_us: int,
    count: npt.NDArray[np.int64],
) -> dict[int, StateDurations]:
    """Per tag and bucket, how long each value held (step interpolation; Bad holds nothing)."""
    nb = count.shape[1]
    end_us = start_us + nb * bucket_us
    bounds = start_us + np.arange(nb + 1, dtype=np.int64) * bucket_us
    out: dict[int, StateDurations] = {}
    lo = np.searchsorted(points.tags, tag_ids, side="left")
    hi = np.searchsorted(points.tags, tag_ids, side="right")
    for r, tag in enumerate(tag_ids.tolist()):
        ts = points.ts[lo[r] : hi[r]]
        vu = np.where(
            usable_mask(points.values[lo[r] : hi[r]], points.quality[lo[r] : hi[r]]),
            points.values[lo[r] : hi[r]],
            np.nan,
        )
        carry_v = carry.last_v[r] if carry.n[r] > 0 else np.nan
        # The value in effect at each bucket boundary, then change points merged in time order.
        at = np.searchsorted(ts, bounds[:-1], side="right") - 1
        at_v = np.where(at >= 0, vu[np.maximum(at, 0)] if len(ts) else np.nan, carry_v)
        times = np.concatenate([bounds[:-1], ts])
        vals = np.concatenate([at_v, vu])
        order = np.argsort(times, kind="stable")
        times = np.append(times[order], end_us)
        vals = vals[order]
        dur = np.diff(times).astype(np.float64)
        bucket = (times[:-1] - start_us) // bucket_us
        keep = np.isfinite(vals) & (dur > 0)
        states = np.unique(vals[keep])
        si = np.searchsorted(states, vals[keep])
        grid = np.zeros((len(states), nb))
        np.add.at(grid, (si, bucket[keep]), dur[keep])
        grid[:, count[r] == 0] = np.nan
        out[tag] = StateDurations(states, grid)
    return out


def check_range(start_us: int, end_us: int, bucket_us: int) -> None:
    """Refuse an empty range or a non-positive bucket width."""
    if bucket_us <= 0 or end_us <= start_us:
        raise InvalidInput("need bucket_us > 0 and end_us > start_us", type="invalid_range")


def query(
    source: PointSource,
    ids: npt.NDArray[np.int32],
    start_us: int,
    end_us: int,
    bucket_us: int,
    kind: AggregateKind,
    counter_max: npt.NDArray[np.float64],
    *,
    carry_lookback_us: int,
    use_rollups: bool = True,
) -> Aggregates:
    """Aggregates of sorted unique `ids` over full buckets of `bucket_us` from `start_us`.

    Minute-aligned starts with widths that are multiples of a minute read the 1-minute rows;
    anything else is computed from raw points. `kind="state"` adds time in state per value,
    computed from raw points.
    """
    nb = -(-(end_us - start_us) // bucket_us)
    end_cover = start_us + nb * bucket_us
    cm = counter_max
    from_rollups = use_rollups and start_us % MINUTE_US == 0 and bucket_us % MINUTE_US == 0
    start_min = start_us // MINUTE_US
    points: RawPoints | None
    if from_rollups:
        minutes = source.minute_rows(ids, start_min, end_cover // MINUTE_US - 1)
        carry = carry_rows(ids, rows_before(source, ids, start_min, carry_lookback_us))
        rows = minutes
        rows.bucket = (rows.bucket - start_min) // (bucket_us // MINUTE_US)
        if bucket_us != MINUTE_US:
            rows = combine(rows, rows.bucket, cm)
        points = None
    else:
        first_min = start_us // MINUTE_US
        lookback = rows_before(source, ids, first_min, carry_lookback_us)
        points = source.points(ids, first_min * MINUTE_US, end_cover)
        pre = points.ts < start_us
        p = points
        pre_rows = compute_rows(
            p.tags[pre],
            p.ts[pre],
            p.values[pre],
            p.quality[pre],
            np.zeros(int(pre.sum()), dtype=np.int64),
            cm,
        )
        carry = carry_rows(ids, _append_rows(lookback, pre_rows, cm))
        main = ~pre
        rows = compute_rows(
            p.tags[main],
            p.ts[main],
            p.values[main],
            p.quality[main],
            (p.ts[main] - start_us) // bucket_us,
            cm,
        )
    result = build(ids, start_us, bucket_us, nb, rows, carry, cm)
    if kind == "state":
        if points is None:
            points = source.points(ids, start_us, end_cover)
        else:
            keep = points.ts >= start_us
            points = RawPoints(
                points.tags[keep],
                points.ts[keep],
                points.values[keep],
                points.quality[keep],
            )
        tis = time_in_state(points, ids, carry, start_us, bucket_us, result.count)
        result = _with_states(result, tis)
    return result


def rows_before(
    source: PointSource, ids: npt.NDArray[np.int32], first_min: int, carry_lookback_us: int
) -> Rows:
    """Minute rows before `first_min` that carry values into the first bucket.

    Looks back a quarter of an hour first, and up to `carry_lookback_us` only for the tags
    that had no usable value in it (slow-changing tags, which have few rows anyway).
    """
    look_min = first_min - max(1, carry_lookback_us // MINUTE_US)
    near_min = max(look_min, first_min - NEAR_LOOKBACK_MIN)
    near = source.minute_rows(ids, near_min, first_min - 1)
    if near_min <= look_min:
        return near
    covered = np.zeros(len(ids), dtype=np.bool_)
    covered[np.searchsorted(ids, near.tag[np.isfinite(near.last_ok_v)])] = True
    missing = ids[~covered]
    if len(missing) == 0:
        return near
    far = source.minute_rows(missing, look_min, near_min - 1)
    if len(far) == 0:
        return near
    both = Rows.concat([far, near])
    return both.take(np.lexsort((both.bucket, both.tag)))


def carry_rows(tag_ids: npt.NDArray[np.int32], before: Rows) -> Rows:
    """Per tag of `tag_ids`: its last row before the first bucket, with its last usable value."""
    carry = Rows.empty(len(tag_ids))
    carry.tag = tag_ids.copy()
    if len(before) == 0:
        return carry
    r = np.searchsorted(tag_ids, before.tag)
    last = np.append(before.tag[1:] != before.tag[:-1], True)
    carry.put(r[last], before.take(last))
    # The counter continues from the last *usable* value, possibly in an earlier row.
    idx = ffill_index(np.isfinite(before.last_ok_v))
    li = idx[last]
    same = (li >= 0) & (before.tag[np.maximum(li, 0)] == before.tag[last])
    carry.last_ok_v[r[last]] = np.where(same, before.last_ok_v[np.maximum(li, 0)], np.nan)
    return carry


def _append_rows(rows: Rows, later: Rows, counter_max: npt.NDArray[np.float64]) -> Rows:
    """`rows` followed per tag by `later` (one row per tag, after all of `rows` in time)."""
    if len(later) == 0:
        return rows
    later.bucket = np.full(len(later), np.iinfo(np.int64).max)
    merged = Rows.concat([rows, later])
    return merged.take(np.lexsort((merged.bucket, merged.tag)))


def _with_states(result: Aggregates, tis: dict[int, Any]) -> Aggregates:
    return Aggregates(
        tags=result.tags,
        bucket_start=result.bucket_start,
        bucket_us=result.bucket_us,
        count=result.count,
        twa=result.twa,
        min=result.min,
        max=result.max,
        first=result.first,
        last=result.last,
        counter_delta=result.counter_delta,
        time_in_state=tis,
    )
