"""`ifactory sim-serve`: the simulated plant as a real OPC UA server and Modbus TCP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
    import yaml
    from rich.console import Console

    from ifactory.historian.batch import TelemetryBatch
    from ifactory.plant.loader import load_plant
    from ifactory.sim import PlantSimulator, SimulationRunner
    from ifactory.sim.modbus_server import SimModbusServer, generated_map
    from ifactory.sim.opcua_server import SimOpcUaServer

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = Console()
    the_plant = load_plant(plant)
    sources = generated_map(the_plant)
    if modbus_map is not None:
        data = {
            key: src.model_dump(mode="json", exclude_defaults=True) for key, src in sources.items()
        }
        modbus_map.write_text(yaml.safe_dump(data, sort_keys=False))
        console.print(f"register map written to {modbus_map}")
    opcua = (
        SimOpcUaServer(
            the_plant, host=host, port=opcua_port, username=opcua_user, password=opcua_password
        )
        if opcua_port
        else None
    )
    modbus = SimModbusServer(sources, host=host, port=modbus_port) if modbus_port else None

    def sink(batch: TelemetryBatch) -> None:
        if modbus is not None:
            modbus.update(batch)
        if opcua is not None:
            opcua.update(batch)

    async def main() -> None:
        if opcua is not None:
            await opcua.start()
            console.print(f"OPC UA server: {opcua.url}")
        if modbus is not None:
            await modbus.start()
            console.print(f"Modbus TCP server: {host}:{modbus_port} (unit = machine index)")
        sim = PlantSimulator(the_plant, seed=seed, start_us=time.time_ns() // 1000)
        runner = SimulationRunner(sim, sink, speed=speed)
        runner.start()
        try:
            while runner.running:
                await asyncio.sleep(0.5)
        finally:
            runner.stop()
            await asyncio.to_thread(runner.join)
            if opcua is not None:
                await opcua.stop()
            if modbus is not None:
                await modbus.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
