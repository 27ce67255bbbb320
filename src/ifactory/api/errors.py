"""Error handlers: every error body is {"detail": [{"msg", "loc", "type"}]} with a stable type."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ifactory.core.errors import IFactoryError, TooManyRequests

log = logging.getLogger(__name__)

HTTP_TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(IFactoryError)
    async def _domain(_: Request, exc: IFactoryError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "msg": e.get("msg", "invalid"),
                "loc": list(e.get("loc", [])),
                "type": e.get("type", "invalid_input"),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = exc.detail if isinstance(exc.detail, str) else "error"
        body = {
            "detail": [{"msg": msg, "loc": [], "type": HTTP_TYPES.get(exc.status_code, "error")}]
        }
        return JSONResponse(
            body, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with the trace here; the client gets no stack trace.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "detail": [
                    {
                        "msg": "internal error; see the server log",
                        "loc": [],
                        "type": "internal_error",
                    }
                ]
            },
            status_code=500,
        )
