"""The RUL model registry over HTTP, and retraining from the plant's own records.

Read: every registered version of every machine class's model (what it was trained on, its
data window and metrics; which version is in use and how many machines it serves), without the
artifact. Write: a planner, manager or admin starts `retrain_from_records` as a background job
(one at a time per process); its state and report are read back from the same path. Training
reads the historian, so it never runs on a request thread: it runs in a thread of its own at a
lower scheduling priority, and a failure is logged and kept in the job state for the page.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.models import PrognosticModel
from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.audit import record
from ifactory.core.clock import from_datetime, to_datetime
from ifactory.core.errors import Conflict, IFactoryError, InvalidInput, NotFound

log = logging.getLogger(__name__)
router = APIRouter(tags=["analytics"])
# Retraining changes what every machine of a class is predicted with: the people who plan
# maintenance and answer for it, not the shop floor.
TrainerUser = Annotated[Principal, Depends(require_roles("planner", "manager"))]
# Niceness added to the training thread: the live pipeline and the pages keep their share of
# the CPU (the same idea as the bootstrap's training process).
TRAINING_NICE = 10

JobState = Literal["idle", "running", "done", "failed"]


# --- schemas ------------------------------------------------------------------------------


class TimeWindow(BaseModel):
    """A data window [start, end): as UTC datetimes and as int64 UTC microseconds."""

    start: datetime
    end: datetime
    start_us: int
    end_us: int

    @classmethod
    def of(cls, start_us: int, end_us: int) -> TimeWindow:
        """The window of two UTC-µs timestamps."""
        return cls(
            start=to_datetime(start_us), end=to_datetime(end_us), start_us=start_us, end_us=end_us
        )


class PrognosticModelRead(BaseModel):
    """A registered RUL model version, without its artifact."""

    id: int
    name: str
    machine_class: str
    version: int
    created_at: datetime
    window: TimeWindow
    training_data: dict[str, Any]
    metrics: dict[str, Any]
    features: list[Any]
    artifact_format: str
    in_use: bool = Field(description="the latest version of its class: the one estimates use")
    machines_served: int = Field(description="machines of its class it predicts (0 if not in use)")


class PrognosticModelList(BaseModel):
    """Every registered version, newest first per machine class."""

    items: list[PrognosticModelRead]
    total: int


class TrainingRequest(BaseModel):
    """Retrain every machine class's model from the plant's historian and recorded failures."""

    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime | None = Field(
        None, description="data window start (default: as far back as the records go)"
    )
    end: AwareDatetime | None = Field(None, description="data window end (default: now)")
    min_failures: int = Field(
        3, ge=1, le=10_000, description="a class with fewer recorded failures is skipped"
    )
    dry_run: bool = Field(False, description="train and report, but register nothing")
    force: bool = Field(
        False,
        description="register even where the version in use predicts the validation hours better",
    )

    @model_validator(mode="after")
    def _window(self) -> TrainingRequest:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class TrainingJobRead(BaseModel):
    """The retraining job of this server process: its state and, once over, report or error."""

    state: JobState
    requested_by: str | None = None
    params: dict[str, Any] | None = None
    started_at: datetime | None = None
    started_at_us: int | None = None
    finished_at: datetime | None = None
    finished_at_us: int | None = None
    report: dict[str, Any] | None = None
    error: str | None = None


# --- the job --------------------------------------------------------------------------------


def retrain(platform: Any, **params: Any) -> Any:
    """Run `ifactory.retraining.retrain_from_records` (imported when a job runs)."""
    from ifactory.retraining import retrain_from_records

    return retrain_from_records(platform, **params)


def _lower_priority() -> None:
    # Linux schedules threads individually: this lowers the training thread only. Raising a
    # niceness needs no privilege, but some sandboxes refuse it; then train at normal priority.
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + TRAINING_NICE)


class ModelTraining:
    """One retraining job at a time, in a background thread; its last outcome is kept.

    `train` is what the job runs: `retrain` (the plant's records) unless a caller says otherwise.
    """

    def __init__(self, platform: Any, *, train: Callable[..., Any] = retrain) -> None:
        self.platform = platform
        self.train = train
        self._lock = threading.Lock()
        self._job = TrainingJobRead(state="idle")
        self._thread: threading.Thread | None = None

    def state(self) -> TrainingJobRead:
        """A copy of the job's state."""
        with self._lock:
            return self._job.model_copy(deep=True)

    def start(self, *, params: dict[str, Any], user: str) -> TrainingJobRead:
        """Start a job with `params` for `retrain_from_records`; Conflict while one runs."""
        with self._lock:
            if self._job.state == "running":
                raise Conflict(
                    f"a retraining job started by {self._job.requested_by} is still running; "
                    "wait for it to finish",
                    type="training_running",
                )
            now = self.platform.clock.now_us()
            self._job = TrainingJobRead(
                state="running",
                requested_by=user,
                params=params,
                started_at=to_datetime(now),
                started_at_us=now,
            )
            self._thread = threading.Thread(
                target=self._run, args=(dict(params),), name="model-retraining", daemon=True
            )
            self._thread.start()
            return self._job.model_copy(deep=True)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running job's thread (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, params: dict[str, Any]) -> None:
        _lower_priority()
        log.info("retraining RUL models from the plant's records: %s", params)
        report: dict[str, Any] | None = None
        error: str | None = None
        try:
            report = self.train(self.platform, **params).as_dict()
        except IFactoryError as exc:  # e.g. no data in the window: a message a planner acts on
            log.warning("retraining RUL models from the plant's records refused: %s", exc.msg)
            error = exc.msg
        except Exception as exc:  # the job must not die silently: logged with the trace, shown
            log.exception("retraining RUL models from the plant's records failed")
            error = f"{type(exc).__name__}: {exc}"
        now = self.platform.clock.now_us()
        with self._lock:
            self._job = self._job.model_copy(
                update={
                    "state": "failed" if error is not None else "done",
                    "finished_at": to_datetime(now),
                    "finished_at_us": now,
                    "report": report,
                    "error": error,
                }
            )
        if error is None:
            log.info("retraining RUL models finished: %s", _summary(report))


def _summary(report: dict[str, Any] | None) -> str:
    classes = (report or {}).get("classes") or []
    parts = [
        f"{c.get('machine_class')}: "
        + (f"v{c['version']}" if c.get("version") else f"skipped ({c.get('skipped')})")
        for c in classes
    ]
    return ", ".join(parts) or "no machine class"


def get_training(request: Request) -> ModelTraining:
    """The retraining job holder of this app (created on first use)."""
    training: ModelTraining | None = getattr(request.app.state, "model_training", None)
    if training is None:
        training = request.app.state.model_training = ModelTraining(request.app.state.platform)
    return training


TrainingDep = Annotated[ModelTraining, Depends(get_training)]


# --- reading the registry -----------------------------------------------------------------


def model_reads(rows: list[PrognosticModel], platform: Any) -> list[PrognosticModelRead]:
    """Registry rows (newest first per class) as reads, the latest of each class marked in use."""
    out = []
    for use in model_registry.usage(rows, platform.registry):
        row = use.row
        out.append(
            PrognosticModelRead(
                id=row.id,
                name=row.name,
                machine_class=row.machine_class,
                version=row.version,
                created_at=row.created_at,
                window=TimeWindow.of(int(row.train_start_us), int(row.train_end_us)),
                training_data=dict(row.training_data or {}),
                metrics=dict(row.metrics or {}),
                features=list(row.features or []),
                artifact_format=row.artifact_format,
                in_use=use.in_use,
                machines_served=use.machines_served,
            )
        )
    return out


@router.get("/api/analytics/models/train", response_model=TrainingJobRead)
def read_training(training: TrainingDep, _: Actor) -> TrainingJobRead:
    """The retraining job: idle, running, done or failed, with its report or error message."""
    return training.state()


@router.post("/api/analytics/models/train", response_model=TrainingJobRead, status_code=202)
def start_training(
    body: TrainingRequest,
    platform: PlatformDep,
    training: TrainingDep,
    session: SessionDep,
    user: TrainerUser,
) -> TrainingJobRead:
    """Retrain the RUL models from the historian and the recorded failures, in the background.

    202 with the job (poll GET on the same path); 409 `training_running` while one runs.
    """
    params: dict[str, Any] = {
        "min_failures": body.min_failures,
        "dry_run": body.dry_run,
        "force": body.force,
    }
    now = platform.clock.now_us()
    if body.start is not None:
        params["start_us"] = from_datetime(body.start)
        if params["start_us"] >= now:
            raise InvalidInput(
                "start must be in the past", loc=["body", "start"], type="invalid_range"
            )
    if body.end is not None:
        params["end_us"] = from_datetime(body.end)
        if params["end_us"] > now:
            raise InvalidInput(
                "end must not be in the future", loc=["body", "end"], type="invalid_range"
            )
    # Audited first: a refused start (409) rolls the entry back with the request.
    record(
        session,
        user=user,
        action="models_retrain_started",
        entity="prognostic_model",
        entity_id="*",
        details=params,
    )
    return training.start(params=params, user=user.username)


@router.get("/api/analytics/models", response_model=PrognosticModelList)
def read_models(platform: PlatformDep, session: SessionDep, _: Actor) -> PrognosticModelList:
    """Every registered RUL model version, newest first per class, the one in use marked."""
    items = model_reads(model_registry.get_all(session), platform)
    return PrognosticModelList(items=items, total=len(items))


@router.get("/api/analytics/models/{machine_class}/{version}", response_model=PrognosticModelRead)
def read_model(
    machine_class: str,
    version: Annotated[int, Path(ge=1)],
    platform: PlatformDep,
    session: SessionDep,
    _: Actor,
) -> PrognosticModelRead:
    """One registered version of a machine class's RUL model."""
    reads = model_reads(model_registry.get_all(session, machine_class=machine_class), platform)
    for item in reads:
        if item.version == version:
            return item
    raise NotFound(
        f"no version {version} of the RUL model of machine class '{machine_class}'",
        loc=["path", "version"] if reads else ["path", "machine_class"],
        type="model_not_found",
    )
