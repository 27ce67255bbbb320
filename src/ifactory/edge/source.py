"""What the gateway runs: anything that produces TelemetryBatches into a blocking sink.

A source gets a `sink` and calls it with each batch it read; the call returns once the batch
is on the edge's disk (fsync'd), and blocks while the spool is full — so a source acknowledges
its device or broker after `sink` returns, and stops reading while the platform is away and
the spool is full. Protocol connectors (MQTT, OPC UA, Modbus) plug in through a
`SourceFactory` that builds them around the sink (`edge.connectors.connector_source`; the
plant file's connectors are composed by `ifactory edge`); the simulator is one such source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ifactory.core.clock import SystemClock
from ifactory.edge.spool import SpoolClosed
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant

Sink = Callable[[TelemetryBatch], None]


class Source(Protocol):
    """A running producer of batches (a connector, a poller, the simulator)."""

    def start(self) -> None:
        """Start producing into the sink (returns at once)."""
        ...

    def stop(self) -> None:
        """Stop producing and wait for the batch in hand to be handed over."""
        ...


@dataclass(frozen=True, slots=True)
class SourceFactory:
    """Builds a named source around its sink; `resume_from` is the last stored cursor, if any."""

    name: str
    build: Callable[[Sink, int | None], Source]


class _SimulatorSource:
    def __init__(self, runner: object) -> None:
        self.runner = runner

    def start(self) -> None:
        self.runner.start()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.runner.stop()  # type: ignore[attr-defined]
        self.runner.join()  # type: ignore[attr-defined]


def simulator(
    plant: Plant,
    *,
    seed: int = 1,
    speed: float = 1.0,
    backdate_s: float = 0.0,
    tick_s: float = 0.5,
    name: str = "sim",
) -> SourceFactory:
    """The simulated plant as a source (tag keys, not ids: the edge does not know the ids).

    It resumes after the newest timestamp it stored before a restart, so a killed and
    restarted edge continues the same time line without a gap; `backdate_s` starts a fresh
    run that far in the past (with `speed` > 1 it catches up with the wall clock).
    """
    from ifactory.sim import PlantSimulator, SimulationRunner

    def build(sink: Sink, resume_from: int | None) -> Source:
        start = (
            resume_from
            if resume_from is not None
            else SystemClock().now_us() - int(backdate_s * 1_000_000)
        )
        sim = PlantSimulator(plant, seed=seed, start_us=start)

        def put(batch: TelemetryBatch) -> None:
            try:
                sink(batch)
            except SpoolClosed:
                # Shutting down while the spool was full: this batch was not stored, and the
                # cursor says so; the next run simulates it again.
                runner.stop()

        runner = SimulationRunner(sim, put, speed=speed, tick_s=tick_s)
        return _SimulatorSource(runner)

    return SourceFactory(name, build)
