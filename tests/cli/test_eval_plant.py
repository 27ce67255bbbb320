"""`ifactory eval plant` end to end on a few simulated days (the figures need 90 days x 5 seeds)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ifactory.cli.main import app

runner = CliRunner()


def test_eval_plant_trains_evaluates_and_prints_its_figures(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    args = ["eval", "plant", "--days", "3", "--warmup-days", "1", "--seed", "101"]
    args += ["--seeds", "1", "--train-seeds", "7", "--train-days", "12", "--step-s", "30"]
    result = runner.invoke(app, [*args, "--jobs", "1", "--models", str(models)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    for name in ("failures", "false_alarms_per_machine_month", "eval_wall_time", "cores"):
        assert name in lines, name
    assert lines["train_seeds"] == "7" and lines["eval_seeds"] == "101"
    saved = json.loads(models.read_text())
    assert saved["meta"]["train_seeds"] == [7] and saved["classes"]
    # The saved models are loaded, not trained again, and give the same figures.
    again = runner.invoke(app, [*args, "--jobs", "1", "--models", str(models)])
    assert again.exit_code == 0, again.output
    assert "train_wall_time: 0.0 s" in again.output
    same = dict(line.split(": ", 1) for line in again.output.splitlines() if ": " in line)
    assert same["false_alarms_per_machine_month"] == lines["false_alarms_per_machine_month"]


def test_eval_plant_refuses_to_evaluate_a_training_seed() -> None:
    result = runner.invoke(app, ["eval", "plant", "--seed", "7", "--train-seeds", "7,8"])
    assert result.exit_code == 2
    assert "both trained on and evaluated" in result.output
