"""OpcUaClient: all OPC UA I/O behind one object, asyncua errors translated at the edge."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif, Subscription
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from ifactory.connect.opcua.config import OpcUaEndpoint, OpcUaPoint
from ifactory.connect.opcua.errors import (
    OpcUaAuthFailed,
    OpcUaConfigInvalid,
    OpcUaNotReady,
    OpcUaReadFailed,
)

log = logging.getLogger(__name__)

# Status codes that mean "who you are is not accepted" (OPC 10000-4, 5.6.3 ActivateSession).
_AUTH_CODES = {
    StatusCodes.BadUserAccessDenied,
    StatusCodes.BadIdentityTokenInvalid,
    StatusCodes.BadIdentityTokenRejected,
    StatusCodes.BadCertificateInvalid,
    StatusCodes.BadCertificateUntrusted,
    StatusCodes.BadSecurityChecksFailed,
    StatusCodes.BadSecurityPolicyRejected,
    StatusCodes.BadSecurityModeRejected,
}
# DataChangeFilter DeadbandType (OPC 10000-4, 7.22.2): 1 absolute, 2 percent of EURange.
_DEADBAND_TYPES = {"absolute": 1, "percent": 2}


@dataclass(frozen=True, slots=True)
class BrowsedVariable:
    """A variable found by browsing: where it is and what the server says about it."""

    node_id: str
    browse_path: tuple[str, ...]
    display_name: str
    data_type: str  # the VariantType name, e.g. "Double", "Int32", "Boolean", "String"
    unit: str
    description: str
    eu_low: float | None = None
    eu_high: float | None = None


# (client handle, DataValue) for each notification of a publish response.
NotificationCallback = Callable[[int, ua.DataValue], None]


class OpcUaClient:
    """One session to a server: connect, browse, subscribe; raises the errors of errors.py."""

    def __init__(self, endpoint: OpcUaEndpoint, *, password: str | None = None) -> None:
        self.endpoint = endpoint
        self._password = password
        self._client: Client | None = None
        self._subscriptions: list[Subscription] = []
        self.on_lost: Callable[[Exception], None] | None = None

    @property
    def security_policy_uri(self) -> str | None:
        """The security policy of the open session (e.g. ...#Basic256Sha256)."""
        return None if self._client is None else str(self._client.security_policy.URI)

    @property
    def subscription_count(self) -> int:
        """Subscriptions created on the current session."""
        return len(self._subscriptions)

    async def connect(self) -> None:
        """Open a secure channel and a session with the configured policy and user."""
        ep = self.endpoint
        client = Client(ep.url, timeout=ep.timeout_s, watchdog_intervall=ep.watchdog_s)
        client.name = client.description = "iFactory"
        client.application_uri = "urn:ifactory:client"
        if ep.secure:
            if not (ep.certificate and ep.private_key):
                raise OpcUaConfigInvalid(
                    f"{ep.url}: security policy {ep.security_policy} needs 'certificate' and"
                    " 'private_key'",
                    loc=["attributes", "opcua", "certificate"],
                )
            parts = [ep.security_policy, ep.security_mode, ep.certificate, ep.private_key]
            if ep.server_certificate:
                parts.append(ep.server_certificate)
            try:
                await client.set_security_string(",".join(parts))
            except (OSError, ValueError) as exc:
                raise OpcUaConfigInvalid(f"{ep.url}: security settings: {exc}") from None
        if ep.username:
            client.set_user(ep.username)
            password = self._password if self._password is not None else ep.password
            if password is None and ep.password_env and self._password is None:
                raise OpcUaAuthFailed(
                    f"{ep.url}: environment variable {ep.password_env} (password of"
                    f" '{ep.username}') is not set"
                )
            if password is not None:
                client.set_password(password)
        client.connection_lost_callback = self._lost
        try:
            await client.connect()
        except UaStatusCodeError as exc:
            await _quiet_disconnect(client)
            if exc.code in _AUTH_CODES:
                raise OpcUaAuthFailed(
                    f"{ep.url}: the server refused the connection: {status_name(exc.code)}"
                    + (f" (user '{ep.username}')" if ep.username else "")
                ) from None
            raise OpcUaNotReady(f"{ep.url}: {status_name(exc.code)}") from None
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            await _quiet_disconnect(client)
            raise OpcUaNotReady(f"{ep.url}: cannot connect ({exc or type(exc).__name__})") from None
        self._client = client

    async def disconnect(self) -> None:
        """Close the session (best effort: the server may already be gone)."""
        client, self._client = self._client, None
        self._subscriptions = []
        if client is not None:
            await _quiet_disconnect(client)

    async def subscribe(
        self, points: list[OpcUaPoint], callback: NotificationCallback
    ) -> list[tuple[int, int]]:
        """Monitor every point, at most `max_items_per_subscription` per subscription.

        Returns (client handle, status code) of items the server refused; handle i+1 is points[i].
        """
        client = self._require()
        ep = self.endpoint
        handler = _Handler(callback, self._lost)
        refused: list[tuple[int, int]] = []
        size = ep.max_items_per_subscription
        for first in range(0, len(points), size):
            chunk = points[first : first + size]
            params = ua.CreateSubscriptionParameters()
            params.RequestedPublishingInterval = ep.publishing_interval_ms
            params.RequestedLifetimeCount = 10_000
            params.RequestedMaxKeepAliveCount = 3_000
            params.MaxNotificationsPerPublish = 0  # no limit: the server sends what it has
            params.PublishingEnabled = True
            params.Priority = 0
            try:
                sub = await client.create_subscription(params, handler)
                requests = [_item_request(first + i + 1, p) for i, p in enumerate(chunk)]
                results = await sub.create_monitored_items(requests)
            except UaStatusCodeError as exc:
                raise OpcUaReadFailed(f"{ep.url}: subscribe: {status_name(exc.code)}") from None
            except (OSError, TimeoutError, ConnectionError, UaError) as exc:
                raise OpcUaNotReady(f"{ep.url}: subscribe: {exc}") from None
            self._subscriptions.append(sub)
            for i, result in enumerate(results):
                if isinstance(result, ua.StatusCode):
                    refused.append((first + i + 1, int(result.value)))
        return refused

    async def browse(
        self, root: str | None = None, *, max_depth: int = 8, max_nodes: int = 5000
    ) -> list[BrowsedVariable]:
        """Every Variable under `root` (default: the Objects folder), breadth first, bounded."""
        client = self._require()
        try:
            start = client.nodes.objects if root is None else client.get_node(root)
            found: list[BrowsedVariable] = []
            queue: list[tuple[Node, tuple[str, ...], int]] = [(start, (), 0)]
            seen: set[str] = set()
            visited = 0
            while queue and visited < max_nodes:
                node, path, depth = queue.pop(0)
                visited += 1
                for ref in await node.get_references(
                    refs=ObjectIds.HierarchicalReferences,
                    direction=ua.BrowseDirection.Forward,
                    nodeclassmask=ua.NodeClass.Unspecified,  # all; filtered below
                ):
                    nid = ref.NodeId.to_string()
                    if ref.NodeClass not in (ua.NodeClass.Object, ua.NodeClass.Variable):
                        continue
                    if nid in seen or ref.NodeId.NamespaceIndex == 0:
                        continue  # namespace 0 is the server's own standard address space
                    seen.add(nid)
                    child = client.get_node(ref.NodeId)
                    child_path = (*path, ref.BrowseName.Name)
                    if ref.NodeClass == ua.NodeClass.Variable:
                        if ref.BrowseName.Name in ("EURange", "EngineeringUnits"):
                            continue  # properties of an analog item, not signals
                        found.append(await self._describe(child, child_path, ref))
                    elif depth + 1 < max_depth:
                        queue.append((child, child_path, depth + 1))
            return found
        except UaStatusCodeError as exc:
            raise OpcUaReadFailed(f"{self.endpoint.url}: browse: {status_name(exc.code)}") from None
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise OpcUaNotReady(f"{self.endpoint.url}: browse: {exc}") from None

    async def _describe(
        self, node: Node, path: tuple[str, ...], ref: ua.ReferenceDescription
    ) -> BrowsedVariable:
        variant = "Unknown"
        description = ""
        with contextlib.suppress(UaError, ValueError):
            variant = (await node.read_data_type_as_variant_type()).name
        with contextlib.suppress(UaError):
            description = (await node.read_description()).Text or ""
        unit = ""
        low = high = None
        for prop in await node.get_properties():
            name = (await prop.read_browse_name()).Name
            try:
                value: Any = await prop.read_value()
            except UaError:
                continue
            if name == "EngineeringUnits" and value is not None:
                unit = value.DisplayName.Text or ""
            elif name == "EURange" and value is not None:
                low, high = float(value.Low), float(value.High)
        return BrowsedVariable(
            node_id=ref.NodeId.to_string(),
            browse_path=path,
            display_name=ref.DisplayName.Text or ref.BrowseName.Name,
            data_type=variant,
            unit=unit,
            description=description,
            eu_low=low,
            eu_high=high,
        )

    def _require(self) -> Client:
        if self._client is None:
            raise OpcUaNotReady(f"{self.endpoint.url}: not connected")
        return self._client

    async def _lost(self, exc: Exception) -> None:
        if self.on_lost is not None:
            self.on_lost(exc)


class _Handler:
    """asyncua notification handler: forwards values by client handle, reports status changes."""

    def __init__(self, callback: NotificationCallback, lost: Callable[[Exception], Any]) -> None:
        self.callback = callback
        self.lost = lost

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        self.callback(data.monitored_item.ClientHandle, data.monitored_item.Value)

    async def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        # BadShutdown / BadTimeout: the server ended the subscription; treat as a lost link.
        if not status.Status.is_good():
            await self.lost(ConnectionError(f"subscription status {status.Status}"))


def _item_request(handle: int, point: OpcUaPoint) -> ua.MonitoredItemCreateRequest:
    src = point.source
    read = ua.ReadValueId()
    read.NodeId = ua.NodeId.from_string(src.node_id)
    read.AttributeId = AttributeIds.Value
    params = ua.MonitoringParameters()
    params.ClientHandle = handle
    params.SamplingInterval = src.sampling_interval_ms
    params.QueueSize = src.queue_size
    params.DiscardOldest = True
    if src.deadband is not None:
        flt = ua.DataChangeFilter()
        flt.Trigger = ua.DataChangeTrigger.StatusValue
        flt.DeadbandType = _DEADBAND_TYPES[src.deadband.type]
        flt.DeadbandValue = src.deadband.value
        params.Filter = flt
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = read
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


def status_name(code: int) -> str:
    try:
        name, doc = ua.status_codes.get_name_and_doc(code)
        return f"{name} ({doc})" if doc else name
    except (KeyError, AttributeError):
        return f"status 0x{code:08X}"


async def _quiet_disconnect(client: Client) -> None:
    try:
        await client.disconnect()
    except Exception:  # the server is gone or never answered: nothing left to close
        log.debug("disconnect after a failure", exc_info=True)
