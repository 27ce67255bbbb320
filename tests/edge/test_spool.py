"""The edge spool: durable appends, acknowledgements, recovery after a crash, back-pressure."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ifactory.edge.spool import Spool, SpoolFull
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

T0 = 1_795_000_000_000_000
S = 1_000_000


def batch(i: int, n: int = 100) -> TelemetryBatch:
    ts = T0 + (i * n + np.arange(n)) * S
    return TelemetryBatch.of(
        np.array([f"site/line/m{i % 3}/speed"] * n, dtype=object),
        ts,
        np.arange(n, dtype=float) + i,
        received_us=T0 + i,
        source="test",
    )


def test_codec_round_trip_keeps_keys_ids_text_and_quality() -> None:
    b = TelemetryBatch.of(
        np.array(["a/x", "b/y", "a/x"], dtype=object),
        [1, 2, 3],
        [1.0, np.nan, 3.0],
        [0, 0x80000000, 0x40000000],
        received_us=9,
        source="s",
        text=[None, "P-100", None],
    )
    out = codec.decode(codec.encode(b))
    assert out.tags.tolist() == ["a/x", "b/y", "a/x"]
    assert out.ts.tolist() == [1, 2, 3] and out.quality.tolist() == [0, 0x80000000, 0x40000000]
    assert out.text is not None and out.text.tolist() == [None, "P-100", None]
    assert (out.received_us, out.source) == (9, "s")
    ids = codec.decode(codec.encode(TelemetryBatch.of([4, 5], [1, 2], [0.5, 1.5], received_us=0)))
    assert ids.resolved and ids.tags.tolist() == [4, 5]


def test_unacknowledged_batches_survive_a_restart_and_acked_ones_are_gone(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        seqs = [spool.append(batch(i), cursor=("sim", i)) for i in range(5)]
        spool.ack(seqs[:2])
    with Spool(tmp_path) as spool:
        assert spool.pending() == seqs[2:]
        assert spool.read(seqs[2]).values.tolist() == batch(2).values.tolist()
        assert spool.cursor("sim") == 4
        assert spool.stats().points == 300
        spool.ack(spool.pending())
        assert spool.stats().records == 0
        assert spool.next_seq == seqs[-1] + 1
    with Spool(tmp_path) as spool:
        assert spool.pending() == [] and spool.cursor("sim") == 4  # kept after the segments went
        assert not list(tmp_path.glob("seg-*"))


def test_a_torn_last_record_is_cut_off_and_the_rest_kept(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(3):
            spool.append(batch(i))
    [seg] = tmp_path.glob("seg-*.spool")
    size = seg.stat().st_size
    with open(seg, "r+b") as f:  # the process died in the middle of the third write
        f.truncate(size - 10)
    with Spool(tmp_path) as spool:
        assert spool.pending() == [1, 2]
        assert spool.append(batch(9)) == 3
    with Spool(tmp_path) as spool:
        assert spool.pending() == [1, 2, 3]
        assert spool.read(3).values[0] == 9.0


def test_a_corrupt_record_is_not_replayed(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(2):
            spool.append(batch(i))
    [seg] = tmp_path.glob("seg-*.spool")
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0xFF  # a flipped bit in the last record's payload
    seg.write_bytes(bytes(data))
    with Spool(tmp_path) as spool:
        assert spool.pending() == [1]


def test_a_full_spool_blocks_the_source_until_the_platform_acknowledges(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = len(codec.encode(batch(0))) + 64
    with Spool(tmp_path, max_bytes=3 * one, segment_bytes=one) as spool:
        first = [spool.append(batch(i)) for i in range(3)]
        with pytest.raises(SpoolFull):
            spool.append(batch(3), timeout=0.2)
        assert spool.stats().full and spool.stats().full_episodes == 1
        assert "is full" in caplog.text and "sources are paused" in caplog.text
        done = threading.Event()

        def source() -> None:
            spool.append(batch(4))  # blocks: the source stops reading
            done.set()

        t = threading.Thread(target=source)
        t.start()
        time.sleep(0.2)
        assert not done.is_set()
        spool.ack(first[:1])
        t.join(5)
        assert done.is_set() and not spool.stats().full
        assert spool.stats().records == 3


def test_appends_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with Spool(tmp_path) as spool:
        before = len(synced)
        spool.append(batch(0))
        assert len(synced) > before


def test_closing_a_full_spool_releases_a_blocked_source(tmp_path: Path) -> None:
    from ifactory.edge.spool import SpoolClosed

    one = len(codec.encode(batch(0))) + 64
    spool = Spool(tmp_path, max_bytes=one)
    spool.append(batch(0))
    errors: list[BaseException] = []

    def source() -> None:
        try:
            spool.append(batch(1))
        except SpoolClosed as exc:
            errors.append(exc)

    t = threading.Thread(target=source)
    t.start()
    time.sleep(0.1)
    spool.close()
    t.join(5)
    assert not t.is_alive() and len(errors) == 1
    with Spool(tmp_path) as again:
        assert again.pending() == [1]  # the unacknowledged batch is still there
