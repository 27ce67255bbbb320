"""Edge → NATS JetStream → platform, against the real nats-server on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import numpy as np
import pytest

from ifactory.connect.nats_ingest import JetStreamIngest, NatsNames, attach_nats
from ifactory.core.settings import Settings
from ifactory.edge.forwarder import Forwarder
from ifactory.edge.nats_forwarder import JetStreamClient
from ifactory.edge.spool import Spool
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import load_plant
from ifactory.platform import Platform

NATS_URL = "nats://127.0.0.1:4222"
S = 1_000_000


async def _nats_call(fn_name: str, *args: object) -> object:
    nc = await nats.connect(NATS_URL, allow_reconnect=False, connect_timeout=2)
    try:
        return await getattr(nc.jetstream(), fn_name)(*args)
    finally:
        await nc.close()


@pytest.fixture
def names() -> Iterator[NatsNames]:
    """A stream, subject prefix and consumer of this test only; the stream is deleted after."""
    try:
        asyncio.run(_nats_call("account_info"))
    except Exception as exc:  # any failure: no usable server
        pytest.skip(f"NATS JetStream is not reachable on {NATS_URL}: {exc}")
    tag = uuid.uuid4().hex[:12]
    n = NatsNames(stream=f"T_{tag}", prefix=f"t{tag}", durable=f"d{tag}")
    yield n
    # The stream may never have been created (a failed test): nothing to delete then.
    with contextlib.suppress(Exception):
        asyncio.run(_nats_call("delete_stream", n.stream))


def _batch(keys: list[str], t0: int, step: int) -> TelemetryBatch:
    """One point per tag at second `step`, with a value that encodes (tag, step)."""
    n = len(keys)
    return TelemetryBatch.of(
        np.array(keys, dtype=object),
        np.full(n, t0 + step * S, dtype=np.int64),
        np.arange(n, dtype=np.float64) * 1000 + step,
        received_us=t0 + step * S,
    )


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_batches_published_while_the_platform_is_down_are_stored_exactly_once(
    tmp_path: Path, names: NatsNames
) -> None:
    plant = load_plant()
    keys = [t.key for n in plant.nodes for t in n.tags if t.spec.data_type.value == "float"][:5]
    assert len(keys) == 5
    t0 = (time.time_ns() // 1000 // S - 3600) * S
    steps = 60
    data_dir = tmp_path / "platform"
    spool = Spool(tmp_path / "spool", max_bytes=64 * 1024 * 1024)

    def client() -> JetStreamClient:
        return JetStreamClient(NATS_URL, site="s1", stream=names.stream, prefix=names.prefix)

    def open_platform() -> tuple[Platform, JetStreamIngest, np.ndarray]:
        platform = Platform.open(Settings(environment="test", data_dir=data_dir), plant=plant)
        service = attach_nats(platform, NATS_URL, codec.decode, names=names)
        platform.start()
        ids = np.array([platform.registry.tags_by_key[k].id for k in keys], dtype=np.int32)
        return platform, service, ids

    def stored(platform: Platform, ids: np.ndarray) -> int:
        return len(platform.store.raw(ids, t0, t0 + steps * S))

    # 1. Platform running: the first 20 s go edge → JetStream → historian.
    platform, service, ids = open_platform()
    forwarder = Forwarder(spool, client, backfill_rate=0)
    forwarder.start()
    try:
        for i in range(20):
            spool.append(_batch(keys, t0, i))
        _wait(lambda: stored(platform, ids) == 20 * len(keys), 20, "the first 20 s stored")
    finally:
        forwarder.stop()
        platform.stop()
    assert service.stored_messages > 0

    # 2. Platform stopped: a backlog (backfill lane) and live data; the spool empties as soon
    # as JetStream acknowledged each publish, the stream holds them.
    for i in range(20, 40):
        spool.append(_batch(keys, t0, i))
    forwarder = Forwarder(spool, client, backfill_rate=0)
    forwarder.start()
    try:
        for i in range(40, steps):
            spool.append(_batch(keys, t0, i))
        _wait(lambda: spool.stats().records == 0, 20, "the spool to drain into JetStream")
    finally:
        forwarder.stop()
        spool.close()
    sent = forwarder.stats().sent_points
    assert sent["live"] > 0 and sent["backfill"] > 0
    assert sent["live"] + sent["backfill"] == 40 * len(keys)

    # 3. Platform started again: its durable consumers drain what was published meanwhile.
    platform, service, ids = open_platform()
    try:
        _wait(lambda: stored(platform, ids) >= steps * len(keys), 20, "the stream consumed")
        time.sleep(0.5)  # a duplicate delivery, if any, would land now
        raw = platform.store.raw(ids, t0, t0 + steps * S)
        counters = platform.pipeline.counters()
    finally:
        platform.stop()
    assert len(raw.ts) == steps * len(keys)  # every point, none twice
    pairs = raw.tags.astype(np.int64) * (1 << 40) + raw.ts
    assert len(np.unique(pairs)) == len(pairs)
    index = {int(i): n for n, i in enumerate(ids)}
    expected = np.array([index[int(t)] for t in raw.tags]) * 1000 + (raw.ts - t0) // S
    assert np.array_equal(raw.values, expected)
    # Nothing of phase 1 came back: those messages were acknowledged after being stored.
    assert counters.duplicates == 0 and counters.conflicts == 0

    # 4. Restarted once more, the platform finds nothing left to consume.
    platform, service, ids = open_platform()
    try:
        time.sleep(1.0)  # give a (wrong) redelivery the chance to show up
        assert service.stored_messages == 0
    finally:
        platform.stop()


def test_the_installer_attaches_a_consumer_only_when_nats_url_is_set(tmp_path: Path) -> None:
    plant = load_plant()
    platform = Platform.open(Settings(environment="test", data_dir=tmp_path / "a"), plant=plant)
    try:
        assert not any(isinstance(x, JetStreamIngest) for x in platform.extras)
    finally:
        platform.stop()
    platform = Platform.open(
        Settings(environment="test", data_dir=tmp_path / "b", nats_url=NATS_URL), plant=plant
    )
    try:
        assert sum(isinstance(x, JetStreamIngest) for x in platform.extras) == 1
    finally:
        platform.stop()
