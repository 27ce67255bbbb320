"""The ingest pipeline: validate, dead-letter the rejects, write durably, then feed consumers.

`ingest` returns only after the historian commit, so a connector may acknowledge its source
when it returns (DESIGN.md, "Delivery guarantees"). Consumers (state trackers, detectors)
run after the commit, in order, on the points that were newly stored; a failing consumer is
logged and counted but does not fail the ingest, because the data is already durable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from ifactory.core.clock import Clock
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.deadletter import (
    CONFLICT,
    FUTURE_TIMESTAMP,
    NON_FINITE,
    TOO_OLD,
    UNKNOWN_TAG,
    WRONG_TYPE,
    DeadLetterBatch,
    value_repr,
)
from ifactory.historian.store import ConflictPoints, HistorianStore
from ifactory.stream.tagtable import KIND_NAMES, TagTable
from ifactory.stream.validate import DEFAULT_MAX_FUTURE_US, ValidationResult, validate

log = logging.getLogger(__name__)


class BatchConsumer(Protocol):
    """Anything that wants the committed points: `on_batch` gets resolved, newly stored points."""

    def on_batch(self, batch: TelemetryBatch) -> None:
        """Consume a committed batch."""
        ...


class DeadLetterSink(Protocol):
    """Where rejected points go with their reason: the SQLite or the PostgreSQL dead-letter store."""

    def add(self, batches: Sequence[DeadLetterBatch]) -> int:
        """Store the rejected points durably; returns how many."""
        ...


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one batch."""

    accepted: int
    rejected: dict[str, int]
    duplicates: int
    conflicts: int
    inserted: int = 0


@dataclass(frozen=True, slots=True)
class PipelineCounters:
    """Cumulative counters since start (for the metrics endpoint)."""

    batches: int = 0
    points_in: int = 0
    accepted: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    consumer_errors: int = 0


class IngestPipeline:
    """Validation + durable write + consumers; one writer at a time, any number of readers."""

    def __init__(
        self,
        table: TagTable,
        store: HistorianStore,
        dead_letters: DeadLetterSink,
        clock: Clock,
        consumers: Iterable[BatchConsumer] = (),
        *,
        max_future_us: int = DEFAULT_MAX_FUTURE_US,
        retention_us: int | None = None,
    ) -> None:
        self.table = table
        self.store = store
        self.dead_letters = dead_letters
        self.clock = clock
        self.consumers = list(consumers)
        self.max_future_us = max_future_us
        self.retention_us = retention_us
        self._ingest_lock = threading.Lock()
        self._counter_lock = threading.Lock()
        self._counters = PipelineCounters()

    def set_table(self, table: TagTable) -> None:
        """Swap in a new tag table (the plant model changed); takes effect from the next batch."""
        self.table = table

    def add_consumer(self, consumer: BatchConsumer) -> None:
        """Append a consumer (called after the ones already registered)."""
        with self._ingest_lock:
            self.consumers.append(consumer)

    def remove_consumer(self, consumer: BatchConsumer) -> None:
        """Stop feeding `consumer` (no effect if it is not registered)."""
        with self._ingest_lock:
            self.consumers = [c for c in self.consumers if c is not consumer]

    def counters(self) -> PipelineCounters:
        """A consistent snapshot of the counters."""
        with self._counter_lock:
            return replace(self._counters, rejected=dict(self._counters.rejected))

    def ingest(self, batch: TelemetryBatch) -> IngestResult:
        """Validate, dead-letter the rejects, write durably, then run the consumers."""
        with self._ingest_lock:
            table = self.table
            checked = validate(
                batch, table, self.clock.now_us(), self.max_future_us, self.retention_us
            )
            accepted = checked.accepted
            letters = _reject_letters(checked, table)
            duplicates = conflicts = inserted = 0
            new = accepted
            if len(accepted):
                result = self.store.write(accepted)
                duplicates, conflicts, inserted = (
                    result.duplicates,
                    result.conflicts,
                    result.inserted,
                )
                if inserted != len(accepted):
                    new = accepted.take(result.inserted_index)
                if len(result.conflict_points):
                    letters.append(_conflict_letters(result.conflict_points, batch, table))
            if letters:
                self.dead_letters.add(letters)
            if len(new):
                for consumer in self.consumers:
                    try:
                        consumer.on_batch(new)
                    except Exception:
                        log.exception("ingest consumer %r failed; the batch is stored", consumer)
                        self._count_consumer_error()
            rejected = {reason: len(b) for reason, b in checked.rejected.items()}
            self._count(len(batch), len(accepted), inserted, duplicates, conflicts, rejected)
            return IngestResult(len(accepted), rejected, duplicates, conflicts, inserted)

    def _count(
        self,
        points_in: int,
        accepted: int,
        inserted: int,
        duplicates: int,
        conflicts: int,
        rejected: dict[str, int],
    ) -> None:
        with self._counter_lock:
            c = self._counters
            merged = dict(c.rejected)
            for reason, k in rejected.items():
                merged[reason] = merged.get(reason, 0) + k
            self._counters = PipelineCounters(
                batches=c.batches + 1,
                points_in=c.points_in + points_in,
                accepted=c.accepted + accepted,
                inserted=c.inserted + inserted,
                duplicates=c.duplicates + duplicates,
                conflicts=c.conflicts + conflicts,
                rejected=merged,
                consumer_errors=c.consumer_errors,
            )

    def _count_consumer_error(self) -> None:
        with self._counter_lock:
            self._counters = replace(
                self._counters, consumer_errors=self._counters.consumer_errors + 1
            )


_DETAILS = {
    UNKNOWN_TAG: "no tag with this key or id",
    NON_FINITE: "NaN or infinite value with Good quality",
    FUTURE_TIMESTAMP: "timestamp too far in the future",
    TOO_OLD: "timestamp older than the retention period",
}


def _reject_letters(checked: ValidationResult, table: TagTable) -> list[DeadLetterBatch]:
    letters: list[DeadLetterBatch] = []
    for reason, b in checked.rejected.items():
        detail: str | list[str] = _DETAILS.get(reason, "")
        if reason == WRONG_TYPE:
            kinds = KIND_NAMES[table.kinds(checked.rejected_ids[reason])]
            detail = [f"not a valid {k} value" for k in kinds.tolist()]
        letters.append(
            DeadLetterBatch(reason, b.received_us, b.source, b.tags, b.ts, b.values, b.text, detail)
        )
    return letters


def _conflict_letters(c: ConflictPoints, batch: TelemetryBatch, table: TagTable) -> DeadLetterBatch:
    # Show the tag key, as the connector knows it, rather than the internal id.
    keys = [r.key if (r := table.records.get(t)) is not None else str(t) for t in c.tags.tolist()]
    stored = value_repr(c.stored_values, c.stored_text)
    detail = [
        f"stored value {s} (quality 0x{sq:08X}) kept; this write had quality 0x{q:08X}"
        for s, sq, q in zip(stored, c.stored_quality.tolist(), c.quality.tolist(), strict=True)
    ]
    return DeadLetterBatch(
        CONFLICT,
        batch.received_us,
        batch.source,
        np.array(keys, dtype=object),
        c.ts,
        c.values,
        c.text,
        detail,
    )
