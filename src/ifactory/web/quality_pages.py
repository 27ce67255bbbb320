"""Quality pages: characteristics with their SPC state, the SPC chart, and lot traces.

The server renders the lists (characteristics, open holds and non-conformances, recent rule
violations) from the quality services; the chart and the trace tree are drawn by page scripts
from /api/quality, so a rule selection or a direction change does not reload the page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ifactory.core.db import Database
from ifactory.core.errors import NotFound
from ifactory.quality import genealogy, service
from ifactory.quality.rules import NELSON, RULES, WESTERN_ELECTRIC
from ifactory.web import pages, views

router = APIRouter(tags=["pages"], include_in_schema=False)


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
            "nav": "quality",
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": {"now_us": now_us, **data},
            **context,
        },
    )


def _not_found(request: Request, message: str) -> HTMLResponse:
    return pages._render(
        request, "not_found.html", {"title": "Not found", "message": message}, status_code=404
    )


@router.get("/quality", response_class=HTMLResponse, name="quality")
def overview(request: Request) -> HTMLResponse:
    """Characteristics by product, open holds, open non-conformances, recent violations."""
    platform = pages._platform(request)
    with _db(request).session() as session:
        plans = {p.id: p for p in service.get_all_plans(session)}
        chars = service.get_all_characteristics(session)
        names = {c.id: c.name for c in chars}
        violations = service.get_violations(session, limit=20)
        holds = service.get_all_holds(session, status="open")
        lots = genealogy.lots_by_id(session, ids={h.lot_id for h in holds})
        ncrs = [n for n in service.get_all_ncrs(session) if n.status != "closed"]
        tags = {t.id: t for t in platform.registry.tags.values()}
        rows = [
            {
                "char": c,
                "plan": plans[c.plan_id],
                "tag": tags.get(c.tag_id) if c.tag_id is not None else None,
                "machine": platform.registry.nodes.get(tags[c.tag_id].node_id)
                if c.tag_id in tags
                else None,
            }
            for c in chars
        ]
    return _page(
        request,
        "quality/overview.html",
        "Quality",
        {
            "rows": rows,
            "violations": [
                {"v": v, "name": names.get(v.characteristic_id, "?"), "text": RULES[v.rule][0]}
                for v in violations
            ],
            "holds": [{"hold": h, "lot": lots.get(h.lot_id)} for h in holds],
            "ncrs": ncrs,
        },
    )


@router.get("/quality/characteristics/{characteristic_id}", response_class=HTMLResponse)
def chart(request: Request, characteristic_id: int) -> HTMLResponse:
    """The SPC chart of one characteristic with rule violations marked, and its capability."""
    with _db(request).session() as session:
        try:
            char = service.get_characteristic(session, characteristic_id=characteristic_id)
        except NotFound:
            return _not_found(request, f"There is no characteristic {characteristic_id}.")
        plan = service.get_plan(session, plan_id=char.plan_id)
    rules = [{"id": r, "text": RULES[r][0].description} for r in (*WESTERN_ELECTRIC, *NELSON)]
    return _page(
        request,
        "quality/chart.html",
        f"SPC · {char.name}",
        {
            "char": char,
            "plan": plan,
            "rules": rules,
            "page_data": {
                "characteristic": {
                    "id": char.id,
                    "name": char.name,
                    "unit": char.unit,
                    "chart": char.chart,
                    "rules": list(char.rules),
                    "lsl": char.lsl,
                    "usl": char.usl,
                    "nominal": char.nominal,
                },
                "rule_texts": {r["id"]: r["text"] for r in rules},
            },
        },
    )


@router.get("/quality/lots", response_class=HTMLResponse, name="quality_lots")
def lots(request: Request, q: str | None = None) -> HTMLResponse:
    """Find a lot to trace (by code prefix)."""
    with _db(request).session() as session:
        items, total = service.get_all_lots(session, prefix=q, status=None, offset=0, limit=200)
    return _page(
        request, "quality/lots.html", "Lots", {"lots": items, "total": total, "q": q or ""}
    )


@router.get("/quality/lots/{lot_code:path}", response_class=HTMLResponse, name="quality_trace")
def trace(request: Request, lot_code: str, direction: str = "backward") -> HTMLResponse:
    """A lot's genealogy, backward (what went into it) or forward (where it went), as a tree."""
    with _db(request).session() as session:
        try:
            lot = genealogy.get_lot(session, code=lot_code)
        except NotFound:
            return _not_found(request, f"There is no lot '{lot_code}'.")
    direction = direction if direction in ("forward", "backward") else "backward"
    return _page(
        request,
        "quality/trace.html",
        f"Lot {lot.code}",
        {"lot": lot, "page_data": {"lot": lot.code, "direction": direction}},
    )
