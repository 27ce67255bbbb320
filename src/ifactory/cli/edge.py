"""`ifactory edge`: the edge gateway (sources → on-disk spool → platform)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the `edge` command to `app`."""
    app.command("edge")(edge)


def edge(
    platform: Annotated[str, typer.Option(help="platform base URL, e.g. http://10.0.0.5:8000")],
    token: Annotated[
        str, typer.Option(envvar="IFACTORY_EDGE_TOKEN", help="device API key (role 'device')")
    ],
    spool: Annotated[Path, typer.Option(help="spool directory on local disk")],
    simulate: Annotated[
        bool, typer.Option(help="read the simulated plant (tag keys of --plant)")
    ] = False,
    plant: Annotated[
        Path | None, typer.Option(help="plant file of the simulated plant (default: example)")
    ] = None,
    speed: Annotated[float, typer.Option(help="simulation speed, × real time")] = 1.0,
    seed: int = 1,
    backdate_s: Annotated[
        float, typer.Option(help="a fresh simulation starts this many seconds in the past")
    ] = 0.0,
    max_spool_mb: Annotated[
        float, typer.Option(help="spool size limit; when full, sources pause")
    ] = 1024.0,
    backfill_rate: Annotated[
        float, typer.Option(help="replay at most this many points/s after an outage")
    ] = 200_000.0,
    backoff_max_s: Annotated[float, typer.Option(help="longest wait between retries")] = 10.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve Prometheus metrics on this port")
    ] = None,
    drain: Annotated[
        bool, typer.Option(help="run no source; forward the spool's backlog and exit when empty")
    ] = False,
    log_level: str = "INFO",
) -> None:
    """Run the edge gateway: every batch is fsync'd to the spool, then forwarded until stored."""
    from ifactory.edge.client import PlatformClient
    from ifactory.edge.forwarder import Forwarder
    from ifactory.edge.gateway import Gateway, metrics_collector
    from ifactory.edge.source import SourceFactory, simulator
    from ifactory.edge.spool import Spool

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    PlatformClient(platform, token)  # validate the URL before touching the disk
    store = Spool(spool, max_bytes=int(max_spool_mb * 1024 * 1024))
    forwarder = Forwarder(
        store,
        lambda: PlatformClient(platform, token),
        backfill_rate=backfill_rate,
        backoff_max_s=backoff_max_s,
    )
    sources: list[SourceFactory] = []
    if simulate and not drain:
        from ifactory.plant.loader import load_plant

        if speed > 1 and backdate_s <= 0:
            log.warning(
                "--speed %g without --backdate-s runs ahead of the wall clock: the platform "
                "will reject points too far in the future",
                speed,
            )
        sources.append(simulator(load_plant(plant), seed=seed, speed=speed, backdate_s=backdate_s))
    if not sources:
        log.warning("no source configured: only the spool's backlog is forwarded")
    gateway = Gateway(store, forwarder, sources)
    if metrics_port is not None:
        from prometheus_client import CollectorRegistry, start_http_server

        class _Collector:
            collect = staticmethod(metrics_collector(gateway))

        registry = CollectorRegistry()
        registry.register(_Collector())
        start_http_server(metrics_port, registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    gateway.start()
    log.info("edge gateway forwarding to %s, spool in %s", platform, spool)
    if drain:
        while not stop.wait(0.2) and store.stats().records:
            pass
        if not store.stats().records:
            log.info("the spool is empty: everything was stored by the platform")
        stop.set()
    stop.wait()
    log.info("stopping; the spool keeps what the platform has not acknowledged")
    gateway.stop()
