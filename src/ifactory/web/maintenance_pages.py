"""Maintenance pages: work orders (list and board), a work order's detail, the work request form,
assets with their installation history, open work and MTBF/MTTR.

Server-rendered from the maintenance services so every figure is on the first paint. The page
script (maintenance.js) posts the forms as JSON to /api/maintenance (which checks the user's
roles and the lifecycle rules) and refreshes the board live from /api/maintenance/events.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ifactory.core.clock import to_datetime
from ifactory.core.errors import NotFound
from ifactory.inventory.models import SparePart
from ifactory.maintenance import assets, catalog, execution, lifecycle, service
from ifactory.maintenance.lifecycle import Priority, WorkOrderState, WorkOrderType
from ifactory.maintenance.models import WorkOrder
from ifactory.production.models import DowntimeEvent
from ifactory.web import pages, views

if TYPE_CHECKING:
    from ifactory.platform import Platform

router = APIRouter(tags=["pages"], include_in_schema=False)
US = 1_000_000
DAY_US = 86_400 * US
PAGE_SIZE = 50
STATE_LABELS = {
    "requested": "Requested",
    "approved": "Approved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "on_hold": "On hold",
    "completed": "Completed",
    "closed": "Closed",
    "cancelled": "Cancelled",
}
# Board columns: the open flow, then done; closed and cancelled are in the list.
BOARD_STATES = ("requested", "approved", "scheduled", "in_progress", "on_hold", "completed")


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _zone(platform: Platform) -> ZoneInfo:
    return ZoneInfo(views.site_timezone(platform.registry))


def fmt_time(zone: ZoneInfo, ts_us: int | None) -> str:
    """Plant time of a timestamp ("2026-11-24 14:05"), or a dash."""
    if ts_us is None:
        return "–"
    return to_datetime(ts_us).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def fmt_dt(zone: ZoneInfo, dt: datetime | None) -> str:
    """Plant time of a datetime, or a dash."""
    return "–" if dt is None else dt.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _machines(platform: Platform) -> list[dict[str, Any]]:
    return [
        {"id": n.id, "name": n.name or n.key.rsplit("/", 1)[-1], "key": n.key}
        for n in platform.registry.machines()
    ]


def _machine_name(platform: Platform, machine_id: int) -> str:
    node = platform.registry.nodes.get(machine_id)
    return (node.name or node.key) if node is not None else f"#{machine_id}"


def _int(value: str | None) -> int | None:
    """A query parameter as an int; an empty or bad one (a form's "any" choice) is no filter."""
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _render(request: Request, template: str, title: str, context: dict[str, Any]) -> HTMLResponse:
    platform = _platform(request)
    now_us = platform.clock.now_us()
    data = context.pop("page_data", {})
    return pages._render(
        request,
        template,
        {
            "nav": "maintenance",
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": {"now_us": now_us, **data},
            "state_labels": STATE_LABELS,
            **context,
        },
    )


def _not_found(request: Request, message: str) -> HTMLResponse:
    return pages._render(
        request, "not_found.html", {"title": "Not found", "message": message}, status_code=404
    )


def _row(platform: Platform, zone: ZoneInfo, wo: WorkOrder, now_us: int) -> dict[str, Any]:
    overdue = (
        wo.due_us is not None
        and wo.due_us < now_us
        and wo.state in [s.value for s in lifecycle.OPEN_STATES]
    )
    return {
        "wo": wo,
        "machine": _machine_name(platform, wo.machine_id),
        "due": fmt_time(zone, wo.due_us),
        "overdue": overdue,
        "created": fmt_dt(zone, wo.created_at),
        "age_days": max(0.0, (now_us / US - wo.created_at.timestamp()) / 86_400),
    }


@router.get("/maintenance", response_class=HTMLResponse, name="maintenance")
@router.get("/maintenance/work-orders", response_class=HTMLResponse, name="maintenance_work_orders")
def work_orders(
    request: Request,
    state: str | None = None,
    type: str | None = None,
    machine: str | None = Query(default=None, alias="machine_id"),
    q: str | None = None,
    open_only: bool = False,
    page: int = Query(default=1, ge=1),
) -> HTMLResponse:
    """Work orders as a list, filtered by state, type, machine or text, newest first."""
    machine_id = _int(machine)
    platform = _platform(request)
    zone = _zone(platform)
    now = platform.clock.now_us()
    f = service.WorkOrderFilter(
        states=[state] if state else None,
        types=[type] if type else None,
        machine_id=machine_id,
        search=q or None,
        open_only=open_only,
    )
    with platform.db.session() as session:
        rows, total = service.get_all(
            session, filters=f, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        items = [_row(platform, zone, w, now) for w in rows]
        counts = service.counts_by_state(session)
    pages_n = max(1, -(-total // PAGE_SIZE))
    return _render(
        request,
        "maintenance_work_orders.html",
        "Work orders",
        {
            "sub": "list",
            "items": items,
            "total": total,
            "page": page,
            "pages": pages_n,
            "counts": counts,
            "machines": _machines(platform),
            "types": [t.value for t in WorkOrderType],
            "filters": {
                "state": state or "",
                "type": type or "",
                "machine_id": machine_id,
                "q": q or "",
                "open_only": open_only,
            },
        },
    )


@router.get("/maintenance/board", response_class=HTMLResponse, name="maintenance_board")
def board(
    request: Request, machine: str | None = Query(default=None, alias="machine_id")
) -> HTMLResponse:
    """Open work by state, one column per state; it refreshes itself when work orders change."""
    machine_id = _int(machine)
    platform = _platform(request)
    zone = _zone(platform)
    now = platform.clock.now_us()
    columns = []
    with platform.db.session() as session:
        counts = service.counts_by_state(
            session, filters=service.WorkOrderFilter(machine_id=machine_id)
        )
        for state in BOARD_STATES:
            rows, _total = service.get_all(
                session,
                filters=service.WorkOrderFilter(states=[state], machine_id=machine_id),
                limit=100,
            )
            columns.append(
                {
                    "state": state,
                    "label": STATE_LABELS[state],
                    "count": counts.get(state, 0),
                    "cards": [_row(platform, zone, w, now) for w in rows],
                }
            )
    return _render(
        request,
        "maintenance_board.html",
        "Work order board",
        {
            "sub": "board",
            "columns": columns,
            "machines": _machines(platform),
            "machine_id": machine_id,
            "page_data": {
                "board": {"states": list(BOARD_STATES), "machine_id": machine_id},
                "state_labels": STATE_LABELS,
                "machines": {m["id"]: m["name"] for m in _machines(platform)},
            },
        },
    )


@router.get(
    "/maintenance/work-orders/{work_order_id}",
    response_class=HTMLResponse,
    name="maintenance_work_order",
)
def work_order(request: Request, work_order_id: int) -> HTMLResponse:
    """One work order: state and its history, checklist, lockout/tagout, people, labour, parts."""
    platform = _platform(request)
    zone = _zone(platform)
    now = platform.clock.now_us()
    with platform.db.session() as session:
        try:
            wo = service.get_work_order(session, work_order_id=work_order_id)
        except NotFound:
            return _not_found(request, f"There is no work order {work_order_id}.")
        summary = execution.summary(session, work_order=wo, now_us=now)
        transitions = service.get_transitions(session, work_order_id=wo.id)
        tasks = execution.get_tasks(session, work_order_id=wo.id)
        loto = execution.get_loto_steps(session, work_order_id=wo.id)
        labour = execution.get_labour(session, work_order_id=wo.id)
        parts = execution.get_parts(session, work_order_id=wo.id)
        reservations = execution.get_reservations(session, work_order_id=wo.id)
        assignments = execution.get_assignments(session, work_order_id=wo.id)
        downtime = execution.get_downtime(session, work_order_id=wo.id)
        part_rows = session.scalars(select(SparePart).order_by(SparePart.part_number)).all()
        part_names = {p.id: f"{p.part_number} · {p.name}" for p in part_rows}
        recent_downtime = session.scalars(
            select(DowntimeEvent)
            .where(
                DowntimeEvent.machine_id == wo.machine_id,
                DowntimeEvent.start_us >= wo.created_at.timestamp() * US - 7 * DAY_US,
            )
            .order_by(DowntimeEvent.start_us.desc())
            .limit(20)
        ).all()
        codes = catalog.get_failure_codes(session, active=True)
        crafts = catalog.get_crafts(session)
        asset = assets.get_asset(session, asset_id=wo.asset_id) if wo.asset_id else None
        parent = (
            service.get_work_order(session, work_order_id=wo.parent_id) if wo.parent_id else None
        )
        children, _ = service.get_all(session, filters=service.WorkOrderFilter(parent_id=wo.id))
        machine_assets, _ = assets.get_all_assets(session, machine_id=wo.machine_id)
    code_names = {c.id: f"{c.code} · {c.name}" for c in codes}
    allowed = [s.value for s in lifecycle.allowed(WorkOrderState(wo.state))]
    node = platform.registry.nodes.get(wo.machine_id)
    return _render(
        request,
        "maintenance_work_order.html",
        f"{wo.number} · {wo.title}",
        {
            "sub": "list",
            "wo": wo,
            "machine": _machine_name(platform, wo.machine_id),
            "machine_key": node.key if node is not None else None,
            "asset": asset,
            "parent": parent,
            "children": children,
            "summary": summary,
            "transitions": [
                {"t": t, "at": fmt_dt(zone, t.at), "label": STATE_LABELS.get(t.to_state)}
                for t in transitions
            ],
            "tasks": [{"t": t, "done_at": fmt_dt(zone, t.done_at)} for t in tasks],
            "loto": [
                {
                    "s": s,
                    "confirmed_at": fmt_dt(zone, s.confirmed_at),
                    "released_at": fmt_dt(zone, s.released_at),
                }
                for s in loto
            ],
            "labour": labour,
            "parts": [{"p": p, "name": part_names.get(p.part_id, f"#{p.part_id}")} for p in parts],
            "reservations": [
                {"r": r, "name": part_names.get(r.part_id, f"#{r.part_id}")} for r in reservations
            ],
            "assignments": assignments,
            "downtime": [
                {
                    "d": d,
                    "start": fmt_time(zone, d.start_us),
                    "end": fmt_time(zone, d.end_us),
                    "minutes": ((d.end_us or now) - d.start_us) / US / 60,
                }
                for d in downtime
            ],
            "recent_downtime": [
                {"d": d, "start": fmt_time(zone, d.start_us)}
                for d in recent_downtime
                if d.id not in {x.id for x in downtime}
            ],
            "spare_parts": part_rows,
            "codes": {k: [c for c in codes if c.kind == k] for k in ("problem", "cause", "remedy")},
            "code_names": code_names,
            "crafts": crafts,
            "machine_assets": machine_assets,
            "priorities": [p.value for p in Priority],
            "allowed": allowed,
            "due": fmt_time(zone, wo.due_us),
            "scheduled_start": fmt_time(zone, wo.scheduled_start_us),
            "scheduled_end": fmt_time(zone, wo.scheduled_end_us),
            "started": fmt_time(zone, wo.started_us),
            "completed": fmt_time(zone, wo.completed_us),
            "evidence": wo.evidence,
            "page_data": {
                "work_order": {
                    "id": wo.id,
                    "number": wo.number,
                    "state": wo.state,
                    "machine_id": wo.machine_id,
                },
                "evidence": _evidence_chart(platform, wo.evidence),
            },
        },
    )


def _evidence_chart(platform: Platform, evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    """The historian window of the evidence, with the machine's measurements to plot (up to 4)."""
    window = (evidence or {}).get("historian")
    if not isinstance(window, dict) or "start_us" not in window or "end_us" not in window:
        return None
    tags = [
        platform.registry.tags[t] for t in window.get("tag_ids", []) if t in platform.registry.tags
    ]
    plotted = [t for t in tags if t.role == "measurement" and t.data_type == "float"][:4]
    payload = (evidence or {}).get("payload") or {}
    return {
        "start_us": int(window["start_us"]),
        "end_us": int(window["end_us"]),
        "event_start_us": payload.get("start_us"),
        "event_end_us": payload.get("end_us"),
        "tags": [{"id": t.id, "name": t.name, "unit": t.unit} for t in plotted],
    }


@router.get("/maintenance/request", response_class=HTMLResponse, name="maintenance_request")
def work_request(
    request: Request, machine: str | None = Query(default=None, alias="machine_id")
) -> HTMLResponse:
    """The simple form operators use to report a problem with a machine."""
    machine_id = _int(machine)
    platform = _platform(request)
    return _render(
        request,
        "maintenance_request.html",
        "Request maintenance",
        {
            "sub": "request",
            "machines": _machines(platform),
            "machine_id": machine_id,
            "priorities": [p.value for p in Priority],
        },
    )


@router.get("/maintenance/assets", response_class=HTMLResponse, name="maintenance_assets")
def asset_list(
    request: Request,
    machine: str | None = Query(default=None, alias="machine_id"),
    q: str | None = None,
) -> HTMLResponse:
    """Serialised assets and where each is installed."""
    machine_id = _int(machine)
    platform = _platform(request)
    with platform.db.session() as session:
        rows, total = assets.get_all_assets(
            session, machine_id=machine_id, search=q or None, limit=500
        )
        open_counts: dict[int, int] = {}
        for a in rows:
            _w, n = service.get_all(
                session, filters=service.WorkOrderFilter(asset_id=a.id, open_only=True), limit=1
            )
            open_counts[a.id] = n
    return _render(
        request,
        "maintenance_assets.html",
        "Assets",
        {
            "sub": "assets",
            "items": [
                {
                    "a": a,
                    "machine": _machine_name(platform, a.machine_id) if a.machine_id else None,
                    "open": open_counts.get(a.id, 0),
                }
                for a in rows
            ],
            "total": total,
            "machines": _machines(platform),
            "machine_id": machine_id,
            "q": q or "",
        },
    )


def _reliability(
    platform: Platform, session: Any, asset_id: int, machine_id: int | None, now: int
) -> dict[str, Any] | None:
    """MTBF/MTTR of the asset (and of its machine) over the last year, from reliability.py."""
    try:
        from ifactory.maintenance import reliability
    except ImportError:  # pragma: no cover - reliability ships with the maintenance package
        return None
    start = now - 365 * DAY_US
    comp = reliability.components(
        session, start_us=start, end_us=now, now_us=now, asset_ids=[asset_id]
    )
    mach = (
        reliability.machines(
            session, machine_ids=[machine_id], start_us=start, end_us=now, now_us=now
        )
        if machine_id is not None
        else []
    )
    return {"asset": comp[0] if comp else None, "machine": mach[0] if mach else None}


@router.get("/maintenance/assets/{asset_id}", response_class=HTMLResponse, name="maintenance_asset")
def asset_page(request: Request, asset_id: int) -> HTMLResponse:
    """An asset: data, documents, spare parts, installation history, open work, MTBF/MTTR."""
    platform = _platform(request)
    zone = _zone(platform)
    now = platform.clock.now_us()
    with platform.db.session() as session:
        try:
            asset = assets.get_asset(session, asset_id=asset_id)
        except NotFound:
            return _not_found(request, f"There is no asset {asset_id}.")
        history, _ = assets.get_installations(session, asset_id=asset.id, limit=500)
        docs = assets.get_documents(session, asset_id=asset.id)
        spare = assets.get_spare_parts(session, asset_id=asset.id)
        open_work, _ = service.get_all(
            session, filters=service.WorkOrderFilter(asset_id=asset.id, open_only=True)
        )
        past_work, _ = service.get_all(
            session,
            filters=service.WorkOrderFilter(asset_id=asset.id, states=["completed", "closed"]),
            limit=20,
        )
        rel = _reliability(platform, session, asset.id, asset.machine_id, now)
        parts = session.scalars(select(SparePart).order_by(SparePart.part_number)).all()
    return _render(
        request,
        "maintenance_asset.html",
        f"{asset.code} · {asset.name}",
        {
            "sub": "assets",
            "asset": asset,
            "machine": _machine_name(platform, asset.machine_id) if asset.machine_id else None,
            "history": [
                {
                    "i": i,
                    "machine": _machine_name(platform, i.machine_id),
                    "installed": fmt_dt(zone, i.installed_at),
                    "removed": fmt_dt(zone, i.removed_at) if i.removed_at else None,
                    "days": (
                        (i.removed_at.timestamp() if i.removed_at else now / US)
                        - i.installed_at.timestamp()
                    )
                    / 86_400,
                }
                for i in history
            ],
            "docs": docs,
            "spare": spare,
            "open_work": [_row(platform, zone, w, now) for w in open_work],
            "past_work": [_row(platform, zone, w, now) for w in past_work],
            "rel": rel,
            "machines": _machines(platform),
            "parts": parts,
            "page_data": {"asset": {"id": asset.id, "code": asset.code}},
        },
    )
