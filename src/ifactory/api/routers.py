"""Every router of the API and pages, included in one place."""

from __future__ import annotations

from fastapi import FastAPI


def include_all(app: FastAPI) -> None:
    """Mount the API routers, the pages and the static files."""
    from ifactory.api import auth, ops, plant, telemetry

    app.include_router(ops.router)
    app.include_router(auth.router)
    app.include_router(plant.router)
    app.include_router(telemetry.router)
    # Feature routers and pages: one import + include line each, below this comment.
    from ifactory.web import pages

    pages.mount(app)
