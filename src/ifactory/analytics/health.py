"""Machine health: anomaly alerts, anomaly score and remaining useful life side by side, and risk.

The RUL comes from the failure prediction (`analytics.prognostics`); a machine without an
estimate (no model registered for its class yet) has `rul=None` and its page says that no
prediction is available.

Risk, for ranking machines plant-wide, is the largest of
- the machine's anomaly score ratio over the last hour (1.0 = at its alert threshold), and
- `horizon_h / RUL` (1.0 = failure predicted within the horizon, default 72 h),
plus 1 while the machine has an open alert, so that machines with an alert come first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.analytics import alert_service
from ifactory.analytics.alert_models import AnomalyAlert
from ifactory.analytics.alert_schemas import (
    AlertRead,
    AlertTag,
    MachineHealth,
    MachineRiskRead,
    RiskRanking,
    RulPointRead,
    ScorePoint,
)
from ifactory.analytics.prognostics import service as prognostics
from ifactory.analytics.prognostics.features import class_by_tags
from ifactory.plant.registry import NodeInfo, PlantRegistry

log = logging.getLogger(__name__)
HOUR_US = 3600 * 1_000_000
DEFAULT_HORIZON_H = 72.0


@dataclass(frozen=True, slots=True)
class RulPoint:
    """A RUL estimate: median and band (hours from `at_us`), and whether it is in alarm."""

    at_us: int
    rul_h: float
    lo_h: float
    hi_h: float
    alarm: bool = False


@dataclass(frozen=True, slots=True)
class MachineRisk:
    """One row of the plant-wide ranking."""

    machine_id: int
    key: str
    name: str
    equipment_class: str | None
    open_alerts: int
    unacknowledged: int
    score_ratio: float | None  # largest anomaly score ratio over the last hour
    rul: RulPoint | None
    risk: float


def latest_rul(session: Session) -> dict[int, RulPoint] | None:
    """Machine id -> newest RUL estimate; None when the failure prediction is not available."""
    rows = prognostics.latest_rul(session)
    return {
        int(r.machine_id): RulPoint(int(r.ts_us), r.rul_h, r.low_h, r.high_h, bool(r.alarm))
        for r in rows
    }


def rul_history(
    session: Session, *, machine_id: int, start_us: int, end_us: int
) -> list[RulPoint] | None:
    """A machine's RUL estimates in [start_us, end_us); None when prediction is not available."""
    rows = prognostics.rul_history(session, machine_id=machine_id, start_us=start_us, end_us=end_us)
    return [RulPoint(int(r.ts_us), r.rul_h, r.low_h, r.high_h, bool(r.alarm)) for r in rows]


def risk_of(
    score_ratio: float | None,
    rul: RulPoint | None,
    open_alerts: int,
    *,
    horizon_h: float = DEFAULT_HORIZON_H,
) -> float:
    """max(score ratio, horizon / RUL) + 1 with an open alert (see the module docstring)."""
    risk = score_ratio or 0.0
    if rul is not None:
        risk = max(risk, horizon_h / max(rul.rul_h, 0.1))
    return risk + (1.0 if open_alerts else 0.0)


def ranking(
    session: Session,
    *,
    registry: PlantRegistry,
    now_us: int,
    machine_ids: Sequence[int] | None = None,
    horizon_h: float = DEFAULT_HORIZON_H,
) -> tuple[list[MachineRisk], bool]:
    """Machines by decreasing risk, and whether RUL estimates were available."""
    machines = [m for m in registry.machines() if machine_ids is None or m.id in machine_ids]
    counts: dict[int, tuple[int, int]] = {}
    rows = session.execute(
        select(AnomalyAlert.machine_id, AnomalyAlert.state, func.count())
        .where(AnomalyAlert.state != "cleared")
        .group_by(AnomalyAlert.machine_id, AnomalyAlert.state)
    ).all()
    for machine_id, state, n in rows:
        total, unack = counts.get(int(machine_id), (0, 0))
        counts[int(machine_id)] = (total + int(n), unack + (int(n) if state == "active" else 0))
    scores = alert_service.recent_scores(session, since_us=now_us - HOUR_US)
    ruls = latest_rul(session)
    # A machine without a class whose sensors match one class is predicted with its model.
    by_tags = class_by_tags(registry)
    out = []
    for m in machines:
        total, unack = counts.get(m.id, (0, 0))
        rul = ruls.get(m.id) if ruls is not None else None
        ratio = scores.get(m.id)
        out.append(
            MachineRisk(
                m.id,
                m.key,
                m.name,
                m.equipment_class or by_tags.get(m.id),
                total,
                unack,
                ratio,
                rul,
                risk_of(ratio, rul, total, horizon_h=horizon_h),
            )
        )
    out.sort(key=lambda r: (-r.risk, r.name))
    return out, ruls is not None


def alert_read(alert: AnomalyAlert, registry: PlantRegistry) -> AlertRead:
    """The API/page view of an alert, with the machine and tag names from the plant model."""
    node = registry.nodes.get(alert.machine_id)
    tags = [registry.tags[t] for t in alert.tag_ids if t in registry.tags]
    return AlertRead(
        id=alert.id,
        machine_id=alert.machine_id,
        machine_key=node.key if node is not None else str(alert.machine_id),
        machine_name=node.name if node is not None else str(alert.machine_id),
        state=alert.state,
        detector=alert.detector,
        tags=[AlertTag(id=t.id, key=t.key, name=t.name, unit=t.unit) for t in tags],
        score=alert.score,
        threshold=alert.threshold,
        peak_ratio=alert.peak_ratio,
        window_start_us=alert.window_start_us,
        window_end_us=alert.window_end_us,
        raised_at_us=alert.raised_at_us,
        cleared_at_us=alert.cleared_at_us,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        ack_comment=alert.ack_comment,
    )


def rul_read(point: RulPoint) -> RulPointRead:
    """The API view of a RUL estimate."""
    return RulPointRead(
        at_us=point.at_us, rul_h=point.rul_h, lo_h=point.lo_h, hi_h=point.hi_h, alarm=point.alarm
    )


def machine_health(
    session: Session, *, registry: PlantRegistry, machine: NodeInfo, start_us: int, end_us: int
) -> MachineHealth:
    """Score trend, RUL trend and open alerts of one machine over [start_us, end_us)."""
    scores = alert_service.get_scores(
        session, machine_id=machine.id, start_us=start_us, end_us=end_us
    )
    ruls = rul_history(session, machine_id=machine.id, start_us=start_us, end_us=end_us)
    alerts, _ = alert_service.get_all(
        session, machine_ids=[machine.id], states=["active", "acknowledged"], limit=100
    )
    return MachineHealth(
        machine_id=machine.id,
        machine_key=machine.key,
        machine_name=machine.name,
        start_us=start_us,
        end_us=end_us,
        scores=[ScorePoint(minute_us=t, ratio=r) for t, r in scores],
        rul=[rul_read(p) for p in ruls] if ruls is not None else None,
        open_alerts=[alert_read(a, registry) for a in alerts],
    )


def ranking_read(risks: list[MachineRisk], rul_available: bool, now_us: int) -> RiskRanking:
    """The API view of the ranking."""
    return RiskRanking(
        now_us=now_us,
        rul_available=rul_available,
        machines=[
            MachineRiskRead(
                machine_id=r.machine_id,
                key=r.key,
                name=r.name,
                equipment_class=r.equipment_class,
                open_alerts=r.open_alerts,
                unacknowledged=r.unacknowledged,
                score_ratio=r.score_ratio,
                rul=rul_read(r.rul) if r.rul is not None else None,
                risk=r.risk,
            )
            for r in risks
        ],
    )
