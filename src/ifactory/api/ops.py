"""Operations endpoints: /health says which dependency is down, /metrics for Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from ifactory.api.deps import PlatformDep

router = APIRouter(tags=["ops"])


@router.get("/health", responses={503: {"description": "a dependency is down"}})
def health(platform: PlatformDep) -> JSONResponse:
    """Status of each dependency: database, historian, outbox relay."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        with platform.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        platform.store.stats()
        checks["historian"] = {"ok": True}
    except Exception as exc:
        checks["historian"] = {"ok": False, "error": type(exc).__name__}
    checks["outbox_relay"] = {"ok": platform.relay.running}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )


class _PlatformCollector(Collector):
    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Any]:
        counters = self.platform.pipeline.counters()
        points = CounterMetricFamily(
            "ifactory_ingest_points", "Points received by the ingest pipeline", labels=["outcome"]
        )
        for outcome in ("points_in", "accepted", "inserted", "duplicates", "conflicts"):
            points.add_metric([outcome], float(getattr(counters, outcome)))
        yield points
        yield CounterMetricFamily(
            "ifactory_ingest_batches", "Batches ingested", value=float(counters.batches)
        )
        yield CounterMetricFamily(
            "ifactory_consumer_errors",
            "Consumer failures after commit",
            value=float(counters.consumer_errors),
        )
        rejected = CounterMetricFamily(
            "ifactory_dead_letters", "Points rejected to the dead-letter store", labels=["reason"]
        )
        for reason, n in counters.rejected.items():
            rejected.add_metric([reason], float(n))
        yield rejected
        store = self.platform.store.stats()
        for name, value in store.items():
            if isinstance(value, (int, float)):
                yield GaugeMetricFamily(
                    f"ifactory_historian_{name}", f"historian {name}", value=float(value)
                )
        yield CounterMetricFamily(
            "ifactory_state_changes",
            "Machine state changes",
            value=float(self.platform.tracker.changes),
        )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(platform: PlatformDep) -> Response:
    """Prometheus text exposition: ingest rate, dead letters, historian size, state changes."""
    registry = CollectorRegistry()
    registry.register(_PlatformCollector(platform))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
