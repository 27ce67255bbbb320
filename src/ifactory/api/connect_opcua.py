"""OPC UA connector routes: browse an endpoint into tag proposals, accept them as tags."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.connect.opcua import service
from ifactory.connect.opcua.config import OpcUaEndpoint
from ifactory.connect.opcua.proposals import TagProposal
from ifactory.plant.schemas import TagRead

router = APIRouter(prefix="/api/connect/opcua", tags=["connect-opcua"])
Editor = Annotated[Principal, Depends(require_roles("planner", "manager"))]


class BrowseRequest(BaseModel):
    """Where to browse; the password is used for this browse only and never stored."""

    endpoint: OpcUaEndpoint
    password: str | None = None
    root: str | None = Field(default=None, description="node id to start at (default: Objects)")
    max_depth: int = Field(default=8, ge=1, le=32)
    max_nodes: int = Field(default=5000, ge=1, le=100_000)


class AcceptRequest(BaseModel):
    """Proposals a plant engineer accepted, to become tags of `node_key`."""

    node_key: str
    proposals: list[TagProposal] = Field(min_length=1)


class OpcUaTagRead(BaseModel):
    """A tag read through OPC UA, with its source."""

    id: int
    key: str
    data_type: str
    unit: str
    source: dict[str, Any]


@router.post("/browse", response_model=list[TagProposal], operation_id="connect-opcua-browse")
def browse(body: BrowseRequest, session: SessionDep, _: Editor) -> list[TagProposal]:
    """Browse the server and propose a tag for every variable (nothing is changed yet)."""
    # A plain route runs in a worker thread: the OPC UA session gets its own event loop
    # there, so a slow server never blocks the API's loop.
    return asyncio.run(
        service.browse(
            body.endpoint,
            password=body.password,
            root=body.root,
            max_depth=body.max_depth,
            max_nodes=body.max_nodes,
            node_keys=service.node_keys(session),
            known_node_ids=service.known_node_ids(session),
        )
    )


@router.post(
    "/proposals/accept",
    response_model=list[TagRead],
    status_code=201,
    operation_id="connect-opcua-accept",
)
def accept(
    body: AcceptRequest, session: SessionDep, platform: PlatformDep, user: Editor
) -> list[TagRead]:
    """Add accepted proposals to a plant node as tags with an OPC UA source."""
    tags = service.accept(
        session, node_key=body.node_key, proposals=body.proposals, user=user.username
    )
    platform.reload_registry(session)
    return [TagRead.model_validate(t) for t in tags]


@router.get("/tags", response_model=list[OpcUaTagRead], operation_id="connect-opcua-tags")
def tags(session: SessionDep, _: Actor) -> list[OpcUaTagRead]:
    """Every tag read through OPC UA."""
    return [
        OpcUaTagRead(
            id=t.id, key=t.key, data_type=t.data_type, unit=t.unit, source=t.sources["opcua"]
        )
        for t in service.opcua_tags(session)
    ]
