"""Protocol connectors as edge sources: the connector's sink is the spool.

A connector (MQTT UNS, Sparkplug B host, OPC UA subscriber, Modbus poller) already has the
shape of a `Source` (start/stop) and delivers each batch to a sink that returns only once
the batch is stored. Here that sink is the gateway's: it returns once the batch is fsync'd
in the spool and blocks while the spool is full, so a connector acknowledges its broker or
device only for what is on disk, and stops reading while the platform is away and the
spool is full.

This module knows nothing of the protocols (`ifactory.edge` and `ifactory.connect` are
independent, DESIGN.md "Boundaries"): the composition root (`ifactory edge` in
`ifactory.cli.edge`) builds the connectors and hands them in as `make` functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ifactory.edge.source import Sink, Source, SourceFactory
from ifactory.edge.spool import SpoolClosed
from ifactory.historian.batch import TelemetryBatch

log = logging.getLogger(__name__)

ConnectorBuilder = Callable[[Sink], Source]


def connector_source(name: str, make: ConnectorBuilder, *, redelivers: bool) -> SourceFactory:
    """A connector as an edge source named `name`; `make(sink)` builds it around the spool.

    On shutdown the gateway closes the spool before it stops the sources, so a batch in hand
    gets `SpoolClosed`. With `redelivers` (MQTT QoS 1: the broker keeps what was not
    acknowledged) the error propagates and the messages are not acknowledged, so the broker
    sends them again to the next run. A subscription or a poll cannot be read again, and a
    connector that saw an error would retry until its stop timeout: its batch is reported as
    handled, and logged as not kept (the next run reads the current values again).
    """

    def build(sink: Sink, resume_from: int | None) -> Source:
        # A live protocol has no cursor to resume from: the device or broker decides what
        # comes next (the broker's persistent session, the server's current values).
        del resume_from

        def put(batch: TelemetryBatch) -> None:
            try:
                sink(batch)
            except SpoolClosed:
                if redelivers:
                    raise
                log.warning(
                    "%s: stopping; %d point(s) read after the spool closed are not kept",
                    name,
                    len(batch),
                )

        return make(put)

    return SourceFactory(name, build)
