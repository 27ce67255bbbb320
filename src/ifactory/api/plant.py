"""Plant model routes: the hierarchy, nodes, tags, and the plant file export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from ifactory.api.auth import Actor, require_roles
from ifactory.api.deps import PlatformDep, SessionDep
from ifactory.auth.principal import Principal
from ifactory.core.audit import record
from ifactory.plant import service
from ifactory.plant.models import Tag
from ifactory.plant.schemas import (
    MachineStatus,
    NodeRead,
    NodeUpdate,
    TagPage,
    TagRead,
    TagUpdate,
    TreeNode,
)

router = APIRouter(prefix="/api", tags=["plant"])
Editor = Annotated[Principal, Depends(require_roles("planner", "manager"))]


def machine_status(platform: PlatformDep, node_id: int) -> MachineStatus | None:
    """Current state of a machine and whether it is planned time now."""
    current = platform.tracker.current().get(node_id)
    if current is None:
        return None
    state, since = current
    return MachineStatus(
        state=state.value,
        since_us=since,
        planned=platform.registry.is_planned(node_id, platform.clock.now_us()),
    )


@router.get("/plant/tree", response_model=list[TreeNode])
def tree(platform: PlatformDep, _: Actor) -> list[TreeNode]:
    """The equipment hierarchy, each machine with its current state."""
    reg = platform.registry
    current = platform.tracker.current()
    now = platform.clock.now_us()

    def build(node_id: int) -> TreeNode:
        n = reg.nodes[node_id]
        status = None
        if n.id in current:
            state, since = current[n.id]
            status = MachineStatus(
                state=state.value, since_us=since, planned=reg.is_planned(n.id, now)
            )
        return TreeNode(
            id=n.id,
            key=n.key,
            name=n.name,
            level=n.level.value,
            equipment_class=n.equipment_class,
            kind=n.kind,
            uns_path=n.uns_path,
            status=status,
            children=[build(c) for c in n.children],
        )

    return [build(r.id) for r in reg.roots()]


@router.get("/plant/nodes/{key:path}", response_model=NodeRead)
def get_node(key: str, session: SessionDep, platform: PlatformDep, _: Actor) -> NodeRead:
    """One node by key (e.g. acme/springfield/press_shop/press_line/press1) with its tags."""
    node = service.get_node(session, key=key)
    parent = platform.registry.nodes.get(node.parent_id) if node.parent_id else None
    return NodeRead(
        id=node.id,
        key=node.key,
        name=node.name,
        level=node.level,
        equipment_class=node.equipment_class,
        kind=node.kind,
        uns_path=node.uns_path,
        parent_key=parent.key if parent else None,
        ideal_cycle_times={c.product_code: c.seconds for c in node.cycle_times},
        status=machine_status(platform, node.id),
        tags=[TagRead.model_validate(t) for t in node.tags],
    )


@router.patch("/plant/nodes/{key:path}", response_model=NodeRead)
def update_node(
    key: str, body: NodeUpdate, session: SessionDep, platform: PlatformDep, user: Editor
) -> NodeRead:
    """Rename or describe a node (the database is the truth after seeding)."""
    node = service.get_node(session, key=key)
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(node, name, value)
    node.updated_by = user.username
    record(
        session,
        user=user,
        action="update",
        entity="plant_node",
        entity_id=node.key,
        details=changes,
    )
    session.flush()
    platform.reload_registry(session)
    return get_node(key, session, platform, user)


@router.get("/tags", response_model=TagPage)
def list_tags(
    session: SessionDep,
    _: Actor,
    node: Annotated[str | None, Query(description="only tags of this node key")] = None,
    role: Annotated[str | None, Query(examples=["state"])] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TagPage:
    """Tags, filtered by node and role, paged."""
    query = select(Tag)
    if node is not None:
        query = query.where(Tag.node_id == service.get_node(session, key=node).id)
    if role is not None:
        query = query.where(Tag.role == role)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Tag.id).limit(limit).offset(offset)).all()
    return TagPage(items=[TagRead.model_validate(t) for t in rows], total=total)


@router.get("/tags/{tag_id}", response_model=TagRead)
def get_tag(tag_id: int, session: SessionDep, _: Actor) -> TagRead:
    """One tag."""
    return TagRead.model_validate(service.get_tag(session, tag_id=tag_id))


@router.patch("/tags/{tag_id}", response_model=TagRead)
def update_tag(
    tag_id: int, body: TagUpdate, session: SessionDep, platform: PlatformDep, user: Editor
) -> TagRead:
    """Change a tag's description, unit, limits or enabled flag."""
    tag = service.update_tag(
        session, tag_id=tag_id, changes=body.model_dump(exclude_unset=True), user=user.username
    )
    record(
        session,
        user=user,
        action="update",
        entity="tag",
        entity_id=str(tag_id),
        details=body.model_dump(exclude_unset=True),
    )
    platform.reload_registry(session)
    return TagRead.model_validate(tag)


@router.get(
    "/plant/export",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/yaml": {}}, "description": "the plant file"}},
)
def export(session: SessionDep, _: Actor) -> PlainTextResponse:
    """The database's plant model written back as a plant file."""
    return PlainTextResponse(
        service.to_yaml(service.export(session)), media_type="application/yaml"
    )
