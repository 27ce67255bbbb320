"""The in-memory head: points written (and logged in the WAL) but not yet flushed to blocks.

Append-only arrays: the writer fills slots past `n` and then publishes the new `n`, so a
reader holding (arrays, n) from a snapshot never sees a slot change under it. Growing
allocates new arrays and leaves the old ones to the readers that still hold them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ifactory.historian.hashindex import HashIndex
from ifactory.historian.hashing import point_hash


@dataclass(frozen=True, slots=True)
class HeadView:
    """An immutable snapshot of the first `n` points of a head."""

    tags: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None

    def __len__(self) -> int:
        return len(self.ts)


class Head:
    """Unflushed points of one generation, with a lazily built (tag, ts) index."""

    def __init__(self, capacity: int, wal_segments: list[int]) -> None:
        capacity = max(capacity, 1024)
        self.tags = np.empty(capacity, dtype=np.int32)
        self.ts = np.empty(capacity, dtype=np.int64)
        self.values = np.empty(capacity, dtype=np.float64)
        self.quality = np.empty(capacity, dtype=np.uint32)
        self.text: npt.NDArray[np.object_] | None = None
        self.n = 0
        self.wal_segments = list(wal_segments)
        # Set by the flusher just before its commit: the flush sequence holding these points.
        self.flush_seq: int | None = None
        self.created_monotonic = time.monotonic()
        self.t_min = np.iinfo(np.int64).max
        self._index = HashIndex(lambda lo, hi: point_hash(self.tags[lo:hi], self.ts[lo:hi]))

    def __len__(self) -> int:
        return self.n

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self.ts))
        for name in ("tags", "ts", "values", "quality"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        if self.text is not None:
            text = np.full(capacity, None, dtype=object)
            text[: self.n] = self.text[: self.n]
            self.text = text

    def append(
        self,
        tags: npt.NDArray[np.int32],
        ts: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint32],
        text: npt.NDArray[np.object_] | None,
    ) -> int:
        """Copy points in after the current end; returns the new length (to publish)."""
        k = len(ts)
        lo, hi = self.n, self.n + k
        if hi > len(self.ts):
            self._grow(hi)
        self.tags[lo:hi] = tags
        self.ts[lo:hi] = ts
        self.values[lo:hi] = values
        self.quality[lo:hi] = quality
        if text is not None:
            if self.text is None:
                self.text = np.full(len(self.ts), None, dtype=object)
            self.text[lo:hi] = text
        if k:
            self.t_min = min(self.t_min, int(ts.min()))
        return hi

    def view(self, n: int | None = None) -> HeadView:
        """The first `n` points (all published points by default)."""
        n = self.n if n is None else n
        return HeadView(
            self.tags[:n],
            self.ts[:n],
            self.values[:n],
            self.quality[:n],
            None if self.text is None else self.text[:n],
        )

    def find(
        self, tags: npt.NDArray[np.int32], ts: npt.NDArray[np.int64], h: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query index, head position) of the queried points that are in this head, exactly."""
        if self.n == 0 or len(ts) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        self._index.catch_up(self.n)
        qi, pos = self._index.candidates(h)
        exact = (self.tags[pos] == tags[qi]) & (self.ts[pos] == ts[qi])
        return qi[exact], pos[exact]
