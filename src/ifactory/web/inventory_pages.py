"""Inventory pages: spare parts with stock and reorder status, and one part's ledger.

The server renders the lists from the inventory services; the receipt, stocktake and issue forms
post to /api/inventory from a page script (the API checks the user's roles) and reload the
page, so every figure on it comes from the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ifactory.core.db import Database
from ifactory.core.errors import NotFound
from ifactory.inventory import service
from ifactory.web import pages, views

router = APIRouter(tags=["pages"], include_in_schema=False)
LEDGER_PAGE = 50
PARTS_PAGE = 200
STATUS_LABELS = {
    "ok": "OK",
    "below_reorder_point": "Below reorder point",
    "below_minimum": "Below minimum",
    "out_of_stock": "Out of stock",
}


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
            "nav": "inventory",
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": {"now_us": now_us, **data},
            "status_labels": STATUS_LABELS,
            **context,
        },
    )


def _formatter(request: Request) -> Any:
    zone = ZoneInfo(views.site_timezone(pages._platform(request).registry))

    def fmt(value: datetime | None) -> str:
        return "–" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return fmt


def _qty(value: float | None) -> str:
    """A quantity without needless decimals: 3, 2.5, 0.125."""
    if value is None:
        return "–"
    return f"{value:.4f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _page_query(q: str | None, reorder: bool) -> str:
    """The filter part of a pager link, so that paging keeps the search and the reorder filter."""
    return urlencode(
        {k: v for k, v in (("q", q or ""), ("reorder", "true" if reorder else "")) if v}
    )


@router.get("/inventory", response_class=HTMLResponse, name="inventory")
def parts(
    request: Request,
    q: str | None = Query(default=None, max_length=100),
    reorder: bool = False,
    page: int = Query(default=1, ge=1),
) -> HTMLResponse:
    """Spare parts with on hand, reserved, available, on order and reorder status, by pages."""
    with _db(request).session() as session:
        rows, total = service.get_all_parts(
            session,
            search=q or None,
            below_reorder_point=True if reorder else None,
            offset=(page - 1) * PARTS_PAGE,
            limit=PARTS_PAGE,
        )
        locations = {loc.id: loc for loc in service.get_all_locations(session)}
        requisitions, _ = service.get_requisitions(session, state="open", limit=100)
        ordered, _ = service.get_requisitions(session, state="ordered", limit=100)
        numbers = {p.id: p.part_number for p, _ in rows}
        below = sum(1 for _, level in rows if level.below_reorder_point)
    return _page(
        request,
        "inventory_parts.html",
        "Spare parts",
        {
            "rows": rows,
            "total": total,
            "below": below,
            "locations": locations,
            "requisitions": [*requisitions, *ordered],
            "numbers": numbers,
            "q": q or "",
            "reorder": reorder,
            "page": page,
            "pages": max(1, -(-total // PARTS_PAGE)),
            "page_query": _page_query(q, reorder),
            "qty": _qty,
            "fmt": _formatter(request),
        },
    )


@router.get("/inventory/parts/{part_id}", response_class=HTMLResponse, name="inventory_part")
def part(request: Request, part_id: int, page: int = Query(default=1, ge=1)) -> HTMLResponse:
    """One part: stock per location, receipt / stocktake / issue forms, ledger, reservations."""
    with _db(request).session() as session:
        try:
            item = service.get_part(session, part_id=part_id)
        except NotFound:
            return pages._render(
                request,
                "not_found.html",
                {"title": "Not found", "message": f"There is no spare part {part_id}."},
                status_code=404,
            )
        level = service.stock_level(session, part=item)
        locations = service.get_all_locations(session)
        codes = {loc.id: loc.code for loc in locations}
        balances = service.balances_by_location(session, part_id=item.id)
        ledger, ledger_total = service.get_ledger(
            session, part_id=item.id, offset=(page - 1) * LEDGER_PAGE, limit=LEDGER_PAGE
        )
        reservations = service.get_reservations(session, part_id=item.id)
        requisitions, _ = service.get_requisitions(session, part_id=item.id, limit=20)
    pages_count = max(1, -(-ledger_total // LEDGER_PAGE))
    return _page(
        request,
        "inventory_part.html",
        f"{item.part_number} · {item.name}",
        {
            "part": item,
            "level": level,
            "locations": [loc for loc in locations if loc.active],
            "codes": codes,
            "balances": balances,
            "ledger": ledger,
            "ledger_total": ledger_total,
            "page": page,
            "pages": pages_count,
            "reservations": reservations,
            "requisitions": requisitions,
            "qty": _qty,
            "fmt": _formatter(request),
            "page_data": {"part_id": item.id, "unit": item.unit},
        },
    )
