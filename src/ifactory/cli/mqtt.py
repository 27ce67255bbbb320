"""`ifactory connect mqtt` (ingest from a broker) and `ifactory sim-mqtt` (publish the simulated plant)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)
connect_app = typer.Typer(help="Connect machines to the platform.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `connect mqtt` and `sim-mqtt` to `app`."""
    app.add_typer(connect_app, name="connect")
    connect_app.command("mqtt")(connect_mqtt)
    app.command("sim-mqtt")(sim_mqtt)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def connect_mqtt(
    url: Annotated[str, typer.Option(help="broker, e.g. mqtt://user:pass@host:1883 or mqtts://")],
    sparkplug: Annotated[bool, typer.Option(help="also run the Sparkplug B primary host")] = False,
    uns: Annotated[bool, typer.Option(help="subscribe to the UNS JSON topics")] = True,
    prefix: Annotated[str, typer.Option(help="UNS topic prefix above the plant paths")] = "",
    client_id: Annotated[str, typer.Option(help="fixed client id of the persistent session")] = (
        "ifactory-uns"
    ),
    host_id: Annotated[str, typer.Option(help="Sparkplug host application id")] = "ifactory",
    mqtt5: Annotated[bool, typer.Option(help="speak MQTT 5 instead of 3.1.1")] = False,
    ca_certs: Annotated[Path | None, typer.Option(help="CA bundle for mqtts://")] = None,
    plant: Annotated[Path | None, typer.Option(help="plant.yaml that seeds an empty database")] = (
        None
    ),
    data_dir: Path | None = None,
) -> None:
    """Store what machines publish on an MQTT broker (UNS JSON and/or Sparkplug B), until Ctrl-C."""
    from rich.console import Console

    from ifactory.connect.mqtt_install import attach_sparkplug, attach_uns
    from ifactory.core.settings import Settings
    from ifactory.plant.loader import load_plant
    from ifactory.platform import Platform

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))  # type: ignore[arg-type]
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not uns and not sparkplug:
        raise typer.BadParameter("choose --uns, --sparkplug or both")
    platform = Platform.open(settings, plant=load_plant(plant) if plant else None)
    tls = {"ca_certs": str(ca_certs)} if ca_certs else {}
    if uns:
        attach_uns(platform, url, prefix=prefix, client_id=client_id, mqtt5=mqtt5, **tls)
    if sparkplug:
        attach_sparkplug(platform, url, host_id=host_id, mqtt5=mqtt5, **tls)
    platform.start()
    Console().print(f"[bold green]storing MQTT data[/] from {url.split('@')[-1]}; Ctrl-C stops")
    try:
        _wait_for_signal()
    finally:
        platform.stop()


def sim_mqtt(
    url: Annotated[str, typer.Option(help="broker, e.g. mqtt://127.0.0.1:1883")],
    sparkplug: Annotated[bool, typer.Option(help="publish as a Sparkplug B edge node")] = False,
    uns: Annotated[bool, typer.Option(help="publish UNS JSON")] = True,
    prefix: str = "",
    group: Annotated[str, typer.Option(help="Sparkplug group id")] = "ifactory",
    plant: Annotated[Path | None, typer.Option(help="plant file (default: the example)")] = None,
    speed: Annotated[float, typer.Option(help="simulation speed, × real time")] = 1.0,
    seed: int = 1,
) -> None:
    """Run the simulated plant in real time, publishing to an MQTT broker, until Ctrl-C.

    An alias of `ifactory simulate --mqtt URL [--sparkplug]`.
    """
    from ifactory.plant.loader import load_plant
    from ifactory.sim.protocols import ProtocolOptions, serve_plant

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not uns and not sparkplug:
        raise typer.BadParameter("publish UNS JSON, Sparkplug B, or both")
    options = ProtocolOptions(
        mqtt_url=url, uns=uns, sparkplug=sparkplug, mqtt_prefix=prefix, group=group
    )
    published = serve_plant(load_plant(plant), options, speed=speed, seed=seed)
    log.info("published %d points", published)
