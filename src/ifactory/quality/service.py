"""Quality services: plans, measurements, SPC charts and drift, capability, defects, holds, NCRs.

Plain functions with keyword arguments; every change is audited in the caller's transaction and
events go to the outbox in that same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.core import audit, outbox
from ifactory.core.db import get_or_not_found
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.plant.models import Product, Tag
from ifactory.quality import rules as spc_rules
from ifactory.quality import spc
from ifactory.quality.capability import Capability, capability
from ifactory.quality.events import (
    LotHeld,
    LotHoldClosed,
    NonConformanceRaised,
    QualityDriftDetected,
)
from ifactory.quality.genealogy import get_lot
from ifactory.quality.models import (
    Characteristic,
    DefectCode,
    DefectCount,
    InspectionPlan,
    InspectionRecord,
    MaterialLot,
    Measurement,
    NonConformance,
    QualityHold,
    SerialNumber,
    SpcViolation,
)

log = logging.getLogger(__name__)
DEFAULT_CHART_SUBGROUPS = 500
DRIFT_WINDOW_SUBGROUPS = 100  # enough for the longest rule (15 points) with room for the baseline
LOT_STATUS_AFTER_HOLD = {"released": "available", "scrapped": "scrapped", "rework": "rework"}


# --- plans and characteristics ---------------------------------------------------------------


def get_plan(session: Session, *, plan_id: int) -> InspectionPlan:
    """An inspection plan (NotFound otherwise)."""
    return get_or_not_found(
        session, InspectionPlan, plan_id, f"no inspection plan {plan_id}", loc=["path", "plan_id"]
    )


def get_all_plans(session: Session, *, product_code: str | None = None) -> Sequence[InspectionPlan]:
    """Inspection plans, optionally of one product."""
    query = select(InspectionPlan).order_by(InspectionPlan.product_code, InspectionPlan.id)
    if product_code is not None:
        query = query.where(InspectionPlan.product_code == product_code)
    return session.scalars(query).all()


def create_plan(
    session: Session,
    *,
    name: str,
    product_code: str,
    operation: str,
    active: bool,
    user: audit.UserRef,
) -> InspectionPlan:
    """Create an inspection plan for a product (and operation)."""
    if session.get(Product, product_code) is None:
        raise InvalidInput(f"no product '{product_code}'", loc=["body", "product_code"])
    duplicate = session.scalar(
        select(InspectionPlan.id).where(
            InspectionPlan.product_code == product_code,
            InspectionPlan.operation == operation,
            InspectionPlan.name == name,
        )
    )
    if duplicate is not None:
        raise Conflict(f"plan '{name}' already exists for {product_code}", loc=["body", "name"])
    plan = InspectionPlan(name=name, product_code=product_code, operation=operation, active=active)
    audit.stamp(plan, user=user)
    session.add(plan)
    session.flush()
    audit.record(session, user=user, action="create", entity="inspection_plan", entity_id=plan.id)
    return plan


def update_plan(
    session: Session, *, plan: InspectionPlan, changes: dict[str, Any], user: audit.UserRef
) -> InspectionPlan:
    """Change a plan's name, operation or active flag."""
    for key, value in changes.items():
        setattr(plan, key, value)
    audit.stamp(plan, user=user)
    audit.record(
        session,
        user=user,
        action="update",
        entity="inspection_plan",
        entity_id=plan.id,
        details=changes,
    )
    return plan


def get_characteristic(session: Session, *, characteristic_id: int) -> Characteristic:
    """A characteristic (NotFound otherwise)."""
    return get_or_not_found(
        session,
        Characteristic,
        characteristic_id,
        f"no characteristic {characteristic_id}",
        loc=["path", "characteristic_id"],
    )


def get_all_characteristics(
    session: Session, *, plan_id: int | None = None
) -> Sequence[Characteristic]:
    """Characteristics, optionally of one plan."""
    query = select(Characteristic).order_by(Characteristic.plan_id, Characteristic.id)
    if plan_id is not None:
        query = query.where(Characteristic.plan_id == plan_id)
    return session.scalars(query).all()


def _check_tag(session: Session, tag_id: int | None) -> None:
    if tag_id is None:
        return
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise InvalidInput(f"no tag {tag_id}", loc=["body", "tag_id"])
    if tag.data_type not in ("float", "int"):
        raise InvalidInput(f"tag {tag.key} is not numeric", loc=["body", "tag_id"])


def create_characteristic(
    session: Session, *, plan: InspectionPlan, fields: dict[str, Any], user: audit.UserRef
) -> Characteristic:
    """Add a characteristic to a plan."""
    _check_tag(session, fields.get("tag_id"))
    if session.scalar(
        select(Characteristic.id).where(
            Characteristic.plan_id == plan.id, Characteristic.name == fields["name"]
        )
    ):
        raise Conflict(f"characteristic '{fields['name']}' already exists", loc=["body", "name"])
    char = Characteristic(plan_id=plan.id, **fields)
    audit.stamp(char, user=user)
    session.add(char)
    session.flush()
    audit.record(
        session,
        user=user,
        action="create",
        entity="characteristic",
        entity_id=char.id,
        details={"plan_id": plan.id, "name": char.name},
    )
    return char


def update_characteristic(
    session: Session, *, char: Characteristic, changes: dict[str, Any], user: audit.UserRef
) -> Characteristic:
    """Change tolerances, frequency, rules, baseline size or the bound tag."""
    if "tag_id" in changes:
        _check_tag(session, changes["tag_id"])
    lsl = changes.get("lsl", char.lsl)
    usl = changes.get("usl", char.usl)
    if lsl is not None and usl is not None and lsl >= usl:
        raise InvalidInput("lsl must be below usl", loc=["body"])
    for key, value in changes.items():
        setattr(char, key, value)
    audit.stamp(char, user=user)
    audit.record(
        session,
        user=user,
        action="update",
        entity="characteristic",
        entity_id=char.id,
        details=changes,
    )
    return char


# --- measurements, charts, drift -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasurementInput:
    """One value to record."""

    value: float
    ts_us: int
    lot_id: int | None = None
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class DriftSignal:
    """A new rule violation: the rule, the time and value of its point, the pattern's times."""

    rule: str
    ts_us: int
    value: float
    points_ts_us: list[int]


def record_measurements(
    session: Session,
    *,
    char: Characteristic,
    values: Sequence[MeasurementInput],
    source: str,
    user: audit.UserRef,
    now_us: int,
) -> list[DriftSignal]:
    """Store measurements, then check the SPC rules; returns the new violations (also published)."""
    name = audit.username_of(user)
    session.add_all(
        Measurement(
            characteristic_id=char.id,
            ts_us=v.ts_us,
            value=v.value,
            source=source,
            lot_id=v.lot_id,
            order_id=v.order_id,
            recorded_by=name,
        )
        for v in values
    )
    session.flush()
    if source == "api":
        audit.record(
            session,
            user=user,
            action="measure",
            entity="characteristic",
            entity_id=char.id,
            details={"count": len(values)},
        )
    since = min(v.ts_us for v in values) if values else now_us
    return check_drift(session, char=char, since_us=since, now_us=now_us)


def get_measurements(
    session: Session,
    *,
    char: Characteristic,
    start_us: int | None,
    end_us: int | None,
    limit: int,
) -> Sequence[Measurement]:
    """Measurements of a characteristic in time order."""
    query = select(Measurement).where(Measurement.characteristic_id == char.id)
    if start_us is not None:
        query = query.where(Measurement.ts_us >= start_us)
    if end_us is not None:
        query = query.where(Measurement.ts_us < end_us)
    return session.scalars(query.order_by(Measurement.ts_us, Measurement.id).limit(limit)).all()


def _rows(session: Session, query: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = session.execute(query).all()
    ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    return ts, values


@dataclass(frozen=True)
class ChartData:
    """A characteristic's chart over a window: subgroup times, the chart and its violations."""

    ts_us: np.ndarray
    chart: spc.ControlChart | None
    violations: list[spc_rules.Violation]
    baseline_points: int


def _baseline(session: Session, char: Characteristic) -> tuple[np.ndarray, np.ndarray]:
    q = (
        select(Measurement.ts_us, Measurement.value)
        .where(Measurement.characteristic_id == char.id)
        .order_by(Measurement.ts_us, Measurement.id)
        .limit(char.baseline_subgroups * char.sample_size)
    )
    return _rows(session, q)


def _window(
    session: Session, char: Characteristic, start_us: int | None, end_us: int | None, subgroups: int
) -> tuple[np.ndarray, np.ndarray]:
    q = select(Measurement.ts_us, Measurement.value).where(Measurement.characteristic_id == char.id)
    if start_us is not None:
        q = q.where(Measurement.ts_us >= start_us)
    if end_us is not None:
        q = q.where(Measurement.ts_us < end_us)
    if start_us is None:
        # The latest `subgroups` subgroups, then back into time order.
        q = q.order_by(Measurement.ts_us.desc(), Measurement.id.desc())
        ts, values = _rows(session, q.limit(subgroups * char.sample_size))
        return ts[::-1].copy(), values[::-1].copy()
    return _rows(session, q.order_by(Measurement.ts_us, Measurement.id))


def _group(ts: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive subgroups of n; an incomplete trailing subgroup waits for its other values."""
    groups = len(values) // n
    if n == 1:
        return ts[:groups], values[:groups]
    return ts[: groups * n].reshape(groups, n)[:, -1], values[: groups * n].reshape(groups, n)


def chart_data(
    session: Session,
    *,
    char: Characteristic,
    start_us: int | None = None,
    end_us: int | None = None,
    subgroups: int = DEFAULT_CHART_SUBGROUPS,
    rules: Sequence[str] | None = None,
) -> ChartData:
    """The control chart of a characteristic with limits from its baseline and rule violations."""
    selected = spc_rules.check_rules(char.rules if rules is None else rules)
    n = char.sample_size
    b_ts, b_values = _baseline(session, char)
    b_ts, b_data = _group(b_ts, b_values, n)
    w_ts, w_values = _window(session, char, start_us, end_us, subgroups)
    w_ts, w_data = _group(w_ts, w_values, n)
    if len(b_data) < 2 or len(w_data) == 0:
        return ChartData(w_ts, None, [], len(b_data))
    data = np.concatenate([b_data, w_data])
    kind: spc.ChartKind = char.chart  # type: ignore[assignment]
    full = spc.variables_chart(kind, data, baseline=len(b_data))
    cut = len(b_data)
    chart = spc.ControlChart(
        full.kind,
        full.values[cut:],
        _slice(full.limits, cut),
        full.sigma_hat,
        full.dispersion_kind,
        full.dispersion[cut:],
        None if full.dispersion_limits is None else _slice(full.dispersion_limits, cut),
    )
    if kind == "imr" and len(chart.dispersion):
        chart.dispersion[0] = np.nan  # its moving range would span the baseline, not the window
    found = spc_rules.evaluate(chart.values, chart.limits.center, chart.limits.sigma, selected)
    return ChartData(w_ts, chart, found, len(b_data))


def _slice(limits: spc.Limits, cut: int) -> spc.Limits:
    return spc.Limits(limits.center[cut:], limits.lcl[cut:], limits.ucl[cut:], limits.sigma[cut:])


def check_drift(
    session: Session, *, char: Characteristic, since_us: int, now_us: int
) -> list[DriftSignal]:
    """Evaluate the rules on the recent chart; record and publish violations firing at ≥ since."""
    if not char.rules:
        return []
    data = chart_data(session, char=char, subgroups=DRIFT_WINDOW_SUBGROUPS)
    if data.chart is None:
        return []
    fresh = [v for v in data.violations if int(data.ts_us[v.index]) >= since_us]
    if not fresh:
        return []
    known = {
        (str(rule), int(ts))
        for rule, ts in session.execute(
            select(SpcViolation.rule, SpcViolation.ts_us).where(
                SpcViolation.characteristic_id == char.id,
                SpcViolation.ts_us >= min(int(data.ts_us[v.index]) for v in fresh),
            )
        )
    }
    plan = session.get(InspectionPlan, char.plan_id)
    machine_id = None
    if char.tag_id is not None:
        tag = session.get(Tag, char.tag_id)
        machine_id = tag.node_id if tag is not None else None
    new: list[DriftSignal] = []
    events = []
    for v in fresh:
        ts = int(data.ts_us[v.index])
        if (v.rule, ts) in known:
            continue
        known.add((v.rule, ts))
        points_ts = [int(data.ts_us[i]) for i in v.points]
        value = float(data.chart.values[v.index])
        session.add(
            SpcViolation(
                characteristic_id=char.id,
                rule=v.rule,
                ts_us=ts,
                points_ts_us=points_ts,
                value=value,
                detected_at_us=now_us,
            )
        )
        events.append(
            QualityDriftDetected(
                characteristic_id=char.id,
                characteristic=char.name,
                product_code=plan.product_code if plan is not None else "",
                rule=v.rule,
                rule_description=spc_rules.describe(v.rule).description,
                ts_us=ts,
                value=value,
                points_ts_us=points_ts,
                points=[float(data.chart.values[i]) for i in v.points],
                machine_id=machine_id,
            )
        )
        new.append(DriftSignal(v.rule, ts, value, points_ts))
    outbox.add_all(session, events)
    if new:
        log.info("SPC: %d new violation(s) on characteristic %s", len(new), char.id)
    return new


def get_violations(
    session: Session, *, characteristic_id: int | None = None, limit: int = 100
) -> Sequence[SpcViolation]:
    """Recorded rule violations, newest first."""
    query = select(SpcViolation).order_by(SpcViolation.ts_us.desc(), SpcViolation.id.desc())
    if characteristic_id is not None:
        query = query.where(SpcViolation.characteristic_id == characteristic_id)
    return session.scalars(query.limit(limit)).all()


def get_capability(
    session: Session, *, char: Characteristic, start_us: int | None, end_us: int | None
) -> Capability:
    """Cp, Cpk, Pp, Ppk of a characteristic over a period (all its data when open-ended)."""
    q = select(Measurement.ts_us, Measurement.value).where(Measurement.characteristic_id == char.id)
    if start_us is not None:
        q = q.where(Measurement.ts_us >= start_us)
    if end_us is not None:
        q = q.where(Measurement.ts_us < end_us)
    _, values = _rows(session, q.order_by(Measurement.ts_us, Measurement.id))
    try:
        return capability(values, lsl=char.lsl, usl=char.usl, subgroup_size=char.sample_size)
    except ValueError as exc:
        raise InvalidInput(str(exc), loc=["characteristic_id"], type="not_enough_data") from exc


# --- defects, inspections, Pareto, first-pass yield ------------------------------------------------


def create_defect_code(
    session: Session, *, code: str, name: str, category: str, user: audit.UserRef
) -> DefectCode:
    """Add a defect code."""
    if session.get(DefectCode, code) is not None:
        raise Conflict(f"defect code '{code}' already exists", loc=["body", "code"])
    row = DefectCode(code=code, name=name, category=category)
    audit.stamp(row, user=user)
    session.add(row)
    audit.record(session, user=user, action="create", entity="defect_code", entity_id=code)
    return row


def get_all_defect_codes(session: Session) -> Sequence[DefectCode]:
    """Every defect code."""
    return session.scalars(select(DefectCode).order_by(DefectCode.code)).all()


def record_inspection(
    session: Session,
    *,
    product_code: str,
    operation: str,
    ts_us: int,
    inspected: int,
    passed_first_time: int,
    defects: dict[str, int],
    order_id: int | None,
    lot_id: int | None,
    note: str,
    user: audit.UserRef,
) -> InspectionRecord:
    """Record an attribute inspection and the defects found."""
    if session.get(Product, product_code) is None:
        raise InvalidInput(f"no product '{product_code}'", loc=["body", "product_code"])
    known = {
        c for c in session.scalars(select(DefectCode.code).where(DefectCode.code.in_(defects)))
    }
    unknown = sorted(set(defects) - known)
    if unknown:
        raise InvalidInput(f"unknown defect code(s): {', '.join(unknown)}", loc=["body", "defects"])
    row = InspectionRecord(
        ts_us=ts_us,
        product_code=product_code,
        operation=operation,
        order_id=order_id,
        lot_id=lot_id,
        inspected=inspected,
        passed_first_time=passed_first_time,
        note=note,
    )
    audit.stamp(row, user=user)
    session.add(row)
    session.flush()
    session.add_all(
        DefectCount(inspection_id=row.id, code=c, count=n) for c, n in defects.items() if n
    )
    audit.record(session, user=user, action="inspect", entity="inspection", entity_id=row.id)
    return row


def _inspection_filter(
    query: Any, product_code: str | None, start_us: int | None, end_us: int | None
) -> Any:
    if product_code is not None:
        query = query.where(InspectionRecord.product_code == product_code)
    if start_us is not None:
        query = query.where(InspectionRecord.ts_us >= start_us)
    if end_us is not None:
        query = query.where(InspectionRecord.ts_us < end_us)
    return query


def pareto(
    session: Session,
    *,
    product_code: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[dict[str, Any]]:
    """Defects by code, most frequent first, with share and cumulative share (a Pareto)."""
    query = (
        select(DefectCount.code, DefectCode.name, func.sum(DefectCount.count))
        .join(InspectionRecord, InspectionRecord.id == DefectCount.inspection_id)
        .join(DefectCode, DefectCode.code == DefectCount.code)
        .group_by(DefectCount.code, DefectCode.name)
    )
    rows = session.execute(_inspection_filter(query, product_code, start_us, end_us)).all()
    rows = sorted(rows, key=lambda r: (-int(r[2]), r[0]))
    total = sum(int(r[2]) for r in rows)
    out, running = [], 0
    for code, name, count in rows:
        running += int(count)
        out.append(
            {
                "code": code,
                "name": name,
                "count": int(count),
                "share": int(count) / total,
                "cumulative_share": running / total,
            }
        )
    return out


def first_pass_yield(
    session: Session,
    *,
    product_code: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> tuple[int, int, float | None]:
    """Inspected, passed the first time, and FPY = passed / inspected (None if none inspected)."""
    query = select(
        func.coalesce(func.sum(InspectionRecord.inspected), 0),
        func.coalesce(func.sum(InspectionRecord.passed_first_time), 0),
    )
    inspected, passed = session.execute(
        _inspection_filter(query, product_code, start_us, end_us)
    ).one()
    inspected, passed = int(inspected), int(passed)
    return inspected, passed, (passed / inspected if inspected else None)


def attribute_chart(
    session: Session,
    *,
    kind: spc.AttributeKind,
    product_code: str,
    start_us: int | None = None,
    end_us: int | None = None,
    baseline: int | None = None,
    rules: Sequence[str] = spc_rules.WESTERN_ELECTRIC,
) -> tuple[np.ndarray, np.ndarray, spc.ControlChart, list[spc_rules.Violation]]:
    """p/np (defectives) or c/u (defects) chart of a product's inspections in time order."""
    defects = (
        select(DefectCount.inspection_id, func.sum(DefectCount.count).label("n"))
        .group_by(DefectCount.inspection_id)
        .subquery()
    )
    query = (
        select(
            InspectionRecord.ts_us,
            InspectionRecord.inspected,
            InspectionRecord.passed_first_time,
            func.coalesce(defects.c.n, 0),
        )
        .outerjoin(defects, defects.c.inspection_id == InspectionRecord.id)
        .order_by(InspectionRecord.ts_us, InspectionRecord.id)
    )
    rows = session.execute(_inspection_filter(query, product_code, start_us, end_us)).all()
    if not rows:
        raise InvalidInput("no inspections in this period", loc=["query"], type="not_enough_data")
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    sizes = np.array([r[1] for r in rows], dtype=np.float64)
    defectives = sizes - np.array([r[2] for r in rows], dtype=np.float64)
    defect_counts = np.array([r[3] for r in rows], dtype=np.float64)
    counts = defectives if kind in ("p", "np") else defect_counts
    try:
        chart = spc.attribute_chart(kind, counts, sizes, baseline=baseline)
    except ValueError as exc:
        raise InvalidInput(str(exc), loc=["query", "kind"]) from exc
    found = spc_rules.evaluate(chart.values, chart.limits.center, chart.limits.sigma, rules)
    return ts, sizes, chart, found


# --- lots and serials --------------------------------------------------------------------------


def get_all_lots(
    session: Session, *, prefix: str | None, status: str | None, offset: int, limit: int
) -> tuple[Sequence[MaterialLot], int]:
    """Lots by code (optionally by code prefix and status) and the total count."""
    query = select(MaterialLot)
    if prefix:
        query = query.where(MaterialLot.code.startswith(prefix, autoescape=True))
    if status is not None:
        query = query.where(MaterialLot.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(MaterialLot.code).offset(offset).limit(limit)).all()
    return items, int(total)


def add_serials(
    session: Session, *, lot_code: str, serials: Sequence[str], user: audit.UserRef
) -> list[str]:
    """Register serial numbers in a lot (each serial belongs to one lot only)."""
    lot = get_lot(session, code=lot_code)
    wanted = list(dict.fromkeys(s.strip() for s in serials if s.strip()))
    if not wanted:
        raise InvalidInput("no serial numbers given", loc=["body", "serials"])
    taken = list(
        session.scalars(select(SerialNumber.serial).where(SerialNumber.serial.in_(wanted)))
    )
    if taken:
        raise Conflict(
            f"serial(s) already registered: {', '.join(sorted(taken)[:10])}",
            loc=["body", "serials"],
        )
    for serial in wanted:
        row = SerialNumber(serial=serial, lot_id=lot.id)
        audit.stamp(row, user=user)
        session.add(row)
    audit.record(
        session,
        user=user,
        action="serials",
        entity="lot",
        entity_id=lot.id,
        details={"count": len(wanted)},
    )
    return wanted


def lot_of_serial(session: Session, *, serial: str) -> MaterialLot:
    """The lot of a serial number (NotFound otherwise)."""
    row = get_or_not_found(
        session, SerialNumber, serial, f"no serial '{serial}'", loc=["path", "serial"]
    )
    lot = session.get(MaterialLot, row.lot_id)
    assert lot is not None  # the foreign key cascades
    return lot


# --- holds ------------------------------------------------------------------------------------


def get_hold(session: Session, *, hold_id: int) -> QualityHold:
    """A hold (NotFound otherwise)."""
    return get_or_not_found(
        session, QualityHold, hold_id, f"no hold {hold_id}", loc=["path", "hold_id"]
    )


def get_all_holds(
    session: Session, *, status: str | None = None, lot_id: int | None = None
) -> Sequence[QualityHold]:
    """Holds, newest first."""
    query = select(QualityHold).order_by(QualityHold.id.desc())
    if status is not None:
        query = query.where(QualityHold.status == status)
    if lot_id is not None:
        query = query.where(QualityHold.lot_id == lot_id)
    return session.scalars(query).all()


def place_hold(
    session: Session, *, lot_code: str, reason: str, ncr_id: int | None, user: audit.UserRef
) -> QualityHold:
    """Put a lot on hold: it can no longer be consumed until the hold is closed."""
    lot = get_lot(session, code=lot_code)
    if lot.status == "on_hold":
        raise Conflict(
            f"lot '{lot_code}' is already on hold", loc=["path", "lot_code"], type="already_on_hold"
        )
    if lot.status in ("scrapped", "consumed"):
        raise Conflict(
            f"lot '{lot_code}' is {lot.status}", loc=["path", "lot_code"], type="lot_not_usable"
        )
    if ncr_id is not None and session.get(NonConformance, ncr_id) is None:
        raise InvalidInput(f"no non-conformance {ncr_id}", loc=["body", "ncr_id"])
    hold = QualityHold(lot_id=lot.id, reason=reason, ncr_id=ncr_id)
    audit.stamp(hold, user=user)
    session.add(hold)
    lot.status = "on_hold"
    audit.stamp(lot, user=user)
    session.flush()
    audit.record(
        session,
        user=user,
        action="hold",
        entity="lot",
        entity_id=lot.id,
        details={"hold_id": hold.id, "reason": reason},
    )
    outbox.add(session, LotHeld(hold_id=hold.id, lot_code=lot.code, reason=reason))
    return hold


def close_hold(
    session: Session,
    *,
    hold: QualityHold,
    outcome: str,
    note: str,
    user: audit.UserRef,
    now_us: int,
) -> QualityHold:
    """Close an open hold: released (lot usable again), scrapped, or sent to rework."""
    if outcome not in LOT_STATUS_AFTER_HOLD:
        raise InvalidInput(f"unknown outcome '{outcome}'", loc=["body", "outcome"])
    if hold.status != "open":
        raise Conflict(
            f"hold {hold.id} is already {hold.status}", loc=["path", "hold_id"], type="hold_closed"
        )
    lot = session.get(MaterialLot, hold.lot_id)
    assert lot is not None  # the foreign key cascades
    hold.status = outcome
    hold.outcome_note = note
    hold.closed_by = audit.username_of(user)
    hold.closed_at_us = now_us
    audit.stamp(hold, user=user)
    lot.status = LOT_STATUS_AFTER_HOLD[outcome]
    audit.stamp(lot, user=user)
    audit.record(
        session,
        user=user,
        action=f"hold_{outcome}",
        entity="lot",
        entity_id=lot.id,
        details={"hold_id": hold.id, "note": note},
    )
    outbox.add(session, LotHoldClosed(hold_id=hold.id, lot_code=lot.code, outcome=outcome))
    return hold


# --- non-conformances --------------------------------------------------------------------------


def get_ncr(session: Session, *, ncr_id: int) -> NonConformance:
    """A non-conformance (NotFound otherwise)."""
    return get_or_not_found(
        session, NonConformance, ncr_id, f"no non-conformance {ncr_id}", loc=["path", "ncr_id"]
    )


def get_all_ncrs(session: Session, *, status: str | None = None) -> Sequence[NonConformance]:
    """Non-conformances, newest first."""
    query = select(NonConformance).order_by(NonConformance.id.desc())
    if status is not None:
        query = query.where(NonConformance.status == status)
    return session.scalars(query).all()


def create_ncr(session: Session, *, fields: dict[str, Any], user: audit.UserRef) -> NonConformance:
    """Open a non-conformance report."""
    fields = dict(fields)
    lot_code = fields.pop("lot_code", None)
    lot = get_lot(session, code=lot_code) if lot_code else None
    if fields.get("characteristic_id") is not None:
        get_characteristic(session, characteristic_id=fields["characteristic_id"])
    if (
        fields.get("defect_code") is not None
        and session.get(DefectCode, fields["defect_code"]) is None
    ):
        raise InvalidInput(f"no defect code '{fields['defect_code']}'", loc=["body", "defect_code"])
    ncr = NonConformance(**fields, lot_id=lot.id if lot else None)
    audit.stamp(ncr, user=user)
    session.add(ncr)
    session.flush()
    audit.record(
        session,
        user=user,
        action="create",
        entity="ncr",
        entity_id=ncr.id,
        details={"title": ncr.title, "severity": ncr.severity},
    )
    outbox.add(
        session,
        NonConformanceRaised(
            ncr_id=ncr.id,
            title=ncr.title,
            severity=ncr.severity,
            lot_code=lot.code if lot else None,
        ),
    )
    return ncr


def disposition_ncr(
    session: Session, *, ncr: NonConformance, disposition: str, note: str, user: audit.UserRef
) -> NonConformance:
    """Decide what happens to the non-conforming material (may be revised until closed)."""
    if ncr.status == "closed":
        raise Conflict(
            f"non-conformance {ncr.id} is closed", loc=["path", "ncr_id"], type="ncr_closed"
        )
    ncr.disposition = disposition
    ncr.disposition_note = note
    ncr.status = "dispositioned"
    audit.stamp(ncr, user=user)
    audit.record(
        session,
        user=user,
        action="disposition",
        entity="ncr",
        entity_id=ncr.id,
        details={"disposition": disposition, "note": note},
    )
    return ncr


def close_ncr(session: Session, *, ncr: NonConformance, user: audit.UserRef) -> NonConformance:
    """Close a dispositioned non-conformance."""
    if ncr.status == "closed":
        raise Conflict(
            f"non-conformance {ncr.id} is already closed", loc=["path", "ncr_id"], type="ncr_closed"
        )
    if ncr.disposition is None:
        raise Conflict(
            "a non-conformance needs a disposition before it is closed",
            loc=["path", "ncr_id"],
            type="ncr_without_disposition",
        )
    ncr.status = "closed"
    audit.stamp(ncr, user=user)
    audit.record(session, user=user, action="close", entity="ncr", entity_id=ncr.id)
    return ncr
