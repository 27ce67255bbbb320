"""The simulated plant as an OPC UA server: the ISA-95 hierarchy as objects, tags as variables."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.attribute_ids import AttributeIds

from ifactory.core.clock import to_datetime
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.plant.spec import DataType

log = logging.getLogger(__name__)

NAMESPACE = "urn:ifactory:sim"
APPLICATION_URI = "urn:ifactory:sim:server"
# The sim's namespace is the first one registered after the standard ones (0 and 1).
NAMESPACE_INDEX = 2

_VARIANTS = {
    DataType.float: (ua.VariantType.Double, 0.0),
    DataType.int: (ua.VariantType.Int32, 0),
    DataType.enum: (ua.VariantType.Int32, 0),
    DataType.bool: (ua.VariantType.Boolean, False),
    DataType.string: (ua.VariantType.String, ""),
}


def node_id_of(tag_key: str) -> str:
    """The node id under which the simulated server exposes a tag: its key as a string id."""
    return f"ns={NAMESPACE_INDEX};s={tag_key}"


class _Users(UserManager):
    """One user/password pair (the simulator's access control)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username == self.username and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


class SimOpcUaServer:
    """A real asyncua server whose variables carry the simulated values with source timestamps."""

    def __init__(
        self,
        plant: Plant,
        *,
        host: str = "127.0.0.1",
        port: int = 4840,
        username: str | None = None,
        password: str | None = None,
        certificate: str | None = None,
        private_key: str | None = None,
        tag_keys: Mapping[int, str] | None = None,
    ) -> None:
        self.plant = plant
        self.url = f"opc.tcp://{host}:{port}/ifactory/"
        self.username = username
        self.password = password
        self.certificate = certificate
        self.private_key = private_key
        self._tag_keys = dict(tag_keys or {})
        self._server: Server | None = None
        self._variants: dict[str, ua.VariantType] = {}
        self._node_ids: dict[str, ua.NodeId] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Build the address space and listen."""
        users = _Users(self.username, self.password or "") if self.username else None
        server = Server(user_manager=users)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("iFactory simulated plant")
        await server.set_application_uri(APPLICATION_URI)
        if self.certificate and self.private_key:
            await server.load_certificate(self.certificate)
            await server.load_private_key(self.private_key)
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.NoSecurity,
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ]
            )
        if users is not None:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        ns = await server.register_namespace(NAMESPACE)
        assert ns == NAMESPACE_INDEX, f"namespace index {ns}"
        objects: dict[str, Any] = {}
        for node in self.plant.nodes:
            parent = objects[node.parent_key] if node.parent_key else server.nodes.objects
            obj = await parent.add_object(
                f"ns={ns};s={node.key}#", ua.QualifiedName(node.spec.id, ns)
            )
            objects[node.key] = obj
            for tag in node.tags:
                variant, initial = _VARIANTS[tag.spec.data_type]
                var = await obj.add_variable(
                    f"ns={ns};s={tag.key}",
                    ua.QualifiedName(tag.spec.name, ns),
                    ua.Variant(initial, variant),
                )
                if tag.spec.description:
                    await var.write_attribute(
                        AttributeIds.Description,
                        ua.DataValue(ua.Variant(ua.LocalizedText(tag.spec.description))),
                    )
                if tag.spec.unit:
                    eu = ua.EUInformation()
                    eu.DisplayName = ua.LocalizedText(tag.spec.unit)
                    eu.Description = ua.LocalizedText(tag.spec.unit)
                    await var.add_property(ns, "EngineeringUnits", eu)
                limits = tag.spec.limits
                if limits is not None and limits.low is not None and limits.high is not None:
                    rng = ua.Range()
                    rng.Low, rng.High = limits.low, limits.high
                    await var.add_property(ns, "EURange", rng)
                self._variants[tag.key] = variant
                self._node_ids[tag.key] = var.nodeid
        await server.start()
        self._server = server
        self.loop = asyncio.get_running_loop()
        log.info("simulated OPC UA server on %s (%d tags)", self.url, len(self._variants))

    async def stop(self) -> None:
        """Stop listening and drop every session."""
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def write_batch(self, batch: TelemetryBatch) -> int:
        """Write every point of `batch` in order (value, status, source timestamp); returns count."""
        server = self._server
        if server is None:
            return 0
        text = batch.text
        written = 0
        for i, (tag, ts, value, quality) in enumerate(
            zip(
                batch.tags.tolist(),
                batch.ts.tolist(),
                batch.values.tolist(),
                batch.quality.tolist(),
                strict=True,
            )
        ):
            key = str(self._tag_keys.get(tag, tag) if isinstance(tag, int) else tag)
            variant = self._variants.get(key)
            if variant is None:
                continue
            raw: Any
            if variant == ua.VariantType.String:
                raw = (text[i] if text is not None else None) or ""
            elif variant == ua.VariantType.Boolean:
                raw = bool(value) if math.isfinite(value) else False
            elif variant == ua.VariantType.Int32:
                raw = int(value) if math.isfinite(value) else 0
            else:
                raw = float(value)
            dv = ua.DataValue(
                ua.Variant(raw, variant),
                StatusCode=ua.StatusCode(ua.UInt32(int(quality))),
                SourceTimestamp=to_datetime(int(ts)),  # type: ignore[arg-type]
            )
            await server.write_attribute_value(self._node_ids[key], dv)
            written += 1
        return written

    def update(self, batch: TelemetryBatch, *, timeout: float = 30.0) -> None:
        """Write a batch from another thread (e.g. a SimulationRunner's sink)."""
        if self.loop is None:
            raise RuntimeError("the OPC UA server is not running")
        asyncio.run_coroutine_threadsafe(self.write_batch(batch), self.loop).result(timeout)
