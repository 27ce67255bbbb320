"""The PostgreSQL historian store: the store contract on both stores, equivalence with the
embedded store on random data, day-partition retention, and durability across reopen."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from ifactory.core.errors import InvalidInput, Unavailable
from ifactory.historian.batch import BAD, UNCERTAIN, TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore
from ifactory.historian.postgres import PostgresStore
from ifactory.historian.rollups import Rows
from ifactory.historian.store import Aggregates, HistorianStore

PG_URL = os.environ.get("IFACTORY_TEST_PG_URL")

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000
M = 60 * S
H = 60 * M
DAY = 24 * H
D0 = T0 - T0 % DAY  # midnight UTC before T0

Opener = Callable[[], Any]


def batch(tags: Any, ts: Any, values: Any, quality: Any = None, text: Any = None) -> TelemetryBatch:
    return TelemetryBatch.of(tags, ts, values, quality, received_us=T0, source="test", text=text)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema name no other test uses; dropped (with everything in it) afterwards."""
    if PG_URL is None:
        pytest.skip("IFACTORY_TEST_PG_URL is not set (scripts/test.sh sets it; CI runs PostgreSQL)")
    schema = f"hist_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(libpq(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_opener(schema: str, **options: Any) -> Opener:
    assert PG_URL is not None
    return lambda: PostgresStore(PG_URL, schema=schema, **options)


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the store under test (again, on the same data, when called again)."""
    if request.param == "embedded":
        return lambda: EmbeddedStore(tmp_path / "hist", head_points=64)
    return pg_opener(request.getfixturevalue("pg_schema"))


@pytest.fixture
def store(opener: Opener) -> Iterator[HistorianStore]:
    s = opener()
    yield s
    s.close()


def settle(store: Any) -> None:
    """Move the embedded store's head to blocks, so lookups also hit flushed data."""
    if isinstance(store, EmbeddedStore):
        store.flush()


# -- (a) the contract, on both stores ---------------------------------------------------------
def test_replaying_a_batch_stores_nothing_twice(store: HistorianStore) -> None:
    b = batch([1, 1, 2], [T0, T0 + S, T0], [1.0, 2.0, 3.0])
    first = store.write(b)
    settle(store)
    again = store.write(b)
    assert (first.inserted, first.duplicates, first.conflicts) == (3, 0, 0)
    assert (again.inserted, again.duplicates, again.conflicts) == (0, 3, 0)
    assert again.inserted_index.tolist() == []
    assert len(store.raw([1, 2], T0, T0 + 10 * S)) == 3
    assert store.aggregate([1, 2], T0, T0 + M, M).count.tolist() == [[2], [1]]


def test_first_write_wins_and_a_different_value_or_quality_is_a_conflict(
    store: HistorianStore,
) -> None:
    store.write(batch([1, 2], [T0, T0], [1.0, 4.0]))
    settle(store)
    result = store.write(batch([1, 1, 2], [T0, T0 + S, T0], [9.0, 2.0, 4.0], [0, 0, BAD]))
    assert (result.inserted, result.duplicates, result.conflicts) == (1, 0, 2)
    assert result.inserted_index.tolist() == [1]
    c = result.conflict_points
    assert c.tags.tolist() == [1, 2] and c.ts.tolist() == [T0, T0]
    assert c.values.tolist() == [9.0, 4.0] and c.stored_values.tolist() == [1.0, 4.0]
    assert c.quality.tolist() == [0, BAD] and c.stored_quality.tolist() == [0, 0]
    raw = store.raw([1, 2], T0, T0 + S)
    assert raw.values.tolist() == [1.0, 4.0] and raw.quality.tolist() == [0, 0]


def test_duplicates_inside_one_batch(store: HistorianStore) -> None:
    result = store.write(batch([1, 1, 1, 2], [T0, T0, T0, T0], [5.0, 5.0, 6.0, 1.0]))
    assert (result.inserted, result.duplicates, result.conflicts) == (2, 1, 1)
    assert result.conflict_points.stored_values.tolist() == [5.0]
    assert result.inserted_index.tolist() == [0, 3]
    assert store.raw([1], T0, T0 + 1).values.tolist() == [5.0]


def test_backfill_below_the_high_water_mark_is_stored_and_rolled_up(
    store: HistorianStore,
) -> None:
    store.write(batch([1, 1], [T0, T0 + 40 * S], [1.0, 3.0]))
    settle(store)
    before = store.aggregate([1], T0, T0 + M, M)
    assert before.twa[0, 0] == pytest.approx((1.0 * 40 + 3.0 * 20) / 60)
    result = store.write(batch([1], [T0 + 20 * S], [2.0]))
    assert result.inserted == 1
    assert store.raw([1], T0, T0 + M).values.tolist() == [1.0, 2.0, 3.0]
    assert store.latest([1]).values.tolist() == [3.0]
    after = store.aggregate([1], T0, T0 + M, M)
    assert after.count.tolist() == [[3]]
    assert after.twa[0, 0] == pytest.approx((1.0 * 20 + 2.0 * 20 + 3.0 * 20) / 60)
    # The same through wider buckets (rollups combined) and from raw points.
    assert store.aggregate([1], T0, T0 + 2 * M, 2 * M).count.tolist() == [[3]]
    assert store.aggregate([1], T0 + S, T0 + M, 59 * S).count.tolist() == [[2]]


def test_raw_is_sorted_by_tag_and_time_and_honours_the_limit(store: HistorianStore) -> None:
    even = [T0 + i * S for i in range(0, 100, 2)]
    odd = [T0 + i * S for i in range(1, 100, 2)]
    store.write(batch([3] * 50 + [1] * 50, odd + even, np.arange(100.0)))
    settle(store)
    store.write(batch([3] * 50, even[::-1], np.arange(50.0)))
    points = store.raw([3, 1], T0, T0 + 100 * S)
    assert points.tags.tolist() == [1] * 50 + [3] * 100
    assert np.all(np.diff(points.ts[50:]) == S)
    limited = store.raw([1, 3], T0, T0 + 100 * S, limit=53)
    assert len(limited) == 53 and limited.tags[-1] == 3 and limited.ts[-1] == T0 + 2 * S
    assert len(store.raw([3], T0 + 10 * S, T0 + 20 * S)) == 10
    assert len(store.raw([], T0, T0 + 100 * S)) == 0


def test_latest_is_the_newest_point_per_tag(store: HistorianStore) -> None:
    store.write(batch([1, 2, 1], [T0, T0, T0 + S], [1.0, 5.0, 2.0]))
    settle(store)
    store.write(batch([2, 1], [T0 + 2 * S, T0 - S], [6.0, 0.5], [UNCERTAIN, 0]))  # 1: backfill
    latest = store.latest()
    assert latest.tags.tolist() == [1, 2]
    assert latest.ts.tolist() == [T0 + S, T0 + 2 * S]
    assert latest.values.tolist() == [2.0, 6.0]
    assert latest.quality.tolist() == [0, UNCERTAIN]
    assert store.latest([2, 99]).tags.tolist() == [2]
    # A conflicting rewrite of the newest point does not replace it.
    store.write(batch([2], [T0 + 2 * S], [-1.0]))
    assert store.latest([2]).values.tolist() == [6.0]


def test_string_values_round_trip(store: HistorianStore) -> None:
    text = np.array(["PN-1", None, "PN-ü"], dtype=object)
    store.write(batch([4, 1, 4], [T0, T0, T0 + S], [np.nan, 1.0, np.nan], text=text))
    settle(store)
    p = store.raw([4], T0, T0 + 2 * S)
    assert p.text is not None and p.text.tolist() == ["PN-1", "PN-ü"]
    latest = store.latest([4])
    assert latest.text is not None and latest.text.tolist() == ["PN-ü"]
    same = store.write(batch([4], [T0], [np.nan], text=np.array(["PN-1"], dtype=object)))
    other = store.write(batch([4], [T0], [np.nan], text=np.array(["PN-2"], dtype=object)))
    assert same.duplicates == 1 and other.conflicts == 1
    stored_text = other.conflict_points.stored_text
    assert stored_text is not None and stored_text.tolist() == ["PN-1"]


def test_unresolved_and_out_of_range_batches_are_refused(store: HistorianStore) -> None:
    with pytest.raises(InvalidInput):
        store.write(TelemetryBatch.of(["a/b"], [T0], [1.0], received_us=T0))
    with pytest.raises(InvalidInput):
        store.write(batch([-1], [T0], [1.0]))
    assert store.write(batch(np.zeros(0, dtype=np.int32), [], [])).inserted == 0
    assert len(store.latest()) == 0


# -- (b) same data, same answers ----------------------------------------------------------------
SAMPLED = [0, 1, 2, 3]
COUNTERS = [10, 11, 12]  # 10 wraps at 250, 11 at 500, 12 never (resets only)
STATES = [20, 21]
COUNTER_MAX = {10: 250.0, 11: 500.0}
EQ0 = D0 + DAY - 90 * M  # 22:30 UTC: the history crosses midnight, so two day partitions


def random_history(seed: int) -> list[TelemetryBatch]:
    """Seeded batches over ~3 h from 22:25: live data in order, with gaps, Bad samples, counter resets
    and rollovers, then late batches (backfill), replays and conflicting rewrites."""
    rng = np.random.default_rng(seed)
    tags_all: list[np.ndarray] = []
    ts_all: list[np.ndarray] = []
    values_all: list[np.ndarray] = []
    quality_all: list[np.ndarray] = []
    span = 3 * H
    for tag in SAMPLED + COUNTERS + STATES:
        n = int(rng.integers(200, 900))
        ts = np.unique(EQ0 - 5 * M + rng.integers(0, span // 1000, n) * 1000)
        # Gaps: drop the points of a few random quarter hours.
        for _ in range(2):
            lo = EQ0 + int(rng.integers(0, span // M)) * M
            ts = ts[(ts < lo) | (ts >= lo + 15 * M)]
        k = len(ts)
        if tag in SAMPLED:
            values = np.round(rng.normal(50, 20, k) * 8) / 8  # multiples of 1/8: exact sums
        elif tag in COUNTERS:
            counted = np.cumsum(rng.integers(0, 7, k)).astype(np.float64)
            reset = rng.random(k) < 0.01  # the counter restarts from 0 at these samples
            values = counted - np.maximum.accumulate(np.where(reset, counted, 0.0))
            if tag in COUNTER_MAX:
                values = np.mod(values, COUNTER_MAX[tag])  # rollover
        else:
            values = rng.integers(0, 4, k).astype(np.float64)
        quality = np.where(rng.random(k) < 0.05, BAD, 0).astype(np.uint32)
        quality[rng.random(k) < 0.03] = UNCERTAIN
        values[(quality == BAD) & (rng.random(k) < 0.5)] = np.nan
        tags_all.append(np.full(k, tag, dtype=np.int32))
        ts_all.append(ts)
        values_all.append(values)
        quality_all.append(quality)
    tags = np.concatenate(tags_all)
    ts = np.concatenate(ts_all)
    values = np.concatenate(values_all)
    quality = np.concatenate(quality_all)
    order = np.argsort(ts, kind="stable")
    tags, ts, values, quality = tags[order], ts[order], values[order], quality[order]
    cuts = np.sort(rng.choice(np.arange(1, len(ts)), 60, replace=False))
    parts = [
        batch(t, s, v, q)
        for t, s, v, q in zip(
            np.split(tags, cuts),
            np.split(ts, cuts),
            np.split(values, cuts),
            np.split(quality, cuts),
            strict=True,
        )
    ]
    # Hold back a few batches and write them at the end, shuffled (backfill below the HWM).
    late = set(rng.choice(len(parts), 8, replace=False).tolist())
    ordered = [p for i, p in enumerate(parts) if i not in late]
    backfill = [parts[i] for i in rng.permutation(sorted(late))]
    replays = [parts[i] for i in rng.choice(len(parts), 4, replace=False)]
    rewrite = parts[int(rng.integers(len(parts)))]
    changed = batch(rewrite.tags, rewrite.ts, rewrite.values + 1.0, rewrite.quality)
    shuffled = rewrite.take(rng.permutation(len(rewrite)))
    return ordered + backfill + replays + [changed, shuffled]


def assert_same_aggregates(a: Aggregates, b: Aggregates, what: str) -> None:
    np.testing.assert_array_equal(a.tags, b.tags, err_msg=what)
    np.testing.assert_array_equal(a.bucket_start, b.bucket_start, err_msg=what)
    for name in ("count", "twa", "min", "max", "first", "last", "counter_delta"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{what} {name}")
    assert a.time_in_state.keys() == b.time_in_state.keys(), what
    for tag, sd in a.time_in_state.items():
        np.testing.assert_array_equal(sd.values, b.time_in_state[tag].values, err_msg=what)
        np.testing.assert_array_equal(
            sd.durations_us, b.time_in_state[tag].durations_us, err_msg=what
        )


def text_or_none(text: Any, n: int) -> list[Any]:
    return [None] * n if text is None else text.tolist()


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2])
def test_both_stores_give_the_same_answers_for_the_same_writes(
    seed: int, tmp_path: Path, pg_schema: str
) -> None:
    embedded = EmbeddedStore(tmp_path / "hist", head_points=700, counter_max=COUNTER_MAX)
    pg = pg_opener(pg_schema, counter_max=COUNTER_MAX)()
    try:
        for i, b in enumerate(random_history(seed)):
            want = embedded.write(b)
            got = pg.write(b)
            assert (got.inserted, got.duplicates, got.conflicts) == (
                want.inserted,
                want.duplicates,
                want.conflicts,
            ), f"batch {i}"
            np.testing.assert_array_equal(got.inserted_index, want.inserted_index)
            np.testing.assert_array_equal(got.conflict_points.ts, want.conflict_points.ts)
            np.testing.assert_array_equal(
                got.conflict_points.stored_values, want.conflict_points.stored_values
            )
        assert embedded.flush_count > 3  # the embedded side went through several flushes
        assert len(partitions(pg_schema)) == 2
        tags = SAMPLED + COUNTERS + STATES
        lo, hi = EQ0 - 10 * M, EQ0 + 4 * H
        a, b = embedded.raw(tags, lo, hi), pg.raw(tags, lo, hi)
        assert len(a) > 3000
        for name in ("tags", "ts", "values", "quality"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        a_latest, b_latest = embedded.latest(), pg.latest()
        for name in ("tags", "ts", "values", "quality"):
            np.testing.assert_array_equal(getattr(a_latest, name), getattr(b_latest, name))
        # The 1-minute rows themselves, which the failure-prediction features read.
        a_rows, b_rows = embedded.rollups(tags, lo, hi), pg.rollups(tags, lo, hi)
        assert len(a_rows) > 200
        for name in Rows.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(a_rows, name), getattr(b_rows, name), name)
        windows = [
            (EQ0, EQ0 + 3 * H, M),  # from the 1-minute rollups
            (EQ0 - 5 * M, EQ0 + 3 * H, 5 * M),  # rollups combined
            (EQ0 + 7 * M, EQ0 + 2 * H, H),  # carry-in from before the range
            (EQ0 + 30 * S, EQ0 + H, 90 * S),  # not minute-aligned: from raw points
            (EQ0 + 3 * H - 10 * M, EQ0 + 5 * H, 10 * M),  # past the end of the data
        ]
        for start, end, width in windows:
            for kind in ("numeric", "state"):
                assert_same_aggregates(
                    embedded.aggregate(tags, start, end, width, kind),
                    pg.aggregate(tags, start, end, width, kind),
                    f"{kind} {(start - EQ0) // S}s..{(end - EQ0) // S}s by {width // S}s",
                )
    finally:
        embedded.close()
        pg.close()


# -- (c) retention ------------------------------------------------------------------------------
def partitions(schema: str) -> list[str]:
    assert PG_URL is not None
    with psycopg.connect(libpq(PG_URL)) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY 1",
            (f'"{schema}".points',),
        ).fetchall()
    return [r[0] for r in rows]


def rollup_buckets(schema: str) -> list[int]:
    assert PG_URL is not None
    with psycopg.connect(libpq(PG_URL)) as conn:
        rows = conn.execute(f'SELECT DISTINCT bucket FROM "{schema}".rollup_1m ORDER BY 1')
        return [r[0] for r in rows.fetchall()]


def day_of_points(store: HistorianStore, day: int) -> None:
    ts = D0 + day * DAY + np.arange(0, DAY, 10 * M)  # 144 points a day, 10 minutes apart
    store.write(batch(np.ones(len(ts), dtype=np.int32), ts, np.full(len(ts), float(day))))


@pytest.mark.postgres
def test_retention_drops_whole_old_partitions_and_their_rollups(pg_schema: str) -> None:
    store = pg_opener(pg_schema)()
    for day in range(3):
        day_of_points(store, day)
    assert len(partitions(pg_schema)) == 3
    # A cut-off in the middle of day 2 drops days 0 and 1, keeps day 2 whole.
    result = store.retention(D0 + 2 * DAY + 6 * H)
    assert (result.blocks, result.points, result.rollup_segments) == (2, 288, 288)
    assert len(partitions(pg_schema)) == 1
    assert min(rollup_buckets(pg_schema)) == (D0 + 2 * DAY) // M
    assert len(store.raw([1], D0, D0 + 3 * DAY)) == 144
    a = store.aggregate([1], D0, D0 + 3 * DAY, DAY)
    assert a.count.tolist() == [[0, 0, 144]]
    assert store.latest([1]).ts.tolist() == [D0 + 3 * DAY - 10 * M]
    assert store.retention(D0 + 2 * DAY + 6 * H).blocks == 0  # nothing left to drop
    # A late backfill into a dropped day gets a new partition (and a correct rollup).
    again = store.write(batch([1], [D0 + 5 * M], [7.0]))
    assert again.inserted == 1
    assert store.aggregate([1], D0, D0 + M * 10, M * 10).max.tolist() == [[7.0]]
    store.close()


@pytest.mark.postgres
def test_a_store_writes_into_a_day_another_store_dropped(pg_schema: str) -> None:
    first = pg_opener(pg_schema)()
    day_of_points(first, 0)
    second = pg_opener(pg_schema)()  # finds day 0's partition on open
    day_of_points(second, 1)
    assert first.retention(D0 + DAY).blocks == 1
    result = second.write(batch([1], [D0 + M], [3.0]))
    assert result.inserted == 1
    assert first.raw([1], D0, D0 + DAY).values.tolist() == [3.0]
    first.close()
    second.close()


# -- (d) durability -------------------------------------------------------------------------------
def test_data_survives_close_and_reopen(opener: Opener) -> None:
    store = opener()
    store.write(batch([1, 1, 2], [T0, T0 + 30 * S, T0], [1.0, 2.0, 5.0]))
    store.write(batch([3], [T0], [np.nan], text=np.array(["lot-7"], dtype=object)))
    before = store.aggregate([1, 2], T0, T0 + M, M)
    store.close()
    with pytest.raises(Unavailable):
        store.raw([1], T0, T0 + M)
    reopened = opener()
    try:
        assert reopened.raw([1, 2], T0, T0 + M).values.tolist() == [1.0, 2.0, 5.0]
        assert reopened.latest().tags.tolist() == [1, 2, 3]
        text = reopened.raw([3], T0, T0 + 1).text
        assert text is not None and text.tolist() == ["lot-7"]
        assert_same_aggregates(before, reopened.aggregate([1, 2], T0, T0 + M, M), "reopened")
        replay = reopened.write(batch([1, 1, 2], [T0, T0 + 30 * S, T0], [1.0, 2.0, 5.0]))
        assert (replay.inserted, replay.duplicates) == (0, 3)
    finally:
        reopened.close()


@pytest.mark.postgres
def test_a_write_is_committed_when_it_returns(pg_schema: str) -> None:
    writer = pg_opener(pg_schema)()
    # Another connection, as another process would have; an uncommitted write would make it
    # wait for the writer's locks, so it gives up after a few seconds instead.
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    reader = PostgresStore(f"{PG_URL}{sep}options=-clock_timeout%3D3000", schema=pg_schema)
    try:
        writer.write(batch([1, 2], [T0, T0 + 30 * S], [1.0, 2.0]))
        assert reader.raw([1, 2], T0, T0 + M).values.tolist() == [1.0, 2.0]
        assert reader.latest().tags.tolist() == [1, 2]
        assert reader.aggregate([1, 2], T0, T0 + M, M).count.tolist() == [[1], [1]]
        # ... and a replay through the other store is recognised as such.
        assert reader.write(batch([1], [T0], [1.0])).duplicates == 1
    finally:
        writer.close()
        reader.close()
