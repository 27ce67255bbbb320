"""Production pages: line and machine OEE (six-loss waterfall, trend), downtime Pareto with
reason assignment, orders list and order detail. Server renders the frame; scripts fill it
from /api/production.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ifactory.plant.spec import Level
from ifactory.web import pages, views

router = APIRouter(tags=["pages"], include_in_schema=False)


def _lines(platform: views.PagePlatform) -> list[dict[str, object]]:
    reg = platform.registry
    out: list[dict[str, object]] = []
    for node in reg.walk():
        if node.level != Level.work_center:
            continue
        machines = [
            {"key": m.key, "name": m.name}
            for m in reg.walk(node)
            if m.is_machine and m.kind != "utility"
        ]
        if machines:
            out.append({"key": node.key, "name": node.name, "machines": machines})
    return out


def _page(request: Request, template: str, title: str, data: dict[str, object]) -> HTMLResponse:
    platform = pages._platform(request)
    now_us = platform.clock.now_us()
    return pages._render(
        request,
        template,
        {
            "nav": "production",
            "sub": template.split("/")[-1]
            .split(".")[0]
            .replace("order", "orders")
            .replace("orderss", "orders"),
            "title": title,
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "lines": _lines(platform),
            "page_data": {"now_us": now_us, "lines": _lines(platform), **data},
        },
    )


@router.get("/production/oee", response_class=HTMLResponse, name="production_oee")
def oee_page(request: Request, node: str | None = None) -> HTMLResponse:
    """Live OEE per line; with `node`, one line or machine: six-loss waterfall and trend."""
    return _page(request, "production/oee.html", "OEE", {"node": node})


@router.get("/production/downtime", response_class=HTMLResponse, name="production_downtime")
def downtime_page(request: Request, node: str | None = None) -> HTMLResponse:
    """Downtime Pareto by time and count, and the stops with reason assignment."""
    return _page(request, "production/downtime.html", "Downtime", {"node": node})


@router.get("/production/orders", response_class=HTMLResponse, name="production_orders")
def orders_page(request: Request) -> HTMLResponse:
    """Production orders with state and progress."""
    return _page(request, "production/orders.html", "Orders", {})


@router.get("/production/orders/{order_id}", response_class=HTMLResponse, name="production_order")
def order_page(request: Request, order_id: int) -> HTMLResponse:
    """One order: progress against target, counts and scrap per operation, state history."""
    return _page(request, "production/order.html", "Order", {"order_id": order_id})
