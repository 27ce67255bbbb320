"""Anomaly alerts and machine health over HTTP (thin: the work is in analytics' services)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from ifactory.analytics import alert_service, health
from ifactory.analytics.alert_schemas import (
    AlertAcknowledge,
    AlertPage,
    AlertRead,
    AlertState,
    MachineHealth,
    RiskRanking,
)
from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.errors import InvalidInput, NotFound
from ifactory.core.events import Event
from ifactory.plant.registry import NodeInfo

router = APIRouter(tags=["analytics"])
# Whoever is near the machine or answers for it may take note of an alert; viewers may not.
AckUser = Annotated[
    Principal, Depends(require_roles("operator", "technician", "quality", "manager"))
]
HOUR_US = 3600 * 1_000_000
MAX_WINDOW_US = 31 * 24 * HOUR_US
LIVE_EVENTS = ("anomaly.detected", "anomaly.alert_acknowledged", "anomaly.alert_cleared")


def _node(platform: PlatformDep, key: str, loc: str = "machine") -> NodeInfo:
    node = platform.registry.nodes_by_key.get(key.strip("/"))
    if node is None:
        raise NotFound(f"no plant node '{key}'", loc=["query", loc])
    return node


def _machine(platform: PlatformDep, key: str) -> NodeInfo:
    node = _node(platform, key)
    if not node.is_machine:
        raise InvalidInput(f"'{key}' is not a machine", loc=["query", "machine"])
    return node


@router.get("/api/alerts", response_model=AlertPage)
def read_alerts(
    platform: PlatformDep,
    session: SessionDep,
    _: Actor,
    machine: Annotated[
        str | None, Query(description="a machine, or any node: the alerts of machines below it")
    ] = None,
    state: Annotated[list[AlertState] | None, Query(description="one or more states")] = None,
    since_us: Annotated[int | None, Query(description="raised at or after (UTC µs)")] = None,
    until_us: Annotated[int | None, Query(description="raised before (UTC µs)")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertPage:
    """Anomaly alerts, newest first, filtered by machine (or line, area...), state and time."""
    machine_ids = None
    if machine is not None:
        machine_ids = [n.id for n in platform.registry.walk(_node(platform, machine))]
    rows, total = alert_service.get_all(
        session,
        machine_ids=machine_ids,
        states=state,
        since_us=since_us,
        until_us=until_us,
        offset=offset,
        limit=limit,
    )
    return AlertPage(items=[health.alert_read(a, platform.registry) for a in rows], total=total)


@router.get("/api/alerts/{alert_id}", response_model=AlertRead)
def read_alert(alert_id: int, platform: PlatformDep, session: SessionDep, _: Actor) -> AlertRead:
    """One alert with its evidence window and tags."""
    return health.alert_read(alert_service.get(session, alert_id=alert_id), platform.registry)


@router.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertRead)
def acknowledge_alert(
    alert_id: int,
    body: AlertAcknowledge,
    platform: PlatformDep,
    session: SessionDep,
    user: AckUser,
) -> AlertRead:
    """Take note of an active alert (409 when already acknowledged or cleared)."""
    alert = alert_service.get(session, alert_id=alert_id)
    alert = alert_service.acknowledge(session, alert=alert, comment=body.comment, user=user)
    platform.relay.notify()
    return health.alert_read(alert, platform.registry)


@router.get("/api/analytics/risk", response_model=RiskRanking)
def read_risk(
    platform: PlatformDep,
    session: SessionDep,
    _: Actor,
    node: Annotated[str | None, Query(description="only machines below this node")] = None,
) -> RiskRanking:
    """Machines ranked by risk: open alerts, anomaly score of the last hour, predicted RUL."""
    ids = None
    if node is not None:
        ids = [n.id for n in platform.registry.walk(_node(platform, node, "node"))]
    now = platform.clock.now_us()
    risks, available = health.ranking(
        session, registry=platform.registry, now_us=now, machine_ids=ids
    )
    return health.ranking_read(risks, available, now)


@router.get("/api/analytics/health", response_model=MachineHealth)
def read_health(
    platform: PlatformDep,
    session: SessionDep,
    _: Actor,
    machine: Annotated[str, Query(description="the machine's key")],
    start_us: int | None = None,
    end_us: int | None = None,
) -> MachineHealth:
    """A machine's anomaly score trend, RUL trend with its band, and open alerts (default 24 h)."""
    node = _machine(platform, machine)
    end = end_us if end_us is not None else platform.clock.now_us() + 1
    start = start_us if start_us is not None else end - 24 * HOUR_US
    if end <= start:
        raise InvalidInput("end_us must be after start_us", loc=["query", "end_us"])
    if end - start > MAX_WINDOW_US:
        raise InvalidInput("the window is longer than 31 days", loc=["query", "start_us"])
    return health.machine_health(
        session, registry=platform.registry, machine=node, start_us=start, end_us=end
    )


def _sse(event: str, data: object) -> str:
    from ifactory.core.jsonutil import dumps

    return f"event: {event}\ndata: {dumps(data)}\n\n"


@router.get(
    "/api/analytics/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alert changes"}},
)
async def alert_events(
    request: Request,
    platform: PlatformDep,
    _: Actor,
    node: Annotated[str | None, Query(description="only machines below this node")] = None,
) -> StreamingResponse:
    """Live alert changes as server-sent events named `alert` (raised, acknowledged, cleared)."""
    root = _node(platform, node, "node") if node is not None else None
    machine_ids = {n.id for n in platform.registry.walk(root)} if root else None
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

    def on_event(event: Event) -> None:
        if machine_ids is None or getattr(event, "machine_id", None) in machine_ids:
            loop.call_soon_threadsafe(_put, queue, event)

    unsubscribers = [platform.bus.subscribe(t, on_event) for t in LIVE_EVENTS]

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    ev = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield _sse("alert", {"type": ev.type, **ev.model_dump(mode="json")})
        finally:
            for unsubscribe in unsubscribers:
                unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _put(queue: asyncio.Queue[Event], event: Event) -> None:
    if not queue.full():
        queue.put_nowait(event)
