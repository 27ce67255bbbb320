"""Shared runs of the simulated example plant (session-scoped: they take a few seconds)."""

from __future__ import annotations

import pytest

from ifactory.plant.loader import Plant

from .helpers import ACCELERATED, WEEK_SEED, Run, simulate


@pytest.fixture(scope="session")
def plant(example_plant: Plant) -> Plant:
    """The bundled example plant (the suite's shared one)."""
    return example_plant


@pytest.fixture(scope="session")
def week(plant: Plant) -> Run:
    """A week of the example plant at 10 s steps, with accelerated failures."""
    return simulate(plant, seed=WEEK_SEED, days=7, step_s=10.0, options=ACCELERATED)
