"""String values on disk: int32 byte lengths (-1 for None) followed by the UTF-8 bytes.

String tags are low-volume (product codes, operator names), so the per-string encode here is
acceptable; numeric points never pass through it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def encode_text(text: npt.NDArray[np.object_]) -> bytes:
    """Length-prefixed UTF-8 encoding of an object array of str or None."""
    encoded = [None if s is None else str(s).encode("utf-8") for s in text.tolist()]
    lengths = np.array([-1 if b is None else len(b) for b in encoded], dtype=np.int32)
    return lengths.tobytes() + b"".join(b for b in encoded if b is not None)


def decode_text(data: bytes | memoryview, n: int) -> npt.NDArray[np.object_]:
    """Inverse of `encode_text` for `n` strings."""
    lengths = np.frombuffer(data, dtype=np.int32, count=n)
    body = bytes(data[4 * n :])
    ends = np.cumsum(np.maximum(lengths, 0)).tolist()
    out = np.empty(n, dtype=object)
    start = 0
    for i, (length, end) in enumerate(zip(lengths.tolist(), ends, strict=True)):
        if length >= 0:
            out[i] = body[start:end].decode("utf-8")
        start = end
    return out


_NONE = np.empty((), dtype=object)  # a 0-d object array holding None


def present(text: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """True where an object array holds something other than None (elementwise, in C)."""
    out: npt.NDArray[np.bool_] = np.not_equal(text, _NONE)
    return out


def has_text(text: npt.NDArray[np.object_] | None) -> bool:
    """True when `text` holds at least one string."""
    return text is not None and bool(present(text).any())
