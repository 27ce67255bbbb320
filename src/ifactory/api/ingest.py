"""HTTP ingest: devices and edge gateways POST telemetry batches with a device API key.

`POST /api/ingest` (alias `/api/telemetry`) answers **202 only after the batch is durably
stored** by the ingest pipeline (historian commit; rejected points are in the dead letters),
with the counts. Bodies:

- `application/json`, columnar: `{"tags": [...], "ts": [...], "values": [...],
  "quality": [...], "text": [...]}` (`ts`, `quality`, `text` optional);
- `application/json`, a list of points `[{"tag", "ts", "value", "quality"}]`, bare or as
  `{"points": [...]}`;
- `application/vnd.ifactory.batch`: the edge's zstd-compressed columnar msgpack (historian/wire.py).

Tags are keys (UNS paths) or integer ids. Points without a timestamp are stamped once, here.
The backfill lane (`X-Ifactory-Lane: backfill`, `?lane=backfill` or `"lane": "backfill"`)
waits while live batches are waiting or being written, one backfill batch at a time, so a
replay never delays live data; the pipeline's single writer is kept.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import anyio
import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ifactory.api.auth import get_optional_user
from ifactory.api.deps import get_platform
from ifactory.auth.principal import Principal
from ifactory.auth.roles import Role
from ifactory.core.errors import (
    IFactoryError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from ifactory.historian import wire as codec
from ifactory.historian.batch import TelemetryBatch

router = APIRouter(prefix="/api", tags=["ingest"])

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_POINTS = 1_000_000
LANE_HEADER = "x-ifactory-lane"
Lane = Literal["live", "backfill"]


class TooLarge(IFactoryError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(IFactoryError):
    code = "unsupported_media_type"
    status = 415


class IngestReceipt(BaseModel):
    """What the platform stored of a batch; sent once the batch is durable."""

    points: int = Field(description="points in the request")
    accepted: int = Field(description="points that passed validation (new or already stored)")
    inserted: int = Field(description="points newly stored")
    duplicates: int = Field(description="points already stored with the same value (a replay)")
    conflicts: int = Field(description="points already stored with another value (dead-lettered)")
    rejected: dict[str, int] = Field(description="points rejected by reason (dead-lettered)")
    lane: Lane


# --- the lane gate -----------------------------------------------------------------------


class LaneGate:
    """Live batches first: backfill batches wait while a live batch waits or is written."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._live = 0
        self._backfill_busy = False

    @contextmanager
    def enter(self, lane: Lane) -> Iterator[None]:
        """Hold the gate for one batch of `lane`."""
        with self._cond:
            if lane == "live":
                self._live += 1
            else:
                self._cond.wait_for(lambda: self._live == 0 and not self._backfill_busy)
                self._backfill_busy = True
        try:
            yield
        finally:
            with self._cond:
                if lane == "live":
                    self._live -= 1
                else:
                    self._backfill_busy = False
                self._cond.notify_all()


_gate_lock = threading.Lock()


def _gate(request: Request) -> LaneGate:
    state = request.app.state
    with _gate_lock:
        gate: LaneGate | None = getattr(state, "ingest_gate", None)
        if gate is None:
            gate = state.ingest_gate = LaneGate()
    return gate


# --- authentication ----------------------------------------------------------------------


def device_principal(request: Request) -> Principal:
    """The device (or admin) of the bearer token; its own short session, committed at once.

    The session is not held while the batch is written: the pipeline's consumers write to
    the same database, and SQLite allows one writer.
    """
    platform = get_platform(request)
    with platform.db.session() as session:
        user = get_optional_user(request, session)
    if user is None:
        raise Unauthenticated("send the device key as 'Authorization: Bearer <token>'")
    if not user.has_any_role(Role.device):
        raise PermissionDenied("ingest needs a device key (a user with the role 'device')")
    return user


DeviceDep = Annotated[Principal, Depends(device_principal)]


# --- decoding ----------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidInput("bad Content-Length", loc=["header", "content-length"]) from None
        if size > MAX_BODY_BYTES:
            raise TooLarge(
                f"the body has {size} bytes; at most {MAX_BODY_BYTES} per request — split the batch",
                loc=["body"],
            )
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise TooLarge(
                f"the body exceeds {MAX_BODY_BYTES} bytes — split the batch", loc=["body"]
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _bad(msg: str, *loc: str | int) -> InvalidInput:
    return InvalidInput(msg, loc=["body", *loc], type="invalid_payload")


def _tags(raw: list[Any], loc: tuple[str | int, ...]) -> np.ndarray[Any, Any]:
    if all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
        if any(not 0 <= t < 2**31 for t in raw):
            raise _bad("a tag id is a non-negative 32-bit integer", *loc)
        return np.asarray(raw, dtype=np.int32) if raw else np.zeros(0, np.int32)
    if all(isinstance(t, str) and t for t in raw):
        return np.array([t.strip("/") for t in raw] + [""], dtype=object)[:-1]
    raise _bad("tags must be all non-empty strings (keys) or all integers (ids)", *loc)


def _value(v: Any, i: int, loc: tuple[str | int, ...]) -> tuple[float, str | None]:
    if v is None:
        return math.nan, None
    if isinstance(v, bool):
        return float(v), None
    if isinstance(v, int | float):
        return float(v), None
    if isinstance(v, str):
        return math.nan, v
    raise _bad("a value is a number, a boolean, a string or null", *loc, i)


def _int_list(raw: Any, n: int, name: str, default: int | None) -> list[int]:
    if raw is None:
        if default is None:
            raise _bad(f"'{name}' is required", name)
        return [default] * n
    if not isinstance(raw, list) or len(raw) != n:
        raise _bad(f"'{name}' must be a list as long as 'tags' ({n})", name)
    out = []
    for i, x in enumerate(raw):
        if x is None and default is not None:
            out.append(default)
        elif isinstance(x, int) and not isinstance(x, bool):
            out.append(x)
        else:
            raise _bad(f"'{name}' entries must be integers", name, i)
    return out


def _columnar(doc: dict[str, Any], now_us: int, source: str) -> TelemetryBatch:
    tags_raw = doc.get("tags")
    values_raw = doc.get("values")
    if not isinstance(tags_raw, list) or not isinstance(values_raw, list):
        raise _bad("a columnar batch needs the lists 'tags' and 'values'")
    n = len(tags_raw)
    if len(values_raw) != n:
        raise _bad(f"'values' has {len(values_raw)} entries, 'tags' has {n}", "values")
    _check_points(n)
    tags = _tags(tags_raw, ("tags",))
    ts = _int_list(doc.get("ts"), n, "ts", now_us)  # no timestamp: stamped once, here
    quality = _int_list(doc.get("quality"), n, "quality", 0)
    values = np.empty(n, dtype=np.float64)
    text: list[str | None] = [None] * n
    has_text = False
    text_raw = doc.get("text")
    if text_raw is not None and (not isinstance(text_raw, list) or len(text_raw) != n):
        raise _bad(f"'text' must be a list as long as 'tags' ({n})", "text")
    for i, v in enumerate(values_raw):
        values[i], t = _value(v, i, ("values",))
        if text_raw is not None and text_raw[i] is not None:
            if not isinstance(text_raw[i], str):
                raise _bad("'text' entries are strings or null", "text", i)
            t = text_raw[i]
        if t is not None:
            text[i] = t
            has_text = True
    return _batch(tags, ts, values, quality, text if has_text else None, now_us, source)


def _points(items: list[Any], now_us: int, source: str) -> TelemetryBatch:
    n = len(items)
    _check_points(n)
    tags: list[Any] = []
    ts: list[int] = []
    quality: list[int] = []
    values = np.empty(n, dtype=np.float64)
    text: list[str | None] = [None] * n
    has_text = False
    for i, p in enumerate(items):
        if not isinstance(p, dict) or "tag" not in p or "value" not in p:
            raise _bad(
                "each point is an object with 'tag' and 'value' ('ts', 'quality' optional)", i
            )
        tags.append(p["tag"])
        t, q = p.get("ts"), p.get("quality", 0)
        if t is None:
            t = now_us
        if not isinstance(t, int) or isinstance(t, bool):
            raise _bad("'ts' is an integer: UTC microseconds", i, "ts")
        if not isinstance(q, int) or isinstance(q, bool):
            raise _bad("'quality' is an integer OPC UA status code", i, "quality")
        ts.append(t)
        quality.append(q)
        values[i], s = _value(p["value"], i, ())
        if s is not None:
            text[i] = s
            has_text = True
    return _batch(
        _tags(tags, ("tag",)), ts, values, quality, text if has_text else None, now_us, source
    )


def _check_points(n: int) -> None:
    if n > MAX_POINTS:
        raise TooLarge(f"{n} points in one request; at most {MAX_POINTS}", loc=["body"])


def _batch(
    tags: np.ndarray[Any, Any],
    ts: list[int],
    values: np.ndarray[Any, Any],
    quality: list[int],
    text: list[str | None] | None,
    now_us: int,
    source: str,
) -> TelemetryBatch:
    try:
        ts_arr = np.asarray(ts, dtype=np.int64)
        q_arr = np.asarray(quality, dtype=np.int64)
    except OverflowError:
        raise _bad("a timestamp or quality is out of range") from None
    if len(q_arr) and (int(q_arr.min()) < 0 or int(q_arr.max()) > 0xFFFFFFFF):
        raise _bad("quality is a 32-bit OPC UA status code", "quality")
    text_arr = None if text is None else np.array([*text, None], dtype=object)[:-1]
    return TelemetryBatch(tags, ts_arr, values, q_arr.astype(np.uint32), now_us, source, text_arr)


def decode(
    body: bytes, content_type: str, now_us: int, source: str
) -> tuple[TelemetryBatch, str | None]:
    """The batch in `body` and the lane it asks for (JSON `"lane"`), or a typed 4xx error."""
    media = content_type.split(";", 1)[0].strip().lower() or "application/json"
    if media == codec.CONTENT_TYPE:
        batch = codec.decode(body)
        name = f"{source}:{batch.source}" if batch.source else source
        return (
            TelemetryBatch(
                batch.tags,
                batch.ts,
                batch.values,
                batch.quality,
                batch.received_us,
                name,
                batch.text,
            ),
            None,
        )
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"send application/json or {codec.CONTENT_TYPE}, not {media}",
            loc=["header", "content-type"],
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc}", loc=["body"], type="invalid_json"
        ) from None
    lane = None
    if isinstance(doc, dict):
        lane = doc.get("lane")
        if "points" in doc:
            if not isinstance(doc["points"], list):
                raise _bad("'points' is a list", "points")
            return _points(doc["points"], now_us, source), lane
        return _columnar(doc, now_us, source), lane
    if isinstance(doc, list):
        return _points(doc, now_us, source), lane
    raise _bad("the body is a columnar object or a list of points")


def _lane(*candidates: str | None) -> Lane:
    for c in candidates:
        if c is None:
            continue
        if c not in ("live", "backfill"):
            raise InvalidInput(
                "the lane is 'live' or 'backfill'", loc=["lane"], type="invalid_lane"
            )
        return "backfill" if c == "backfill" else "live"
    return "live"


# --- the route ---------------------------------------------------------------------------


@router.post(
    "/ingest",
    status_code=202,
    response_model=IngestReceipt,
    responses={
        401: {"description": "no or invalid device key"},
        403: {"description": "the key's user lacks the 'device' role"},
        413: {"description": "body or batch too large"},
        415: {"description": "unsupported content type"},
        422: {"description": "malformed batch"},
        503: {"description": "the historian cannot store now; retry"},
    },
)
async def ingest(
    request: Request,
    device: DeviceDep,
    lane: Annotated[Lane | None, Query(description="'backfill' for replays")] = None,
) -> IngestReceipt:
    """Store a batch durably, then answer 202 with the counts (accepted, rejected, duplicates)."""
    platform = get_platform(request)
    body = await _read_body(request)
    now_us = platform.clock.now_us()
    source = f"http:{device.username}"
    content_type = request.headers.get("content-type", "")
    header_lane = request.headers.get(LANE_HEADER)
    gate = _gate(request)

    def work() -> IngestReceipt:
        # Decoding and the durable write are CPU and disk work: a worker thread, never the loop.
        batch, body_lane = decode(body, content_type, now_us, source)
        chosen = _lane(header_lane, lane, body_lane)
        with gate.enter(chosen):
            try:
                result = platform.pipeline.ingest(batch)
            except IFactoryError:
                raise
            except Exception as exc:
                raise Unavailable(
                    "the batch could not be stored; nothing was acknowledged, send it again"
                ) from exc
        return IngestReceipt(
            points=len(batch),
            accepted=result.accepted,
            inserted=result.inserted,
            duplicates=result.duplicates,
            conflicts=result.conflicts,
            rejected=result.rejected,
            lane=chosen,
        )

    return await anyio.to_thread.run_sync(work)


router.add_api_route(
    "/telemetry",
    ingest,
    methods=["POST"],
    status_code=202,
    response_model=IngestReceipt,
    name="ingest_telemetry",
    summary="Alias of POST /api/ingest",
)
