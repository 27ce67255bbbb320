"""What the historian stores share above their storage: reads through a consistent view.

Each store gives a consistent read view (`_read_view`: the embedded store's snapshot of blocks
and head, the PostgreSQL store's repeatable-read transaction) that serves raw points and
complete 1-minute rollup rows (`aggregates.PointSource`). Rollups and aggregates are computed
from it the same way for both, so the stores return the same numbers for the same points.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Self

import numpy as np
import numpy.typing as npt

from ifactory.core.errors import Unavailable
from ifactory.historian import aggregates
from ifactory.historian.rollups import Rows, counter_max_table
from ifactory.historian.store import MINUTE_US, AggregateKind, Aggregates


class ViewReads:
    """`set_counter_max`, `rollups`, `aggregate` and the open/closed protocol of a store."""

    _counter_max: npt.NDArray[np.float64]
    _closed: bool
    carry_lookback_us: int

    def _read_view(self) -> AbstractContextManager[aggregates.PointSource]:
        """A consistent read view of the store (raises `Unavailable` when closed)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the store's resources (every acknowledged write is durable)."""
        raise NotImplementedError

    def set_counter_max(self, counter_max: Mapping[int, float]) -> None:
        """Rollover values of counter tags (the counter wraps to 0 on reaching it)."""
        # Replaced, never mutated: readers hold the old one safely.
        self._counter_max = counter_max_table(self._counter_max, counter_max)

    def rollups(self, tag_ids: npt.ArrayLike, start_us: int, end_us: int) -> Rows:
        """The complete 1-minute rollup rows of minutes overlapping [start, end) (the
        failure-prediction features are computed from them)."""
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        with self._read_view() as view:
            return view.minute_rows(ids, start_us // MINUTE_US, (end_us - 1) // MINUTE_US)

    def aggregate(
        self,
        tag_ids: npt.ArrayLike,
        start_us: int,
        end_us: int,
        bucket_us: int,
        kind: AggregateKind = "numeric",
        *,
        use_rollups: bool = True,
    ) -> Aggregates:
        """Aggregates over full buckets of `bucket_us` from `start_us` (the last may pass `end_us`).

        Minute-aligned starts with widths that are multiples of a minute read the 1-minute
        rollups; anything else is computed from raw points. `kind="state"` adds time in state
        per value, computed from raw points.
        """
        aggregates.check_range(start_us, end_us, bucket_us)
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        cm = self._counter_max
        with self._read_view() as view:
            return aggregates.query(
                view,
                ids,
                start_us,
                end_us,
                bucket_us,
                kind,
                cm,
                carry_lookback_us=self.carry_lookback_us,
                use_rollups=use_rollups,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the historian store is closed")
