"""Property: after any mix of out-of-order writes, backfills, flushes and restarts, every rollup
equals the one recomputed from the raw points, and rollup-based aggregates equal raw ones."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifactory.historian.batch import BAD, TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore
from ifactory.historian.rollups import Rows, compute_rows

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000
M = 60 * S
TAGS = [1, 2, 3]
COUNTER_MAX = {3: 50.0}
SPAN_S = 8 * 60

point = st.tuples(
    st.sampled_from(TAGS),
    st.integers(0, SPAN_S - 1),  # second
    st.integers(0, 3).map(lambda k: k * 250_000),  # sub-second offset
    st.integers(0, 40).map(float),  # small values: counters go up and down
    st.sampled_from([0, 0, 0, 0, BAD]),
)
# Live data: each point a little after the previous one (the common, vectorised path).
live_point = st.tuples(
    st.sampled_from(TAGS),
    st.integers(1, 40).map(lambda q: q * 250_000),  # step after the previous live point
    st.integers(0, 40).map(float),
    st.sampled_from([0, 0, 0, 0, BAD]),
)
action = st.one_of(
    st.tuples(st.just("live"), st.lists(live_point, min_size=1, max_size=40)),
    st.tuples(st.just("write"), st.lists(point, min_size=1, max_size=20)),
    st.tuples(st.just("flush"), st.none()),
    st.tuples(st.just("reopen"), st.none()),
)


def write(store: EmbeddedStore, pts: list[tuple[int, int, int, float, int]]) -> None:
    tags, secs, offs, values, quality = zip(*pts, strict=True)
    ts = [T0 + s * S + o for s, o in zip(secs, offs, strict=True)]
    vals = [np.nan if q == BAD and v > 30 else v for v, q in zip(values, quality, strict=True)]
    store.write(TelemetryBatch.of(tags, ts, vals, quality, received_us=T0))


def assert_rows_equal(got: Rows, want: Rows) -> None:
    assert len(got) == len(want)
    for name in ("tag", "bucket", "n", "n_ok", "first_ts", "last_ts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in (
        "vmin",
        "vmax",
        "vsum",
        "first_v",
        "last_v",
        "integral",
        "weight",
        "inc",
        "first_ok_v",
        "last_ok_v",
    ):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, err_msg=name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(action, min_size=1, max_size=12), head_points=st.integers(5, 60))
def test_rollups_always_equal_a_recomputation_from_raw(actions, head_points: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h"
        # Small heads flush often; small flush chunks split a flush into several steps.
        options = {"head_points": head_points, "counter_max": COUNTER_MAX, "flush_chunk_points": 7}
        store = EmbeddedStore(path, **options)
        try:
            cursor = T0
            for kind, arg in actions:
                if kind == "live":
                    pts = []
                    for tag, step, value, quality in arg:
                        cursor += step
                        pts.append((tag, 0, cursor - T0, value, quality))
                    write(store, pts)
                elif kind == "write":
                    write(store, arg)
                elif kind == "flush":
                    store.flush()
                else:
                    store.close()
                    store = EmbeddedStore(path, **options)

            start, end = T0 - M, max(cursor, T0 + SPAN_S * S) + M
            raw = store.raw(TAGS, start, end)
            cm = np.full(4, np.nan)
            cm[3] = 50.0
            want = compute_rows(raw.tags, raw.ts, raw.values, raw.quality, raw.ts // M, cm)
            assert_rows_equal(store.rollups(TAGS, start, end), want)

            for width in (M, 2 * M, 5 * M):
                fast = store.aggregate(TAGS, start, end, width)
                slow = store.aggregate(TAGS, start, end, width, use_rollups=False)
                for name in ("count", "twa", "min", "max", "first", "last", "counter_delta"):
                    np.testing.assert_allclose(
                        getattr(fast, name),
                        getattr(slow, name),
                        rtol=1e-9,
                        err_msg=f"{name} width {width}",
                    )
        finally:
            store.close()
