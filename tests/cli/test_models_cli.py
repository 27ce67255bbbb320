"""`ifactory models list` and `ifactory models train` on a data directory the small plant was
simulated into; a data directory held by a running server is refused with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ifactory.cli.main import app
from ifactory.core.clock import SystemClock
from ifactory.historian.embedded import EmbeddedStore
from tests.retraining_plant import HOUR_US, simulate

runner = CliRunner()
HOURS = 288


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Twelve days of the small plant, ending two hours before now (the CLI's clock is real)."""
    path = tmp_path_factory.mktemp("models-cli") / "data"
    end = SystemClock().now_us() // HOUR_US * HOUR_US - 2 * HOUR_US
    run = simulate(path, start_us=end - HOURS * HOUR_US, hours=HOURS)
    failures = len(run.truth["failures"])
    run.platform.stop()
    assert failures >= 3
    yield path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["models", *args], terminal_width=200)
    return result.exit_code, " ".join(result.output.split())


def test_train_registers_and_list_shows_what_it_was_trained_on(data_dir: Path) -> None:
    code, out = _run("list", "--data-dir", str(data_dir))
    assert code == 0 and "no model registered" in out
    code, out = _run("train", "--data-dir", str(data_dir), "--dry-run")
    assert code == 0, out
    assert "mill: dry run, not registered" in out
    code, out = _run("list", "--data-dir", str(data_dir))
    assert "no model registered" in out
    code, out = _run("train", "--data-dir", str(data_dir))
    assert code == 0, out
    assert "mill: registered v1" in out
    assert "validation (time split at" in out
    code, out = _run("list", "--data-dir", str(data_dir))
    assert code == 0, out
    assert "│ mill │ 1 │" in out and "│ records │" in out


def test_a_class_with_too_few_failures_is_reported_skipped(data_dir: Path) -> None:
    code, out = _run("train", "--data-dir", str(data_dir), "--min-failures", "1000")
    assert code == 0, out
    assert "mill: skipped — only" in out and "at least 1000 needed" in out


def test_bad_windows_are_refused_in_words(data_dir: Path) -> None:
    code, out = _run("train", "--data-dir", str(data_dir), "--since", "last tuesday")
    assert code == 2 and "not an ISO date" in out
    code, out = _run(
        "train", "--data-dir", str(data_dir), "--since", "2026-11-10", "--until", "2026-11-01"
    )
    assert code == 1 and "the window must end after it starts" in out
    code, out = _run("train", "--data-dir", str(data_dir), "--until", "2999-01-01")
    assert code == 1 and "the window ends in the future" in out


def test_a_data_directory_in_use_by_a_server_is_refused_clearly(data_dir: Path) -> None:
    server = EmbeddedStore.open(data_dir / "historian")  # what a running server holds
    try:
        code, out = _run("train", "--data-dir", str(data_dir))
    finally:
        server.close()
    assert code == 1
    assert "is in use by a running iFactory server" in out
    assert "through its API" in out
    assert "Traceback" not in out


def test_no_data_directory(tmp_path: Path) -> None:
    code, out = _run("train", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and "no iFactory data in" in out
    code, out = _run("list", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and "no iFactory data in" in out
