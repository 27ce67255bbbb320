"""A 64-bit hash of (tag, ts): the key of the duplicate index.

A hash, not an exact key, because (int32, int64) does not fit in 64 bits; every hit is
verified against the stored tag and timestamp, so a collision costs a comparison, not a
wrong answer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


def point_hash(tags: npt.NDArray[np.integer], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser of ts xor tag * golden ratio (wrapping uint64 arithmetic)."""
    x = ts.view(np.uint64) ^ (tags.astype(np.uint64) * _GOLDEN)
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x
