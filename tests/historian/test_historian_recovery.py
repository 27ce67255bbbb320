"""Crash recovery: acknowledged writes survive a crash; a torn WAL tail is cut off, not fatal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore
from ifactory.historian.wal import list_segments, segment_path

T0 = 1_750_000_020 * 1_000_000 - (1_750_000_020 * 1_000_000) % 60_000_000
S = 1_000_000


def points(tag: int, start: int, n: int) -> TelemetryBatch:
    ts = T0 + (start + np.arange(n)) * S
    return TelemetryBatch.of(np.full(n, tag), ts, ts.astype(np.float64) / S, received_us=T0)


def crash_copy(src: Path, dst: Path) -> Path:
    """The files as a crash would leave them: the store is never closed."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("LOCK"))
    return dst


def test_acknowledged_writes_survive_a_crash(tmp_path: Path) -> None:
    live = EmbeddedStore(tmp_path / "live", head_points=100)
    live.write(points(1, 0, 150))  # rotates: 150 points go to blocks
    live.flush()
    live.write(points(1, 150, 30))  # in the head and the WAL only
    live.write(points(2, 0, 10))
    crashed = crash_copy(tmp_path / "live", tmp_path / "crashed")

    s = EmbeddedStore(crashed, head_points=100)
    assert len(s.raw([1], T0, T0 + 1000 * S)) == 180
    assert len(s.raw([2], T0, T0 + 1000 * S)) == 10
    assert s.latest([1]).ts.tolist() == [T0 + 179 * S]
    # Replayed points are known: writing them again is a duplicate, not a second copy.
    again = s.write(points(1, 170, 20))
    assert (again.inserted, again.duplicates) == (10, 10)
    agg = s.aggregate([1], T0, T0 + 4 * 60 * S, 60 * S)
    assert agg.count[0].tolist() == [60, 60, 60, 10]
    s.close()
    live.close()


def test_a_torn_last_record_is_truncated(tmp_path: Path) -> None:
    live = EmbeddedStore(tmp_path / "live")
    live.write(points(1, 0, 10))
    live.write(points(1, 10, 10))
    crashed = crash_copy(tmp_path / "live", tmp_path / "crashed")
    wal_dir = crashed / "wal"
    seg = segment_path(wal_dir, list_segments(wal_dir)[-1])
    data = seg.read_bytes()
    # The second record was being written when the power went: only part of it is there.
    record = len(data) // 2
    seg.write_bytes(data[: record + 37])

    s = EmbeddedStore(crashed)
    assert len(s.raw([1], T0, T0 + 100 * S)) == 10
    assert seg.stat().st_size == record
    s.write(points(1, 10, 10))  # the writer re-sends what was never acknowledged
    assert len(s.raw([1], T0, T0 + 100 * S)) == 20
    s.close()
    live.close()


def test_a_corrupted_record_is_not_replayed(tmp_path: Path) -> None:
    live = EmbeddedStore(tmp_path / "live")
    live.write(points(1, 0, 10))
    live.write(points(1, 10, 10))
    crashed = crash_copy(tmp_path / "live", tmp_path / "crashed")
    wal_dir = crashed / "wal"
    seg = segment_path(wal_dir, list_segments(wal_dir)[-1])
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the last record's payload: its crc no longer matches
    seg.write_bytes(bytes(data))

    s = EmbeddedStore(crashed)
    assert len(s.raw([1], T0, T0 + 100 * S)) == 10
    s.close()
    live.close()


def test_a_clean_close_leaves_no_wal_to_replay(tmp_path: Path) -> None:
    s = EmbeddedStore(tmp_path / "h")
    s.write(points(1, 0, 10))
    s.close()
    assert list_segments(tmp_path / "h" / "wal") == []
    s = EmbeddedStore(tmp_path / "h")
    assert len(s.raw([1], T0, T0 + 100 * S)) == 10
    s.close()
