"""Write-path checks both historian stores share: the batch's columns, and which of its points
repeat a point of the batch or of the store (a duplicate when equal, else a counted conflict;
the first write wins, DESIGN.md "Telemetry data model")."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.rollups import ffill_index
from ifactory.historian.store import ConflictPoints

MAX_TAG_ID = (1 << 24) - 1  # per-tag state is dense arrays indexed by id


def _object_copy(text: npt.NDArray[np.object_] | None, n: int) -> npt.NDArray[np.object_]:
    return np.full(n, None, dtype=object) if text is None else text.copy()


def repeats_in_batch(
    tags: npt.NDArray[np.int32], ts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions of repeated (tag, ts) after their first occurrence, and that first occurrence."""
    order = np.lexsort((ts, tags))  # stable: equal keys keep batch order
    st = tags[order]
    sts = ts[order]
    rep = np.append(False, (st[1:] == st[:-1]) & (sts[1:] == sts[:-1]))
    first = order[ffill_index(~rep)]
    return order[rep].astype(np.int64), first[rep].astype(np.int64)


def classify_repeats(
    tags: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint32],
    text: npt.NDArray[np.object_] | None,
    found: npt.NDArray[np.int64],
    stored: tuple[npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.object_] | None],
    later: npt.NDArray[np.int64],
    first_of: npt.NDArray[np.int64],
) -> tuple[int, ConflictPoints]:
    """Split already-stored and repeated points into duplicates (same value) and conflicts.

    `found` are batch positions already stored, with their `stored` (value, quality, text);
    `later` are positions repeating the batch position `first_of` (see `repeats_in_batch`).
    Returns the number of duplicates and the conflicting points.
    """
    if len(found) == 0 and len(later) == 0:
        return 0, ConflictPoints()
    n = len(ts)
    # What each point is compared with: the stored point, or the first occurrence in
    # the batch (or, if that one was itself stored, the stored point).
    win_v = values.copy()
    win_q = quality.copy()
    win_t = None if text is None and stored[2] is None else _object_copy(text, n)
    sv, sq, stext = stored
    win_v[found] = sv
    win_q[found] = sq
    if win_t is not None:
        win_t[found] = stext if stext is not None else None
    win_v[later] = win_v[first_of]
    win_q[later] = win_q[first_of]
    if win_t is not None:
        win_t[later] = win_t[first_of]
    probe = np.concatenate([found, later])
    a, b = values[probe], win_v[probe]
    same = ((a == b) | (np.isnan(a) & np.isnan(b))) & (quality[probe] == win_q[probe])
    if win_t is not None:
        mine = _object_copy(text, n)[probe]
        same &= np.array(
            [x == y for x, y in zip(mine.tolist(), win_t[probe].tolist(), strict=True)],
            dtype=np.bool_,
        )
    dup = int(same.sum())
    c = probe[~same]
    conflicts = ConflictPoints(
        tags=tags[c],
        ts=ts[c],
        values=values[c],
        quality=quality[c],
        text=None if text is None else text[c],
        stored_values=win_v[c],
        stored_quality=win_q[c],
        stored_text=None if win_t is None else win_t[c],
    )
    return dup, conflicts


def batch_columns(
    batch: TelemetryBatch,
) -> tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.object_] | None,
]:
    """The columns of a batch a store can write, in canonical dtypes; refuses unresolved tags."""
    if not batch.resolved:
        raise InvalidInput("the historian stores resolved tag ids only", type="unresolved_tags")
    tags = np.ascontiguousarray(batch.tags, dtype=np.int32)
    ts = np.ascontiguousarray(batch.ts, dtype=np.int64)
    values = np.ascontiguousarray(batch.values, dtype=np.float64)
    quality = np.ascontiguousarray(batch.quality, dtype=np.uint32)
    if len(batch) and (int(tags.min()) < 0 or int(tags.max()) > MAX_TAG_ID):
        raise InvalidInput(f"tag ids must be in 0..{MAX_TAG_ID}", type="invalid_tag_id")
    return tags, ts, values, quality, batch.text
