"""Telemetry routes: latest values, history (raw and aggregated), machine states, dead letters, SSE."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ifactory.api.auth import Actor
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.core.errors import InvalidInput, NotFound
from ifactory.core.events import Event
from ifactory.plant.registry import NodeInfo, TagInfo
from ifactory.stream import history

router = APIRouter(prefix="/api", tags=["telemetry"])
US = 1_000_000
MAX_RANGE_POINTS = 2_000_000


class LatestValue(BaseModel):
    tag_id: int
    key: str
    name: str
    ts_us: int | None
    value: float | None
    text: str | None = None
    quality: int | None
    unit: str


class LatestValues(BaseModel):
    now_us: int
    values: list[LatestValue]


class RawSeries(BaseModel):
    tag_id: int
    ts: list[int] = Field(description="source timestamps, UTC microseconds")
    values: list[float | None]
    text: list[str | None] | None = None
    quality: list[int]


class AggregateSeries(BaseModel):
    tag_id: int
    bucket_us: int
    start: list[int]
    twa: list[float | None] = Field(
        description="time-weighted average (a value holds until the next)"
    )
    min: list[float | None]
    max: list[float | None]
    first: list[float | None]
    last: list[float | None]
    count: list[int]
    delta: list[float | None] | None = Field(
        default=None, description="counter increase (counters only)"
    )
    time_in_state: dict[str, list[float]] | None = Field(
        default=None, description="seconds per state (state tags)"
    )


class MachineRow(BaseModel):
    id: int
    key: str
    name: str
    state: str
    since_us: int
    planned: bool | None


class StateInterval(BaseModel):
    state: str
    start_us: int
    end_us: int
    source: str


class StateSummaryRead(BaseModel):
    seconds: dict[str, float]
    planned_seconds: dict[str, float]
    counts: dict[str, int]


class StateHistory(BaseModel):
    intervals: list[StateInterval]
    summary: StateSummaryRead


class DeadLetterRead(BaseModel):
    id: int
    received_us: int
    source: str
    reason: str
    tag: str | None
    ts_us: int | None
    value: str | None
    detail: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    total: int


def _node(platform: PlatformDep, key: str | None) -> NodeInfo | None:
    if key is None:
        return None
    node = platform.registry.nodes_by_key.get(key.strip("/"))
    if node is None:
        raise NotFound(f"no plant node '{key}'", loc=["query", "node"])
    return node


def _tags_below(platform: PlatformDep, node: NodeInfo | None) -> list[TagInfo]:
    reg = platform.registry
    nodes = reg.walk(node) if node is not None else reg.walk()
    return [reg.tags[t] for n in nodes for t in n.tags]


def _tag(platform: PlatformDep, tag_id: int) -> TagInfo:
    tag = platform.registry.tags.get(tag_id)
    if tag is None:
        raise NotFound(f"no tag {tag_id}", loc=["query", "tag_id"])
    return tag


def _range(
    platform: PlatformDep, start_us: int | None, end_us: int | None, default_s: int = 3600
) -> tuple[int, int]:
    end = end_us if end_us is not None else platform.clock.now_us() + 1
    start = start_us if start_us is not None else end - default_s * US
    if start >= end:
        raise InvalidInput("start_us must be before end_us", loc=["query", "start_us"])
    return start, end


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in values.tolist()]


def latest_values(platform: PlatformDep, tags: list[TagInfo]) -> list[LatestValue]:
    """Latest value of each tag (None when the historian has none yet)."""
    if not tags:
        return []
    latest = platform.store.latest(np.array([t.id for t in tags], dtype=np.int32))
    where = {int(tid): i for i, tid in enumerate(latest.tags.tolist())}
    out = []
    for t in tags:
        i = where.get(t.id)
        if i is None:
            out.append(
                LatestValue(
                    tag_id=t.id,
                    key=t.key,
                    name=t.name,
                    ts_us=None,
                    value=None,
                    quality=None,
                    unit=t.unit,
                )
            )
            continue
        v = float(latest.values[i])
        text = latest.text[i] if latest.text is not None else None
        out.append(
            LatestValue(
                tag_id=t.id,
                key=t.key,
                name=t.name,
                ts_us=int(latest.ts[i]),
                value=v if math.isfinite(v) else None,
                text=None if text is None else str(text),
                quality=int(latest.quality[i]),
                unit=t.unit,
            )
        )
    return out


@router.get("/values/latest", response_model=LatestValues)
def get_latest(
    platform: PlatformDep,
    _: Actor,
    node: Annotated[
        str | None,
        Query(
            description="node key; all tags below it",
            examples=["acme/springfield/utilities/compressor1"],
        ),
    ] = None,
) -> LatestValues:
    """The latest value of every tag below a node (the whole plant by default)."""
    return LatestValues(
        now_us=platform.clock.now_us(),
        values=latest_values(platform, _tags_below(platform, _node(platform, node))),
    )


@router.get("/history/raw", response_model=RawSeries)
def get_raw(
    platform: PlatformDep,
    _: Actor,
    tag_id: int,
    start_us: int | None = None,
    end_us: int | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RANGE_POINTS)] = 100_000,
) -> RawSeries:
    """Stored points of one tag in [start_us, end_us) (default: the last hour), oldest first."""
    tag = _tag(platform, tag_id)
    start, end = _range(platform, start_us, end_us)
    raw = platform.store.raw(np.array([tag.id], dtype=np.int32), start, end, limit=limit)
    text = None if raw.text is None else [None if x is None else str(x) for x in raw.text.tolist()]
    return RawSeries(
        tag_id=tag.id,
        ts=raw.ts.tolist(),
        values=_clean(raw.values),
        text=text,
        quality=raw.quality.tolist(),
    )


@router.get("/history/aggregate", response_model=AggregateSeries)
def get_aggregate(
    platform: PlatformDep,
    _: Actor,
    tag_id: int,
    start_us: int | None = None,
    end_us: int | None = None,
    bucket_s: Annotated[float, Query(gt=0, examples=[60])] = 60,
) -> AggregateSeries:
    """Time buckets of one tag: time-weighted average, min, max, first, last, count; gaps explicit."""
    tag = _tag(platform, tag_id)
    start, end = _range(platform, start_us, end_us)
    bucket_us = int(bucket_s * US)
    if (end - start) // bucket_us > 100_000:
        raise InvalidInput(
            "too many buckets (at most 100000); choose a wider bucket", loc=["query", "bucket_s"]
        )
    kind: Literal["numeric", "state"] = "state" if tag.data_type == "enum" else "numeric"
    agg = platform.store.aggregate(
        np.array([tag.id], dtype=np.int32), start, end, bucket_us, kind=kind
    )
    counters = {"cycle_counter", "good_counter", "scrap_counter", "rework_counter", "energy"}
    delta = _clean(agg.counter_delta[0]) if tag.role in counters else None
    tis = None
    durations = agg.time_in_state.get(tag.id)
    if durations is not None:
        labels = tag.enum or {}
        tis = {
            labels.get(int(v), str(int(v))): (durations.durations_us[i] / US).tolist()
            for i, v in enumerate(durations.values.tolist())
        }
    return AggregateSeries(
        tag_id=tag.id,
        bucket_us=bucket_us,
        start=agg.bucket_start.tolist(),
        twa=_clean(agg.twa[0]),
        min=_clean(agg.min[0]),
        max=_clean(agg.max[0]),
        first=_clean(agg.first[0]),
        last=_clean(agg.last[0]),
        count=agg.count[0].tolist(),
        delta=delta,
        time_in_state=tis,
    )


@router.get("/machines", response_model=list[MachineRow])
def list_machines(platform: PlatformDep, _: Actor) -> list[MachineRow]:
    """Every machine with its current state and whether now is planned time."""
    current = platform.tracker.current()
    now = platform.clock.now_us()
    rows = []
    for m in platform.registry.machines():
        state, since = current[m.id]
        rows.append(
            MachineRow(
                id=m.id,
                key=m.key,
                name=m.name,
                state=state.value,
                since_us=since,
                planned=platform.registry.is_planned(m.id, now),
            )
        )
    return rows


@router.get("/machines/{key:path}/states", response_model=StateHistory)
def machine_states(
    key: str,
    platform: PlatformDep,
    session: SessionDep,
    _: Actor,
    start_us: int | None = None,
    end_us: int | None = None,
) -> StateHistory:
    """State intervals of a machine in a range, with time in state and its planned part."""
    node = _node(platform, key)
    assert node is not None
    if not node.is_machine:
        raise InvalidInput(f"'{key}' is not a machine (work unit)", loc=["path", "key"])
    now = platform.clock.now_us()
    start, end = _range(
        platform, start_us, end_us if end_us is not None else now, default_s=8 * 3600
    )
    spans = history.intervals(session, machine_id=node.id, start_us=start, end_us=end, now_us=now)
    cal = platform.registry.calendar_for(node.id)
    ids = {node.key.rsplit("/", 1)[-1]} | {
        a.key.rsplit("/", 1)[-1] for a in platform.registry.ancestors(node.id)
    }
    planned = cal.planned_intervals(start, end, ids) if cal else None
    summary = history.summarize(spans, planned)
    return StateHistory(
        intervals=[
            StateInterval(state=s, start_us=a, end_us=b, source=src) for s, a, b, src in spans
        ],
        summary=StateSummaryRead(
            seconds=summary.seconds, planned_seconds=summary.planned_seconds, counts=summary.counts
        ),
    )


@router.get("/dead-letters", response_model=DeadLetterPage)
def dead_letters(
    platform: PlatformDep,
    _: Actor,
    reason: Annotated[str | None, Query(examples=["unknown_tag"])] = None,
    since_us: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeadLetterPage:
    """Rejected telemetry with the reason, newest first."""
    items = platform.dead_letters.query(
        reason=reason, since_us=since_us, limit=limit, offset=offset
    )
    if since_us is None:
        counts = platform.dead_letters.counts()
        total = counts.get(reason, 0) if reason is not None else sum(counts.values())
    else:
        total = offset + len(items)
    return DeadLetterPage(
        items=[
            DeadLetterRead(
                id=d.id,
                received_us=d.received_us,
                source=d.source,
                reason=d.reason,
                tag=d.tag,
                ts_us=d.ts,
                value=d.value,
                detail=d.detail,
            )
            for d in items
        ],
        total=total,
    )


@router.get("/dead-letters/counts", response_model=dict[str, int])
def dead_letter_counts(platform: PlatformDep, _: Actor) -> dict[str, int]:
    """How many points were rejected, by reason."""
    return platform.dead_letters.counts()


def _sse(event: str, data: Any) -> str:
    from ifactory.core.jsonutil import dumps

    return f"event: {event}\ndata: {dumps(data)}\n\n"


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "server-sent events: values, state, clock",
        }
    },
)
async def events(
    request: Request,
    platform: PlatformDep,
    _: Actor,
    node: Annotated[str | None, Query(description="only this part of the plant")] = None,
    interval_s: Annotated[float, Query(ge=0.2, le=60)] = 1.0,
) -> StreamingResponse:
    """Live updates: `values` (changed latest values), `state` (machine state changes), `clock`."""
    root = _node(platform, node)
    tags = _tags_below(platform, root)
    machine_ids = {
        n.id for n in (platform.registry.walk(root) if root else platform.registry.walk())
    }
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

    def on_event(event: Event) -> None:
        if getattr(event, "machine_id", None) in machine_ids:
            loop.call_soon_threadsafe(_put, queue, event)

    unsubscribe = platform.bus.subscribe("machine.state_changed", on_event)

    async def stream() -> AsyncIterator[str]:
        sent: dict[int, int] = {}
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                values = await asyncio.to_thread(latest_values, platform, tags)
                changed = [
                    v for v in values if v.ts_us is not None and sent.get(v.tag_id) != v.ts_us
                ]
                for v in changed:
                    sent[v.tag_id] = v.ts_us or 0
                now = platform.clock.now_us()
                yield _sse("clock", {"now_us": now})
                if changed:
                    yield _sse(
                        "values", {"now_us": now, "values": [v.model_dump() for v in changed]}
                    )
                deadline = loop.time() + interval_s
                while (timeout := deadline - loop.time()) > 0:
                    try:
                        ev = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        break
                    yield _sse(
                        "state", ev.model_dump(mode="json", exclude={"event_id", "occurred_at"})
                    )
        finally:
            unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _put(queue: asyncio.Queue[Event], event: Event) -> None:
    if not queue.full():
        queue.put_nowait(event)
