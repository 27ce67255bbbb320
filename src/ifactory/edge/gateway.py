"""The edge gateway: sources → spool (fsync'd) → forwarder → platform."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ifactory.core.clock import Clock, SystemClock
from ifactory.edge.forwarder import BACKFILL, LIVE, Forwarder
from ifactory.edge.source import Sink, Source, SourceFactory
from ifactory.edge.spool import Spool
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

# A source without a timestamp for a point puts this; the gateway stamps it once, before the spool.
NO_TIMESTAMP = 0


def stamp_missing(batch: TelemetryBatch, now_us: int) -> TelemetryBatch:
    """The batch with every `NO_TIMESTAMP` point stamped `now_us` (stamped once, here)."""
    missing = batch.ts <= NO_TIMESTAMP
    if not missing.any():
        return batch
    ts = np.where(missing, np.int64(now_us), batch.ts)
    return TelemetryBatch(
        batch.tags, ts, batch.values, batch.quality, batch.received_us, batch.source, batch.text
    )


class Gateway:
    """Runs sources into the spool and the forwarder out of it; start/stop in that order."""

    def __init__(
        self,
        spool: Spool,
        forwarder: Forwarder,
        sources: Iterable[SourceFactory] = (),
        *,
        clock: Clock | None = None,
    ) -> None:
        self.spool = spool
        self.forwarder = forwarder
        self.factories = list(sources)
        self.clock = clock or SystemClock()
        self.sources: list[Source] = []

    def sink(self, name: str) -> Sink:
        """The blocking sink of source `name`: stamp, then append durably with its cursor."""

        def put(batch: TelemetryBatch) -> None:
            if not len(batch):
                return
            now = self.clock.now_us()
            batch = stamp_missing(batch, now)
            # The batch enters the system here: that is its receive time, whatever the source
            # put there (a simulator's clock, a device's).
            batch = TelemetryBatch(
                batch.tags,
                batch.ts,
                batch.values,
                batch.quality,
                now,
                batch.source or name,
                batch.text,
            )
            self.spool.append(batch, cursor=(name, int(batch.ts.max())))

        return put

    def start(self) -> None:
        """Start the forwarder, then every source (resuming from its stored cursor)."""
        self.forwarder.start()
        for f in self.factories:
            source = f.build(self.sink(f.name), self.spool.cursor(f.name))
            source.start()
            self.sources.append(source)
            log.info("source %s started", f.name)

    def stop(self) -> None:
        """Stop the forwarder, close the spool, then stop the sources (nothing is lost).

        The spool is closed before the sources are joined: a source blocked on a full spool
        gets `SpoolClosed` instead of hanging, and does not acknowledge that batch upstream.
        """
        self.forwarder.stop()
        self.spool.close()
        for s in reversed(self.sources):
            try:
                s.stop()
            except Exception:
                log.exception("source %r did not stop cleanly", s)
        self.sources.clear()


def metrics_collector(gateway: Gateway) -> Callable[[], Iterator[Any]]:
    """A Prometheus `collect` function exporting spool depth, full state and lane throughput."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def collect() -> Iterator[Any]:
        s = gateway.spool.stats()
        f = gateway.forwarder.stats()
        yield GaugeMetricFamily("ifactory_edge_spool_bytes", "Bytes in the spool", value=s.bytes)
        yield GaugeMetricFamily(
            "ifactory_edge_spool_max_bytes", "Spool size limit", value=s.max_bytes
        )
        yield GaugeMetricFamily(
            "ifactory_edge_spool_points", "Points not yet acknowledged", value=s.points
        )
        yield GaugeMetricFamily(
            "ifactory_edge_spool_batches", "Batches not yet acknowledged", value=s.records
        )
        yield GaugeMetricFamily(
            "ifactory_edge_spool_full", "1 while the spool is full (sources paused)", value=s.full
        )
        yield CounterMetricFamily(
            "ifactory_edge_spool_full_episodes",
            "Times the spool became full",
            value=s.full_episodes,
        )
        now = gateway.clock.now_us()
        lag = 0.0 if s.oldest_received_us is None else (now - s.oldest_received_us) / 1e6
        yield GaugeMetricFamily(
            "ifactory_edge_backlog_age_seconds", "Age of the oldest unsent batch", value=lag
        )
        points = CounterMetricFamily(
            "ifactory_edge_forwarded_points", "Points acknowledged by the platform", labels=["lane"]
        )
        for lane in (LIVE, BACKFILL):
            points.add_metric([lane], f.sent_points[lane])
        yield points
        yield CounterMetricFamily(
            "ifactory_edge_forward_errors", "Failed sends (retried)", value=f.errors
        )
        yield CounterMetricFamily(
            "ifactory_edge_duplicates", "Points the platform already had", value=f.duplicates
        )
        yield GaugeMetricFamily(
            "ifactory_edge_connected", "1 when the last send succeeded", value=f.connected
        )

    return collect
