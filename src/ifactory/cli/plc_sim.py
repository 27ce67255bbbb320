"""`ifactory sim-serve`: an alias of `ifactory simulate --opcua-port P --modbus-port P`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the `sim-serve` command to `app`."""
    app.command("sim-serve")(sim_serve)


def sim_serve(
    opcua_port: Annotated[int | None, typer.Option(help="serve OPC UA on this port")] = 4840,
    modbus_port: Annotated[int | None, typer.Option(help="serve Modbus TCP on this port")] = 5020,
    host: str = "127.0.0.1",
    plant: Annotated[Path | None, typer.Option(help="plant file (default: the example)")] = None,
    speed: Annotated[float, typer.Option(help="simulation speed, × real time")] = 1.0,
    seed: int = 1,
    modbus_map: Annotated[
        Path | None, typer.Option(help="write the generated register map (YAML) here")
    ] = None,
    opcua_user: Annotated[str | None, typer.Option(help="require this OPC UA user")] = None,
    opcua_password: Annotated[
        str | None, typer.Option(envvar="IFACTORY_SIM_OPCUA_PASSWORD", help="its password")
    ] = None,
) -> None:
    """Run the simulated plant in real time behind real protocol servers, until Ctrl-C."""
    from rich.console import Console

    from ifactory.plant.loader import load_plant
    from ifactory.sim.protocols import ProtocolOptions, modbus_map_yaml, serve_plant

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    if not opcua_port and not modbus_port:
        raise typer.BadParameter("serve OPC UA, Modbus TCP or both")
    console = Console()
    the_plant = load_plant(plant)
    if modbus_map is not None:
        modbus_map.write_text(modbus_map_yaml(the_plant))
        console.print(f"register map written to {modbus_map}")
    options = ProtocolOptions(
        host=host,
        opcua_port=opcua_port,
        modbus_port=modbus_port,
        opcua_user=opcua_user,
        opcua_password=opcua_password,
    )

    def ready() -> None:
        for line in options.describe():
            console.print(line, soft_wrap=True)

    serve_plant(the_plant, options, speed=speed, seed=seed, on_ready=ready)
