"""OPC UA services: browse an endpoint into proposals, accept proposals as Tag rows."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.connect.opcua.client import OpcUaClient
from ifactory.connect.opcua.config import OpcUaEndpoint, OpcUaSource
from ifactory.connect.opcua.proposals import TagProposal, propose
from ifactory.core.audit import record
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.plant.loader import _UNITS
from ifactory.plant.models import PlantNode, Tag


async def browse(
    endpoint: OpcUaEndpoint,
    *,
    password: str | None = None,
    root: str | None = None,
    max_depth: int = 8,
    max_nodes: int = 5000,
    node_keys: set[str] | frozenset[str] = frozenset(),
    known_node_ids: set[str] | frozenset[str] = frozenset(),
) -> list[TagProposal]:
    """Connect, browse under `root` and propose a tag for every usable variable."""
    client = OpcUaClient(endpoint, password=password)
    await client.connect()
    try:
        found = await client.browse(root, max_depth=max_depth, max_nodes=max_nodes)
    finally:
        await client.disconnect()
    return propose(found, node_keys=node_keys, known_node_ids=known_node_ids)


def opcua_tags(session: Session) -> list[Tag]:
    """Every tag that has an OPC UA source, in hierarchy order."""
    rows = session.scalars(select(Tag).order_by(Tag.node_id, Tag.position)).all()
    return [t for t in rows if isinstance(t.sources, dict) and "opcua" in t.sources]


def known_node_ids(session: Session) -> set[str]:
    """Node ids already read by some tag (so a browse can flag them)."""
    return {str(t.sources["opcua"].get("node_id")) for t in opcua_tags(session)}


def node_keys(session: Session) -> set[str]:
    """Every plant node key (to match browse paths against)."""
    return set(session.scalars(select(PlantNode.key)))


def accept(
    session: Session,
    *,
    node_key: str,
    proposals: list[TagProposal],
    user: str,
) -> list[Tag]:
    """Add accepted proposals to the node as tags reading their node ids (audited)."""
    node = session.scalar(select(PlantNode).where(PlantNode.key == node_key))
    if node is None:
        raise NotFound(f"no plant node '{node_key}'", loc=["body", "node_key"])
    existing = {t.name for t in node.tags}
    names = [p.name for p in proposals]
    clash = sorted({n for n in names if n in existing or names.count(n) > 1})
    if clash:
        raise Conflict(
            f"'{node_key}' already has (or would get twice) tags {clash}", loc=["body", "proposals"]
        )
    position = session.scalar(
        select(func.coalesce(func.max(Tag.position), -1)).where(Tag.node_id == node.id)
    )
    created: list[Tag] = []
    for i, p in enumerate(proposals):
        if p.unit:
            try:
                _UNITS.parse_units(p.unit)
            except Exception as exc:  # pint raises several unrelated types
                raise InvalidInput(
                    f"unknown unit '{p.unit}'", loc=["body", "proposals", i, "unit"]
                ) from exc
        source: dict[str, Any] = {"node_id": p.node_id}
        if p.sampling_interval_ms != -1:
            source["sampling_interval_ms"] = p.sampling_interval_ms
        if p.deadband is not None:
            source["deadband"] = {"type": "absolute", "value": p.deadband}
        try:  # the same check the connector will make when it subscribes
            OpcUaSource.model_validate(source)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise InvalidInput(msg, loc=["body", "proposals", i, "node_id"]) from None
        limits = None
        if p.low is not None and p.high is not None and p.low < p.high:
            limits = {"low": p.low, "high": p.high}
        tag = Tag(
            node_id=node.id,
            position=int(position or 0) + 1 + i,
            name=p.name,
            key=f"{node.key}/{p.name}",
            data_type=p.data_type.value,
            unit=p.unit,
            role="measurement",
            description=p.description,
            limits=limits,
            sample_interval_s=1.0,
            sources={"opcua": source},
            created_by=user,
            updated_by=user,
        )
        session.add(tag)
        created.append(tag)
    session.flush()
    for tag in created:
        record(
            session,
            user=user,
            action="create",
            entity="tag",
            entity_id=str(tag.id),
            details={"key": tag.key, "source": tag.sources},
        )
    return created
