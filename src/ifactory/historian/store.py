"""The historian store protocol and its columnar result types (DESIGN.md, "Telemetry data model").

Every result is a handful of numpy arrays, never one object per point, so callers can hand
them to numpy, a chart or a JSON encoder without a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from ifactory.historian.batch import TelemetryBatch

AggregateKind = Literal["numeric", "state"]

MINUTE_US = 60_000_000


def _empty_i32() -> npt.NDArray[np.int32]:
    return np.zeros(0, dtype=np.int32)


def _empty_i64() -> npt.NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


def _empty_f64() -> npt.NDArray[np.float64]:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class ConflictPoints:
    """Points whose (tag, ts) was already stored with a different value; the first write won."""

    tags: npt.NDArray[np.int32] = field(default_factory=_empty_i32)
    ts: npt.NDArray[np.int64] = field(default_factory=_empty_i64)
    values: npt.NDArray[np.float64] = field(default_factory=_empty_f64)
    quality: npt.NDArray[np.uint32] = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))
    text: npt.NDArray[np.object_] | None = None
    stored_values: npt.NDArray[np.float64] = field(default_factory=_empty_f64)
    stored_quality: npt.NDArray[np.uint32] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint32)
    )
    stored_text: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of `HistorianStore.write`; when it is returned the inserted points are durable."""

    inserted: int
    duplicates: int
    conflicts: int
    # Positions (in the written batch) of the points that were new, in batch order.
    inserted_index: npt.NDArray[np.int64] = field(default_factory=_empty_i64)
    conflict_points: ConflictPoints = field(default_factory=ConflictPoints)


@dataclass(frozen=True, slots=True)
class RawPoints:
    """Stored points sorted by (tag, ts)."""

    tags: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> RawPoints:
        """No points."""
        return cls(_empty_i32(), _empty_i64(), _empty_f64(), np.zeros(0, dtype=np.uint32))


@dataclass(frozen=True, slots=True)
class Latest:
    """The most recent point of each tag that has one (sorted by tag id)."""

    tags: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint32]
    text: npt.NDArray[np.object_] | None = None

    def __len__(self) -> int:
        return len(self.tags)


@dataclass(frozen=True, slots=True)
class StateDurations:
    """Time in state of one tag: `durations_us[i, b]` is how long `values[i]` held in bucket b."""

    values: npt.NDArray[np.float64]
    durations_us: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Per (tag, bucket) aggregates as 2-D arrays `[len(tags), len(bucket_start)]`.

    Buckets without samples are present with `count == 0` and NaN everywhere else
    (gaps are explicit, never interpolated).
    """

    tags: npt.NDArray[np.int32]
    bucket_start: npt.NDArray[np.int64]
    bucket_us: int
    count: npt.NDArray[np.int64]
    twa: npt.NDArray[np.float64]
    min: npt.NDArray[np.float64]
    max: npt.NDArray[np.float64]
    first: npt.NDArray[np.float64]
    last: npt.NDArray[np.float64]
    counter_delta: npt.NDArray[np.float64]
    time_in_state: dict[int, StateDurations] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What `retention` dropped."""

    blocks: int
    points: int
    rollup_segments: int


class HistorianStore(Protocol):
    """Where telemetry is kept: idempotent on (tag, ts), first write wins, durable on return."""

    def write(self, batch: TelemetryBatch) -> WriteResult:
        """Store a resolved batch durably; duplicates are ignored, conflicts counted."""
        ...

    def raw(
        self,
        tag_ids: npt.ArrayLike,
        start_us: int,
        end_us: int,
        limit: int | None = None,
    ) -> RawPoints:
        """Stored points of `tag_ids` with start_us <= ts < end_us, sorted by (tag, ts)."""
        ...

    def latest(self, tag_ids: npt.ArrayLike | None = None) -> Latest:
        """The most recent point per tag (all tags with data when `tag_ids` is None)."""
        ...

    def aggregate(
        self,
        tag_ids: npt.ArrayLike,
        start_us: int,
        end_us: int,
        bucket_us: int,
        kind: AggregateKind = "numeric",
    ) -> Aggregates:
        """Per-bucket aggregates of `tag_ids` over `bucket_us` buckets from `start_us`."""
        ...

    def retention(self, older_than_us: int) -> RetentionResult:
        """Drop stored data (blocks and rollups) that lies entirely before `older_than_us`."""
        ...

    def close(self) -> None:
        """Flush what is in memory and release the files."""
        ...
