"""First models for a platform that has none: trained in the background from a short simulation.

A fresh demo has no registered RUL model, so its machine-health pages would show no
prediction. `ModelBootstrap` (a platform extra) checks the registry when the platform starts;
when it is empty, it simulates the platform's own plant on training seeds distinct from the
demo's seed, builds the same hourly features the online estimator builds, trains one quantile
model per machine class and registers them as new versions (metrics, data window, seeds).
The platform's `PrognosticsService` loads a newly registered version on its next run and
back-fills estimates over the history. A registry that already holds models is reused as is.

The work runs in one child process at low priority (`os.nice`), so the web UI and the live
simulation keep their CPU; the child reads and writes no database: it gets the machines'
tag lists and returns model artifacts as JSON text, and the parent registers them.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.features import (
    HOUR_US,
    MINUTE_US,
    MachineTags,
    machine_tags,
)
from ifactory.analytics.prognostics.install import PrognosticsService
from ifactory.analytics.prognostics.labels import GroundTruthLabels
from ifactory.analytics.prognostics.model import QuantileModel
from ifactory.analytics.prognostics.models import PrognosticModel
from ifactory.analytics.prognostics.training import (
    ClassData,
    FeatureCollector,
    add_run,
    train_classes,
)
from ifactory.core.errors import InvalidInput
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.rollups import Rows, combine, compute_rows

log = logging.getLogger(__name__)
US = 1_000_000
DAY_US = 24 * HOUR_US
# A fixed Monday 06:00 site time: the training data does not depend on when the demo starts.
TRAINING_START_US = int(datetime(2026, 3, 2, 5, 0, tzinfo=UTC).timestamp()) * US
# Training seeds are offset from the demo's seed, so the demo never shows its own training data.
SEED_OFFSET = 1000
NICE = 10


@dataclass(frozen=True)
class TrainingPlan:
    """How much simulated run-to-failure history the first models are trained on.

    The default (two seeds of 90 days at a 10 s sample step, the step `ifactory eval plant`
    trains and is scored at) takes about 1.5 minutes of CPU and gives some 95 failures across
    the plant. The step must stay well under a minute: the features read 1-minute rollups,
    and a counter's increase is only counted between samples of the same minute.
    """

    seeds: tuple[int, ...] = (SEED_OFFSET + 1, 2 * SEED_OFFSET + 1)
    days: int = 90
    step_s: float = 10.0
    start_us: int = TRAINING_START_US

    def __post_init__(self) -> None:
        if not self.seeds or any(s < 0 for s in self.seeds):
            raise InvalidInput("need at least one non-negative training seed", type="invalid_plan")
        if self.days <= 0:
            raise InvalidInput("days must be positive", type="invalid_plan")
        if not 0 < self.step_s <= 30:
            raise InvalidInput("step_s must be in (0, 30] seconds", type="invalid_plan")

    @property
    def end_us(self) -> int:
        """End of the simulated training window."""
        return self.start_us + self.days * DAY_US


def plan_for(
    demo_seed: int, *, seeds: int = 2, days: int = 90, step_s: float = 10.0
) -> TrainingPlan:
    """A training plan whose seeds differ from the demo's simulation seed."""
    if seeds < 1:
        raise InvalidInput("need at least one training seed", type="invalid_plan")
    return TrainingPlan(
        seeds=tuple((i + 1) * SEED_OFFSET + demo_seed for i in range(seeds)),
        days=days,
        step_s=step_s,
    )


@dataclass(frozen=True)
class TrainingJob:
    """What the training process needs (all picklable, no database)."""

    plan: TrainingPlan
    machines: tuple[MachineTags, ...]
    tag_ids: Mapping[str, int]
    counter_max: Mapping[int, float]
    plant_path: str | None = None


@dataclass
class TrainedModels:
    """Models of one training run, as artifacts (JSON text) with their metrics."""

    models: dict[str, tuple[str, dict[str, Any]]]
    failures: int
    wall_s: float
    cpu_s: float
    training_data: dict[str, Any] = field(default_factory=dict)


class MinuteRollups:
    """An in-memory `RollupSource`: 1-minute rollups of the batches added, as the historian keeps them.

    Rows are computed per batch with the historian's own functions (`compute_rows`) and a
    minute split between two batches is merged (`combine`), so the features are those the
    historian would give. `prune` drops minutes already read, so memory stays bounded.
    """

    def __init__(self, counter_max: Mapping[int, float]) -> None:
        size = max([0, *(int(k) + 1 for k in counter_max)])
        self._counter_max = np.full(size, np.nan)
        for tag, value in counter_max.items():
            self._counter_max[int(tag)] = float(value)
        self._parts: list[Rows] = []

    def add(self, batch: TelemetryBatch) -> None:
        """Add the points of a batch (later than every point added before)."""
        if not len(batch):
            return
        tags = np.asarray(batch.tags, dtype=np.int32)
        order = np.lexsort((batch.ts, tags))
        ts = batch.ts[order]
        self._parts.append(
            compute_rows(
                tags[order],
                ts,
                batch.values[order],
                batch.quality[order],
                ts // MINUTE_US,
                self._counter_max,
            )
        )

    def rollups(self, tag_ids: npt.ArrayLike, start_us: int, end_us: int) -> Rows:
        """The 1-minute rows of `tag_ids` for minutes overlapping [start_us, end_us)."""
        ids = np.unique(np.asarray(tag_ids, dtype=np.int32))
        lo, hi = start_us // MINUTE_US, (end_us - 1) // MINUTE_US
        parts = []
        for part in self._parts:
            sel = np.isin(part.tag, ids) & (part.bucket >= lo) & (part.bucket <= hi)
            if sel.any():
                parts.append(part.take(np.flatnonzero(sel)))
        if not parts:
            return Rows.empty()
        rows = Rows.concat(parts)
        # Stable: the parts are in time order, so rows of one minute stay in time order.
        rows = rows.take(np.lexsort((rows.bucket, rows.tag)))
        return combine(rows, rows.bucket, self._counter_max)

    def prune(self, before_us: int) -> None:
        """Forget minutes that end at or before `before_us`."""
        first = before_us // MINUTE_US
        kept = []
        for part in self._parts:
            keep = part.bucket >= first
            if keep.all():
                kept.append(part)
            elif keep.any():
                kept.append(part.take(np.flatnonzero(keep)))
        self._parts = kept


def train_models(job: TrainingJob) -> TrainedModels:
    """Simulate the plan's seeds, collect hourly features and labels, train one model per class."""
    from ifactory.plant.loader import load_plant
    from ifactory.sim import PlantSimulator

    t0, c0 = time.perf_counter(), time.process_time()
    plan = job.plan
    plant = load_plant(job.plant_path)
    data: dict[str, ClassData] = {}
    failures = 0
    for seed in plan.seeds:
        sim = PlantSimulator(
            plant,
            seed=seed,
            start_us=plan.start_us,
            step_s=plan.step_s,
            tag_ids=dict(job.tag_ids),
        )
        source = MinuteRollups(job.counter_max)
        collector = FeatureCollector(job.machines, start_us=plan.start_us)
        t = plan.start_us
        while t < plan.end_us:
            t = min(t + HOUR_US, plan.end_us)
            source.add(sim.advance(t))
            collector.collect(source, t)
            source.prune(t - HOUR_US)
        labels = GroundTruthLabels(sim.ground_truth)
        failures += len(labels.failures(plan.start_us, plan.end_us))
        add_run(data, collector, labels, data_end_us=plan.end_us)
    trained = train_classes(data)
    models: dict[str, tuple[str, dict[str, Any]]] = {}
    for cls, (model, metrics) in trained.items():
        metrics["training_seeds"] = list(plan.seeds)
        metrics["training_days"] = plan.days
        metrics["step_s"] = plan.step_s
        models[cls] = (model.to_json(), metrics)
    return TrainedModels(
        models=models,
        failures=failures,
        wall_s=time.perf_counter() - t0,
        cpu_s=time.process_time() - c0,
        training_data={
            "source": "simulator",
            "seeds": list(plan.seeds),
            "days": plan.days,
            "step_s": plan.step_s,
            "failures": failures,
            "purpose": "bootstrap: first models of a platform without any",
        },
    )


def _child_main(job: TrainingJob, conn: Connection) -> None:
    """Entry point of the training process: low priority, result or error through `conn`."""
    # Not permitted (some containers): train at normal priority rather than not at all.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    try:
        conn.send(("ok", train_models(job)))
    except BaseException:  # the parent logs it; a child must not die silently
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def register(session: Any, trained: TrainedModels, plan: TrainingPlan) -> list[PrognosticModel]:
    """Register trained models as the next version of each machine class's model."""
    rows = []
    for cls, (artifact, metrics) in sorted(trained.models.items()):
        rows.append(
            model_registry.create(
                session,
                machine_class=cls,
                model=QuantileModel.from_json(artifact),
                metrics=metrics,
                train_start_us=plan.start_us,
                train_end_us=plan.end_us,
                training_data=trained.training_data,
            )
        )
    return rows


def job_for(platform: Any, plan: TrainingPlan, *, plant_path: str | None = None) -> TrainingJob:
    """The training job of a platform's plant: its machines' feature tags and tag ids."""
    tags = platform.registry.tags.values()
    return TrainingJob(
        plan=plan,
        machines=tuple(machine_tags(platform.registry)),
        tag_ids={t.key: t.id for t in tags},
        counter_max={t.id: float(t.counter_max) for t in tags if t.counter_max},
        plant_path=plant_path,
    )


class ModelBootstrap:
    """Platform extra: trains and registers first models in the background when there are none."""

    def __init__(
        self,
        platform: Any,
        plan: TrainingPlan,
        *,
        plant_path: str | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.platform = platform
        self.plan = plan
        self.plant_path = plant_path
        self.poll_s = poll_s
        self.registered: list[tuple[str, int]] = []  # (name, version) registered by this run
        self.error: str | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def existing(self) -> list[tuple[str, int]]:
        """The latest registered (name, version) of every model, oldest name first."""
        with self.platform.db.session() as session:
            rows = session.execute(
                select(PrognosticModel.name, PrognosticModel.version).order_by(
                    PrognosticModel.name, PrognosticModel.version
                )
            ).all()
        latest: dict[str, int] = {}
        for name, version in rows:
            latest[str(name)] = int(version)
        return sorted(latest.items())

    def start(self) -> None:
        """Start training in the background unless models are registered already."""
        existing = self.existing()
        if existing:
            log.info(
                "failure-prediction models registered already (%s): no training",
                ", ".join(f"{n} v{v}" for n, v in existing),
            )
            self.done.set()
            return
        self._stop.clear()
        self.done.clear()
        self._thread = threading.Thread(target=self._run, name="prognostics-bootstrap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop training (the child process is terminated) and wait for the thread."""
        self._stop.set()
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until training and registration ended (or were not needed); True if they did."""
        return self.done.wait(timeout_s)

    def _run(self) -> None:
        try:
            trained = self._train()
            if trained is None:
                return
            self._register(trained)
        except Exception:  # logged, the platform runs on without predictions
            self.error = traceback.format_exc()
            log.exception("training failure-prediction models failed")
        finally:
            self.done.set()

    def _train(self) -> TrainedModels | None:
        plan = self.plan
        log.info(
            "training failure-prediction models in the background (seeds %s, %d simulated days "
            "at a %g s step)…",
            ",".join(str(s) for s in plan.seeds),
            plan.days,
            plan.step_s,
        )
        job = job_for(self.platform, plan, plant_path=self.plant_path)
        # spawn: the platform has threads (web server, simulator), which a fork would copy mid-work.
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_child_main, args=(job, send), name="ifactory-rul-training", daemon=True
        )
        self._process = process
        process.start()
        send.close()
        try:
            while not receive.poll(self.poll_s):
                if self._stop.is_set():
                    return None
            if self._stop.is_set():
                return None
            try:
                status, payload = receive.recv()
            except EOFError:
                process.join()
                raise RuntimeError(
                    f"training process ended without a result (exit code {process.exitcode})"
                ) from None
        finally:
            receive.close()
            if process.is_alive() and self._stop.is_set():
                process.terminate()
            process.join()
            self._process = None
        if status != "ok" or not isinstance(payload, TrainedModels):
            raise RuntimeError(f"training process failed:\n{payload}")
        log.info(
            "trained %d failure-prediction models on %d simulated failures in %.0f s (%.0f s CPU)",
            len(payload.models),
            payload.failures,
            payload.wall_s,
            payload.cpu_s,
        )
        return payload

    def _register(self, trained: TrainedModels) -> None:
        if not trained.models:
            log.warning("training gave no model (no machine class had labelled hours)")
            return
        existing = self.existing()
        if existing:
            # Registered meanwhile (e.g. `ifactory eval plant --register`): those are kept.
            log.info(
                "failure-prediction models were registered meanwhile (%s): trained ones dropped",
                ", ".join(f"{n} v{v}" for n, v in existing),
            )
            return
        with self.platform.db.session() as session:
            rows = register(session, trained, self.plan)
            self.registered = [(r.name, int(r.version)) for r in rows]
        versions = sorted({v for _, v in self.registered})
        log.info(
            "training failure-prediction models in the background… done: version %s (%s)",
            ",".join(str(v) for v in versions),
            ", ".join(f"{n} v{v}" for n, v in self.registered),
        )


def prognostics_service(platform: Any) -> PrognosticsService | None:
    """The platform's RUL estimation service, if the prognostics feature is installed."""
    return next((e for e in platform.extras if isinstance(e, PrognosticsService)), None)


def attach(
    platform: Any,
    *,
    demo_seed: int,
    backfill_from_us: int | None = None,
    plan: TrainingPlan | None = None,
    plant_path: str | None = None,
) -> ModelBootstrap | None:
    """Add a `ModelBootstrap` to the platform's extras; estimates back-fill from `backfill_from_us`.

    Returns None when the platform does not run the RUL estimation service (nothing would
    use the models).
    """
    service = prognostics_service(platform)
    if service is None:
        log.info("failure prediction is not installed: no models trained")
        return None
    plan = plan or plan_for(demo_seed)
    if demo_seed in plan.seeds:
        raise InvalidInput("training seeds must differ from the demo's seed", type="invalid_plan")
    if backfill_from_us is not None:
        service.backfill_from_us = backfill_from_us
    bootstrap = ModelBootstrap(platform, plan, plant_path=plant_path)
    platform.extras.append(bootstrap)
    return bootstrap
