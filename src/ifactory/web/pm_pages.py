"""Preventive maintenance pages: PM plans with their next due dates, a calendar of upcoming work
(weeks x machines, placed into planned stops) and the reliability KPIs.

Server-rendered from the maintenance services, so every figure is on the first paint; the only
script (pm.js) posts "generate now" to the API (which checks the user's roles) and reloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ifactory.core.clock import to_datetime
from ifactory.maintenance import forecast as pm_forecast
from ifactory.maintenance import pm, reliability
from ifactory.maintenance.pm_models import PMPlan
from ifactory.web import pages, views

if TYPE_CHECKING:
    from ifactory.platform import Platform

router = APIRouter(tags=["pages"], include_in_schema=False)
US = 1_000_000
DAY_US = 86_400 * US
UNIT_LABEL = {"hours": "h", "days": "d", "weeks": "wk", "months": "mo"}
METER_UNIT = {"run_hours": "run hours", "cycles": "cycles", "energy": "kWh"}


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(views.site_timezone(_platform(request).registry))


def _fmt(zone: ZoneInfo, ts_us: int | None, *, time: bool = True) -> str:
    if ts_us is None:
        return "–"
    local = to_datetime(ts_us).astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M" if time else "%Y-%m-%d")


def describe_trigger(kind: str, params: dict[str, Any]) -> str:
    """A trigger in words ("every 7 d (fixed)", "every 500 cycles", "vibration_rms > 7.1 for 10 min")."""
    if kind == "calendar":
        every = params["every"]
        every_txt = f"{every:g}" if isinstance(every, float) else str(every)
        return (
            f"every {every_txt} {UNIT_LABEL.get(params.get('unit', 'days'), '')} ({params['mode']})"
        )
    if kind == "meter":
        meter = params.get("tag_name") if params["meter"] == "tag" else METER_UNIT[params["meter"]]
        value = f"{params['value']:g}"
        mode = params.get("mode", "every")
        if mode == "every":
            return f"every {value} {meter}"
        if mode == "milestone":
            return f"at {value} {meter}"
        return f"{meter} {'>' if mode == 'above' else '<'} {value}"
    parts = []
    if params.get("tag_name"):
        op = ">" if params.get("operator", "above") == "above" else "<"
        minutes = float(params.get("duration_s", 600)) / 60
        parts.append(f"{params['tag_name']} {op} {params['limit']:g} for {minutes:g} min")
    if params.get("event_type"):
        parts.append(f"event {params['event_type']}")
    return " and ".join(parts)


def _target(platform: Any, plan: PMPlan) -> str:
    if plan.machine_id is not None:
        node = platform.registry.nodes.get(plan.machine_id)
        return node.name if node is not None else str(plan.machine_id)
    if plan.equipment_class is not None:
        return f"all {plan.equipment_class.replace('_', ' ')} machines"
    return f"asset #{plan.asset_id}"


def _render(request: Request, template: str, title: str, context: dict[str, Any]) -> HTMLResponse:
    platform = _platform(request)
    now_us = platform.clock.now_us()
    return pages._render(
        request,
        template,
        {
            "nav": "maintenance",
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": {"now_us": now_us},
            **context,
        },
    )


@router.get("/maintenance/pm", response_class=HTMLResponse, name="maintenance_pm")
def plans_page(request: Request) -> HTMLResponse:
    """PM plans with their triggers and the next due date on each machine."""
    platform = _platform(request)
    zone = _zone(request)
    now = platform.clock.now_us()
    with platform.db.session() as session:
        plans = pm.get_all_plans(session)
        due = pm.next_due(
            session, registry=platform.registry, store=platform.store, now_us=now, plans=plans
        )
        rows = []
        for plan in plans:
            mine = sorted(
                (d for d in due if d.plan_id == plan.id),
                key=lambda d: (d.due_us is None, d.due_us or 0),
            )
            rows.append(
                {
                    "plan": plan,
                    "target": _target(platform, plan),
                    "triggers": [describe_trigger(t.kind, t.params) for t in plan.triggers],
                    "next": [
                        {
                            "machine": platform.registry.nodes[d.machine_id].name,
                            "due": _fmt(zone, d.due_us),
                            "overdue": d.due_us is not None and d.due_us <= now,
                            "projected": d.projected,
                        }
                        for d in mine
                    ],
                }
            )
    return _render(request, "pm_plans.html", "PM plans", {"rows": rows})


@router.get("/maintenance/pm/calendar", response_class=HTMLResponse, name="maintenance_pm_calendar")
def calendar_page(request: Request, weeks: int = Query(default=4, ge=1, le=26)) -> HTMLResponse:
    """Upcoming PM work as weeks x machines, each job in the planned stop it was placed into."""
    platform = _platform(request)
    zone = _zone(request)
    now = platform.clock.now_us()
    with platform.db.session() as session:
        plans = pm.get_all_plans(session, active=True)
        jobs = pm_forecast.forecast(
            session,
            registry=platform.registry,
            store=platform.store,
            now_us=now,
            weeks=weeks,
            plans=plans,
        )
    week_starts = [now + i * pm_forecast.WEEK_US for i in range(weeks)]
    machines = [m for m in platform.registry.machines() if any(j.machine_id == m.id for j in jobs)]
    grid: dict[int, list[list[dict[str, Any]]]] = {
        m.id: [[] for _ in week_starts] for m in machines
    }
    for j in jobs:
        week = min(weeks - 1, max(0, (j.due_us - now) // pm_forecast.WEEK_US))
        grid[j.machine_id][week].append(
            {
                "plan": j.plan_name,
                "due": _fmt(zone, j.due_us),
                "slot": (
                    f"{_fmt(zone, j.slot_start_us)} – {_fmt(zone, j.slot_end_us)[-5:]}"
                    if j.slot_start_us is not None
                    else None
                ),
                "placement": j.placement,
                "projected": j.projected,
                "hours": j.estimated_hours,
            }
        )
    unplaced = sum(1 for j in jobs if j.placement == pm_forecast.NO_STOP)
    return _render(
        request,
        "pm_calendar.html",
        "PM calendar",
        {
            "weeks": weeks,
            "week_labels": [_fmt(zone, w, time=False) for w in week_starts],
            "machines": machines,
            "grid": grid,
            "total": len(jobs),
            "unplaced": unplaced,
        },
    )


def _pct(k: reliability.Kpi) -> str:
    return "n/a" if k.value is None else f"{k.value * 100:.1f} %"


def _hours(k: reliability.Kpi) -> str:
    return "n/a" if k.value is None else f"{k.value:.1f} h"


@router.get("/maintenance/reliability", response_class=HTMLResponse, name="maintenance_reliability")
def reliability_page(request: Request, days: int = Query(default=30, ge=1, le=365)) -> HTMLResponse:
    """MTBF, MTTR and availability per machine and component; PM compliance, backlog, age."""
    platform = _platform(request)
    now = platform.clock.now_us()
    start = now - days * DAY_US
    machine_ids = [m.id for m in platform.registry.machines()]
    with platform.db.session() as session:
        per_machine = reliability.machines(
            session, machine_ids=machine_ids, start_us=start, end_us=now, now_us=now
        )
        parts = reliability.components(session, start_us=start, end_us=now, now_us=now)
        kpis = reliability.maintenance_kpis(session, start_us=start, end_us=now, now_us=now)
    names = {m.id: m.name for m in platform.registry.machines()}
    fmt = {"pct": _pct, "hours": _hours}
    return _render(
        request,
        "pm_reliability.html",
        "Reliability",
        {
            "days": days,
            "start": _fmt(_zone(request), start),
            "rows": per_machine,
            "parts": parts,
            "kpis": kpis,
            "names": names,
            "fmt": fmt,
            "generated_at": datetime.now(_zone(request)).strftime("%H:%M"),
        },
    )
