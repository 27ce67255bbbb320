"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.routing import APIRoute

from ifactory import __version__
from ifactory.api import errors

if TYPE_CHECKING:
    from ifactory.platform import Platform


def _operation_id(route: APIRoute) -> str:
    # "{tag}-{name}" so generated clients read well (FastAPI full-stack template).
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(platform: Platform, *, manage_lifecycle: bool = True) -> FastAPI:
    """Build the app around a platform; with `manage_lifecycle` the app starts and stops it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            platform.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                platform.stop()

    app = FastAPI(
        title="iFactory",
        version=__version__,
        summary="One real-time data layer for machines, production, maintenance and quality.",
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.platform = platform
    errors.install(app)
    from ifactory.api import auth

    auth.install(
        app, settings=platform.settings, https_only=platform.settings.environment == "production"
    )
    from ifactory.api import routers

    routers.include_all(app)
    return app
