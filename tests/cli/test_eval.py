"""`ifactory eval nab|skab` on tiny corpora laid out like the public ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ifactory.analytics.eval.skab import FEATURES
from ifactory.cli.main import app

runner = CliRunner()


def make_nab(root: Path) -> None:
    rng = np.random.default_rng(0)
    stamps = np.datetime64("2020-01-01T00:00") + np.arange(2000) * np.timedelta64(5, "m")
    values = rng.normal(10.0, 1.0, size=2000)
    values[1500:1520] += 15.0
    (root / "data" / "synthetic").mkdir(parents=True)
    lines = ["timestamp,value"] + [
        f"{str(t).replace('T', ' ')}:00,{v:.4f}" for t, v in zip(stamps, values, strict=True)
    ]
    (root / "data" / "synthetic" / "spike.csv").write_text("\n".join(lines) + "\n")
    window = [f"{str(stamps[i]).replace('T', ' ')}:00.000000" for i in (1450, 1550)]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(
        json.dumps({"synthetic/spike.csv": [window]})
    )


def test_eval_nab_prints_scores_per_profile_and_the_machine(tmp_path: Path) -> None:
    make_nab(tmp_path)
    result = runner.invoke(app, ["eval", "nab", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert lines["nab_files"] == "1 files"
    assert float(lines["nab_standard"].split()[0]) > 50.0  # the spike is found early in its window
    assert "points/s" in lines["nab_detector_throughput"] and "cpu" in lines


def test_eval_nab_reports_a_missing_corpus(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "nab", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "not found" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--detector", "pca_t2q"],
        pytest.param(
            ["--seeds", "2"],  # the default detector, conv_ae (needs PyTorch)
            marks=pytest.mark.skipif(
                importlib.util.find_spec("torch") is None, reason="PyTorch is not installed"
            ),
        ),
    ],
)
def test_eval_skab_prints_f1_far_mar(tmp_path: Path, args: list[str]) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "data" / "valve1").mkdir(parents=True)
    header = "datetime;" + ";".join(FEATURES) + ";anomaly;changepoint"
    x = rng.normal(size=(1000, 8))
    x[700:850, 2] += 8.0
    rows = [
        f"2020-03-09 10:{i // 60 % 60:02d}:{i % 60:02d};"
        + ";".join(f"{v:.5f}" for v in r)
        + f";{int(700 <= i < 850)}.0;0.0"
        for i, r in enumerate(x)
    ]
    (tmp_path / "data" / "valve1" / "0.csv").write_text("\n".join([header, *rows]) + "\n")
    result = runner.invoke(app, ["eval", "skab", "--data", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert float(lines["skab_f1"].split()[0]) > 0.8
    assert lines["skab_far"].endswith("%") and lines["skab_mar"].endswith("%")


def test_eval_nab_scores_a_published_detectors_outputs_with_its_thresholds(tmp_path: Path) -> None:
    make_nab(tmp_path)
    data = (tmp_path / "data" / "synthetic" / "spike.csv").read_text().splitlines()
    out = ["timestamp,value,anomaly_score"]
    for i, line in enumerate(data[1:]):
        out.append(f"{line},{1.0 if i == 1450 else 0.0}")  # a hit on the window's first row
    (tmp_path / "results" / "oracle" / "synthetic").mkdir(parents=True)
    (tmp_path / "results" / "oracle" / "synthetic" / "oracle_spike.csv").write_text(
        "\n".join(out) + "\n"
    )
    (tmp_path / "config").mkdir()
    thresholds = {
        p: {"threshold": 0.5, "score": 0.0}
        for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    }
    (tmp_path / "config" / "thresholds.json").write_text(json.dumps({"oracle": thresholds}))
    result = runner.invoke(app, ["eval", "nab", "--data", str(tmp_path), "--results", "oracle"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert lines["nab_standard"].startswith("100.00 points (threshold 0.5")


def test_eval_nab_runs_knncad_with_each_files_probationary_period(tmp_path: Path) -> None:
    make_nab(tmp_path)
    result = runner.invoke(app, ["eval", "nab", "--data", str(tmp_path), "--detector", "knncad"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert lines["nab_detector"].startswith("KnnCadDetector(")
    # scored like any detector: a normalised score per profile with the threshold NAB chose
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert "(threshold " in lines[f"nab_{profile}"]
        assert -1000.0 < float(lines[f"nab_{profile}"].split()[0]) <= 100.0
    assert lines["nab_detector_throughput_cpu"].endswith("(CPU time, one core)")


def test_eval_nab_refuses_an_unknown_detector(tmp_path: Path) -> None:
    make_nab(tmp_path)
    result = runner.invoke(app, ["eval", "nab", "--data", str(tmp_path), "--detector", "nope"])
    assert result.exit_code == 2 and "unknown detector" in result.output
