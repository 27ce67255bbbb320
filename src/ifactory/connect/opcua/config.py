"""OPC UA sources and endpoints as declared in the plant model (tags as data)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ifactory.connect.opcua.errors import OpcUaConfigInvalid
from ifactory.plant.loader import Node, Plant

SecurityPolicy = Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"]
SecurityMode = Literal["None", "Sign", "SignAndEncrypt"]


class Deadband(BaseModel):
    """A data-change filter deadband (OPC 10000-4, 7.22.2): absolute, or percent of EURange."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["absolute", "percent"] = "absolute"
    value: float = Field(ge=0)


class OpcUaSource(BaseModel):
    """A tag's `sources: {opcua: {...}}` entry in plant.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str = Field(description='e.g. "ns=2;s=Line1.Press1.Pressure" or "ns=3;i=1001"')
    sampling_interval_ms: float = Field(default=-1, description="-1: the publishing interval")
    deadband: Deadband | None = None
    queue_size: int = Field(default=10, ge=0, description="values the server keeps per item")

    @field_validator("node_id")
    @classmethod
    def _parses(cls, value: str) -> str:
        from asyncua import ua
        from asyncua.ua.uaerrors import UaStringParsingError

        try:
            ua.NodeId.from_string(value)
        except (ValueError, UaStringParsingError) as exc:
            raise ValueError(f"not an OPC UA node id: {value!r} ({exc})") from None
        return value


class OpcUaEndpoint(BaseModel):
    """Connection settings: a node's `attributes: {opcua: {...}}` in plant.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    url: str = Field(pattern=r"^opc\.tcp://")
    security_policy: SecurityPolicy = "None"
    security_mode: SecurityMode = "None"
    certificate: str | None = Field(default=None, description="client certificate file (DER/PEM)")
    private_key: str | None = Field(default=None, description="client private key file (PEM)")
    server_certificate: str | None = None
    username: str | None = None
    # Never a password in the plant file: the name of the environment variable that holds it.
    password_env: str | None = None
    publishing_interval_ms: float = Field(default=500, gt=0)
    max_items_per_subscription: int = Field(default=1000, ge=1, le=100_000)
    timeout_s: float = Field(default=4.0, gt=0)
    watchdog_s: float = Field(default=1.0, gt=0, description="how often the link is checked")
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)

    @property
    def password(self) -> str | None:
        """The password from the environment variable named by `password_env`."""
        return os.environ.get(self.password_env) if self.password_env else None

    @property
    def secure(self) -> bool:
        return self.security_policy != "None"


@dataclass(frozen=True, slots=True)
class OpcUaPoint:
    """One tag to subscribe: its key (as the ingest pipeline resolves it) and its source."""

    tag_key: str
    source: OpcUaSource


def endpoint_of(node: Node, plant: Plant) -> OpcUaEndpoint | None:
    """The `attributes.opcua` endpoint of the node or its nearest ancestor that has one."""
    current: Node | None = node
    while current is not None:
        raw = current.spec.attributes.get("opcua")
        if raw is not None:
            endpoint: OpcUaEndpoint = _validate(
                OpcUaEndpoint, {"name": current.key, **raw}, current.key, "attributes.opcua"
            )
            return endpoint
        current = plant.node(current.parent_key) if current.parent_key else None
    return None


def endpoints_from_plant(
    plant: Plant, *, overrides: Mapping[str, OpcUaSource] | None = None
) -> list[tuple[OpcUaEndpoint, list[OpcUaPoint]]]:
    """Every endpoint of the plant with the tags subscribed through it."""
    grouped: dict[OpcUaEndpoint, list[OpcUaPoint]] = {}
    for node in plant.nodes:
        for tag in node.tags:
            source = (overrides or {}).get(tag.key)
            if source is None:
                raw = tag.spec.sources.get("opcua")
                if raw is None:
                    continue
                source = _validate(OpcUaSource, raw, tag.key, "sources.opcua")
            endpoint = endpoint_of(node, plant)
            if endpoint is None:
                raise OpcUaConfigInvalid(
                    f"{tag.key} has an opcua source but neither '{node.key}' nor an ancestor"
                    " declares attributes.opcua (url...)",
                    loc=[node.key, "attributes", "opcua"],
                )
            grouped.setdefault(endpoint, []).append(OpcUaPoint(tag.key, source))
    return list(grouped.items())


def _validate(model: Any, raw: Any, key: str, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise OpcUaConfigInvalid(
            f"{key}: {where}{'.' + field if field else ''}: {err['msg']}",
            loc=[key, *where.split(".")],
        ) from None
