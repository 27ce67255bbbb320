"""The simulated plant behind real protocol stacks: OPC UA server, Modbus TCP server, MQTT publisher.

`ProtocolPlant` is a `SimulationRunner` sink that hands every batch to the servers it runs
(on its own asyncio loop thread, so it works both in `ifactory simulate` and inside the demo).
`protocol_plant` returns a copy of a plant whose tags declare the matching `sources`, so a
platform configured from it reads the simulator through its ordinary connectors.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ifactory.connect.modbus.registers import ModbusSource
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.sim.modbus_server import SimModbusServer, generated_map
from ifactory.sim.opcua_server import SimOpcUaServer, node_id_of

log = logging.getLogger(__name__)

OPCUA, MODBUS, MQTT = "opcua", "modbus", "mqtt"


@dataclass(frozen=True, slots=True)
class ProtocolOptions:
    """Which protocol stacks to run and where (None: not run)."""

    host: str = "127.0.0.1"
    opcua_port: int | None = None
    modbus_port: int | None = None
    mqtt_url: str | None = None
    uns: bool = True
    sparkplug: bool = False
    mqtt_prefix: str = ""
    group: str = "ifactory"
    opcua_user: str | None = None
    opcua_password: str | None = field(default=None, repr=False)

    @property
    def protocols(self) -> list[str]:
        """The protocols enabled, in a fixed order."""
        out = [OPCUA] if self.opcua_port else []
        out += [MODBUS] if self.modbus_port else []
        out += [MQTT] if self.mqtt_url else []
        return out

    @property
    def opcua_url(self) -> str:
        """The endpoint URL of the simulated OPC UA server."""
        return f"opc.tcp://{self.host}:{self.opcua_port}/ifactory/"

    def describe(self) -> list[str]:
        """One line per protocol stack, for the console."""
        lines = []
        if self.opcua_port:
            lines.append(f"OPC UA server: {self.opcua_url} (node ids ns=2;s=<tag key>)")
        if self.modbus_port:
            lines.append(
                f"Modbus TCP server: {self.host}:{self.modbus_port} (unit = machine index,"
                " registers per the generated map)"
            )
        if self.mqtt_url:
            kinds = [k for k, on in (("UNS JSON", self.uns), ("Sparkplug B", self.sparkplug)) if on]
            where = self.mqtt_url.split("@")[-1]  # never print credentials
            lines.append(f"MQTT publisher ({' + '.join(kinds)}): {where}")
        return lines


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def assign_machines(plant: Plant, protocols: Sequence[str]) -> dict[str, str]:
    """Machine key -> the protocol it is read through: the machines dealt round-robin.

    Each tag then reaches the historian through exactly one protocol, so no point arrives twice
    with different timestamps (Modbus has none of its own; the poller stamps the read time).
    """
    if not protocols:
        raise ValueError("no protocol enabled")
    return {m.key: protocols[i % len(protocols)] for i, m in enumerate(plant.machines())}


def protocol_plant(plant: Plant, options: ProtocolOptions, assignment: Mapping[str, str]) -> Plant:
    """A copy of `plant` whose tags declare `sources.opcua` / `sources.modbus` per `assignment`.

    OPC UA node ids are `ns=2;s=<tag key>` as SimOpcUaServer names them; Modbus sources are the
    server's `generated_map(plant)`. MQTT needs no source: the UNS topics and Sparkplug metric
    names follow the tag keys by convention. Tags without a Modbus representation (strings)
    of a Modbus machine are read over OPC UA when that server runs, else not at all.
    """
    out = copy.deepcopy(plant)
    modbus_map = generated_map(plant)
    for node in out.nodes:
        protocol = assignment.get(node.key)
        if protocol is None:
            continue
        for tag in node.tags:
            sources: dict[str, Any] = dict(tag.spec.sources)
            if protocol == MODBUS and tag.key in modbus_map:
                sources[MODBUS] = modbus_map[tag.key].model_dump(mode="json", exclude_defaults=True)
            elif protocol in (OPCUA, MODBUS) and options.opcua_port:
                sources[OPCUA] = {"node_id": node_id_of(tag.key)}
            tag.spec = tag.spec.model_copy(update={"sources": sources})
    root = out.nodes[0]
    attributes = dict(root.spec.attributes)
    if options.opcua_port:
        attributes[OPCUA] = {"url": options.opcua_url, "publishing_interval_ms": 200}
    if options.modbus_port:
        attributes[MODBUS] = {
            "host": options.host,
            "port": options.modbus_port,
            "poll_interval_s": 0.5,
        }
    root.spec = root.spec.model_copy(update={"attributes": attributes})
    return out


class ProtocolPlant:
    """Runs the enabled protocol servers; calling it with a batch updates all of them.

    `tags`, if given, maps each protocol to the tag keys it receives (default: every tag).
    """

    def __init__(
        self,
        plant: Plant,
        options: ProtocolOptions,
        *,
        tags: Mapping[str, set[str]] | None = None,
    ) -> None:
        if not options.protocols:
            raise ValueError("enable at least one of OPC UA, Modbus TCP and MQTT")
        self.plant = plant
        self.options = options
        self.tags = dict(tags) if tags is not None else None
        self.modbus_map: dict[str, ModbusSource] = generated_map(plant)
        self.opcua = (
            SimOpcUaServer(
                plant,
                host=options.host,
                port=options.opcua_port,
                username=options.opcua_user,
                password=options.opcua_password,
            )
            if options.opcua_port
            else None
        )
        self.modbus = (
            SimModbusServer(self.modbus_map, host=options.host, port=options.modbus_port)
            if options.modbus_port
            else None
        )
        self.mqtt: Any = None
        if options.mqtt_url:
            from ifactory.connect.mqtt.client import MqttOptions
            from ifactory.sim.publish_mqtt import MqttPlantPublisher

            self.mqtt = MqttPlantPublisher(
                plant,
                MqttOptions.from_url(options.mqtt_url, client_id="ifactory-sim"),
                uns=options.uns,
                sparkplug=options.sparkplug,
                prefix=options.mqtt_prefix,
                group=options.group,
            )
        self.points = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def describe(self) -> list[str]:
        """One line per running server, for the console."""
        return self.options.describe()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Start the loop thread, the servers and the MQTT connection; raises if one fails."""
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name="sim-protocols", daemon=True
        )
        self._thread.start()
        ready.result(timeout)
        if self.mqtt is not None:
            try:
                self.mqtt.start()
            except BaseException:
                # Never connected: end paho's reconnect loop rather than publish a death.
                self.mqtt.client.loop_stop()
                self.mqtt = None
                self.stop()
                raise

    def stop(self) -> None:
        """Disconnect MQTT (Sparkplug NDEATH), stop the servers and the loop thread."""
        if self.mqtt is not None:
            self.mqtt.stop()
        loop = self._loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._stop_servers(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(30)
        self._loop = None

    def _run_loop(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_servers())
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        self._loop = loop
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _start_servers(self) -> None:
        if self.opcua is not None:
            await self.opcua.start()
        if self.modbus is not None:
            await self.modbus.start()

    async def _stop_servers(self) -> None:
        if self.opcua is not None:
            await self.opcua.stop()
        if self.modbus is not None:
            await self.modbus.stop()

    # -- the sink ---------------------------------------------------------------------------------
    def __call__(self, batch: TelemetryBatch) -> None:
        """Update every server with `batch` (tags are keys); returns when all have it."""
        self.points += len(batch)
        if self.modbus is not None:
            self.modbus.update(self._part(batch, MODBUS))
        if self.opcua is not None:
            self.opcua.update(self._part(batch, OPCUA))
        if self.mqtt is not None:
            part = self._part(batch, MQTT)
            if len(part):
                self.mqtt(part)

    def _part(self, batch: TelemetryBatch, protocol: str) -> TelemetryBatch:
        if self.tags is None:
            return batch
        keys = self.tags.get(protocol, set())
        mask = np.fromiter((k in keys for k in batch.tags.tolist()), bool, len(batch))
        return batch.take(np.flatnonzero(mask))


def tags_by_protocol(
    plant: Plant, options: ProtocolOptions, assignment: Mapping[str, str]
) -> dict[str, set[str]]:
    """Protocol -> the tag keys a platform configured by `protocol_plant` reads through it."""
    configured = protocol_plant(plant, options, assignment)
    out: dict[str, set[str]] = {p: set() for p in options.protocols}
    for node in configured.nodes:
        protocol = assignment.get(node.key)
        for tag in node.tags:
            if MODBUS in tag.spec.sources:
                out[MODBUS].add(tag.key)
            elif OPCUA in tag.spec.sources:
                out[OPCUA].add(tag.key)
            elif protocol == MQTT:
                out[MQTT].add(tag.key)
    return out


def modbus_map_yaml(plant: Plant) -> str:
    """The simulator's generated register map as YAML (tag key -> `sources.modbus`)."""
    import yaml

    data = {
        key: src.model_dump(mode="json", exclude_defaults=True)
        for key, src in generated_map(plant).items()
    }
    return str(yaml.safe_dump(data, sort_keys=False))


def serve_plant(
    plant: Plant,
    options: ProtocolOptions,
    *,
    speed: float,
    seed: int,
    stop: threading.Event | None = None,
    on_ready: Callable[[], object] | None = None,
) -> int:
    """Run the plant live behind the protocol stacks until SIGINT/SIGTERM (or `stop`); returns points."""
    from ifactory.sim import PlantSimulator, SimulationRunner

    servers = ProtocolPlant(plant, options)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    servers.start()
    # Whole seconds: Sparkplug B carries milliseconds, and the UNS and Sparkplug copies of a
    # sample must carry the same timestamp to be recognised as the same point.
    start_us = time.time_ns() // 1_000_000_000 * 1_000_000
    sim = PlantSimulator(plant, seed=seed, start_us=start_us)
    runner = SimulationRunner(sim, servers, speed=speed)
    runner.start()
    if on_ready is not None:
        on_ready()
    try:
        while runner.running and not stop.wait(0.2):
            pass
    finally:
        runner.stop()
        runner.join()
        servers.stop()
    if runner.error is not None:
        raise runner.error
    return servers.points
