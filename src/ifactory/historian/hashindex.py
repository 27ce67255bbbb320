"""Sorted runs of (hash, position), merged like an LSM tree, over an append-only point array.

The live path never needs the index (new points lie above the per-tag high-water mark), so
runs are built lazily, on the first lookup after appends, and merged so that at most about
log4(n) runs exist; a lookup is one `searchsorted` per run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

HashFn = Callable[[int, int], npt.NDArray[np.uint64]]


def _merge(
    a_h: npt.NDArray[np.uint64],
    a_p: npt.NDArray[np.int64],
    b_h: npt.NDArray[np.uint64],
    b_p: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """Merge two sorted runs in linear time (plus a binary search per element of the smaller)."""
    if len(a_h) < len(b_h):
        a_h, a_p, b_h, b_p = b_h, b_p, a_h, a_p
    at = np.searchsorted(a_h, b_h, side="right") + np.arange(len(b_h))
    out_h = np.empty(len(a_h) + len(b_h), dtype=np.uint64)
    out_p = np.empty(len(a_h) + len(b_h), dtype=np.int64)
    from_a = np.ones(len(out_h), dtype=np.bool_)
    from_a[at] = False
    out_h[at] = b_h
    out_p[at] = b_p
    out_h[from_a] = a_h
    out_p[from_a] = a_p
    return out_h, out_p


class HashIndex:
    """Positions of points by hash, for exact-match lookups after verification by the caller."""

    def __init__(self, hash_range: HashFn) -> None:
        # hash_range(lo, hi) returns the hashes of points [lo, hi) of the indexed array.
        self._hash_range = hash_range
        self._runs: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]] = []
        self.indexed = 0

    def catch_up(self, n: int) -> None:
        """Index points [indexed, n) as a new run and restore the LSM size invariant."""
        if n <= self.indexed:
            return
        h = self._hash_range(self.indexed, n)
        order = np.argsort(h)
        run = (h[order], order.astype(np.int64) + self.indexed)
        self.indexed = n
        self._runs.append(run)
        # A run is merged into its predecessor while the predecessor is not much larger,
        # so run sizes shrink geometrically and each point is merged O(log n) times.
        while len(self._runs) >= 2 and len(self._runs[-2][0]) <= 4 * len(self._runs[-1][0]):
            b = self._runs.pop()
            a = self._runs.pop()
            self._runs.append(_merge(a[0], a[1], b[0], b[1]))

    def candidates(
        self, q: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query index, stored position) pairs whose hashes are equal."""
        qi_parts: list[npt.NDArray[np.int64]] = []
        pos_parts: list[npt.NDArray[np.int64]] = []
        for h, p in self._runs:
            left = np.searchsorted(h, q, side="left")
            right = np.searchsorted(h, q, side="right")
            count = right - left
            hit = np.flatnonzero(count > 0)
            if len(hit) == 0:
                continue
            if (count[hit] == 1).all():
                qi_parts.append(hit.astype(np.int64))
                pos_parts.append(p[left[hit]])
                continue
            # Equal hashes among stored points (a 64-bit collision): list every candidate.
            reps = count[hit]
            qi = np.repeat(hit, reps).astype(np.int64)
            offsets = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
            qi_parts.append(qi)
            pos_parts.append(p[np.repeat(left[hit], reps) + offsets])
        if not qi_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(qi_parts), np.concatenate(pos_parts)
