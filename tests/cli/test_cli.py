"""The `ifactory` command: plant check and export, db upgrade, a simulation through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ifactory.cli.main import app
from ifactory.plant.loader import EXAMPLE_PLANT, expand, load, parse

runner = CliRunner()


def test_plant_check_reports_each_problem_with_its_line(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["plant", "check", str(EXAMPLE_PLANT)])
    assert ok.exit_code == 0 and "13 machines" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_PLANT.read_text().replace("unit: mm/s", "unit: mm/fortnightz", 1))
    result = runner.invoke(app, ["plant", "check", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:12: equipment_classes.cnc_mill.tags.2.unit" in result.output.replace("\n", "")


def test_simulate_then_export_round_trips_the_plant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IFACTORY_DATA_DIR", str(tmp_path / "data"))
    truth = tmp_path / "truth.json"
    result = runner.invoke(
        app, ["simulate", "--hours", "2", "--seed", "3", "--ground-truth", str(truth)]
    )
    assert result.exit_code == 0, result.output
    assert "0 rejected" in result.output
    data = json.loads(truth.read_text())
    assert set(data) >= {"failures", "state_intervals", "outages"}
    exported = runner.invoke(app, ["plant", "export"])
    assert exported.exit_code == 0, exported.output
    again = expand(parse(exported.output))
    original = expand(load(EXAMPLE_PLANT))
    assert [(n.key, [t.spec for t in n.tags]) for n in again.nodes] == [
        (n.key, [t.spec for t in n.tags]) for n in original.nodes
    ]


def test_db_upgrade_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IFACTORY_DATA_DIR", str(tmp_path))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "ifactory.db").exists()


def test_a_resumed_simulation_continues_the_stored_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running `simulate` twice on one data directory extends history without a counter jump."""
    import numpy as np

    from ifactory.core.settings import Settings
    from ifactory.plant.loader import load_plant
    from ifactory.runtime import run_simulation

    settings = Settings(environment="test", data_dir=tmp_path / "data")
    plant = load_plant()
    run_simulation(settings, plant, hours=1, seed=2)
    run_simulation(settings, plant, hours=1, seed=2)
    from ifactory.historian.embedded import EmbeddedStore

    store = EmbeddedStore.open(settings.resolved_historian_dir)
    try:
        from ifactory.core.db import Database
        from ifactory.plant import service

        db = Database(settings.resolved_database_url)
        with db.session() as session:
            reg = service.registry(session)
        tag = reg.tags_by_key["acme/springfield/machining/machining_line/cnc1/cycle_count"]
        raw = store.raw(np.array([tag.id], dtype=np.int32), 0, 1 << 62)
        steps = np.diff(raw.values[np.isfinite(raw.values)])
        assert len(raw) > 3000 and steps.min() >= 0 and steps.max() <= 1  # one part at a time
        db.dispose()
    finally:
        store.close()
