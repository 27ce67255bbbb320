"""The connector protocol shared by every connector (MQTT, Sparkplug B, OPC UA, Modbus).

A connector does protocol I/O only. It turns what a device sends into `TelemetryBatch`es
(tags as plant tag keys, or resolved ids) and hands each batch to a `sink`; the sink returns
only after the batch is durably stored (in the platform: `platform.pipeline.ingest`), so
the connector acknowledges its source when the sink returns (DESIGN.md, "Delivery
guarantees"). A sink may be a plain function or a coroutine function.

Library errors are translated at the edge into the few errors below (after Home Assistant's
integrations): not reachable -> retry later; authentication refused -> a person must act;
configuration invalid -> the plant file or the command line must change.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ifactory.core.errors import InvalidInput, Unauthenticated, Unavailable
from ifactory.historian.batch import TelemetryBatch

Sink = Callable[[TelemetryBatch], object | Awaitable[object]]


class ConnectorUnavailable(Unavailable):
    """The device or broker cannot be reached now; the connector retries with backoff."""

    code = "connector_unavailable"


class ConnectorAuthFailed(Unauthenticated):
    """The device or broker refused the credentials; retrying will not help."""

    code = "connector_auth_failed"


class ConnectorConfigInvalid(InvalidInput):
    """The connector's configuration (plant file sources, URL, options) is wrong."""

    code = "connector_config_invalid"


class Connector(Protocol):
    """What the platform needs from a connector: start and stop (it lives in `platform.extras`)."""

    def start(self) -> None:
        """Connect and begin delivering batches to the sink."""
        ...

    def stop(self) -> None:
        """Stop delivering; whatever was not acknowledged is redelivered by the source later."""
        ...


def deliver(sink: Sink, batch: TelemetryBatch) -> object:
    """Hand `batch` to `sink` from a plain thread and return once it is stored.

    An async sink is run to completion on a private event loop of this call, because the
    caller (a protocol thread) must not acknowledge before the batch is durable.
    """
    result = sink(batch)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def deliver_async(sink: Sink, batch: TelemetryBatch) -> object:
    """Hand `batch` to `sink` from a coroutine; a blocking sink runs in a worker thread."""
    if inspect.iscoroutinefunction(sink):
        return await sink(batch)
    result = await asyncio.to_thread(sink, batch)
    if inspect.isawaitable(result):
        return await result
    return result


async def _await(result: Awaitable[object]) -> object:
    return await result


class Worker(Protocol):
    """An async worker (a poller, a subscriber) that runs until `stop` is set."""

    async def run(self, stop: asyncio.Event) -> Any:
        """Work until `stop` is set."""
        ...


class LoopThread:
    """Runs async workers on their own event loop in a background thread (start/stop service)."""

    def __init__(self, workers: list[Any], *, name: str, stop_timeout_s: float) -> None:
        self._workers: list[Worker] = workers
        self._name = name
        self._stop_timeout_s = stop_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop (None before start), for calls from other threads."""
        return self._loop

    def start(self) -> None:
        """Start the workers on a background thread; returns once the loop runs."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        """Ask the workers to stop and wait for the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=self._stop_timeout_s)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await asyncio.gather(*(w.run(self._stop) for w in self._workers))
