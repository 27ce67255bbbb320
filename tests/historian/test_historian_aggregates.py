"""Aggregates against a hand-computed example, from the head, from blocks and from raw points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import BAD, TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore
from ifactory.historian.store import Aggregates

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000
M = 60 * S
nan = float("nan")

SAMPLED, COUNTER, ROLLOVER, STATE, BADQ = 1, 2, 3, 4, 5
# (tag, seconds from T0, value, quality)
POINTS = [
    # sampled: a carry-in from before the query, a gap in minute 1
    (SAMPLED, -30, 10.0, 0),
    (SAMPLED, 20, 20.0, 0),
    (SAMPLED, 40, 40.0, 0),
    (SAMPLED, 150, 0.0, 0),
    # counter without a maximum: 110 -> 5 is a reset
    (COUNTER, -10, 100.0, 0),
    (COUNTER, 10, 110.0, 0),
    (COUNTER, 30, 5.0, 0),
    (COUNTER, 50, 15.0, 0),
    (COUNTER, 70, 20.0, 0),
    (COUNTER, 90, 25.0, 0),
    # counter wrapping at 1000: 995 -> 5 is an increase of 10
    (ROLLOVER, 10, 990.0, 0),
    (ROLLOVER, 30, 995.0, 0),
    (ROLLOVER, 50, 5.0, 0),
    (ROLLOVER, 70, 15.0, 0),
    # machine state
    (STATE, -20, 1.0, 0),
    (STATE, 15, 2.0, 0),
    (STATE, 45, 1.0, 0),
    (STATE, 130, 0.0, 0),
    # a Bad sample ends the previous value's hold and holds nothing itself
    (BADQ, 10, 10.0, 0),
    (BADQ, 20, nan, BAD),
    (BADQ, 40, 30.0, 0),
]


def write(store: EmbeddedStore, rows: list[tuple[int, int, float, int]]) -> None:
    tags, secs, values, quality = zip(*rows, strict=True)
    ts = [T0 + s * S for s in secs]
    store.write(TelemetryBatch.of(tags, ts, values, quality, received_us=T0))


@pytest.fixture(params=["head", "blocks", "split"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedStore]:
    """The example in the unflushed head, in flushed blocks, or half and half (in random order)."""
    s = EmbeddedStore(tmp_path / "h", counter_max={ROLLOVER: 1000})
    rows = list(POINTS)
    if request.param == "head":
        write(s, rows)
    elif request.param == "blocks":
        write(s, rows)
        s.flush()
    else:
        order = np.random.default_rng(7).permutation(len(rows))
        write(s, [rows[i] for i in order[: len(rows) // 2]])
        s.flush()
        write(s, [rows[i] for i in order[len(rows) // 2 :]])
    yield s
    s.close()


def row(a: Aggregates, tag: int, field: str) -> list[float]:
    i = int(np.searchsorted(a.tags, tag))
    return np.asarray(getattr(a, field))[i].tolist()


@pytest.mark.parametrize("use_rollups", [True, False])
def test_time_weighted_average_carries_the_previous_value_and_keeps_gaps(
    store: EmbeddedStore, use_rollups: bool
) -> None:
    a = store.aggregate([SAMPLED, BADQ], T0, T0 + 3 * M, M, use_rollups=use_rollups)
    assert a.bucket_start.tolist() == [T0, T0 + M, T0 + 2 * M]
    assert row(a, SAMPLED, "count") == [2, 0, 1]
    # minute 0: 10 for 20 s (carried in), 20 for 20 s, 40 for 20 s
    # minute 2: 40 carried from minute 0 for 30 s, then 0 for 30 s
    np.testing.assert_allclose(row(a, SAMPLED, "twa"), [1400 / 60, nan, 20.0])
    np.testing.assert_allclose(row(a, SAMPLED, "min"), [20.0, nan, 0.0])
    np.testing.assert_allclose(row(a, SAMPLED, "max"), [40.0, nan, 0.0])
    np.testing.assert_allclose(row(a, SAMPLED, "first"), [20.0, nan, 0.0])
    np.testing.assert_allclose(row(a, SAMPLED, "last"), [40.0, nan, 0.0])
    # 10 holds 10 s, the Bad sample's 20 s count for nothing, 30 holds 20 s
    np.testing.assert_allclose(row(a, BADQ, "twa"), [(100 + 600) / 30, nan, nan])
    assert row(a, BADQ, "count") == [3, 0, 0]


@pytest.mark.parametrize("use_rollups", [True, False])
def test_counter_delta_across_a_reset_and_a_rollover(
    store: EmbeddedStore, use_rollups: bool
) -> None:
    a = store.aggregate([COUNTER, ROLLOVER], T0, T0 + 3 * M, M, use_rollups=use_rollups)
    # minute 0: 100 -> 110 (+10, from before the query), reset to 5 (+5), 15 (+10)
    # minute 1: 15 -> 20 -> 25 (+10)
    np.testing.assert_allclose(row(a, COUNTER, "counter_delta"), [25.0, 10.0, nan])
    # 990 -> 995 (+5) -> 5 wraps at 1000 (+10); minute 1: 5 -> 15 (+10)
    np.testing.assert_allclose(row(a, ROLLOVER, "counter_delta"), [15.0, 10.0, nan])


def test_wide_buckets_from_rollups_equal_the_raw_computation(store: EmbeddedStore) -> None:
    fast = store.aggregate([SAMPLED, COUNTER, ROLLOVER, BADQ], T0 - M, T0 + 3 * M, 2 * M)
    slow = store.aggregate(
        [SAMPLED, COUNTER, ROLLOVER, BADQ], T0 - M, T0 + 3 * M, 2 * M, use_rollups=False
    )
    for field in ("count", "twa", "min", "max", "first", "last", "counter_delta"):
        np.testing.assert_allclose(getattr(fast, field), getattr(slow, field), err_msg=field)
    # [T0 - 1 min, T0 + 1 min): 10 from -30 s, 20 from 20 s, 40 from 40 s to the end
    np.testing.assert_allclose(row(fast, SAMPLED, "twa")[0], (10 * 50 + 20 * 20 + 40 * 20) / 90)
    np.testing.assert_allclose(row(fast, COUNTER, "counter_delta"), [25.0, 10.0])


def test_unaligned_buckets_are_computed_from_raw_points(store: EmbeddedStore) -> None:
    a = store.aggregate([SAMPLED], T0 + 15 * S, T0 + 45 * S, 10 * S)
    # [15, 25): 10 until 20, then 20; [25, 35): no sample, a gap; [35, 45): 20 until 40, then 40
    np.testing.assert_allclose(row(a, SAMPLED, "twa"), [15.0, nan, 30.0])
    assert row(a, SAMPLED, "count") == [1, 0, 1]


def test_time_in_state(store: EmbeddedStore) -> None:
    a = store.aggregate([STATE], T0, T0 + 3 * M, M, kind="state")
    states = a.time_in_state[STATE]
    assert states.values.tolist() == [0.0, 1.0, 2.0]
    d = states.durations_us / S
    # minute 0: 1 for 15 s (carried in), 2 for 30 s, 1 for 15 s; minute 1 is a gap;
    # minute 2: 1 carried for 10 s, then 0 for 50 s
    np.testing.assert_allclose(d[:, 0], [0.0, 30.0, 30.0])
    assert np.isnan(d[:, 1]).all()
    np.testing.assert_allclose(d[:, 2], [50.0, 10.0, 0.0])


def test_a_query_before_any_data_is_all_gaps(store: EmbeddedStore) -> None:
    a = store.aggregate([SAMPLED, 77], T0 - 10 * M, T0 - 5 * M, M)
    assert a.count.shape == (2, 5) and a.count.sum() == 0
    assert np.isnan(a.twa).all() and np.isnan(a.counter_delta).all()


def test_invalid_ranges_are_refused(store: EmbeddedStore) -> None:
    with pytest.raises(InvalidInput):
        store.aggregate([SAMPLED], T0, T0, M)
