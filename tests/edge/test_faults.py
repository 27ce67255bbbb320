"""Fault tests with real processes: nothing the edge read is lost or stored twice.

The edge runs the simulated plant (136 tags, one point per tag and simulated second, at 10x
real time) into its spool and forwards it to a real `ifactory serve`. Each test breaks
something mid-stream, then drains the spool and checks the historian: every tag has exactly
one point per second from the first to the newest timestamp the edge ever spooled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.harness import (
    CuttableProxy,
    assert_nothing_lost_or_duplicated,
    drain,
    free_port,
    seed_platform,
    start_edge,
    start_platform,
)


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "platform"
        self.spool = tmp / "spool"
        self.token = seed_platform(self.data)
        self.port = free_port()
        self.proxy = CuttableProxy(self.port)
        self.url = f"http://127.0.0.1:{self.proxy.port}"
        self.platform = start_platform(self.data, self.port, tmp / "platform.log")

    def edge(self) -> object:
        return start_edge(self.url, self.token, self.spool, self.tmp / "edge.log")

    def finish(self) -> int:
        drain(self.url, self.token, self.spool, self.tmp / "drain.log")
        # uvicorn re-raises SIGTERM after its graceful shutdown
        assert self.platform.stop() in (0, -15), self.platform.tail()
        return assert_nothing_lost_or_duplicated(self.data, self.spool)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.proxy.close()
    for p in (r.platform,):
        if p.popen.poll() is None:
            p.kill()


def test_platform_killed_mid_stream_and_restarted(rig: Rig) -> None:
    edge = rig.edge()
    time.sleep(4)
    rig.platform.kill()  # SIGKILL while batches are in flight
    time.sleep(3)
    rig.platform = start_platform(rig.data, rig.port, rig.tmp / "platform.log")
    time.sleep(4)
    assert edge.stop() == 0, edge.tail()  # type: ignore[attr-defined]
    stored = rig.finish()
    assert stored > 136 * 60


def test_network_to_the_platform_down(rig: Rig) -> None:
    edge = rig.edge()
    time.sleep(3)
    rig.proxy.cut()
    time.sleep(12)
    rig.proxy.restore()
    time.sleep(5)
    assert edge.stop() == 0, edge.tail()  # type: ignore[attr-defined]
    log = edge.log.read_text()  # type: ignore[attr-defined]
    assert "not delivered" in log  # the outage was real
    assert "backfill: replaying the backlog" in log and "backfill: the backlog is drained" in log
    stored = rig.finish()
    assert stored > 136 * 150  # the outage alone spans 120 simulated seconds


@pytest.mark.slow
def test_network_down_for_a_minute(rig: Rig) -> None:
    """The issue's fault: the network to the platform is down for a whole minute (~80 s)."""
    edge = rig.edge()
    time.sleep(3)
    rig.proxy.cut()
    time.sleep(60)
    rig.proxy.restore()
    time.sleep(10)
    assert edge.stop() == 0, edge.tail()  # type: ignore[attr-defined]
    rig.finish()


def test_edge_killed_and_restarted(rig: Rig) -> None:
    edge = rig.edge()
    time.sleep(4)
    edge.kill()  # type: ignore[attr-defined]  # SIGKILL: mid-append, mid-send, whatever
    edge = rig.edge()
    time.sleep(4)
    assert edge.stop() == 0, edge.tail()  # type: ignore[attr-defined]
    rig.finish()
