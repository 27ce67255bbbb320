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
from collections.abc import Awaitable, Callable
from typing import Protocol

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
