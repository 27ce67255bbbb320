"""Machine health pages: the plant's machines ranked by risk, and one machine's health.

The server renders the ranking and the machine's open alerts from the analytics services; the
charts (anomaly score trend, RUL with its band, each alert's evidence from the historian) are
drawn by `health.js` from /api/analytics and /api/history, and the page follows alert changes
live through /api/analytics/events.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ifactory.analytics import alert_service, health
from ifactory.core.db import Database
from ifactory.plant.spec import Level
from ifactory.web import pages, views

router = APIRouter(tags=["pages"], include_in_schema=False)
HOUR_US = 3600 * 1_000_000
RANGES_H = (8, 24, 168)


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
            "page_data": {
                "view": "machine",
                "machine": {"id": node.id, "key": node.key, "name": node.name},
                "tags": tags,
                "ranges_h": list(RANGES_H),
                "health": current.model_dump(mode="json"),
            },
        },
    )
