"""Writes to the embedded store: idempotence, first write wins, conflicts, latest, raw reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ifactory.core.errors import InvalidInput, Unavailable
from ifactory.historian.batch import BAD, TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000


def batch(
    tags: list[int], ts: list[int], values: list[float], quality: list[int] | None = None, text=None
):
    return TelemetryBatch.of(tags, ts, values, quality, received_us=T0, source="test", text=text)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "hist", head_points=64)
    yield s
    s.close()


def test_replaying_a_batch_stores_nothing_twice(store: EmbeddedStore) -> None:
    b = batch([1, 1, 2], [T0, T0 + S, T0], [1.0, 2.0, 3.0])
    first = store.write(b)
    again = store.write(b)
    assert (first.inserted, first.duplicates, first.conflicts) == (3, 0, 0)
    assert (again.inserted, again.duplicates, again.conflicts) == (0, 3, 0)
    assert len(store.raw([1, 2], T0, T0 + 10 * S)) == 3


def test_first_write_wins_and_a_different_value_is_a_conflict(store: EmbeddedStore) -> None:
    store.write(batch([1], [T0], [1.0]))
    result = store.write(batch([1, 1], [T0, T0 + S], [9.0, 2.0]))
    assert (result.inserted, result.duplicates, result.conflicts) == (1, 0, 1)
    c = result.conflict_points
    assert c.tags.tolist() == [1] and c.ts.tolist() == [T0]
    assert c.values.tolist() == [9.0] and c.stored_values.tolist() == [1.0]
    assert store.raw([1], T0, T0 + S).values.tolist() == [1.0]


def test_a_different_quality_is_a_conflict_too(store: EmbeddedStore) -> None:
    store.write(batch([1], [T0], [1.0]))
    result = store.write(batch([1], [T0], [1.0], [BAD]))
    assert result.conflicts == 1


def test_duplicates_inside_one_batch(store: EmbeddedStore) -> None:
    result = store.write(batch([1, 1, 1, 2], [T0, T0, T0, T0], [5.0, 5.0, 6.0, 1.0]))
    assert (result.inserted, result.duplicates, result.conflicts) == (2, 1, 1)
    assert result.conflict_points.stored_values.tolist() == [5.0]
    assert result.inserted_index.tolist() == [0, 3]
    assert store.raw([1], T0, T0 + 1).values.tolist() == [5.0]


def test_duplicates_are_found_in_flushed_blocks_and_in_the_head(store: EmbeddedStore) -> None:
    tags = np.repeat(np.arange(4), 100)
    ts = T0 + np.tile(np.arange(100), 4) * S
    values = np.arange(400, dtype=np.float64)
    store.write(batch(tags, ts, values))  # 400 points > head_points: rotated and flushed
    store.flush()
    store.write(batch([0], [T0 + 500 * S], [7.0]))  # in the head
    replay = batch(np.append(tags, 0), np.append(ts, T0 + 500 * S), np.append(values, 7.0))
    result = store.write(replay)
    assert (result.inserted, result.duplicates, result.conflicts) == (0, 401, 0)
    changed = store.write(batch([2, 0], [T0 + 3 * S, T0 + 500 * S], [-1.0, -1.0]))
    assert changed.conflicts == 2
    assert changed.conflict_points.stored_values.tolist() == [203.0, 7.0]


def test_backfill_below_the_high_water_mark_is_stored(store: EmbeddedStore) -> None:
    store.write(batch([1, 1], [T0, T0 + 10 * S], [1.0, 3.0]))
    store.flush()
    result = store.write(batch([1], [T0 + 5 * S], [2.0]))
    assert result.inserted == 1
    assert store.raw([1], T0, T0 + 11 * S).values.tolist() == [1.0, 2.0, 3.0]
    assert store.latest([1]).values.tolist() == [3.0]


def test_latest_value_per_tag_survives_a_restart(tmp_path: Path) -> None:
    s = EmbeddedStore(tmp_path / "h", head_points=64)
    s.write(batch([1, 2, 1], [T0, T0, T0 + S], [1.0, 5.0, 2.0]))
    s.flush()
    s.write(batch([2], [T0 + 2 * S], [6.0], [BAD]))
    latest = s.latest()
    assert latest.tags.tolist() == [1, 2]
    assert latest.values.tolist() == [2.0, 6.0]
    assert latest.quality.tolist() == [0, BAD]
    s.close()
    s = EmbeddedStore(tmp_path / "h", head_points=64)
    again = s.latest([2, 1, 99])
    assert again.tags.tolist() == [1, 2] and again.ts.tolist() == [T0 + S, T0 + 2 * S]
    s.close()


def test_raw_merges_blocks_and_head_in_time_order_with_a_limit(store: EmbeddedStore) -> None:
    store.write(
        batch([3] * 50, [T0 + i * S for i in range(0, 100, 2)], [float(i) for i in range(50)])
    )
    store.flush()
    store.write(
        batch([3] * 50, [T0 + i * S for i in range(1, 100, 2)], [float(i) for i in range(50)])
    )
    points = store.raw([3], T0, T0 + 100 * S)
    assert len(points) == 100
    assert np.all(np.diff(points.ts) == S)
    assert len(store.raw([3], T0, T0 + 100 * S, limit=7)) == 7
    assert len(store.raw([3], T0 + 10 * S, T0 + 20 * S)) == 10


def test_string_values_round_trip(store: EmbeddedStore) -> None:
    text = np.array(["PN-1", None, "PN-ü"], dtype=object)
    store.write(batch([4, 1, 4], [T0, T0, T0 + S], [np.nan, 1.0, np.nan], text=text))
    store.flush()
    p = store.raw([4], T0, T0 + 2 * S)
    assert p.text is not None and p.text.tolist() == ["PN-1", "PN-ü"]
    assert store.latest([4]).text is not None
    assert store.latest([4]).text.tolist() == ["PN-ü"]
    same = store.write(batch([4], [T0], [np.nan], text=np.array(["PN-1"], dtype=object)))
    other = store.write(batch([4], [T0], [np.nan], text=np.array(["PN-2"], dtype=object)))
    assert same.duplicates == 1 and other.conflicts == 1


def test_unresolved_batches_are_refused(store: EmbeddedStore) -> None:
    with pytest.raises(InvalidInput):
        store.write(TelemetryBatch.of(["a/b"], [T0], [1.0], received_us=T0))


def test_one_store_per_directory(tmp_path: Path) -> None:
    s = EmbeddedStore(tmp_path / "h")
    with pytest.raises(Unavailable):
        EmbeddedStore(tmp_path / "h")
    s.close()
