"""`ifactory models`: the failure-prediction models of a data directory, and retraining them
from the plant's own historian and failure records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ifactory.core.errors import InvalidInput, Unavailable
from ifactory.core.settings import Settings

app = typer.Typer(help="Failure-prediction (RUL) models.", no_args_is_help=True)
console = Console()
US = 1_000_000
DataDir = Annotated[
    Path | None,
    typer.Option(help="the data directory (default: IFACTORY_DATA_DIR or ./ifactory-data)"),
]


def register(root: typer.Typer) -> None:
    """Add `models` to the `ifactory` command."""
    root.add_typer(app, name="models")


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _when(us: int | None) -> str:
    if us is None:
        return "-"
    return datetime.fromtimestamp(us / US, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _parse_time(text: str | None, option: str) -> int | None:
    """ISO 8601 date or date-time (UTC unless it says otherwise) in µs."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or date-time (e.g. 2026-11-01T06:00)", param_hint=option
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * US)


def _has_database(settings: Settings) -> bool:
    """Whether there is a database to read (a SQLite file that is missing would be created)."""
    url = settings.resolved_database_url
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()


def _fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{float(value):.{digits}f}{suffix}"


@app.command("list")
def list_cmd(data_dir: DataDir = None) -> None:
    """List the registered models: version, when, trained on what, and how well they validate."""
    from ifactory.analytics.prognostics import registry as model_registry
    from ifactory.core.db import Database

    settings = _settings(data_dir)
    if not _has_database(settings):
        console.print(f"[red]no iFactory data in {settings.data_dir}[/]")
        raise typer.Exit(1)
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            rows = model_registry.get_all(session)
            table = Table(title=f"failure-prediction models in {settings.data_dir}")
            for column in ("class", "version", "created", "source", "window", "failures"):
                table.add_column(column)
            table.add_column("validation MAE", justify="right")
            table.add_column("band coverage", justify="right")
            for row in rows:
                data = row.training_data or {}
                validation = (row.metrics or {}).get("validation") or {}
                mae = validation.get("mae_h")
                table.add_row(
                    row.machine_class,
                    str(row.version),
                    row.created_at.strftime("%Y-%m-%d %H:%M"),
                    str(data.get("source", "-")),
                    f"{_when(row.train_start_us)} → {_when(row.train_end_us)}",
                    str(data.get("failures", (row.metrics or {}).get("failures", "-"))),
                    _fmt(mae, 1, " h") if mae is not None else str(validation.get("skipped", "-")),
                    _fmt(validation.get("band_coverage"), 2),
                )
    finally:
        db.dispose()
    if not rows:
        console.print(f"no model registered in {settings.data_dir}")
        return
    console.print(table)


@app.command("train")
def train_cmd(
    data_dir: DataDir = None,
    since: Annotated[
        str | None, typer.Option(help="window start, ISO (default: the first stored data)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="window end, ISO (default: the last complete hour)")
    ] = None,
    min_failures: Annotated[
        int, typer.Option(help="recorded failures a machine class needs to be trained", min=1)
    ] = 3,
    seed: int = 0,
    dry_run: Annotated[bool, typer.Option(help="train and report, register nothing")] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="register even where the version in use predicts the validation hours better"
        ),
    ] = False,
) -> None:
    """Retrain the models from this plant's historian and failure records (no simulator)."""
    from ifactory.platform import Platform
    from ifactory.retraining import retrain_from_records

    start_us = _parse_time(since, "--since")
    end_us = _parse_time(until, "--until")
    settings = _settings(data_dir)
    if not _has_database(settings):
        console.print(f"[red]no iFactory data in {settings.data_dir}[/]")
        raise typer.Exit(1)
    try:
        platform = Platform.open(settings)
    except Unavailable as exc:
        console.print(
            f"[red]the data directory {settings.data_dir} is in use by a running iFactory "
            f"server ({exc}).[/]\nStop the server to retrain from here, or ask the running "
            "server to retrain through its API (POST /api/analytics/models/train)."
        )
        raise typer.Exit(1) from None
    try:
        console.print(f"retraining from the records in {settings.data_dir}…")
        report = retrain_from_records(
            platform,
            start_us=start_us,
            end_us=end_us,
            min_failures=min_failures,
            seed=seed,
            dry_run=dry_run,
            force=force,
        )
    except InvalidInput as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        platform.stop()
    console.print(
        f"window {_when(report.start_us)} → {_when(report.end_us)} UTC: "
        f"{report.failures} recorded failures"
    )
    for c in report.classes:
        if c.skipped is not None:
            console.print(f"  [yellow]{c.machine_class}[/]: skipped — {c.skipped}")
            continue
        train = c.metrics.get("train", {})
        validation = c.metrics.get("validation", {})
        if "mae_h" in validation:
            checked = (
                f"validation (time split at {_when(validation['split_us'])}): "
                f"MAE {_fmt(validation['mae_h'])} h, "
                f"band coverage {_fmt(validation['band_coverage'], 2)}"
            )
        else:
            checked = f"no validation: {validation.get('skipped', 'not enough data')}"
        done = "dry run, not registered" if c.version is None else f"registered v{c.version}"
        console.print(
            f"  [green]{c.machine_class}[/]: {done} — {c.failures} failures, {c.hours} labelled "
            f"hours, {len(c.machines)} machines; in-sample MAE {_fmt(train.get('mae_h'))} h; "
            f"{checked}"
        )
