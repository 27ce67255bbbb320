"""`ifactory eval nab|skab`: score the online detectors on public benchmarks, next to published results."""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)
console = Console()
eval_app = typer.Typer(help="Evaluate the detectors on public benchmarks.", no_args_is_help=True)

PROFILE_COLUMNS = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def register(app: typer.Typer) -> None:
    """Add the `eval` command group to the `ifactory` CLI."""
    # Imported here: these modules import `machine_lines` from this one.
    from ifactory.cli.eval_cmapss import cmapss_cmd
    from ifactory.cli.eval_plant import plant_cmd

    eval_app.command("cmapss")(cmapss_cmd)
    eval_app.command("plant")(plant_cmd)
    app.add_typer(eval_app, name="eval")


def machine_lines() -> list[str]:
    """`name: value` lines describing the machine a figure was measured on."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"cpu: {cpu}",
        f"cores: {os.cpu_count()}",
        f"load_average_1min: {load:.2f}",
        f"python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"platform: {platform.platform()}",
    ]


def _sd(values: list[float]) -> float:
    """Sample standard deviation (n - 1), 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _mean_sd(values: list[float], digits: int) -> str:
    """`mean ± sd` over seeds, or the single value of a deterministic run."""
    mean = f"{statistics.fmean(values):.{digits}f}"
    return f"{mean} ± {_sd(values):.{digits}f}" if len(values) > 1 else mean


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@eval_app.command("nab")
def nab_cmd(
    data: Annotated[
        Path, typer.Option(help="NAB checkout: data/, labels/, config/ (results/ optional)")
    ],
    results: Annotated[
        str | None,
        typer.Option(
            help="score a published detector's outputs (results/<name>/) instead of running ours"
        ),
    ] = None,
    detector_name: Annotated[
        str,
        typer.Option(
            "--detector",
            help="univariate detector to run: rank, seqlik, cadose, knncad, likelihood, zscore",
        ),
    ] = "rank",
) -> None:
    """Run the online detector over every labelled NAB file and score it exactly as NAB does."""
    import numpy as np

    from ifactory.analytics.base import Detector
    from ifactory.analytics.detectors.cadose import ContextOseDetector
    from ifactory.analytics.detectors.knncad import KnnCadDetector
    from ifactory.analytics.detectors.sequence import SequenceLikelihoodDetector
    from ifactory.analytics.detectors.univariate import (
        LikelihoodDetector,
        RankDetector,
        ZScoreDetector,
    )
    from ifactory.analytics.eval import nab

    try:
        files = nab.load_corpus(data)
    except nab.NabDataError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    profiles = nab.load_profiles(data)
    n_points = sum(len(f.values) for f in files)
    rows: list[tuple[str, dict[str, float | None]]] = []
    lines: list[str] = [f"nab_files: {len(files)} files", f"nab_points: {n_points} points"]

    if results is not None:
        scores = nab.load_results(data, results, files)
        thresholds_path = data / "config" / "thresholds.json"
        given = (
            json.loads(thresholds_path.read_text()).get(results)
            if thresholds_path.exists()
            else None
        )
        thresholds = {p: float(v["threshold"]) for p, v in given.items()} if given else None
        label = f"{results} (published outputs, {'its thresholds' if thresholds else 'swept thresholds'})"
        scored = nab.score_detector(files, scores, profiles, thresholds)
    else:
        factories: dict[str, Callable[[], Detector]] = {
            "rank": RankDetector,
            # CAD OSE needs a value range; the placeholder is replaced per file below.
            "cadose": lambda: ContextOseDetector(min_value=0.0, max_value=1.0),
            "knncad": KnnCadDetector,
            "seqlik": SequenceLikelihoodDetector,
            "likelihood": LikelihoodDetector,
            "zscore": ZScoreDetector,
        }
        if detector_name not in factories:
            console.print(
                f"[red]unknown detector {detector_name!r}; choose from {sorted(factories)}[/]"
            )
            raise typer.Exit(2)
        detector: Detector = factories[detector_name]()
        start, cpu_start = time.perf_counter(), time.process_time()
        if isinstance(detector, KnnCadDetector):
            # KNN CAD learns for exactly the probationary period NAB's runner gives it per file.
            scores = nab.run_detector_per_file(
                files,
                lambda f: detector.clone(probation=int(nab.probationary_length(len(f.values)))),
            )
        elif isinstance(detector, ContextOseDetector):
            # NAB's contextOSE wrapper: minValue/maxValue = the file's inputMin/inputMax (NAB's
            # runner gives every detector the value range of the whole file) and
            # restPeriod = probationaryPeriod / 5 (at least 1: below 34 rows the original would
            # report nothing; NAB has no such file).
            scores = nab.run_detector_per_file(
                files,
                lambda f: detector.clone(
                    min_value=float(np.nanmin(f.values)),
                    max_value=float(np.nanmax(f.values)),
                    rest_period=max(1.0, nab.probationary_length(len(f.values)) / 5.0),
                ),
            )
        elif isinstance(detector, SequenceLikelihoodDetector):
            # As NAB's numenta wrapper sets up HTM: the file's value range, learning for half
            # the probationary period and estimating the likelihood over the other half.
            seq: SequenceLikelihoodDetector = detector
            scores = nab.run_detector_per_file(
                files, lambda f: nab.sequence_detector_for_file(f, template=seq)
            )
        else:
            scores = nab.run_detector(files, detector.clone)
        elapsed = time.perf_counter() - start
        cpu_elapsed = time.process_time() - cpu_start
        label = f"iFactory {detector.name}"
        lines.append(f"nab_detector: {detector!r}")
        if isinstance(detector, ContextOseDetector):
            lines.append(
                "nab_detector_per_file: min_value, max_value = the file's value range, "
                "rest_period = probationary period / 5 (NAB's contextOSE wrapper)"
            )
        if isinstance(detector, SequenceLikelihoodDetector):
            lines.append(
                "nab_detector_per_file: min_value, max_value = the file's value range, "
                "learning_period = probationary period // 2, estimation_samples = the rest of it "
                "(NAB's numenta wrapper)"
            )
        scored = nab.score_detector(files, scores, profiles)
        lines.append(
            f"nab_detector_throughput: {n_points / elapsed:.0f} points/s (one core, point by point)"
        )
        # CPU time of this process: what other jobs on a shared machine inflate least.
        lines.append(
            f"nab_detector_throughput_cpu: {n_points / max(cpu_elapsed, 1e-9):.0f} points/s "
            "(CPU time, one core)"
        )
        lines.append(
            "nab_seeds: detector is deterministic (no random element); 5 seeds give identical scores, sd 0"
        )
    rows.append((f"{label} — this run", {p: r.normalized for p, r in scored.items()}))
    for p, r in scored.items():
        lines.append(
            f"nab_{p}: {r.normalized:.2f} points (threshold {r.threshold:.6g}, raw {r.raw_total:.4f})"
        )

    # The published Numenta HTM outputs, when present, give a like-for-like figure on these files.
    if results != "numenta" and (data / "results" / "numenta").is_dir():
        try:
            htm = nab.load_results(data, "numenta", files)
            thresholds_all = json.loads((data / "config" / "thresholds.json").read_text())[
                "numenta"
            ]
            htm_scored = nab.score_detector(
                files, htm, profiles, {p: float(v["threshold"]) for p, v in thresholds_all.items()}
            )
            rows.append(
                (
                    "Numenta HTM (published outputs) — same files",
                    {p: r.normalized for p, r in htm_scored.items()},
                )
            )
            for p, r in htm_scored.items():
                lines.append(f"nab_numenta_same_files_{p}: {r.normalized:.2f} points")
        except (OSError, nab.NabDataError, KeyError) as exc:
            log.info("published numenta outputs not usable here: %s", exc)
    board = data / "nab_scoreboard.csv"
    if board.exists():
        with board.open(newline="") as fh:
            for entry in csv.DictReader(fh):
                if not entry["json_standard"]:
                    continue
                values: dict[str, float | None] = {
                    "standard": float(entry["json_standard"]),
                    "reward_low_FP_rate": float(entry["json_reward_low_FP_rate"]),
                    "reward_low_FN_rate": float(entry["json_reward_low_FN_rate"]),
                }
                rows.append((f"{entry['detector']} — published, whole corpus (58 files)", values))

    table = Table(title=f"NAB v1.1 normalised scores ({len(files)} files scored here)")
    table.add_column("detector")
    for p in PROFILE_COLUMNS:
        table.add_column(p, justify="right")
    for name, values in rows:
        table.add_row(name, *(_fmt(values.get(p)) for p in PROFILE_COLUMNS))
    console.print(table)
    for line in [*lines, *machine_lines()]:
        typer.echo(line)


@eval_app.command("skab")
def skab_cmd(
    data: Annotated[
        Path, typer.Option(help="SKAB checkout: data/<group>/<n>.csv, data/anomaly-free/")
    ],
    detector: Annotated[
        str,
        typer.Option(
            help="conv_ae (default): SKAB's convolutional autoencoder (needs PyTorch: the ml "
            "extra), factor calibrated without labels (--calibration), mean ± sd over --seeds "
            "seeds; pca_t2q: dynamic-PCA T²+Q with a slow baseline on the thermal channels, "
            "factor calibrated on anomaly-free.csv; mahalanobis: smoothed T², factor "
            "calibrated on anomaly-free.csv"
        ),
    ] = "conv_ae",
    factor: Annotated[
        float | None,
        typer.Option(help="fixed UCL factor instead of the detector's default threshold rule"),
    ] = None,
    track: Annotated[
        float | None,
        typer.Option(help="pca_t2q: rate of the slow per-feature baseline per s (0: none)"),
    ] = None,
    gate: Annotated[
        float | None,
        typer.Option(help="pca_t2q: the baseline follows the data only while the score is below"),
    ] = None,
    tracked: Annotated[
        str | None,
        typer.Option(help="pca_t2q: comma-separated features with a slow baseline ('' for all)"),
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, help="conv_ae: networks trained per file (seeds 0..N-1)")
    ] = 5,
    calibration: Annotated[
        str,
        typer.Option(
            help="conv_ae: where the threshold factor is calibrated without labels: "
            "anomaly-free (FAR <= 10 % on anomaly-free.csv) or training-parts (FAR <= 5 % on "
            "rows 250-399 of each file after fitting rows 0-249; the default)"
        ),
    ] = "training-parts",
) -> None:
    """Train on each file's first 400 rows, flag the rest, and report SKAB's F1, FAR and MAR."""
    from dataclasses import replace

    from ifactory.analytics.eval import skab

    try:
        files = skab.load_files(data)
    except skab.SkabDataError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    normal = skab.load_anomaly_free(data)
    if detector == "pca_t2q":
        settings = skab.PCA_SETTINGS
        if track is not None:
            settings = replace(settings, track=track)
        if gate is not None:
            settings = replace(settings, gate=gate)
        if tracked is not None:
            names = tuple(t.strip() for t in tracked.split(",") if t.strip())
            settings = replace(settings, tracked=names or None)
        if factor is not None:
            settings = replace(settings, factor=factor)
            how = "fixed by --factor"
        elif normal is not None:
            settings = skab.calibrate(normal, settings)
            how = (
                "x the 0.99 quantile of the training scores; factor calibrated: FAR <= 10 % "
                "on anomaly-free.csv, no anomaly label used"
            )
        else:
            how = "SKAB's rule: 1.5 x the 0.99 quantile of the training scores"
        title = "iFactory dynamic PCA T²+Q (smoothed, hysteresis)"
    elif detector == "mahalanobis":
        title = "iFactory Mahalanobis (smoothed T², wander-widened, hysteresis)"
        if factor is not None:
            settings = skab.SkabSettings(
                factor=factor, drift_sd=skab.wander(normal) if normal is not None else None
            )
            how = "fixed by --factor"
        elif normal is not None:
            settings = skab.calibrate(normal)
            how = "calibrated: FAR <= 10 % on anomaly-free.csv, no anomaly label used"
        else:
            settings = skab.SkabSettings()
            how = "default (anomaly-free.csv absent)"
    elif detector == "conv_ae":
        title = f"iFactory Conv-AE (SKAB recipe, thermal windows centred; mean of {seeds} seeds)"
        try:
            import torch
        except ImportError:
            console.print(
                "[red]conv_ae needs PyTorch: pip install 'ifactory[ml]' "
                "(or choose --detector pca_t2q)[/]"
            )
            raise typer.Exit(2) from None
        # One thread: the run fits the 1-core budget and its sums do not depend on the machine.
        torch.set_num_threads(1)
        settings = skab.CONV_AE_SETTINGS
        if calibration not in ("anomaly-free", "training-parts"):
            console.print(f"[red]unknown calibration {calibration!r}[/]")
            raise typer.Exit(2)
        if factor is not None:
            settings = replace(settings, factor=factor)
            how = "fixed by --factor"
        elif calibration == "training-parts":
            settings = skab.calibrate_on_training_parts(files, settings)
            how = (
                "x the 0.99 quantile of the training window errors; factor calibrated with "
                f"seed {settings.seed}: FAR <= 5 % on rows {skab.PART_FIT_ROWS}-399 of each "
                f"file after fitting rows 0-{skab.PART_FIT_ROWS - 1}, no anomaly label used"
            )
        elif normal is not None:
            settings = skab.calibrate(normal, settings)
            how = (
                "x the 0.99 quantile of the training window errors; factor calibrated with "
                f"seed {settings.seed}: FAR <= 10 % on anomaly-free.csv, no anomaly label used"
            )
        else:
            how = "SKAB's rule: 1.5 x the 0.99 quantile of the training window errors"
    else:
        console.print(f"[red]unknown detector {detector!r} (pca_t2q, mahalanobis or conv_ae)[/]")
        raise typer.Exit(2)
    n_test = sum(len(f.values) - skab.TRAIN_ROWS for f in files)
    start = time.perf_counter()
    seed_list = list(range(seeds)) if detector == "conv_ae" else [settings.seed]
    runs = [skab.evaluate(files, replace(settings, seed=s)) for s in seed_list]
    elapsed = time.perf_counter() - start
    f1s = [m.f1 for m in runs]
    fars = [m.far_pct for m in runs]
    mars = [m.mar_pct for m in runs]

    table = Table(
        title=f"SKAB outlier detection ({len(files)} files, test = rows after the first 400)"
    )
    for col in ("algorithm", "F1", "FAR %", "MAR %", "source"):
        table.add_column(col, justify="left" if col in ("algorithm", "source") else "right")
    table.add_row(
        title,
        f"{statistics.fmean(f1s):.2f}",
        f"{statistics.fmean(fars):.2f}",
        f"{statistics.fmean(mars):.2f}",
        "this run",
    )
    board = data / "skab_leaderboard.csv"
    if board.exists():
        with board.open(newline="") as fh:
            for r in csv.DictReader(fh):
                if r["leaderboard"] == "current_2024" and r["problem"] == "outlier":
                    table.add_row(
                        r["algorithm"],
                        r["F1"],
                        r["FAR_pct"],
                        r["MAR_pct"],
                        "published, all 34 files",
                    )
    console.print(table)
    drift = "none" if settings.drift_sd is None else ",".join(f"{v:.2f}" for v in settings.drift_sd)
    if detector == "conv_ae":
        detail = (
            f"window={settings.window} persistence={settings.persistence} "
            f"centered={','.join(settings.centered or ()) or 'none'} error={settings.error} "
            "(Conv1D 32/16, kernel 7, stride 2; Adam 1e-3, batch 32, <= 100 epochs, "
            "early stop 5 on the last 10 % of windows)"
        )
        seed_lines = [
            f"skab_seed_{s}: F1 {m.f1:.3f} ratio FAR {m.far_pct:.2f} % MAR {m.mar_pct:.2f} %"
            for s, m in zip(seed_list, runs, strict=True)
        ]
        seed_summary = (
            f"skab_seeds: {len(runs)} seeds (0..{len(runs) - 1}), figures are mean ± sd "
            f"(sd over seeds, n-1): F1 sd {_sd(f1s):.3f}, FAR sd {_sd(fars):.2f}, "
            f"MAR sd {_sd(mars):.2f}"
        )
    elif settings.detector == "pca_t2q":
        detail = (
            f"lags={settings.lags} variance={settings.variance:g} track={settings.track:g} "
            f"gate={settings.gate:g} "
            f"tracked={'all' if settings.tracked is None else ','.join(settings.tracked)}"
        )
    else:
        detail = f"shrinkage={settings.shrinkage:g} drift_sd={drift}"
    if detector != "conv_ae":
        seed_lines = []
        seed_summary = (
            "skab_seeds: detector is deterministic (no random element); 5 seeds give "
            "identical scores, sd 0"
        )
    lines = [
        f"skab_files: {len(files)} files",
        f"skab_test_points: {n_test} points",
        f"skab_f1: {_mean_sd(f1s, 3)} ratio",
        f"skab_far: {_mean_sd(fars, 2)} %",
        f"skab_mar: {_mean_sd(mars, 2)} %",
        f"skab_threshold_factor: {settings.factor:g} x ({how})",
        f"skab_settings: detector={settings.detector} "
        + ("" if detector == "conv_ae" else f"smoothing={settings.smoothing:g} ")
        + f"quantile={settings.quantile:g} "
        f"release={'1/factor' if settings.release is None else f'{settings.release:g}'} " + detail,
        *seed_lines,
        f"skab_throughput: {len(runs) * n_test / elapsed:.0f} points/s "
        f"(8 features each, incl. training; {elapsed:.0f} s for {len(runs)} run(s))",
        seed_summary,
    ]
    for line in [*lines, *machine_lines()]:
        typer.echo(line)
