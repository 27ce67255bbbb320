"""`ifactory eval plant`: failure prediction on the simulated plant, scored against its ground truth.

Each run simulates the example plant in-process into a historian (EmbeddedStore) in a temporary
directory, hour by hour, and runs the platform's online RUL estimator on the historian's
1-minute rollups as the data arrives; its estimates and `FailurePredicted` events are stored
through the same service the platform uses (a scratch SQLite database). The models are
trained first on other seeds (`--train-seeds`, never an evaluated seed), with hyperparameters
and the alarm policy fixed in the code (`model.DEFAULT_PARAMS`, `estimator.AlarmPolicy`);
nothing is tuned on the evaluated seeds.

Seeds are independent and every run is deterministic, so `--jobs N` simulates up to N training
seeds, then N evaluated seeds, in parallel worker processes: same figures, shorter wall time.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)
console = Console()

START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # a Monday, 06:00 site time
DEFAULT_TRAIN_SEEDS = "1,2,3,7,8,9,10,11,12,13,14,15"  # 4-6 are the tuning seeds
DEFAULT_EVAL_SEED = 101
# Seeds run in parallel by default: each worker holds one simulated plant (~0.4 GB).
DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US


@dataclass
class SimRun:
    """A simulated plant writing into a historian, with a scratch database holding its plant model."""

    db: Any
    store: Any
    registry: Any
    sim: Any
    start_us: int


@contextmanager
def simulated_plant(seed: int, *, step_s: float, start_us: int) -> Iterator[SimRun]:
    """A fresh scratch database and historian in a temporary directory, and a simulator for them."""
    from ifactory import models as all_models
    from ifactory.analytics.prognostics import models as _prognostics_models  # noqa: F401
    from ifactory.core.db import Base, Database
    from ifactory.historian.embedded import EmbeddedStore
    from ifactory.plant import service as plant_service
    from ifactory.plant.loader import load_plant
    from ifactory.sim import PlantSimulator

    tmp = Path(tempfile.mkdtemp(prefix=f"ifactory-eval-plant-{seed}-"))
    db = Database(f"sqlite:///{tmp / 'eval.db'}")
    store = None
    try:
        all_models.import_all()
        Base.metadata.create_all(db.engine)
        plant = load_plant()
        with db.session() as session:
            plant_service.seed(session, plant, user="eval")
        with db.session() as session:
            registry = plant_service.registry(session)
        counter_max = {t.id: float(t.counter_max) for t in registry.tags.values() if t.counter_max}
        # A small head: the estimator reads the newest hour each hour, and scanning a large head
        # costs more than flushing often.
        store = EmbeddedStore.open(tmp / "historian", counter_max=counter_max, head_points=250_000)
        ids = {t.key: t.id for t in registry.tags.values()}
        sim = PlantSimulator(plant, seed=seed, start_us=start_us, step_s=step_s, tag_ids=ids)
        yield SimRun(db, store, registry, sim, start_us)
    finally:
        if store is not None:
            store.close()
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def run_hours(run: SimRun, hours: int, on_hour: Callable[[int], None]) -> None:
    """Advance the simulation an hour at a time, writing to the historian, then call `on_hour`."""
    t = run.start_us
    for _ in range(hours):
        t += HOUR_US
        batch = run.sim.advance(t)
        if len(batch):
            run.store.write(batch)
        on_hour(t)


def collect_seed(seed: int, *, days: int, step_s: float, start_us: int) -> dict[str, Any]:
    """Simulate one training seed and return its labelled hourly features per machine class."""
    from ifactory.analytics.prognostics.features import machine_tags
    from ifactory.analytics.prognostics.labels import GroundTruthLabels
    from ifactory.analytics.prognostics.training import ClassData, FeatureCollector, add_run

    data: dict[str, ClassData] = {}
    t0 = time.perf_counter()
    with simulated_plant(seed, step_s=step_s, start_us=start_us) as run:
        collector = FeatureCollector(machine_tags(run.registry), start_us=start_us)

        def each_hour(t: int, run: SimRun = run, collector: FeatureCollector = collector) -> None:
            if (t - run.start_us) % DAY_US == 0:
                collector.collect(run.store, t)

        run_hours(run, days * 24, each_hour)
        end = start_us + days * DAY_US
        collector.collect(run.store, end)
        add_run(data, collector, GroundTruthLabels(run.sim.ground_truth), data_end_us=end)
    log.info("training seed %d simulated in %.1f s", seed, time.perf_counter() - t0)
    return data


def _pool(jobs: int, tasks: int) -> ProcessPoolExecutor | None:
    """Worker processes for independent seeds, or None to run them in this process.

    Workers are spawned, not forked: a fork after LightGBM has started its OpenMP runtime may
    deadlock. Seeds are independent and every run is deterministic, so the figures do not
    depend on the number of workers, only the wall time does.
    """
    n = min(jobs, tasks)
    if n <= 1:
        return None
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))


def train(
    seeds: Sequence[int], *, days: int, step_s: float, start_us: int, jobs: int = 1
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Train one RUL model per machine class on simulated run-to-failure histories of `seeds`."""
    from ifactory.analytics.prognostics.training import ClassData, train_classes

    kwargs: dict[str, Any] = {"days": days, "step_s": step_s, "start_us": start_us}
    pool = _pool(jobs, len(seeds))
    if pool is None:
        runs = [collect_seed(s, **kwargs) for s in seeds]
    else:
        with pool:
            runs = list(pool.map(partial(collect_seed, **kwargs), seeds))
    data: dict[str, ClassData] = {}
    for run_data in runs:  # in seed order, as a sequential run adds them
        for cls, d in run_data.items():
            acc = data.setdefault(cls, ClassData(d.features))
            acc.x += d.x
            acc.y += d.y
            acc.failures += d.failures
            acc.failures_with_precursor += d.failures_with_precursor
            acc.machines |= d.machines
    models = train_classes(data)
    for _, metrics in models.values():
        metrics["training_seeds"] = list(seeds)
        metrics["training_days"] = days
    return models


def save_models(
    path: Path, models: dict[str, tuple[Any, dict[str, Any]]], meta: dict[str, Any]
) -> None:
    """Write trained models (JSON artifacts, no pickle) and their metrics to one JSON file."""
    doc = {
        "meta": meta,
        "classes": {
            cls: {"artifact": m.to_json(), "metrics": metrics}
            for cls, (m, metrics) in models.items()
        },
    }
    path.write_text(json.dumps(doc))


def load_models(path: Path) -> tuple[dict[str, tuple[Any, dict[str, Any]]], dict[str, Any]]:
    """Read what `save_models` wrote."""
    from ifactory.analytics.prognostics.model import QuantileModel

    doc = json.loads(path.read_text())
    models = {
        cls: (QuantileModel.from_json(v["artifact"]), v["metrics"])
        for cls, v in doc["classes"].items()
    }
    return models, doc["meta"]


@dataclass
class SeedResult:
    """The figures of one evaluated seed."""

    seed: int
    score: Any
    sudden: int
    estimates: int
    wall_s: float
    by_mode: dict[str, tuple[int, int, int]]  # mode -> (failures, predicted, predicted >= 48 h)


def evaluate_seed(
    seed: int,
    models: dict[str, tuple[Any, dict[str, Any]]],
    meta: dict[str, Any],
    *,
    days: int,
    warmup_days: int,
    step_s: float,
    start_us: int,
    horizon_h: float,
    tolerance_h: float,
) -> SeedResult:
    """Simulate one seed, run the online estimator hour by hour, score its alarms."""
    from ifactory.analytics.prognostics import registry as model_registry
    from ifactory.analytics.prognostics import service
    from ifactory.analytics.prognostics.estimator import AlarmPolicy, OnlineEstimator
    from ifactory.analytics.prognostics.evaluation import AlarmEpisode, lead_times, score
    from ifactory.analytics.prognostics.features import machine_tags
    from ifactory.analytics.prognostics.labels import GroundTruthLabels

    t0 = time.perf_counter()
    with simulated_plant(seed, step_s=step_s, start_us=start_us) as run:
        with run.db.session() as session:
            for cls, (model, metrics) in sorted(models.items()):
                model_registry.create(
                    session,
                    machine_class=cls,
                    model=model,
                    metrics=metrics,
                    train_start_us=int(meta["train_start_us"]),
                    train_end_us=int(meta["train_end_us"]),
                    training_data={"source": "simulator", "seeds": meta["train_seeds"]},
                )
        with run.db.session() as session:
            loaded = model_registry.load_latest(session)
        machines = [m for m in machine_tags(run.registry) if m.machine_class in loaded]
        policy = AlarmPolicy.for_horizon(horizon_h)
        estimator = OnlineEstimator(machines, loaded, policy=policy)
        scored_from = start_us + warmup_days * DAY_US
        scored_to = scored_from + days * DAY_US
        alarms: list[AlarmEpisode] = []
        stored = 0

        def each_hour(t: int) -> None:
            nonlocal stored
            estimates, events = estimator.advance(run.store, t)
            with run.db.session() as session:
                stored += service.record(session, estimates, events)
            alarms.extend(
                AlarmEpisode(e.machine_key, e.estimated_at_us)
                for e in events
                if scored_from <= e.estimated_at_us < scored_to
            )

        run_hours(run, (warmup_days + days) * 24, each_hour)
        failures = GroundTruthLabels(run.sim.ground_truth).failures(scored_from, scored_to)
    result = score(
        failures,
        alarms,
        machines=len(machines),
        days=days,
        horizon_h=horizon_h,
        tolerance_h=tolerance_h,
    )
    sudden = sum(1 for f in failures if f.has_precursor is False)
    leads = lead_times(failures, alarms, horizon_h=horizon_h, tolerance_h=tolerance_h)
    by_mode: dict[str, tuple[int, int, int]] = {}
    for f, lead in zip(failures, leads, strict=True):
        n, k_any, k_48 = by_mode.get(f.mode, (0, 0, 0))
        by_mode[f.mode] = (
            n + 1,
            k_any + (lead is not None),
            k_48 + (lead is not None and lead >= 48),
        )
    return SeedResult(seed, result, sudden, stored, time.perf_counter() - t0, by_mode)


def _evaluate_seed_from_json(
    seed: int, artifacts: dict[str, tuple[str, dict[str, Any]]], meta: dict[str, Any], **kw: Any
) -> SeedResult:
    """`evaluate_seed` in a worker process: the models travel as their JSON artifacts."""
    from ifactory.analytics.prognostics.model import QuantileModel

    models = {cls: (QuantileModel.from_json(a), m) for cls, (a, m) in artifacts.items()}
    return evaluate_seed(seed, models, meta, **kw)


def register_models(models: dict[str, tuple[Any, dict[str, Any]]], meta: dict[str, Any]) -> None:
    """Register trained models as new versions in the platform's database (from the settings)."""
    from ifactory.analytics.prognostics import registry as model_registry
    from ifactory.core import migrate
    from ifactory.core.db import Database
    from ifactory.core.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            for cls, (model, metrics) in sorted(models.items()):
                row = model_registry.create(
                    session,
                    machine_class=cls,
                    model=model,
                    metrics=metrics,
                    train_start_us=int(meta["train_start_us"]),
                    train_end_us=int(meta["train_end_us"]),
                    training_data={"source": "simulator", "seeds": meta["train_seeds"]},
                )
                console.print(f"registered: {row.name} v{row.version}")
    finally:
        db.dispose()


def _mean_std(values: Sequence[float]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "nan"
    if len(finite) == 1:
        return f"{finite[0]:.3f}"
    return f"{statistics.mean(finite):.3f} ± {statistics.stdev(finite):.3f}"


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter("seeds are comma-separated integers") from None
    if not seeds or any(s < 0 for s in seeds):
        raise typer.BadParameter("give at least one non-negative seed")
    return seeds


def plant_cmd(
    days: Annotated[int, typer.Option(help="simulated days scored per seed")] = 90,
    seed: Annotated[int, typer.Option(help="first evaluated seed")] = DEFAULT_EVAL_SEED,
    seeds: Annotated[int, typer.Option(help="number of evaluated seeds (seed, seed+1, ...)")] = 5,
    train_seeds: Annotated[
        str, typer.Option(help="comma-separated training seeds (must not be evaluated)")
    ] = DEFAULT_TRAIN_SEEDS,
    train_days: Annotated[int, typer.Option(help="simulated days per training seed")] = 90,
    warmup_days: Annotated[
        int, typer.Option(help="days simulated before the scored window (history, not scored)")
    ] = 14,
    step_s: Annotated[float, typer.Option(help="simulator sample step, seconds")] = 10.0,
    horizon_h: Annotated[float, typer.Option(help="alarm horizon, hours")] = 72.0,
    tolerance_h: Annotated[
        float, typer.Option(help="a failure up to horizon + tolerance after an alarm makes it true")
    ] = 24.0,
    models_file: Annotated[
        Path | None,
        typer.Option(
            "--models", help="JSON file of trained models: loaded if it exists, else written"
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="worker processes for independent seeds (figures do not depend on it, wall "
            "time does; default: the CPU cores, at most 4)"
        ),
    ] = DEFAULT_JOBS,
    register: Annotated[
        bool,
        typer.Option(
            help="also register the trained models in the platform database (IFACTORY_ settings)"
        ),
    ] = False,
) -> None:
    """Failure prediction on the simulated plant: share predicted 48 h ahead, lead time, false alarms."""
    from ifactory.cli.eval import machine_lines

    if days <= 0 or seeds <= 0 or train_days <= 0 or warmup_days < 0 or step_s <= 0 or jobs < 1:
        raise typer.BadParameter("days, seeds, train days, step and jobs must be positive")
    eval_seeds = list(range(seed, seed + seeds))
    training = _parse_seeds(train_seeds)
    overlap = sorted(set(training) & set(eval_seeds))
    if overlap:
        raise typer.BadParameter(f"seeds {overlap} are both trained on and evaluated")
    start_us = int(START.timestamp()) * US
    t0 = time.perf_counter()
    if models_file is not None and models_file.exists():
        models, meta = load_models(models_file)
        if set(meta["train_seeds"]) & set(eval_seeds):
            raise typer.BadParameter(f"{models_file} was trained on an evaluated seed")
        train_s = 0.0
    else:
        models = train(training, days=train_days, step_s=step_s, start_us=start_us, jobs=jobs)
        meta = {
            "train_seeds": training,
            "train_days": train_days,
            "step_s": step_s,
            "train_start_us": start_us,
            "train_end_us": start_us + train_days * DAY_US,
        }
        train_s = time.perf_counter() - t0
        if models_file is not None:
            save_models(models_file, models, meta)
    if register:
        register_models(models, meta)
    kw: dict[str, Any] = {
        "days": days,
        "warmup_days": warmup_days,
        "step_s": step_s,
        "start_us": start_us,
        "horizon_h": horizon_h,
        "tolerance_h": tolerance_h,
    }
    t_eval = time.perf_counter()
    pool = _pool(jobs, len(eval_seeds))
    if pool is None:
        results = [evaluate_seed(s, models, meta, **kw) for s in eval_seeds]
    else:
        artifacts = {cls: (m.to_json(), metrics) for cls, (m, metrics) in models.items()}
        with pool:
            results = list(
                pool.map(
                    partial(_evaluate_seed_from_json, artifacts=artifacts, meta=meta, **kw),
                    eval_seeds,
                )
            )
    eval_s = time.perf_counter() - t_eval
    _print(results, meta, days=days, horizon_h=horizon_h, tolerance_h=tolerance_h)
    wall = sum(r.wall_s for r in results)
    console.print(f"train_wall_time: {train_s:.1f} s")
    console.print(
        f"eval_wall_time: {eval_s:.1f} s ({wall / len(results):.1f} s per seed, {jobs} job(s))"
    )
    for line in machine_lines():
        console.print(line)


def _print(
    results: Sequence[SeedResult],
    meta: dict[str, Any],
    *,
    days: int,
    horizon_h: float,
    tolerance_h: float,
) -> None:
    from ifactory.analytics.prognostics.evaluation import Share

    table = Table(title=f"Failure prediction on the simulated plant ({days} days per seed)")
    for col in (
        "seed",
        "failures",
        "no precursor",
        "with precursor",
        "≥48 h ahead (with precursor)",
        "≥48 h ahead (all)",
        "median lead h",
        "false alarms",
        "FA / machine-month",
    ):
        table.add_column(col, justify="right")
    for r in results:
        s = r.score
        table.add_row(
            str(r.seed),
            str(s.failures),
            f"{r.sudden} ({r.sudden / s.failures:.0%})" if s.failures else "0",
            str(s.failures_with_precursor),
            f"{s.predicted_48h_with_precursor.k}/{s.predicted_48h_with_precursor.n}",
            f"{s.predicted_48h_all.k}/{s.predicted_48h_all.n}",
            f"{s.median_lead_h:.1f}",
            str(s.false_alarms),
            f"{s.false_alarms_per_machine_month:.2f}",
        )
    table.add_row("goal", "≥ 30", "≥ 20%", "", "≥ 90%", "", "", "", "≤ 1")
    console.print(table)
    pre = Share(
        sum(r.score.predicted_48h_with_precursor.k for r in results),
        sum(r.score.predicted_48h_with_precursor.n for r in results),
    )
    every = Share(
        sum(r.score.predicted_48h_all.k for r in results),
        sum(r.score.predicted_48h_all.n for r in results),
    )
    leads = [lead for r in results for lead in r.score.lead_times_h]
    false = sum(r.score.false_alarms for r in results)
    months = sum(r.score.machine_months for r in results)
    lo, hi = pre.interval
    lo_all, hi_all = every.interval
    console.print(f"train_seeds: {','.join(str(s) for s in meta['train_seeds'])}")
    console.print(f"eval_seeds: {','.join(str(r.seed) for r in results)}")
    console.print(
        f"horizon: {horizon_h:g} h (alarm true if failure within {horizon_h + tolerance_h:g} h)"
    )
    console.print(f"failures: {_mean_std([r.score.failures for r in results])} per seed")
    console.print(
        f"no_precursor_share: {_mean_std([r.sudden / r.score.failures if r.score.failures else math.nan for r in results])}"
    )
    console.print(
        "predicted_48h_with_precursor: "
        f"{_mean_std([r.score.predicted_48h_with_precursor.value for r in results])} (mean ± std over seeds)"
    )
    console.print(
        f"predicted_48h_with_precursor_pooled: {pre.value:.3f} ({pre.k}/{pre.n}), "
        f"95% Wilson CI [{lo:.3f}, {hi:.3f}]"
    )
    console.print(
        f"predicted_48h_all: {_mean_std([r.score.predicted_48h_all.value for r in results])} (mean ± std over seeds)"
    )
    console.print(
        f"predicted_48h_all_pooled: {every.value:.3f} ({every.k}/{every.n}), "
        f"95% Wilson CI [{lo_all:.3f}, {hi_all:.3f}]"
    )
    console.print(
        f"median_lead_time: {_mean_std([r.score.median_lead_h for r in results])} h "
        f"(pooled {statistics.median(leads) if leads else math.nan:.1f} h over {len(leads)} predicted failures)"
    )
    modes: dict[str, list[int]] = {}
    for r in results:
        for mode, counts in r.by_mode.items():
            acc = modes.setdefault(mode, [0, 0, 0])
            for i, c in enumerate(counts):
                acc[i] += c
    for mode, (n, k_any, k_48) in sorted(modes.items()):
        console.print(
            f"mode_{mode}: {n} failures, {k_any} predicted, {k_48} predicted at least 48 h ahead"
        )
    console.print(
        "false_alarms_per_machine_month: "
        f"{_mean_std([r.score.false_alarms_per_machine_month for r in results])} "
        f"(pooled {false / months if months else math.nan:.3f}: {false} in {months:.0f} machine-months)"
    )
