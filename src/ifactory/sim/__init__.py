"""The simulated plant: machine behaviour, degradation, failures, quality drift, ground truth."""

from __future__ import annotations

from ifactory.sim.ground_truth import (
    DegradationEpisode,
    FailureRecord,
    GroundTruth,
    Outage,
    ProductChange,
    StateInterval,
)
from ifactory.sim.options import DegradationOptions, FailureMode, SimOptions
from ifactory.sim.runner import SimulationRunner
from ifactory.sim.simulator import PlantSimulator

__all__ = [
    "DegradationEpisode",
    "DegradationOptions",
    "FailureMode",
    "FailureRecord",
    "GroundTruth",
    "Outage",
    "PlantSimulator",
    "ProductChange",
    "SimOptions",
    "SimulationRunner",
    "StateInterval",
]
