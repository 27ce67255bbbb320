"""The web pages: overview, machine, dead letters; server-rendered, kept live by server-sent events.

The server renders the structure (plant tree, machines, tags, current states) from the platform's
in-memory registry, so the first paint is complete and fast; the page scripts then fill in values
from `/api/values/latest` and follow `/api/events`, without reloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ifactory import __version__
from ifactory.plant.spec import Level
from ifactory.web import views

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
# Tidy output: block tags do not leave blank lines and indentation behind.
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True
# Pages show live data: never serve a stale copy from a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(tags=["pages"], include_in_schema=False)


def _static_url(path: str) -> str:
    # The version in the query string makes browsers fetch new assets after an upgrade.
    return f"/static/{path}?v={__version__}"


TEMPLATES.env.globals["static_url"] = _static_url
TEMPLATES.env.filters["unit"] = views.unit_symbol
TEMPLATES.env.filters["tag_label"] = views.tag_label
TEMPLATES.env.filters["level_label"] = views.level_label
TEMPLATES.env.globals["limit_texts"] = views.limit_texts


def mount(app: FastAPI) -> None:
    """Add the pages and the static files (`/static`) to `app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _platform(request: Request) -> views.PagePlatform:
    platform: views.PagePlatform = request.app.state.platform
    return platform


def _signed_in(request: Request) -> bool:
    # The session cookie (set by the login form) holds the user id; without the session
    # middleware there is no scope entry, which simply means "not signed in".
    session = request.scope.get("session")
    return bool(session and session.get("uid") is not None)


def _render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    base = {
        "nav": context.pop("nav", ""),
        "signed_in": _signed_in(request),
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code, headers=NO_STORE
    )


@router.get("/", response_class=HTMLResponse, name="overview")
def overview(request: Request) -> HTMLResponse:
    """The plant tree with every machine's state, time in state, planned flag and key values."""
    platform = _platform(request)
    now_us = platform.clock.now_us()
    sections = views.plant_sections(platform, now_us)
    cards = _flatten(sections)
    page_data = {
        "now_us": now_us,
        "tags": {
            t.id: views.tag_json(t) for c in cards for t in [*c.key_tags, *_opt(c.product_tag)]
        },
        "machines": [{"id": c.id, "key": c.key} for c in cards],
    }
    return _render(
        request,
        "overview.html",
        {
            "nav": "overview",
            "title": "Overview",
            "sections": sections,
            "machine_count": len(cards),
            "states": _state_counts(cards),
            "tz": views.site_timezone(platform.registry),
            "now_us": now_us,
            "page_data": page_data,
        },
    )


def _opt(tag: Any) -> list[Any]:
    return [] if tag is None else [tag]


def _flatten(sections: list[views.Section]) -> list[views.MachineCard]:
    out: list[views.MachineCard] = []
    for section in sections:
        out += section.machines
        out += _flatten(section.children)
    return out


def _state_counts(cards: list[views.MachineCard]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_ORDER, 0)
    for card in cards:
        counts[card.status.state] = counts.get(card.status.state, 0) + 1
    return counts


# Worst first, as a control-room summary reads: what needs attention comes first.
STATE_ORDER = ("down", "maintenance", "setup", "idle", "executing", "unknown")


@router.get("/machines/{key:path}", response_class=HTMLResponse, name="machine")
def machine(request: Request, key: str) -> HTMLResponse:
    """One machine: all tags live, a trend chart and the state timeline."""
    platform = _platform(request)
    reg = platform.registry
    node = reg.nodes_by_key.get(key.strip("/"))
    if node is None or node.level != Level.work_unit:
        what = (
            "machine" if node is None else f"machine ({node.name} is a {views.level_label(node)})"
        )
        return _render(
            request,
            "not_found.html",
            {"title": "Not found", "message": f"There is no {what} '{key}'."},
            status_code=404,
        )
    now_us = platform.clock.now_us()
    tags = reg.machine_tags(node.id)
    status = views.status_of(platform, node, platform.tracker.current(), now_us)
    trend_default = views.default_trend_tags(tags)
    page_data = {
        "now_us": now_us,
        "machine": {"id": node.id, "key": node.key, "name": node.name},
        "tags": [views.tag_json(t) for t in tags],
        "trend_default": trend_default,
    }
    return _render(
        request,
        "machine.html",
        {
            "title": node.name,
            "node": node,
            "ancestors": list(reversed(reg.ancestors(node.id))),
            "tags": tags,
            "numeric_tags": [t for t in tags if views.is_numeric(t)],
            "trend_default": set(trend_default),
            "status": status,
            "tz": views.site_timezone(reg, node),
            "now_us": now_us,
            "page_data": page_data,
        },
    )


@router.get("/dead-letters", response_class=HTMLResponse, name="dead_letters")
def dead_letters(request: Request) -> HTMLResponse:
    """Rejected telemetry: counts by reason and a paged table (filled in from the API)."""
    platform = _platform(request)
    return _render(
        request,
        "dead_letters.html",
        {
            "nav": "dead_letters",
            "title": "Dead letters",
            "tz": views.site_timezone(platform.registry),
            "now_us": platform.clock.now_us(),
            "page_data": {"page_size": 50},
        },
    )
