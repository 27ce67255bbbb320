"""Ordering points by (tag, ts) fast, exploiting that telemetry arrives almost in time order."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def order_by_tag_ts(
    tags: npt.NDArray[np.integer], ts: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """Permutation sorting points by (tag, ts).

    A stable sort by tag keeps arrival order within a tag, which is time order for live data;
    with tag ids below 65536 numpy uses a radix sort for it. Only tags whose points are then
    still out of time order get a full (tag, ts) sort.
    """
    if len(tags) == 0:
        return np.zeros(0, dtype=np.intp)
    if int(tags.min()) >= 0 and int(tags.max()) < 65536:
        order = np.argsort(tags.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(tags, kind="stable")
    st = tags[order]
    sts = ts[order]
    disorder = (st[1:] == st[:-1]) & (sts[1:] < sts[:-1])
    if disorder.any():
        bad_tags = np.unique(st[1:][disorder])
        sel = np.flatnonzero(np.isin(st, bad_tags))
        sub = np.lexsort((sts[sel], st[sel]))
        order[sel] = order[sel][sub]
    return order


def run_bounds(
    keys: npt.NDArray[np.integer],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """[start, end) of each run of equal consecutive keys."""
    if len(keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.append(True, keys[1:] != keys[:-1])).astype(np.int64)
    ends = np.append(starts[1:], len(keys)).astype(np.int64)
    return starts, ends
