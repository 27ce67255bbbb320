"""Per-tag state kept in memory as arrays indexed by tag id, persisted at every flush.

Persisted as an .npz of plain arrays plus a JSON document (never pickle), in the same SQLite
transaction as the blocks it describes, so it is always consistent with them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ifactory.historian.rollups import ROW_DTYPE, Rows

NO_TS = np.iinfo(np.int64).min


@dataclass
class TagState:
    """High-water mark (= latest ts), latest value/quality/text and the tail rollup row per tag."""

    hwm: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    value: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    quality: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))
    text: dict[int, str] = field(default_factory=dict)
    # The complete rollup row of each tag's last bucket (n == 0 where none).
    tail: Rows = field(default_factory=Rows.empty)

    def __len__(self) -> int:
        return len(self.hwm)

    def grow(self, size: int) -> None:
        """Make room for tag ids below `size`."""
        old = len(self.hwm)
        if size <= old:
            return
        size = max(size, 2 * old, 1024)
        extra = size - old
        self.hwm = np.concatenate([self.hwm, np.full(extra, NO_TS, dtype=np.int64)])
        self.value = np.concatenate([self.value, np.full(extra, np.nan)])
        self.quality = np.concatenate([self.quality, np.zeros(extra, dtype=np.uint32)])
        self.tail = Rows.concat([self.tail, Rows.empty(extra)])

    def copy(self) -> TagState:
        """A deep copy (the flusher updates a copy, then swaps it in under the lock)."""
        return TagState(
            self.hwm.copy(),
            self.value.copy(),
            self.quality.copy(),
            dict(self.text),
            Rows(*(c.copy() for c in self.tail.columns())),
        )

    def encode(self) -> bytes:
        """Arrays of the tags that have data, as npz bytes."""
        ids = np.flatnonzero(self.hwm != NO_TS)
        tail_ids = np.flatnonzero(self.tail.n > 0)
        doc = json.dumps({str(k): v for k, v in self.text.items()}).encode("utf-8")
        buf = io.BytesIO()
        np.savez(
            buf,
            ids=ids,
            hwm=self.hwm[ids],
            value=self.value[ids],
            quality=self.quality[ids],
            tail_ids=tail_ids,
            tail=self.tail.take(tail_ids).to_records().view(np.uint8),
            text=np.frombuffer(doc, dtype=np.uint8),
        )
        return buf.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> TagState:
        """Inverse of `encode`."""
        z = np.load(io.BytesIO(data), allow_pickle=False)
        ids = z["ids"]
        tail_ids = z["tail_ids"]
        size = int(max(ids.max(initial=-1), tail_ids.max(initial=-1)) + 1)
        state = cls()
        state.grow(size)
        state.hwm[ids] = z["hwm"]
        state.value[ids] = z["value"]
        state.quality[ids] = z["quality"]
        state.tail.put(tail_ids, Rows.from_records(z["tail"].view(ROW_DTYPE)))
        state.text = {int(k): v for k, v in json.loads(bytes(z["text"]).decode("utf-8")).items()}
        return state
