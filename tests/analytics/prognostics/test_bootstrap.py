"""First models in the background: trained from a short simulation, registered, picked up live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics import service
from ifactory.analytics.prognostics.bootstrap import (
    MinuteRollups,
    ModelBootstrap,
    TrainingPlan,
    attach,
    plan_for,
)
from ifactory.analytics.prognostics.features import HOUR_US, machine_tags
from ifactory.analytics.prognostics.install import PrognosticsService
from ifactory.core.db import Database
from ifactory.core.errors import InvalidInput
from ifactory.historian.embedded import EmbeddedStore
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant
from ifactory.sim import PlantSimulator

from .conftest import T0, FakePlatform, register_mill_model

# Twelve simulated days: past the 10-day label cap, so the first two days have usable labels.
TINY = TrainingPlan(seeds=(7,), days=12, step_s=20.0)


@pytest.fixture
def platform(fake_platform: FakePlatform) -> FakePlatform:
    """The platform stand-in with the running estimator installed, and no model yet."""
    fake_platform.extras.append(PrognosticsService(fake_platform))
    return fake_platform


def test_minute_rollups_are_the_historians(
    tmp_path: Path, db: Database, example_plant: Plant
) -> None:
    # The training source must give the features the online estimator reads from the historian.
    with db.session() as session:
        plant_service.seed(session, example_plant, user="test")
    with db.session() as session:
        reg = plant_service.registry(session)
    ids = {t.key: t.id for t in reg.tags.values()}
    counter_max = {t.id: float(t.counter_max) for t in reg.tags.values() if t.counter_max}
    sim = PlantSimulator(example_plant, seed=3, start_us=T0, step_s=10.0, tag_ids=ids)
    memory = MinuteRollups(counter_max)
    store = EmbeddedStore.open(tmp_path / "historian", counter_max=counter_max)
    try:
        for hour in range(1, 4):
            batch = sim.advance(T0 + hour * HOUR_US)
            memory.add(batch)
            store.write(batch)
        tag_ids = np.array(sorted(ids.values()), dtype=np.int32)
        want = store.rollups(tag_ids, T0, T0 + 3 * HOUR_US)
        got = memory.rollups(tag_ids, T0, T0 + 3 * HOUR_US)
    finally:
        store.close()
    assert len(got) == len(want) > 0
    for name in ("tag", "bucket", "n", "n_ok", "vmin", "vmax", "vsum", "inc", "last_v"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), err_msg=name)
    memory.prune(T0 + 2 * HOUR_US)
    assert len(memory.rollups(tag_ids, T0, T0 + 2 * HOUR_US)) == 0
    assert len(memory.rollups(tag_ids, T0 + 2 * HOUR_US, T0 + 3 * HOUR_US)) > 0


def test_trains_registers_and_the_running_estimator_picks_the_models_up(
    db: Database, platform: FakePlatform
) -> None:
    estimator = platform.extras[0]
    assert estimator.run_once() == 0  # no model yet: nothing estimated
    bootstrap = attach(platform, demo_seed=1, backfill_from_us=T0 - 5 * HOUR_US, plan=TINY)
    assert isinstance(bootstrap, ModelBootstrap) and bootstrap in platform.extras
    bootstrap.start()
    try:
        assert bootstrap.wait(300), "training did not finish"
    finally:
        bootstrap.stop()
    assert bootstrap.error is None
    assert bootstrap.registered and all(v == 1 for _, v in bootstrap.registered)
    with db.session() as session:
        rows = model_registry.get_all(session)
        assert {r.name for r in rows} == {n for n, _ in bootstrap.registered}
        for row in rows:
            assert (row.train_start_us, row.train_end_us) == (TINY.start_us, TINY.end_us)
            assert row.training_data["seeds"] == [7] and row.training_data["source"] == "simulator"
            assert row.metrics["train"]["rows"] > 0 and row.metrics["step_s"] == 20.0
        classes = {r.machine_class for r in rows}
    # Press 3 has no state tag: its rules derive "down" from this stand-in's data (the stroke
    # counter never advances, the current reads 1 A), and a machine that is down is not estimated.
    machines = [
        (m.machine_id, m.machine_class)
        for m in machine_tags(platform.registry)
        if m.machine_class in classes and m.state_tag is not None
    ]
    # The same service, no restart: it loads the new models and back-fills the five complete
    # hours since the data began, up to the newest complete hour.
    assert estimator.run_once() == 5 * len(machines)
    with db.session() as session:
        latest = service.latest_rul(session)
    assert {r.machine_id for r in latest} == {mid for mid, _ in machines}
    assert all(0 <= r.low_h <= r.rul_h <= r.high_h and r.model_version == 1 for r in latest)

    # A newer version registered while it runs is used from the next hour on.
    with db.session() as session:
        cls = sorted(classes)[0]
        v1 = model_registry.load(session, machine_class=cls)
        model_registry.create(
            session,
            machine_class=cls,
            model=v1.model,
            metrics={},
            train_start_us=TINY.start_us,
            train_end_us=TINY.end_us,
            training_data={"source": "test"},
        )
    platform.clock.advance(HOUR_US)
    assert estimator.run_once() == len(machines)
    with db.session() as session:
        by_machine = {r.machine_id: r for r in service.latest_rul(session)}
    ids_of_cls = {mid for mid, c in machines if c == cls}
    assert {by_machine[mid].model_version for mid in ids_of_cls} == {2}


def test_a_kept_registry_is_reused_without_training(db: Database, platform: FakePlatform) -> None:
    with db.session() as session:
        existing = model_registry.get_all(session)
    assert existing == []
    register_mill_model(platform)
    bootstrap = attach(platform, demo_seed=1, plan=TINY)
    assert bootstrap is not None
    bootstrap.start()
    assert bootstrap.wait(0)  # decided at once: nothing to train
    bootstrap.stop()
    assert bootstrap.registered == []
    assert bootstrap.existing() == [("rul.cnc_mill", 1)]


def test_training_seeds_never_include_the_demos() -> None:
    plan = plan_for(5)
    assert 5 not in plan.seeds and len(plan.seeds) == 2
    with pytest.raises(InvalidInput):
        TrainingPlan(step_s=60.0)  # counters would count nothing within a minute


def test_attach_refuses_the_demo_seed_and_needs_the_estimator(platform: FakePlatform) -> None:
    with pytest.raises(InvalidInput):
        attach(platform, demo_seed=7, plan=TINY)
    platform.extras.clear()
    assert attach(platform, demo_seed=1, plan=TINY) is None


def test_stopping_the_platform_ends_training_and_registers_nothing(platform: FakePlatform) -> None:
    bootstrap = attach(platform, demo_seed=1, plan=TrainingPlan(seeds=(7,), days=365))
    assert bootstrap is not None
    bootstrap.start()
    bootstrap.stop()  # long before a year is simulated
    assert bootstrap.wait(0) and bootstrap.error is None
    assert bootstrap.registered == [] and bootstrap.existing() == []
