"""`ifactory eval cmapss`: train the RUL model on NASA C-MAPSS and score it next to published results."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ifactory.analytics.eval import cmapss
from ifactory.analytics.rul.cmapss import CmapssDataError, load_subset
from ifactory.analytics.rul.config import ARCHITECTURES, TrainConfig
from ifactory.cli.eval import machine_lines

console = Console()


def cmapss_cmd(
    data: Annotated[
        Path, typer.Option(help="folder with train_FDxxx.txt, test_FDxxx.txt, RUL_FDxxx.txt")
    ],
    subset: Annotated[str, typer.Option(help="FD001, FD002, FD003 or FD004")] = "FD001",
    seeds: Annotated[int, typer.Option(min=1, help="models trained, seeds 0..N-1")] = 5,
    architecture: Annotated[str, typer.Option(help=f"one of {', '.join(ARCHITECTURES)}")] = (
        TrainConfig.architecture
    ),
    epochs: Annotated[
        int, typer.Option(min=1, help="maximum epochs per seed")
    ] = TrainConfig.epochs,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for PyTorch")] = (
        TrainConfig.threads
    ),
    max_seconds: Annotated[
        float, typer.Option(min=1.0, help="training-time budget per seed, seconds")
    ] = TrainConfig.max_seconds,
    baseline: Annotated[
        bool, typer.Option(help="also train the LightGBM window-summary baseline per seed")
    ] = True,
    boost_window: Annotated[
        list[int] | None,
        typer.Option(
            min=2,
            help="window (cycles) summarised by LightGBM; repeat the option to average one "
            "LightGBM model per window (default: "
            f"{', '.join(str(w) for w in cmapss.BOOSTING_WINDOWS)})",
        ),
    ] = None,
    blend_weight: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="network weight in the network + LightGBM blend row"),
    ] = cmapss.BLEND_WEIGHT,
) -> None:
    """Train one RUL model per seed, score each test unit's last cycle (RMSE, PHM08), print the table."""
    if architecture not in ARCHITECTURES:
        console.print(f"[red]unknown architecture {architecture!r}; choose from {ARCHITECTURES}[/]")
        raise typer.Exit(2)
    try:
        loaded = load_subset(data, subset)
    except CmapssDataError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if importlib.util.find_spec("torch") is None:
        console.print(
            "[red]PyTorch is needed for the RUL model: pip install torch==2.13.0 (CPU)[/]"
        )
        raise typer.Exit(2) from None
    boost_windows = list(boost_window or cmapss.BOOSTING_WINDOWS)
    config = TrainConfig(
        architecture=architecture, epochs=epochs, threads=threads, max_seconds=max_seconds
    )
    protocol = cmapss.Protocol()

    def report(seed: cmapss.SeedResult) -> None:
        console.print(
            f"seed {seed.seed}: RMSE {seed.rmse:.2f}, score {seed.score:.1f}, "
            f"validation RMSE {seed.val_rmse:.2f}, score {seed.val_score:.1f} "
            f"(best step {seed.best_epoch} of {seed.epochs_run}), "
            f"{seed.seconds:.0f} s{' (stopped by the time budget)' if seed.stopped_by_time else ''}",
            highlight=False,
        )

    started = time.perf_counter()
    result = cmapss.evaluate(loaded, config, list(range(seeds)), protocol=protocol, progress=report)
    total = time.perf_counter() - started
    (rmse_mean, rmse_sd), (score_mean, score_sd) = result.rmse, result.score
    n = len(result.seeds)
    boosted: cmapss.CmapssResult | None = None
    if baseline:
        if importlib.util.find_spec("lightgbm") is None:
            console.print("[yellow]lightgbm not installed: baseline row skipped[/]")
        else:
            per_window: list[cmapss.CmapssResult] = []
            for window in boost_windows:
                console.print(
                    f"LightGBM on {window}-cycle windows, same seeds and splits:", highlight=False
                )
                per_window.append(
                    cmapss.evaluate(
                        loaded,
                        dataclasses.replace(config, window=window),
                        list(range(seeds)),
                        protocol=protocol,
                        progress=report,
                        boosting=True,
                    )
                )
            boosted = cmapss.average(per_window)

    blended = cmapss.blend(result, boosted, blend_weight) if boosted is not None else None
    table = Table(
        title=f"C-MAPSS {result.subset}: test set, last cycle of each unit, "
        f"RUL capped at {protocol.score_cap:g}"
    )
    for col in ("method", "RMSE", "PHM08 score", "validation RMSE", "validation score", "source"):
        table.add_column(col, justify="left" if col in ("method", "source") else "right")
    ours = [(f"iFactory {result.architecture}", result)]
    if boosted is not None:
        ours.append(("iFactory LightGBM baseline", boosted))
    if blended is not None:
        ours.append((f"iFactory {blend_weight:g} {result.architecture} + LightGBM", blended))
    for label, res in ours:
        (r_mean, r_sd), (s_mean, s_sd) = res.rmse, res.score
        (v_mean, v_sd), (vs_mean, vs_sd) = res.val_rmse, res.val_score
        table.add_row(
            f"{label}, single model",
            f"{r_mean:.2f} ± {r_sd:.2f}",
            f"{s_mean:.1f} ± {s_sd:.1f}",
            f"{v_mean:.2f} ± {v_sd:.2f}",
            f"{vs_mean:.1f} ± {vs_sd:.1f}",
            f"this run, mean ± sd over {n} seeds",
        )
        table.add_row(
            f"{label}, ensemble of {n}",
            f"{res.ensemble_rmse:.2f}",
            f"{res.ensemble_score:.1f}",
            "",
            "",
            f"this run, mean prediction of the {n} seeds",
        )
    for row in cmapss.load_published(data, result.subset):
        source = "published" if row.verified else "published (not re-verified)"
        table.add_row(row.method, f"{row.rmse:.2f}", f"{row.score:.1f}", "", "", source)
    console.print(table)

    lines = [
        f"cmapss_subset: {result.subset}",
        f"cmapss_units: {result.train_units} train, {result.test_units} test units",
        f"cmapss_regimes: {result.regimes} operating regimes (k-means on the settings, per-regime z-score)",
        f"cmapss_features: {len(result.features)} per cycle ({', '.join(result.features)})",
        f"cmapss_model: {result.architecture}, {result.parameters} parameters, window {config.window} cycles"
        + (
            f"; LightGBM windows {', '.join(str(w) for w in boost_windows)} cycles "
            "(mean of one model per window)"
            if boosted is not None
            else ""
        ),
        "cmapss_protocol: hyperparameters chosen on validation units "
        f"({protocol.validation_share:.0%} of the training units held out per seed, early stopping on them); "
        "no test label used for any choice",
        f"cmapss_validation: test-like; each held-out unit cut {protocol.validation_cuts} times "
        f"(history uniform in {protocol.min_history}..life-1 cycles, seeded), last cycle scored, "
        f"RUL capped at {protocol.score_cap:g}; "
        f"{len(result.seeds[0].val_truth)} predictions per seed (the test set has {result.test_units})",
    ]
    for s in result.seeds:
        lines += [
            f"cmapss_seed{s.seed}_rmse: {s.rmse:.3f} cycles",
            f"cmapss_seed{s.seed}_score: {s.score:.1f} points",
            f"cmapss_seed{s.seed}_train_time: {s.seconds:.1f} s"
            + (" (stopped by the time budget)" if s.stopped_by_time else ""),
            f"cmapss_seed{s.seed}_epochs: {s.best_epoch} best of {s.epochs_run} run",
        ]
    uncapped_rmse = [s.rmse_uncapped for s in result.seeds]
    uncapped_score = [s.score_uncapped for s in result.seeds]
    lines += [
        f"cmapss_rmse: {rmse_mean:.3f} ± {rmse_sd:.3f} cycles (single model, {n} seeds)",
        f"cmapss_score: {score_mean:.1f} ± {score_sd:.1f} points (single model, {n} seeds)",
        f"cmapss_ensemble_rmse: {result.ensemble_rmse:.3f} cycles (mean of {n} seeds' predictions)",
        f"cmapss_ensemble_score: {result.ensemble_score:.1f} points (mean of {n} seeds' predictions)",
        f"cmapss_validation_rmse: {result.val_rmse[0]:.3f} ± {result.val_rmse[1]:.3f} cycles "
        "(last cycle of the truncated held-out units; the selection figure)",
        f"cmapss_validation_score: {result.val_score[0]:.1f} ± {result.val_score[1]:.1f} points "
        f"(sum over {len(result.seeds[0].val_truth)} truncations per seed)",
        f"cmapss_rmse_uncapped_truth: {sum(uncapped_rmse) / n:.3f} cycles (true RUL not capped)",
        f"cmapss_score_uncapped_truth: {sum(uncapped_score) / n:.1f} points (true RUL not capped)",
        f"cmapss_train_time_mean: {sum(s.seconds for s in result.seeds) / n:.1f} s per seed "
        f"({config.threads} thread(s))",
        f"cmapss_total_time: {total:.1f} s ({n} seeds, neural model)",
    ]
    if boosted is not None:
        (b_rmse, b_rmse_sd), (b_score, b_score_sd) = boosted.rmse, boosted.score
        lines += [
            f"cmapss_lightgbm_rmse: {b_rmse:.3f} ± {b_rmse_sd:.3f} cycles (single model, {n} seeds)",
            f"cmapss_lightgbm_score: {b_score:.1f} ± {b_score_sd:.1f} points (single model, {n} seeds)",
            f"cmapss_lightgbm_ensemble_rmse: {boosted.ensemble_rmse:.3f} cycles",
            f"cmapss_lightgbm_ensemble_score: {boosted.ensemble_score:.1f} points",
            f"cmapss_lightgbm_validation_rmse: {boosted.val_rmse[0]:.3f} ± {boosted.val_rmse[1]:.3f} cycles",
            f"cmapss_lightgbm_validation_score: {boosted.val_score[0]:.1f} ± {boosted.val_score[1]:.1f} points",
            f"cmapss_lightgbm_train_time_mean: {sum(s.seconds for s in boosted.seeds) / n:.1f} s per seed",
        ]
    if blended is not None:
        (c_rmse, c_rmse_sd), (c_score, c_score_sd) = blended.rmse, blended.score
        lines += [
            f"cmapss_blend_weight: {blend_weight:g} {result.architecture} + "
            f"{1 - blend_weight:g} LightGBM, per seed (same split)",
            "cmapss_selected: the blend (default weights chosen on the test-like validation "
            "figure; see docs/eval-cmapss.md)",
            f"cmapss_blend_rmse: {c_rmse:.3f} ± {c_rmse_sd:.3f} cycles (single blend, {n} seeds)",
            f"cmapss_blend_score: {c_score:.1f} ± {c_score_sd:.1f} points (single blend, {n} seeds)",
            f"cmapss_blend_ensemble_rmse: {blended.ensemble_rmse:.3f} cycles",
            f"cmapss_blend_ensemble_score: {blended.ensemble_score:.1f} points",
            f"cmapss_blend_validation_rmse: {blended.val_rmse[0]:.3f} ± {blended.val_rmse[1]:.3f} cycles",
            f"cmapss_blend_validation_score: {blended.val_score[0]:.1f} ± {blended.val_score[1]:.1f} points",
        ]
    for line in [*lines, *machine_lines()]:
        typer.echo(line)


if __name__ == "__main__":  # `python -m ifactory.cli.eval_cmapss --data DIR` before registration
    typer.run(cmapss_cmd)
