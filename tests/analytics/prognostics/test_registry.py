"""The model registry: versions per machine class, artifacts stored as JSON (no pickle)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ifactory.analytics.prognostics import registry
from ifactory.analytics.prognostics.model import ARTIFACT_FORMAT, QuantileModel
from ifactory.core.db import Database
from ifactory.core.errors import InvalidInput, NotFound


def _model(seed: int = 0) -> QuantileModel:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(400, 3))
    x[rng.random(x.shape) < 0.05] = np.nan  # gaps, as stopped machines produce
    y = np.clip(168 * (1 - np.nan_to_num(x[:, 0])) + rng.normal(0, 5, 400), 0, 168)
    return QuantileModel.train(
        x, y, ["vib.rel6", "temp.rel6", "hours_since_down"], cap_h=168, rounds=30
    )


def test_model_round_trips_through_the_registry_and_predicts_the_same(db: Database) -> None:
    model = _model()
    probe = np.array([[0.1, 0.5, 10.0], [0.9, np.nan, 300.0]])
    with db.session() as session:
        row = registry.create(
            session,
            machine_class="cnc_mill",
            model=model,
            metrics={"train": {"mae_h": 3.2}},
            train_start_us=0,
            train_end_us=90 * 86_400_000_000,
            training_data={"source": "simulator", "seeds": [1, 2, 3]},
        )
        assert (row.name, row.version) == ("rul.cnc_mill", 1)
    with db.session() as session:
        registry.create(
            session,
            machine_class="cnc_mill",
            model=_model(1),
            metrics={},
            train_start_us=0,
            train_end_us=1,
            training_data={},
        )
    with db.session() as session:
        latest = registry.load(session, machine_class="cnc_mill")
        first = registry.load(session, machine_class="cnc_mill", version=1)
        rows = registry.get_all(session, machine_class="cnc_mill")
        by_class = registry.load_latest(session)
    assert latest.version == 2 and [r.version for r in rows] == [2, 1]
    assert by_class["cnc_mill"].version == 2
    np.testing.assert_array_equal(first.model.predict(probe), model.predict(probe))
    assert first.model.features == ["vib.rel6", "temp.rel6", "hours_since_down"]
    stored = rows[1]
    assert stored.metrics == {"train": {"mae_h": 3.2}}
    assert stored.training_data["seeds"] == [1, 2, 3]
    assert stored.features == first.model.features
    # The artifact is plain JSON holding LightGBM's model text: nothing executable.
    doc = json.loads(stored.artifact)
    assert doc["format"] == ARTIFACT_FORMAT == stored.artifact_format
    assert all(text.startswith("tree\n") for text in doc["boosters"].values())


def test_band_is_ordered_and_the_median_explained() -> None:
    model = _model()
    q = model.predict(np.array([[0.95, 0.5, 1.0], [0.05, 0.5, 1.0]]))
    assert (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()
    assert q[0, 1] < q[1, 1]  # more wear, less life
    explained = model.explain(np.array([0.95, 0.5, 1.0]))
    assert explained.contributions[0][0] == "vib.rel6" and explained.contributions[0][1] < 0


def test_unknown_artifacts_and_classes_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInput):
        QuantileModel.from_json('{"format": "pickle"}')
    with pytest.raises(InvalidInput):
        QuantileModel.from_json("not json")
    with db.session() as session, pytest.raises(NotFound):
        registry.load(session, machine_class="press")
