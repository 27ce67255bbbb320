"""The model registry: versioned RUL models per machine class, with metrics and training window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.analytics.prognostics.features import machine_tags
from ifactory.analytics.prognostics.model import ARTIFACT_FORMAT, QuantileModel
from ifactory.analytics.prognostics.models import PrognosticModel
from ifactory.core.errors import InvalidInput, NotFound


def model_name(machine_class: str) -> str:
    """The registry name of a machine class's RUL model."""
    return f"rul.{machine_class}"


@dataclass(frozen=True)
class LoadedModel:
    """A registry entry with its model loaded."""

    id: int
    name: str
    machine_class: str
    version: int
    model: QuantileModel


def create(
    session: Session,
    *,
    machine_class: str,
    model: QuantileModel,
    metrics: dict[str, Any],
    train_start_us: int,
    train_end_us: int,
    training_data: dict[str, Any],
) -> PrognosticModel:
    """Register `model` as the next version of its machine class's model."""
    if not machine_class:
        raise InvalidInput("machine_class must not be empty", type="invalid_class")
    if train_end_us <= train_start_us:
        raise InvalidInput("training window must have end > start", type="invalid_range")
    name = model_name(machine_class)
    current = session.scalar(
        select(func.max(PrognosticModel.version)).where(PrognosticModel.name == name)
    )
    row = PrognosticModel(
        name=name,
        machine_class=machine_class,
        version=int(current or 0) + 1,
        metrics=metrics,
        train_start_us=train_start_us,
        train_end_us=train_end_us,
        training_data=training_data,
        features=list(model.features),
        artifact_format=ARTIFACT_FORMAT,
        artifact=model.to_json(),
    )
    session.add(row)
    session.flush()
    return row


def get_all(session: Session, *, machine_class: str | None = None) -> list[PrognosticModel]:
    """Registered models, newest version first per name."""
    query = select(PrognosticModel).order_by(PrognosticModel.name, PrognosticModel.version.desc())
    if machine_class is not None:
        query = query.where(PrognosticModel.machine_class == machine_class)
    return list(session.scalars(query))


def load(session: Session, *, machine_class: str, version: int | None = None) -> LoadedModel:
    """The model of a machine class (latest version unless `version`), loaded from its artifact."""
    query = select(PrognosticModel).where(PrognosticModel.name == model_name(machine_class))
    if version is not None:
        query = query.where(PrognosticModel.version == version)
    row = session.scalars(query.order_by(PrognosticModel.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"no RUL model for machine class '{machine_class}'")
    return _loaded(row)


def _loaded(row: PrognosticModel) -> LoadedModel:
    if row.artifact_format != ARTIFACT_FORMAT:
        raise InvalidInput(
            f"unsupported artifact format {row.artifact_format}", type="invalid_model"
        )
    return LoadedModel(
        row.id, row.name, row.machine_class, row.version, QuantileModel.from_json(row.artifact)
    )


def load_latest(session: Session) -> dict[str, LoadedModel]:
    """The latest model of every machine class that has one."""
    latest: dict[str, PrognosticModel] = {}
    for row in get_all(session):
        if row.machine_class not in latest:
            latest[row.machine_class] = row
    return {cls: _loaded(row) for cls, row in latest.items()}


@dataclass(frozen=True)
class Usage:
    """A registered version, whether it is the one in use (the latest of its class) and how
    many machines it predicts (0 unless in use)."""

    row: PrognosticModel
    in_use: bool
    machines_served: int


def usage(rows: Sequence[PrognosticModel], plant: Any) -> list[Usage]:
    """Registry rows (newest first per class, as `get_all` returns them) with their use: the
    machines of a class are those the estimator assigns to it (`features.machine_tags`: the
    equipment class, or the one class whose condition tags a retrofit has)."""
    served = Counter(m.machine_class for m in machine_tags(plant))
    seen: set[str] = set()
    out = []
    for row in rows:
        in_use = row.machine_class not in seen
        seen.add(row.machine_class)
        out.append(Usage(row, in_use, served.get(row.machine_class, 0) if in_use else 0))
    return out
