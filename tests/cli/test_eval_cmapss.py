"""`ifactory eval cmapss` on a tiny synthetic subset laid out like the public C-MAPSS files."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ifactory.cli.eval_cmapss import cmapss_cmd
from tests.analytics.rul.synthetic import write_subset

pytest.importorskip("torch")

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("cmapss")(cmapss_cmd)
    app.command("other")(lambda: None)  # two commands, so "cmapss" is addressed by name
    return app


def _lines(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def test_prints_per_seed_mean_sd_ensemble_and_the_machine(tmp_path: Path) -> None:
    write_subset(tmp_path, "FD002", train_units=15, test_units=6, regimes=6)
    args = ["cmapss", "--data", str(tmp_path), "--subset", "FD002", "--seeds", "2"]
    result = runner.invoke(_app(), [*args, "--architecture", "cnn", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines["cmapss_subset"] == "FD002"
    assert lines["cmapss_units"] == "15 train, 6 test units"
    assert lines["cmapss_regimes"].startswith("6 operating regimes")
    for key in ("cmapss_seed0_rmse", "cmapss_seed1_score", "cmapss_ensemble_rmse", "cpu"):
        assert key in lines
    assert " ± " in lines["cmapss_rmse"]
    assert "validation units" in lines["cmapss_protocol"]
    assert "cmapss_lightgbm_rmse" in lines
    # The LightGBM row is the per-seed mean of one model per default window (50 and 70 cycles).
    assert "LightGBM windows 50, 70 cycles (mean of one model per window)" in lines["cmapss_model"]
    assert "LightGBM on 70-cycle windows" in result.output
    assert "cmapss_validation_rmse" in lines and "validation RMSE" in result.output
    # Test-like validation: 3 held-out units × 10 cuts, scored at the cut only.
    assert "last cycle scored" in lines["cmapss_validation"]
    assert "30 predictions per seed" in lines["cmapss_validation"]
    assert "cmapss_validation_score" in lines
    assert lines["cmapss_blend_weight"].startswith("0.4 cnn + 0.6 LightGBM")
    for key in ("cmapss_blend_rmse", "cmapss_blend_ensemble_score", "cmapss_blend_validation_rmse"):
        assert key in lines


def test_missing_files_exit_with_a_clear_message(tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["cmapss", "--data", str(tmp_path), "--subset", "FD004"])
    assert result.exit_code == 2
    assert "train_FD004.txt not found" in " ".join(result.output.split())
