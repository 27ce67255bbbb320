"""Forwarder lanes: after an outage new data goes live first, the backlog replays in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ifactory.edge.client import Receipt, SendError, TooLarge
from ifactory.edge.forwarder import BACKFILL, LIVE, Forwarder
from ifactory.edge.gateway import NO_TIMESTAMP, Gateway, stamp_missing
from ifactory.edge.spool import Spool
from ifactory.historian.batch import TelemetryBatch

T0 = 1_795_000_000_000_000
S = 1_000_000


def batch(i: int, received_us: int | None = None) -> TelemetryBatch:
    return TelemetryBatch.of(
        np.array(["a/b/speed"] * 10, dtype=object),
        T0 + (i * 10 + np.arange(10)) * S,
        np.full(10, float(i)),
        received_us=received_us if received_us is not None else T0 + i * S,
    )


class Platform:
    """Stands in for the HTTP endpoint: records what it stored, can be 'down' or refuse sizes."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.stored: list[tuple[str, list[float]]] = []
        self.lock = threading.Lock()
        self.max_points: int | None = None
        self.refuse = False

    def client(self) -> Client:
        return Client(self)


class Client:
    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def send(self, b: TelemetryBatch, *, lane: str) -> Receipt:
        if self.p.down.is_set():
            raise SendError("connection refused", retry=True)
        if self.p.refuse:
            raise SendError("422: malformed", retry=False, status=422)
        if self.p.max_points is not None and len(b) > self.p.max_points:
            raise TooLarge("413", retry=True, status=413)
        with self.p.lock:
            self.p.stored.append((lane, sorted(set(b.values.tolist()))))
        return Receipt(len(b), 0, 0, {})

    def close(self) -> None:
        pass


def wait_until(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_after_an_outage_live_data_first_and_the_backlog_in_order(tmp_path: Path) -> None:
    platform = Platform()
    spool = Spool(tmp_path)
    fwd = Forwarder(
        spool,
        platform.client,  # type: ignore[arg-type]
        live_window_s=1.0,
        backfill_max_points=20,  # two batches per backfill request
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )
    platform.down.set()
    fwd.start()
    try:
        for i in range(10):  # ten seconds of data while the platform is away
            spool.append(batch(i))
        time.sleep(0.3)
        assert platform.stored == []
        spool.append(batch(10))
        platform.down.clear()
        wait_until(lambda: spool.stats().records == 0)
    finally:
        fwd.stop()
        spool.close()
    first_lane, first_values = platform.stored[0]
    assert first_lane == LIVE and first_values[-1] == 10.0  # the newest data went first
    replay = [v for lane, vs in platform.stored if lane == BACKFILL for v in vs]
    live = [v for lane, vs in platform.stored if lane == LIVE for v in vs]
    assert replay == sorted(replay)  # in order
    assert sorted(replay + live) == [float(i) for i in range(11)]  # each batch exactly once
    assert fwd.stats().sent_points[BACKFILL] == 10 * len(replay)


def test_too_large_is_split_and_refused_batches_are_kept_on_disk(tmp_path: Path) -> None:
    platform = Platform()
    platform.max_points = 5
    with Spool(tmp_path / "spool") as spool:
        fwd = Forwarder(spool, platform.client)  # type: ignore[arg-type]
        fwd.start()
        try:
            spool.append(batch(1))
            wait_until(lambda: spool.stats().records == 0)
            assert [lane for lane, _ in platform.stored] == [LIVE, LIVE]
            platform.refuse = True
            spool.append(batch(2))
            wait_until(lambda: spool.stats().records == 0)
        finally:
            fwd.stop()
    kept = list((tmp_path / "spool" / "rejected").glob("*.reason.txt"))
    assert len(kept) == 1 and "422" in kept[0].read_text()
    assert fwd.stats().quarantined_records == 1


def test_points_without_timestamp_are_stamped_once_before_the_spool(tmp_path: Path) -> None:
    b = TelemetryBatch.of(["a/b/x", "a/b/y"], [NO_TIMESTAMP, T0], [1.0, 2.0], received_us=0)
    assert stamp_missing(b, T0 + 5).ts.tolist() == [T0 + 5, T0]
    platform = Platform()
    platform.down.set()
    with Spool(tmp_path) as spool:
        fwd = Forwarder(spool, platform.client)  # type: ignore[arg-type]
        gw = Gateway(spool, fwd)
        gw.sink("dev")(b)
        stored = spool.read(spool.pending()[0])
    assert stored.ts[0] > T0 and stored.source == "dev"  # stamped at the edge
    assert spool.cursor("dev") == int(stored.ts.max())
