"""`ifactory edge`: the edge gateway (sources → on-disk spool → platform).

This is the composition root of the edge: it builds the protocol connectors of
`ifactory.connect` from the plant file and hands them to the gateway as sources whose sink
is the spool (`ifactory.edge` itself knows no protocol).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ifactory.edge.source import SourceFactory
    from ifactory.plant.loader import Plant

log = logging.getLogger(__name__)


def plant_sources(
    plant: Plant,
    *,
    mqtt: str | None = None,
    sparkplug: bool = False,
    mqtt_prefix: str = "",
    client_id: str = "ifactory-edge",
    host_id: str = "ifactory",
    mqtt5: bool = False,
) -> list[SourceFactory]:
    """The edge sources of `plant`: OPC UA and Modbus from the tags' `sources`, MQTT by URL.

    OPC UA endpoints and Modbus devices come from tag `sources.opcua` / `sources.modbus` and
    node `attributes.opcua` / `attributes.modbus`, as on the platform
    (docs/connect-opcua-modbus.md); the MQTT UNS connector (and, with `sparkplug`, a
    Sparkplug B primary host) subscribes to `mqtt` for the plant's tags. Raises
    `InvalidInput` naming the tag or node when the plant file's sources are wrong.
    """
    from ifactory.edge.connectors import connector_source
    from ifactory.edge.source import Sink

    factories: list[SourceFactory] = []
    tags = [(t.key, dict(t.spec.sources)) for n in plant.nodes for t in n.tags]
    used = {name for _, sources in tags for name in sources}
    if "opcua" in used:
        from ifactory.connect.opcua import OpcUaConnector, endpoints_from_plant

        endpoints = endpoints_from_plant(plant)
        log.info(
            "OPC UA: %d endpoint(s), %d tag(s)", len(endpoints), sum(len(p) for _, p in endpoints)
        )

        def opcua(sink: Sink) -> OpcUaConnector:
            return OpcUaConnector(endpoints, sink)

        factories.append(connector_source("opcua", opcua, redelivers=False))
    if "modbus" in used:
        from ifactory.connect.modbus import ModbusConnector, devices_from_plant

        devices = devices_from_plant(plant)
        log.info("Modbus: %d device(s), %d tag(s)", len(devices), sum(len(p) for _, p in devices))

        def modbus(sink: Sink) -> ModbusConnector:
            return ModbusConnector(devices, sink)

        factories.append(connector_source("modbus", modbus, redelivers=False))
    if mqtt:
        from ifactory.connect.mqtt.client import MqttOptions
        from ifactory.connect.mqtt.connector import UnsConnector
        from ifactory.connect.mqtt.uns import UnsMapping

        # A stable client id per connector: the broker keeps its persistent session (and
        # the QoS 1 messages queued while the edge was down) under that id.
        uns_options = MqttOptions.from_url(mqtt, client_id=f"{client_id}-uns", mqtt5=mqtt5)
        mapping = UnsMapping.from_tags(tags, prefix=mqtt_prefix)

        def uns(sink: Sink) -> UnsConnector:
            return UnsConnector(uns_options, mapping, sink)

        factories.append(connector_source("mqtt", uns, redelivers=True))
        if sparkplug:
            from ifactory.connect.sparkplug.host import SparkplugHost, SparkplugMapping

            spb_options = MqttOptions.from_url(mqtt, client_id=f"{client_id}-spb", mqtt5=mqtt5)
            spb_mapping = SparkplugMapping.from_tags(tags)

            def host(sink: Sink) -> SparkplugHost:
                return SparkplugHost(spb_options, spb_mapping, sink, host_id=host_id)

            factories.append(connector_source("sparkplug", host, redelivers=True))
    return factories


def register(app: typer.Typer) -> None:
    """Add the `edge` command to `app`."""
    app.command("edge")(edge)


def edge(
    spool: Annotated[Path, typer.Option(help="spool directory on local disk")],
    platform: Annotated[
        str, typer.Option(help="platform base URL, e.g. http://10.0.0.5:8000 (unless --nats)")
    ] = "",
    token: Annotated[
        str, typer.Option(envvar="IFACTORY_EDGE_TOKEN", help="device API key (role 'device')")
    ] = "",
    simulate: Annotated[
        bool, typer.Option(help="read the simulated plant (tag keys of --plant)")
    ] = False,
    plant: Annotated[
        Path | None,
        typer.Option(
            help="plant file: its tags' OPC UA / Modbus sources are read (with --simulate: "
            "the simulated plant, default the example)"
        ),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(help="MQTT broker URL (mqtt[s]://user:pass@host:port): read the UNS JSON"),
    ] = None,
    sparkplug: Annotated[
        bool, typer.Option(help="with --mqtt: also run a Sparkplug B primary host")
    ] = False,
    mqtt_prefix: Annotated[str, typer.Option(help="UNS topic prefix")] = "",
    mqtt_client_id: Annotated[
        str, typer.Option(help="MQTT client id stem (-uns / -spb); keep it stable")
    ] = "ifactory-edge",
    mqtt5: Annotated[bool, typer.Option(help="speak MQTT 5 instead of 3.1.1")] = False,
    host_id: Annotated[str, typer.Option(help="Sparkplug B primary host id")] = "ifactory",
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
    nats: Annotated[
        str | None,
        typer.Option(
            help="forward through NATS JetStream (nats://host:4222) instead of HTTP; the "
            "platform consumes the stream (IFACTORY_NATS_URL)"
        ),
    ] = None,
    nats_site: Annotated[
        str,
        typer.Option(help="with --nats: the <site> token of the subject telemetry.<site>.<lane>"),
    ] = "site",
    nats_stream: Annotated[str, typer.Option(help="with --nats: the JetStream stream")] = (
        "IFACTORY_TELEMETRY"
    ),
    drain: Annotated[
        bool, typer.Option(help="run no source; forward the spool's backlog and exit when empty")
    ] = False,
    log_level: str = "INFO",
) -> None:
    """Run the edge gateway: every batch is fsync'd to the spool, then forwarded until stored."""
    from ifactory.core.errors import InvalidInput
    from ifactory.edge.client import PlatformClient
    from ifactory.edge.forwarder import Forwarder
    from ifactory.edge.gateway import Gateway, metrics_collector
    from ifactory.edge.source import simulator
    from ifactory.edge.spool import Spool

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # asyncua logs every publish response at INFO: keep the edge's log about the edge.
    logging.getLogger("asyncua").setLevel(max(logging.WARNING, logging.getLogger().level))
    from ifactory.edge.client import BatchClient

    client_factory: Callable[[], BatchClient]
    if nats:
        from ifactory.edge.nats_forwarder import JetStreamClient

        try:  # validate the URL and the site before touching the disk
            JetStreamClient(nats, site=nats_site, stream=nats_stream)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--nats") from None

        def client_factory() -> BatchClient:
            return JetStreamClient(nats, site=nats_site, stream=nats_stream)
    else:
        if not platform or not token:
            raise typer.BadParameter(
                "--platform and --token are needed (or --nats)", param_hint="--platform"
            )
        PlatformClient(platform, token)  # validate the URL before touching the disk

        def client_factory() -> BatchClient:
            return PlatformClient(platform, token)

    if simulate and mqtt:
        raise typer.BadParameter(
            "--simulate reads the simulated plant; drop --mqtt", param_hint="--mqtt"
        )
    if mqtt and plant is None:
        raise typer.BadParameter(
            "--mqtt needs --plant (its tags are what is read)", param_hint="--plant"
        )
    if sparkplug and not mqtt:
        raise typer.BadParameter("--sparkplug needs --mqtt", param_hint="--sparkplug")
    sources: list[SourceFactory] = []
    if not simulate and not drain and plant is not None:
        from ifactory.plant.loader import load_plant

        # Built before the spool is opened: a wrong plant file fails at once, not mid-run.
        try:
            sources = plant_sources(
                load_plant(plant),
                mqtt=mqtt,
                sparkplug=sparkplug,
                mqtt_prefix=mqtt_prefix,
                client_id=mqtt_client_id,
                host_id=host_id,
                mqtt5=mqtt5,
            )
        except InvalidInput as exc:
            raise typer.BadParameter(exc.msg, param_hint="--plant") from None
    store = Spool(spool, max_bytes=int(max_spool_mb * 1024 * 1024))
    forwarder = Forwarder(
        store,
        client_factory,
        backfill_rate=backfill_rate,
        backoff_max_s=backoff_max_s,
    )
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
    log.info("edge gateway forwarding to %s, spool in %s", nats or platform, spool)
    if drain:
        while not stop.wait(0.2) and store.stats().records:
            pass
        if not store.stats().records:
            log.info("the spool is empty: everything was stored by the platform")
        stop.set()
    stop.wait()
    log.info("stopping; the spool keeps what the platform has not acknowledged")
    gateway.stop()
