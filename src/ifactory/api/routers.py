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
    from ifactory.production import api as production_api
    from ifactory.web import production_pages

    app.include_router(production_api.router)
    app.include_router(production_pages.router)
    from ifactory.api import ingest

    app.include_router(ingest.router)
    from ifactory.api import connect_opcua

    app.include_router(connect_opcua.router)
    from ifactory.quality import api as quality_api

    app.include_router(quality_api.router)
    from ifactory.web import quality_pages

    app.include_router(quality_pages.router)
    from ifactory.inventory import api as inventory_api
    from ifactory.web import inventory_pages

    app.include_router(inventory_api.router)
    app.include_router(inventory_pages.router)
    from ifactory.api import alerts
    from ifactory.web import health_pages

    app.include_router(alerts.router)
    app.include_router(health_pages.router)
    from ifactory.api import prognostic_models

    app.include_router(prognostic_models.router)
    from ifactory.maintenance import api as maintenance_api
    from ifactory.web import maintenance_pages

    app.include_router(maintenance_api.router)
    app.include_router(maintenance_pages.router)
    from ifactory.maintenance import pm_api
    from ifactory.web import pm_pages

    app.include_router(pm_api.router)
    app.include_router(pm_pages.router)
    from ifactory.web import pages

    pages.mount(app)
