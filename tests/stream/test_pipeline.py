"""The ingest pipeline end to end on real files: durable write, dead letters, consumers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ifactory.core.clock import ManualClock
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.deadletter import DeadLetterStore
from ifactory.historian.embedded import EmbeddedStore
from ifactory.stream.pipeline import IngestPipeline
from ifactory.stream.tagtable import TagTable

NOW = 1_750_000_000_000_000
S = 1_000_000
TABLE = TagTable.from_records(
    [
        {"id": 1, "key": "s/l/m1/temp", "data_type": "float"},
        {"id": 2, "key": "s/l/m1/count", "data_type": "int"},
        {"id": 3, "key": "s/l/m1/state", "data_type": "enum", "enum": {0: "idle", 1: "run"}},
    ]
)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[TelemetryBatch] = []

    def on_batch(self, batch: TelemetryBatch) -> None:
        self.batches.append(batch)


class Broken:
    def on_batch(self, batch: TelemetryBatch) -> None:
        raise RuntimeError("detector bug")


@pytest.fixture
def parts(
    tmp_path: Path,
) -> Iterator[tuple[EmbeddedStore, DeadLetterStore, Recorder, IngestPipeline]]:
    store = EmbeddedStore(tmp_path / "hist")
    dead = DeadLetterStore(tmp_path / "hist" / "dead_letters.db")
    recorder = Recorder()
    pipeline = IngestPipeline(
        TABLE,
        store,
        dead,
        ManualClock(NOW),
        consumers=[Broken(), recorder],
        retention_us=86_400 * S,
    )
    yield store, dead, recorder, pipeline
    store.close()
    dead.close()


def batch(tags, values, ts=None, source="edge-1") -> TelemetryBatch:
    n = len(values)
    return TelemetryBatch.of(
        tags,
        ts if ts is not None else [NOW - (n - i) * S for i in range(n)],
        values,
        received_us=NOW,
        source=source,
    )


def test_ingest_stores_rejects_and_feeds_consumers(parts) -> None:
    store, dead, recorder, pipeline = parts
    result = pipeline.ingest(
        batch(
            ["s/l/m1/temp", "s/l/m1/count", "ghost", "s/l/m1/state", "s/l/m1/temp"],
            [20.5, 3.0, 1.0, 7.0, np.inf],
        )
    )
    assert (result.accepted, result.inserted) == (2, 2)
    assert result.rejected == {"unknown_tag": 1, "wrong_type": 1, "non_finite": 1}
    assert len(store.raw([1, 2], NOW - 10 * S, NOW)) == 2
    assert dead.counts() == {"non_finite": 1, "unknown_tag": 1, "wrong_type": 1}
    ghost = dead.query(reason="unknown_tag")[0]
    assert (ghost.tag, ghost.source, ghost.value) == ("ghost", "edge-1", "1.0")
    assert "enum" in dead.query(reason="wrong_type")[0].detail
    # The broken consumer did not stop the one after it, nor the ingest.
    assert [b.tags.tolist() for b in recorder.batches] == [[1, 2]]
    assert pipeline.counters().consumer_errors == 1


def test_replays_are_duplicates_and_consumers_see_only_new_points(parts) -> None:
    _store, dead, recorder, pipeline = parts
    first = batch([1, 1], [1.0, 2.0])
    pipeline.ingest(first)
    again = pipeline.ingest(batch([1, 1, 1], [1.0, 2.0, 3.0], ts=[*first.ts.tolist(), NOW]))
    assert (again.inserted, again.duplicates, again.conflicts) == (1, 2, 0)
    assert recorder.batches[-1].values.tolist() == [3.0]
    assert dead.counts() == {}


def test_conflicts_go_to_dead_letters_with_both_values(parts) -> None:
    store, dead, _recorder, pipeline = parts
    pipeline.ingest(batch([1], [1.25], ts=[NOW - S]))
    result = pipeline.ingest(batch(["s/l/m1/temp"], [9.5], ts=[NOW - S], source="replay"))
    assert result.conflicts == 1
    letter = dead.query(reason="conflict")[0]
    assert (letter.tag, letter.ts, letter.value, letter.source) == (
        "s/l/m1/temp",
        NOW - S,
        "9.5",
        "replay",
    )
    assert "1.25" in letter.detail
    assert store.raw([1], NOW - S, NOW).values.tolist() == [1.25]


def test_every_reject_reason_reaches_the_dead_letters(parts) -> None:
    _store, dead, _recorder, pipeline = parts
    pipeline.ingest(batch([1], [1.0], ts=[NOW - 5 * S]))
    pipeline.ingest(
        batch(
            [9, 2, 1, 1, 1, 1],
            [1.0, 0.5, np.nan, 1.0, 1.0, 2.0],
            ts=[NOW, NOW, NOW, NOW + 3600 * S, NOW - 2 * 86_400 * S, NOW - 5 * S],
        )
    )
    assert dead.counts() == {
        "conflict": 1,
        "future_timestamp": 1,
        "non_finite": 1,
        "too_old": 1,
        "unknown_tag": 1,
        "wrong_type": 1,
    }
    c = pipeline.counters()
    assert (c.batches, c.points_in, c.accepted, c.inserted, c.conflicts) == (2, 7, 2, 1, 1)
    assert sum(c.rejected.values()) == 5
