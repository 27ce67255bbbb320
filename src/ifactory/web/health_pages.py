"""Machine health pages: the plant's machines ranked by risk, and one machine's health.

The server renders the ranking and the machine's open alerts from the analytics services; the
charts (anomaly score trend, RUL with its band, each alert's evidence from the historian) are
drawn by `health.js` from /api/analytics and /api/history, and the page follows alert changes
live through /api/analytics/events.

The models page lists the failure-prediction (RUL) model registry: every version of every
machine class's model with what it was trained on, its data window and its figures, the one in
use marked. Its "Retrain from records" form posts to /api/analytics/models/train (the API
checks the roles and the request's origin) and the page polls that job until it is over.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ifactory.analytics import alert_service, health
from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics import service as prognostics
from ifactory.analytics.prognostics.features import machine_tags
from ifactory.analytics.prognostics.models import PrognosticModel
from ifactory.auth import service as auth_service
from ifactory.auth.principal import Principal
from ifactory.auth.roles import Role
from ifactory.core.clock import to_datetime
from ifactory.core.db import Database
from ifactory.plant.spec import Level
from ifactory.web import pages, views

router = APIRouter(tags=["pages"], include_in_schema=False)
HOUR_US = 3600 * 1_000_000
RANGES_H = (8, 24, 168)
# Who may retrain the models (the API checks the same roles; admin may do everything).
TRAINER_ROLES = (Role.planner, Role.manager)


def _db(request: Request) -> Database:
    db: Database = request.app.state.platform.db
    return db


def _page(request: Request, template: str, title: str, context: dict[str, Any]) -> HTMLResponse:
    platform = pages._platform(request)
    now_us = platform.clock.now_us()
    data = context.pop("page_data", {})
    return pages._render(
        request,
        template,
        {
            "nav": "health",
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": {"now_us": now_us, **data},
            **context,
        },
    )


@router.get("/machine-health", response_class=HTMLResponse, name="machine_health")
def overview(request: Request) -> HTMLResponse:
    """Every machine ranked by risk: open alerts, anomaly score of the last hour, predicted RUL."""
    platform = pages._platform(request)
    now_us = platform.clock.now_us()
    with _db(request).session() as session:
        risks, rul_available = health.ranking(session, registry=platform.registry, now_us=now_us)
    ranking = health.ranking_read(risks, rul_available, now_us)
    return _page(
        request,
        "health_overview.html",
        "Machine health",
        {
            "ranking": ranking,
            "page_data": {"view": "overview", "ranking": ranking.model_dump(mode="json")},
        },
    )


def _fmt_time(zone: ZoneInfo, ts_us: int | None) -> str:
    if ts_us is None:
        return "–"
    return to_datetime(ts_us).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _figures(metrics: Any) -> dict[str, str] | None:
    """MAE, RMSE and 10-90 % band coverage of a metrics block, as shown; None when absent."""
    if not isinstance(metrics, dict) or "mae_h" not in metrics:
        return None
    out = {"mae": f"{float(metrics['mae_h']):.1f} h"}
    if metrics.get("rmse_h") is not None:
        out["rmse"] = f"{float(metrics['rmse_h']):.1f} h"
    if metrics.get("band_coverage") is not None:
        out["coverage"] = f"{100 * float(metrics['band_coverage']):.0f} %"
    if metrics.get("rows") is not None:
        out["rows"] = f"{int(metrics['rows']):,}"
    return out


def _compared(in_use: Any) -> dict[str, Any] | None:
    """The version that was in use, scored on the same validation hours, when recorded."""
    figures = _figures(in_use)
    if figures is None:
        return None
    return {
        "version": in_use.get("version"),
        "mae": figures["mae"],
        "seen": bool(in_use.get("trained_on_these_hours")),
    }


def source_text(training_data: dict[str, Any]) -> str:
    """Where a model's run-to-failure histories came from, in words."""
    source = training_data.get("source")
    if source == "simulator":
        seeds = ", ".join(str(s) for s in training_data.get("seeds") or [])
        days = training_data.get("days")
        each = f", {days:g} days each" if isinstance(days, int | float) else ""
        return f"Simulated plant (seeds {seeds}{each})" if seeds else "Simulated plant"
    if source == "records":
        return "This plant's records (historian and recorded failures)"
    return str(source) if source else "not recorded"


def model_view(
    row: PrognosticModel, *, in_use: bool, served: int, zone: ZoneInfo
) -> dict[str, Any]:
    """A registry entry as the models page and the machine page show it."""
    metrics = dict(row.metrics or {})
    data = dict(row.training_data or {})
    train: dict[str, Any] = metrics["train"] if isinstance(metrics.get("train"), dict) else {}
    failures = metrics.get("failures", data.get("failures"))
    held_out: dict[str, Any] = (
        metrics["validation"] if isinstance(metrics.get("validation"), dict) else {}
    )
    validation = _figures(held_out)
    return {
        "id": row.id,
        "anchor": f"{row.machine_class}-v{row.version}",
        "machine_class": row.machine_class,
        "class_label": row.machine_class.replace("_", " "),
        "version": row.version,
        "created": row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "source": data.get("source") or "",
        "source_text": source_text(data),
        "window_start": _fmt_time(zone, int(row.train_start_us)),
        "window_end": _fmt_time(zone, int(row.train_end_us)),
        "failures": "–" if failures is None else str(failures),
        "rows": f"{int(train['rows']):,}" if train.get("rows") is not None else "–",
        "validation": validation,
        # Without a held-out validation, only the fit on the training rows can be shown.
        "in_sample": None if validation is not None else _figures(train),
        "validation_skipped": held_out.get("skipped"),
        "compared": _compared(held_out.get("in_use")),
        "in_use": in_use,
        "served": served,
    }


def model_views(rows: list[PrognosticModel], registry: Any, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Registry rows (newest first per class) as shown, the latest of each class in use."""
    return [
        model_view(use.row, in_use=use.in_use, served=use.machines_served, zone=zone)
        for use in model_registry.usage(rows, registry)
    ]


def _principal(request: Request, session: Any) -> Principal | None:
    # The session cookie's user, checked as the API checks it (active, same session epoch).
    user = auth_service.session_user(session, request.scope.get("session") or {})
    return None if user is None else Principal.from_user(user, authenticated_by="session")


@router.get("/machine-health/models", response_class=HTMLResponse, name="prognostic_models")
def models(request: Request) -> HTMLResponse:
    """The failure-prediction models: every version per class, its data, window and figures."""
    platform = pages._platform(request)
    zone = ZoneInfo(views.site_timezone(platform.registry))
    with _db(request).session() as session:
        entries = model_views(model_registry.get_all(session), platform.registry, zone)
        user = _principal(request, session)
    classes: dict[str, list[dict[str, Any]]] = {}
    for v in entries:
        classes.setdefault(v["machine_class"], []).append(v)
    return _page(
        request,
        "health_models.html",
        "Failure-prediction models",
        {
            "classes": classes,
            "user": user,
            "can_train": user is not None and user.has_any_role(*TRAINER_ROLES),
            "page_data": {"view": "models"},
        },
    )


def _estimate_model(
    session: Any, machine_id: int, registry: Any, zone: ZoneInfo
) -> dict[str, Any] | None:
    """The machine's newest RUL estimate and the registry entry of the model that made it."""
    estimate = next(
        (e for e in prognostics.latest_rul(session) if e.machine_id == machine_id), None
    )
    if estimate is None:
        return None
    rows = model_registry.get_all(session)
    row = next((r for r in rows if r.id == estimate.model_id), None)
    node = registry.nodes.get(machine_id)
    if row is None:  # the model row was deleted (model_id set to NULL): match class and version
        cls = next(
            (m.machine_class for m in machine_tags(registry) if m.machine_id == machine_id), None
        )
        row = next(
            (r for r in rows if r.machine_class == cls and r.version == estimate.model_version),
            None,
        )
    model = None
    latest = None
    if row is not None:
        same = [r for r in rows if r.machine_class == row.machine_class]
        latest = same[0].version
        model = model_view(row, in_use=row.version == latest, served=0, zone=zone)
    return {
        "at": _fmt_time(zone, int(estimate.ts_us)),
        "rul_h": f"{estimate.rul_h:.0f} h",
        "band": f"{estimate.low_h:.0f}–{estimate.high_h:.0f} h",
        "version": estimate.model_version,
        "model": model,
        "latest_version": latest,
        "machine": node.name if node is not None else str(machine_id),
    }


@router.get("/machine-health/{key:path}", response_class=HTMLResponse, name="machine_health_of")
def machine(request: Request, key: str) -> HTMLResponse:
    """One machine: anomaly score and RUL trends, open alerts with their evidence, past alerts."""
    platform = pages._platform(request)
    reg = platform.registry
    node = reg.nodes_by_key.get(key.strip("/"))
    if node is None or node.level != Level.work_unit:
        return pages._render(
            request,
            "not_found.html",
            {"title": "Not found", "message": f"There is no machine '{key}'."},
            status_code=404,
        )
    now_us = platform.clock.now_us()
    with _db(request).session() as session:
        current = health.machine_health(
            session, registry=reg, machine=node, start_us=now_us - 24 * HOUR_US, end_us=now_us + 1
        )
        past, _ = alert_service.get_all(
            session, machine_ids=[node.id], states=["cleared"], limit=20
        )
        past_read = [health.alert_read(a, reg) for a in past]
        zone = ZoneInfo(views.site_timezone(reg, node))
        estimate = _estimate_model(session, node.id, reg, zone)
    tags = [
        views.tag_json(reg.tags[t]) for t in node.tags if reg.tags[t].data_type in ("float", "int")
    ]
    return _page(
        request,
        "health_machine.html",
        f"Health · {node.name}",
        {
            "node": node,
            "ancestors": list(reversed(reg.ancestors(node.id))),
            "open_alerts": current.open_alerts,
            "past_alerts": past_read,
            "rul_available": current.rul is not None,
            "estimate": estimate,
            "page_data": {
                "view": "machine",
                "machine": {"id": node.id, "key": node.key, "name": node.name},
                "tags": tags,
                "ranges_h": list(RANGES_H),
                "health": current.model_dump(mode="json"),
            },
        },
    )
