"""The `ifactory` command line."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ifactory.core.settings import Settings

app = typer.Typer(
    help="iFactory: one real-time data layer for a smart factory.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
plant_app = typer.Typer(help="Plant files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(plant_app, name="plant")
console = Console()
US = 1_000_000


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def _data_dir_or_temp(data_dir: Path | None, prefix: str) -> Path | None:
    """The given directory, IFACTORY_DATA_DIR when set, else a fresh temporary directory."""
    import os

    if data_dir is not None or os.environ.get("IFACTORY_DATA_DIR"):
        return data_dir
    return Path(tempfile.mkdtemp(prefix=prefix))


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="keep data here (default: a fresh temporary directory)")
    ] = None,
    speed: Annotated[float, typer.Option(help="simulation speed, × real time")] = 30.0,
    seed: int = 1,
    history_hours: Annotated[
        float, typer.Option(help="hours of history simulated before going live")
    ] = 2.0,
    admin_password: Annotated[
        str, typer.Option(envvar="IFACTORY_ADMIN_PASSWORD", help="password of the 'admin' user")
    ] = "ifactory-demo",
    via_protocols: Annotated[
        bool,
        typer.Option(
            help="run the live simulation behind real OPC UA and Modbus TCP servers (and MQTT "
            "with --mqtt) on free local ports, read back through the platform's connectors"
        ),
    ] = False,
    mqtt: Annotated[
        str | None,
        typer.Option(help="with --via-protocols: also publish to this broker, e.g. mqtt://host"),
    ] = None,
    sparkplug: Annotated[
        bool, typer.Option(help="with --mqtt: Sparkplug B instead of UNS JSON")
    ] = False,
) -> None:
    """Run everything in one process: SQLite, in-process bus, simulated plant, web UI."""
    import uvicorn

    from ifactory.api.app import create_app
    from ifactory.runtime import build_demo

    settings = _settings(
        data_dir or Path(tempfile.mkdtemp(prefix="ifactory-demo-")), environment="development"
    )
    _logging(settings.log_level)
    protocols = None
    if via_protocols:
        from ifactory.sim.protocols import ProtocolOptions, free_port

        logging.getLogger("asyncua").setLevel(logging.WARNING)  # it logs each node it builds

        protocols = ProtocolOptions(
            opcua_port=free_port(),
            modbus_port=free_port(),
            mqtt_url=mqtt,
            uns=not sparkplug,
            sparkplug=sparkplug,
        )
    elif mqtt or sparkplug:
        raise typer.BadParameter("--mqtt and --sparkplug need --via-protocols")
    platform = build_demo(
        settings,
        speed=speed,
        seed=seed,
        history_hours=history_hours,
        admin_password=admin_password,
        protocols=protocols,
    )
    if protocols is not None:
        for line in protocols.describe():
            console.print(line)
    console.print(
        f"[bold green]iFactory demo[/] on http://{host}:{port}  (data in {settings.data_dir}, "
        f"simulation at {speed:g}× real time; sign in as admin / "
        f"{admin_password if admin_password == 'ifactory-demo' else '(IFACTORY_ADMIN_PASSWORD)'})"
    )
    uvicorn.run(create_app(platform), host=host, port=port, log_level="warning")


@app.command()
def serve(
    plant: Annotated[
        Path | None, typer.Option(help="plant.yaml that seeds an empty database")
    ] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Path | None = None,
    simulate: Annotated[
        bool, typer.Option(help="feed the plant from the simulator in real time")
    ] = False,
    nats: Annotated[
        str | None,
        typer.Option(
            help="consume the edge gateways' JetStream stream, e.g. nats://127.0.0.1:4222"
        ),
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="read devices on this MQTT broker (UNS JSON)")
    ] = None,
) -> None:
    """Run the API and pages against the configured database and historian."""
    import uvicorn

    from ifactory.api.app import create_app
    from ifactory.plant.loader import load_plant
    from ifactory.platform import Platform
    from ifactory.runtime import attach_simulator

    settings = _settings(data_dir, nats_url=nats, mqtt_url=mqtt)
    _logging(settings.log_level)
    platform = Platform.open(settings, plant=load_plant(plant) if plant else None)
    if simulate:
        attach_simulator(platform, load_plant(plant) if plant else None, speed=1.0, seed=1)
    uvicorn.run(create_app(platform), host=host, port=port, log_level="info")


@app.command("simulate")
def simulate_cmd(
    hours: Annotated[
        float, typer.Option(help="simulated hours to run, as fast as possible")
    ] = 24.0,
    seed: int = 1,
    data_dir: Path | None = None,
    plant: Path | None = None,
    ground_truth: Annotated[
        Path | None, typer.Option(help="write the failures and states as JSON here")
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(help="publish to this MQTT broker (UNS JSON), e.g. mqtt://host:1883"),
    ] = None,
    sparkplug: Annotated[
        bool, typer.Option(help="with --mqtt: also publish as a Sparkplug B edge node")
    ] = False,
    uns: Annotated[bool, typer.Option(help="with --mqtt: publish UNS JSON")] = True,
    mqtt_prefix: Annotated[str, typer.Option(help="UNS topic prefix")] = "",
    opcua_port: Annotated[int | None, typer.Option(help="serve OPC UA on this port")] = None,
    modbus_port: Annotated[int | None, typer.Option(help="serve Modbus TCP on this port")] = None,
    host: Annotated[str, typer.Option(help="address the servers listen on")] = "127.0.0.1",
    speed: Annotated[
        float, typer.Option(help="with a protocol: simulation speed, × real time")
    ] = 1.0,
    modbus_map: Annotated[
        Path | None, typer.Option(help="write the generated Modbus register map (YAML) here")
    ] = None,
) -> None:
    """Run the simulated plant: as fast as possible through the pipeline, or live behind protocols.

    With --mqtt, --opcua-port or --modbus-port the plant runs in real time (× --speed) behind
    those protocol stacks until Ctrl-C; without them, --hours are simulated into a data dir.
    """
    from ifactory.plant.loader import load_plant

    if sparkplug and not mqtt:
        raise typer.BadParameter("--sparkplug needs --mqtt URL")
    if mqtt or opcua_port or modbus_port:
        from ifactory.sim.protocols import ProtocolOptions, modbus_map_yaml, serve_plant

        if not uns and not sparkplug:
            raise typer.BadParameter("with --no-uns, use --sparkplug")
        _logging("INFO")
        # asyncua logs every standard node it builds at INFO; keep the console readable.
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        options = ProtocolOptions(
            host=host,
            opcua_port=opcua_port,
            modbus_port=modbus_port,
            mqtt_url=mqtt,
            uns=uns,
            sparkplug=sparkplug,
            mqtt_prefix=mqtt_prefix,
        )
        the_plant = load_plant(plant)
        if modbus_map is not None:
            modbus_map.write_text(modbus_map_yaml(the_plant))
            console.print(f"register map written to {modbus_map}")

        def ready() -> None:
            for line in options.describe():
                console.print(line, soft_wrap=True)
            console.print(f"simulating at {speed:g}× real time; Ctrl-C stops")

        try:
            published = serve_plant(the_plant, options, speed=speed, seed=seed, on_ready=ready)
        except (TimeoutError, OSError) as exc:  # a port in use, an unreachable broker
            console.print(f"[red]cannot serve the simulated plant: {exc}[/]")
            raise typer.Exit(1) from None
        console.print(f"stopped after {published} points")
        return
    if modbus_map is not None:
        raise typer.BadParameter("--modbus-map needs --modbus-port")
    import time as _time

    from ifactory.runtime import run_simulation

    settings = _settings(_data_dir_or_temp(data_dir, "ifactory-sim-"))
    _logging(settings.log_level)
    t0 = _time.perf_counter()
    result = run_simulation(settings, load_plant(plant), hours=hours, seed=seed)
    elapsed = _time.perf_counter() - t0
    console.print(
        f"simulated {hours:g} h in {elapsed:.1f} s: {result['points']} points, "
        f"{result['failures']} failures, {result['rejected']} rejected; data in {settings.data_dir}"
    )
    if ground_truth is not None:
        ground_truth.write_text(result["ground_truth_json"])
        console.print(f"ground truth written to {ground_truth}")


@db_app.command("upgrade")
def db_upgrade(data_dir: Path | None = None, revision: str = "head") -> None:
    """Apply the database migrations (SQLite by default, or IFACTORY_DATABASE_URL)."""
    from ifactory.core import migrate

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url, revision)
    console.print(f"database at {settings.resolved_database_url.split('@')[-1]} is at {revision}")


@plant_app.command("check")
def plant_check(path: Path) -> None:
    """Validate a plant file and report each problem with its line."""
    from ifactory.plant.loader import PlantFileInvalid, expand, load

    try:
        plant = expand(load(path))
    except PlantFileInvalid as exc:
        for err in exc.errors:
            console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from None
    console.print(f"{path}: ok — {len(plant.machines())} machines, {len(plant.tags())} tags")


@plant_app.command("export")
def plant_export(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    data_dir: Path | None = None,
) -> None:
    """Write the database's plant model back as a plant file."""
    from ifactory.core.db import Database
    from ifactory.plant import service

    settings = _settings(data_dir)
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        text = service.to_yaml(service.export(session))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"plant written to {output}")


# Feature commands: modules with `register(app: typer.Typer)`, one line each.
COMMAND_MODULES: list[str] = [
    "ifactory.cli.edge",
    "ifactory.cli.eval",
    "ifactory.cli.plc_sim",
    "ifactory.cli.mqtt",
    "ifactory.cli.models",
]


def _register_features() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_features()

if __name__ == "__main__":
    app()
