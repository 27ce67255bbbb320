"""Retention by age: old blocks and rollups go, recent data stays and stays correct."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000
M = 60 * S
H = 60 * M


def hour_of_points(store: EmbeddedStore, hour: int) -> None:
    ts = T0 + hour * H + np.arange(0, 3600, 10) * S
    store.write(
        TelemetryBatch.of(np.ones(len(ts), dtype=np.int32), ts, np.ones(len(ts)), received_us=T0)
    )
    store.flush()


def test_retention_drops_old_blocks_and_rollups_only(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h")
    for hour in range(3):
        hour_of_points(store, hour)
    result = store.retention(T0 + 2 * H)
    assert (result.blocks, result.points, result.rollup_segments) == (2, 720, 2)
    assert len(store.raw([1], T0, T0 + 3 * H)) == 360
    a = store.aggregate([1], T0, T0 + 3 * H, H)
    assert a.count[0].tolist() == [0, 0, 360]
    assert store.latest([1]).ts.tolist() == [T0 + 3 * H - 10 * S]
    # Nothing left to drop: a second pass is a no-op.
    assert store.retention(T0 + 2 * H).blocks == 0
    store.close()
    reopened = EmbeddedStore(tmp_path / "h")
    assert len(reopened.raw([1], T0, T0 + 3 * H)) == 360
    reopened.close()


def test_retention_keeps_blocks_that_straddle_the_cut_off(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "h")
    hour_of_points(store, 0)
    assert store.retention(T0 + 30 * M).blocks == 0
    assert len(store.raw([1], T0, T0 + H)) == 360
    store.close()
