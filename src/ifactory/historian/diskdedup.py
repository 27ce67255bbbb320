"""Finding already-stored points in the blocks on disk (the replay and backfill path).

Only points at or below their tag's on-disk high-water mark get here. The candidate blocks of
all probed tags are found with one query per 500 tags, decoded through an LRU cache (a
replay walks the same blocks batch after batch) and matched by (tag, ts) hash, vectorised.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ifactory.historian.blocks import DecodedBlock, decode_block
from ifactory.historian.hashing import point_hash

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredMatches:
    """Probes found on disk: probe index and the stored value, quality and text."""

    index: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None


class BlockCache:
    """Decoded blocks by id, least recently used first out, bounded by the points held."""

    def __init__(self, max_points: int = 4_000_000) -> None:
        self.max_points = max_points
        self.points = 0
        self._blocks: OrderedDict[int, DecodedBlock] = OrderedDict()

    def get(self, block_id: int) -> DecodedBlock | None:
        """A cached block (marked as recently used), or None."""
        block = self._blocks.get(block_id)
        if block is not None:
            self._blocks.move_to_end(block_id)
        return block

    def put(self, block_id: int, block: DecodedBlock) -> None:
        """Cache a block, evicting the least recently used beyond the bound."""
        self._blocks[block_id] = block
        self.points += len(block.ts)
        while self.points > self.max_points and len(self._blocks) > 1:
            _, old = self._blocks.popitem(last=False)
            self.points -= len(old.ts)

    def discard(self, block_ids: list[int]) -> None:
        """Forget blocks (after retention deleted them)."""
        for block_id in block_ids:
            old = self._blocks.pop(block_id, None)
            if old is not None:
                self.points -= len(old.ts)


def find_on_disk(
    conn: sqlite3.Connection,
    cache: BlockCache,
    tags: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
) -> StoredMatches:
    """Which of the probed (tag, ts) are stored in blocks, with their stored values."""
    uniq, inverse = np.unique(tags, return_inverse=True)
    lo = np.full(len(uniq), np.iinfo(np.int64).max)
    hi = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lo, inverse, ts)
    np.maximum.at(hi, inverse, ts)
    t_lo, t_hi = int(lo.min()), int(hi.max())

    meta: list[tuple[int, int, int, int, int]] = []
    ids = uniq.tolist()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        meta.extend(
            conn.execute(
                f"SELECT id, tag_id, t_min, t_max, n FROM blocks "
                f"WHERE tag_id IN ({marks}) AND t_max >= ? AND t_min <= ?",
                (*chunk, t_lo, t_hi),
            )
        )
    if not meta:
        return _none()
    m = np.array(meta, dtype=np.int64)
    r = np.searchsorted(uniq, m[:, 1])
    # Keep blocks overlapping the probed time range of their own tag.
    m = m[(m[:, 3] >= lo[r]) & (m[:, 2] <= hi[r])]
    if len(m) == 0:
        return _none()

    blocks: list[tuple[int, DecodedBlock]] = []
    missing: list[tuple[int, int, int, int]] = []
    for block_id, tag, t_min, _, n in m.tolist():
        cached = cache.get(block_id)
        if cached is None:
            missing.append((block_id, tag, t_min, n))
        else:
            blocks.append((tag, cached))
    for i in range(0, len(missing), _CHUNK):
        chunk = missing[i : i + _CHUNK]
        by_id = {b[0]: b for b in chunk}
        marks = ",".join("?" * len(chunk))
        for block_id, data, text in conn.execute(
            f"SELECT id, data, text FROM blocks WHERE id IN ({marks})", [b[0] for b in chunk]
        ):
            _, tag, t_min, n = by_id[block_id]
            decoded = decode_block(t_min, n, data, text)
            cache.put(block_id, decoded)
            blocks.append((tag, decoded))

    # Only the part of each block within its tag's probed range can match: slice first, so
    # the candidates are about as many as the probes, not whole blocks.
    rank_of = {t: i for i, t in enumerate(ids)}
    lo_l, hi_l = lo.tolist(), hi.tolist()
    c_rank: list[npt.NDArray[np.int64]] = []
    c_ts: list[npt.NDArray[np.int64]] = []
    c_v: list[npt.NDArray[np.float64]] = []
    c_q: list[npt.NDArray[np.uint32]] = []
    c_text: list[npt.NDArray[np.object_] | None] = []
    for tag, b in blocks:
        ri = rank_of[tag]
        a = int(np.searchsorted(b.ts, lo_l[ri], side="left"))
        z = int(np.searchsorted(b.ts, hi_l[ri], side="right"))
        if z > a:
            c_rank.append(np.full(z - a, ri, dtype=np.int64))
            c_ts.append(b.ts[a:z])
            c_v.append(b.values[a:z])
            c_q.append(b.quality[a:z])
            c_text.append(None if b.text is None else b.text[a:z])
    if not c_ts:
        return _none()
    s_ts = np.concatenate(c_ts)
    # An exact key of (tag rank, ts): rank * span + ts offset, which fits in int64 here.
    span = t_hi - t_lo + 1
    if len(uniq) * span >= 2**62:
        s_key = point_hash(uniq[np.concatenate(c_rank)].astype(np.int32), s_ts).view(np.int64)
        q_key = point_hash(tags, ts).view(np.int64)
    else:
        s_key = np.concatenate(c_rank) * span + (s_ts - t_lo)
        q_key = inverse.astype(np.int64) * span + (ts - t_lo)
    order = np.argsort(s_key)
    pos = np.minimum(np.searchsorted(s_key[order], q_key), len(order) - 1)
    at = order[pos]
    found = (s_key[at] == q_key) & (s_ts[at] == ts)
    qi = np.flatnonzero(found).astype(np.int64)
    at = at[qi]
    text = None
    if any(t is not None for t in c_text):
        text = np.concatenate(
            [
                t if t is not None else np.full(len(x), None, dtype=object)
                for t, x in zip(c_text, c_ts, strict=True)
            ]
        )[at]
    return StoredMatches(qi, np.concatenate(c_v)[at], np.concatenate(c_q)[at], text)


def _none() -> StoredMatches:
    return StoredMatches(
        np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.uint32), None
    )
