"""The tag table of the hot path: tag metadata as numpy arrays indexed by tag id.

Built from plain records (the plant registry hands them over), so validation of a batch is
a handful of array lookups, never a query or an object per point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from ifactory.core.errors import InvalidInput

# Kind codes of the `kind` array; 0 means "no tag with this id".
UNKNOWN = 0
FLOAT = 1
INT = 2
BOOL = 3
STRING = 4
ENUM = 5
KIND_CODES = {"float": FLOAT, "int": INT, "bool": BOOL, "string": STRING, "enum": ENUM}
KIND_NAMES = np.array(["unknown", "float", "int", "bool", "string", "enum"], dtype=object)


@dataclass(frozen=True, slots=True)
class TagRecord:
    """What validation needs to know about a tag."""

    id: int
    key: str
    data_type: str
    enum: Mapping[int, str] | Sequence[int] | None = None
    counter_max: float | None = None


def enum_key(
    ids: npt.NDArray[np.integer], values: npt.NDArray[np.integer]
) -> npt.NDArray[np.int64]:
    """One sortable int64 per (tag id, int32 enum value)."""
    return (ids.astype(np.int64) << np.int64(32)) | (values.astype(np.int64) & np.int64(0xFFFFFFFF))


class TagTable:
    """Tag id -> data type, allowed enum values and counter maximum; tag key -> id."""

    def __init__(self, records: Iterable[TagRecord]) -> None:
        recs = list(records)
        size = max((r.id for r in recs), default=-1) + 1
        self.kind = np.zeros(size, dtype=np.uint8)
        self.counter_max = np.full(size, np.nan)
        self.keys: dict[str, int] = {}
        self.records: dict[int, TagRecord] = {}
        enum_ids: list[int] = []
        enum_values: list[int] = []
        for r in recs:
            if r.id < 0:
                raise InvalidInput(f"tag {r.key!r} has a negative id", type="invalid_tag")
            code = KIND_CODES.get(r.data_type)
            if code is None:
                raise InvalidInput(
                    f"tag {r.key!r} has data type {r.data_type!r}; "
                    f"expected one of {sorted(KIND_CODES)}",
                    type="invalid_tag",
                )
            if r.key in self.keys and self.keys[r.key] != r.id:
                raise InvalidInput(f"tag key {r.key!r} is used twice", type="invalid_tag")
            self.kind[r.id] = code
            self.keys[r.key] = r.id
            self.records[r.id] = r
            if r.counter_max is not None:
                self.counter_max[r.id] = float(r.counter_max)
            if code == ENUM:
                allowed = [int(v) for v in (r.enum or ())]
                enum_ids.extend([r.id] * len(allowed))
                enum_values.extend(allowed)
        self.enum_keys = np.sort(
            enum_key(np.array(enum_ids, dtype=np.int64), np.array(enum_values, dtype=np.int64))
        )

    @classmethod
    def from_records(cls, records: Iterable[TagRecord | Mapping[str, Any]]) -> TagTable:
        """Build from `TagRecord`s or dicts with id, key, data_type, enum, counter_max."""
        out: list[TagRecord] = []
        for r in records:
            if isinstance(r, TagRecord):
                out.append(r)
            else:
                out.append(
                    TagRecord(
                        id=int(r["id"]),
                        key=str(r["key"]),
                        data_type=str(r.get("data_type", "float")),
                        enum=r.get("enum"),
                        counter_max=r.get("counter_max"),
                    )
                )
        return cls(out)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def size(self) -> int:
        """One past the largest tag id."""
        return len(self.kind)

    def resolve(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.int32]:
        """Tag ids of `keys` (-1 where unknown).

        The lookup runs in C (`map` over the dict's `get`), which is what resolving each
        distinct key once and broadcasting the ids back costs anyway.
        """
        return np.fromiter(
            map(self.keys.get, keys.tolist(), repeat(-1)), dtype=np.int32, count=len(keys)
        )

    def known(self, ids: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
        """True where `ids` name a tag of this table."""
        known: npt.NDArray[np.bool_] = self.kinds(ids) != UNKNOWN
        return known

    def kinds(self, ids: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
        """Kind code per id (UNKNOWN where the id is not a tag)."""
        inside = (ids >= 0) & (ids < len(self.kind))
        return np.where(inside, self.kind[np.where(inside, ids, 0)], UNKNOWN).astype(np.uint8)

    def enum_allowed(
        self, ids: npt.NDArray[np.integer], values: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.bool_]:
        """True where `values` is an allowed value of enum tag `ids`."""
        if len(self.enum_keys) == 0:
            return np.zeros(len(ids), dtype=np.bool_)
        k = enum_key(ids, values)
        pos = np.minimum(np.searchsorted(self.enum_keys, k), len(self.enum_keys) - 1)
        allowed: npt.NDArray[np.bool_] = self.enum_keys[pos] == k
        return allowed

    def counter_max_map(self) -> dict[int, float]:
        """Tag id -> counter maximum, for tags that have one (the historian's rollups need it)."""
        ids = np.flatnonzero(np.isfinite(self.counter_max))
        return {int(i): float(self.counter_max[i]) for i in ids}
