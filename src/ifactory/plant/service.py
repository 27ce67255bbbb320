"""Plant model services: seed from a plant file, export back, read the hierarchy and tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ifactory.core.db import get_or_not_found
from ifactory.core.errors import NotFound
from ifactory.plant.loader import Plant, effective_cycle_times
from ifactory.plant.models import (
    DowntimeReason,
    EquipmentClass,
    IdealCycleTime,
    PlantNode,
    Product,
    Site,
    Tag,
)
from ifactory.plant.registry import NodeInfo, PlantRegistry, TagInfo
from ifactory.plant.spec import (
    EquipmentClassSpec,
    Level,
    NodeSpec,
    PlantSpec,
    ProductSpec,
    ReasonSpec,
    SiteSettings,
    StateDerivation,
    TagSpec,
)


def is_seeded(session: Session) -> bool:
    """True when the database already holds a plant model."""
    return bool(session.scalar(select(func.count()).select_from(PlantNode)))


def seed(session: Session, plant: Plant, *, user: str | None = None) -> int:
    """Write a plant file's model into an empty database; returns the number of nodes created."""
    spec = plant.spec
    for name, cls in spec.equipment_classes.items():
        session.add(
            EquipmentClass(
                name=name,
                description=cls.description,
                created_by=user,
                updated_by=user,
                template=cls.model_dump(mode="json", exclude_defaults=True, by_alias=True),
            )
        )
    for product in spec.products:
        session.add(Product(code=product.code, name=product.name, created_by=user, updated_by=user))
    session.flush()
    ids: dict[str, int] = {}
    for position, node in enumerate(plant.nodes):
        ns = node.spec
        row = PlantNode(
            key=node.key,
            parent_id=ids.get(node.parent_key) if node.parent_key else None,
            position=position,
            level=ns.level.value,
            name=ns.name or ns.id,
            equipment_class=ns.equipment_class,
            kind=ns.kind,
            description=ns.description,
            uns_path=node.uns_path,
            state_derivation=ns.state_derivation.model_dump(mode="json")
            if ns.state_derivation
            else None,
            attributes=ns.attributes,
            created_by=user,
            updated_by=user,
        )
        for i, tag in enumerate(node.tags):
            row.tags.append(_tag_row(tag.spec, tag.key, i, user))
        for code, seconds in effective_cycle_times(spec, ns).items():
            row.cycle_times.append(IdealCycleTime(product_code=code, seconds=seconds))
        session.add(row)
        session.flush()
        ids[node.key] = row.id
        if ns.level == Level.site:
            settings = spec.sites.get(ns.id, SiteSettings())
            session.add(
                Site(
                    node_id=row.id,
                    settings=settings.model_dump(mode="json"),
                    created_by=user,
                    updated_by=user,
                )
            )
    _seed_reasons(session, spec.downtime_reasons, None, None, user)
    session.flush()
    return len(plant.nodes)


def _tag_row(spec: TagSpec, key: str, position: int, user: str | None) -> Tag:
    return Tag(
        name=spec.name,
        key=key,
        position=position,
        data_type=spec.data_type.value,
        unit=spec.unit,
        role=spec.role.value,
        description=spec.description,
        limits=spec.limits.model_dump(exclude_none=True) if spec.limits else None,
        enum={str(k): v for k, v in spec.enum.items()} if spec.enum else None,
        counter_max=spec.counter_max,
        sample_interval_s=spec.sample_interval_s,
        sources=spec.sources,
        created_by=user,
        updated_by=user,
    )


def _seed_reasons(
    session: Session,
    reasons: list[ReasonSpec],
    parent: int | None,
    loss: str | None,
    user: str | None,
) -> None:
    for position, reason in enumerate(reasons):
        row = DowntimeReason(
            code=reason.code,
            name=reason.name,
            parent_id=parent,
            position=position,
            loss=reason.loss.value if reason.loss else loss,
            created_by=user,
            updated_by=user,
        )
        session.add(row)
        session.flush()
        _seed_reasons(session, reason.children, row.id, row.loss, user)


def _tag_spec(row: Tag) -> TagSpec:
    data: dict[str, Any] = {
        "name": row.name,
        "data_type": row.data_type,
        "unit": row.unit,
        "role": row.role,
        "description": row.description,
        "sample_interval_s": row.sample_interval_s,
        "sources": row.sources,
    }
    if row.limits:
        data["limits"] = row.limits
    if row.enum:
        data["enum"] = {int(k): v for k, v in row.enum.items()}
    if row.counter_max is not None:
        data["counter_max"] = row.counter_max
    return TagSpec.model_validate(data)


def export(session: Session) -> PlantSpec:
    """The database's plant model as a plant file (the inverse of `seed`)."""
    classes = {
        c.name: EquipmentClassSpec.model_validate(c.template)
        for c in session.scalars(select(EquipmentClass))
    }
    nodes = session.scalars(
        select(PlantNode)
        .options(selectinload(PlantNode.tags), selectinload(PlantNode.cycle_times))
        .order_by(PlantNode.position)
    ).all()
    sites = {s.node_id: s.settings for s in session.scalars(select(Site))}
    children: dict[int | None, list[PlantNode]] = {}
    for n in nodes:
        children.setdefault(n.parent_id, []).append(n)

    def build(row: PlantNode) -> NodeSpec:
        cls = classes.get(row.equipment_class or "")
        inherited = {t.name: t for t in cls.tags} if cls else {}
        tags = [spec for spec in map(_tag_spec, row.tags) if inherited.get(spec.name) != spec]
        cls_times = cls.ideal_cycle_times if cls else {}
        times = {
            c.product_code: c.seconds
            for c in row.cycle_times
            if cls_times.get(c.product_code) != c.seconds
        }
        data: dict[str, Any] = {
            "id": row.node_id,
            "name": row.name,
            "level": row.level,
            "kind": row.kind,
            "description": row.description,
            "tags": tags,
            "ideal_cycle_times": times,
            "attributes": row.attributes,
            "children": [build(c) for c in children.get(row.id, [])],
        }
        if row.equipment_class:
            data["class"] = row.equipment_class
        if row.state_derivation:
            data["state_derivation"] = StateDerivation.model_validate(row.state_derivation)
        return NodeSpec.model_validate(data)

    roots = children.get(None, [])
    if not roots:
        raise NotFound("the database holds no plant model; seed it from a plant file first")
    site_settings = {
        n.node_id: SiteSettings.model_validate(sites[n.id]) for n in nodes if n.id in sites
    }
    return PlantSpec(
        equipment_classes=classes,
        enterprise=build(roots[0]),
        sites=site_settings,
        products=[
            ProductSpec(code=p.code, name=p.name)
            for p in session.scalars(select(Product).order_by(Product.code))
        ],
        downtime_reasons=_export_reasons(session),
    )


def _export_reasons(session: Session) -> list[ReasonSpec]:
    rows = session.scalars(select(DowntimeReason).order_by(DowntimeReason.position)).all()
    by_parent: dict[int | None, list[DowntimeReason]] = {}
    for r in rows:
        by_parent.setdefault(r.parent_id, []).append(r)
    parent_loss = {r.id: r.loss for r in rows}

    def build(r: DowntimeReason) -> ReasonSpec:
        inherited = parent_loss.get(r.parent_id) if r.parent_id else None
        loss = r.loss if r.loss != inherited else None
        return ReasonSpec(
            code=r.code,
            name=r.name,
            loss=loss,
            children=[build(c) for c in by_parent.get(r.id, [])],
        )

    return [build(r) for r in by_parent.get(None, [])]


def to_yaml(spec: PlantSpec) -> str:
    """A plant file's text for `spec` (defaults omitted, so it reads like a hand-written file)."""
    import yaml

    data = spec.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    data = {"version": 1, **data}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def registry(session: Session) -> PlantRegistry:
    """Snapshot the plant model for lookups on the hot path."""
    nodes = session.scalars(
        select(PlantNode).options(selectinload(PlantNode.cycle_times)).order_by(PlantNode.position)
    ).all()
    by_id = {n.id: n for n in nodes}
    sites = {
        by_id[s.node_id].key: SiteSettings.model_validate(s.settings)
        for s in session.scalars(select(Site))
    }

    def site_of(n: PlantNode) -> str | None:
        cur: PlantNode | None = n
        while cur is not None:
            if cur.level == Level.site.value:
                return cur.key
            cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
        return None

    infos = [
        NodeInfo(
            id=n.id,
            key=n.key,
            parent_id=n.parent_id,
            level=Level(n.level),
            name=n.name,
            equipment_class=n.equipment_class,
            kind=n.kind,
            uns_path=n.uns_path,
            site_key=site_of(n),
            state_derivation=StateDerivation.model_validate(n.state_derivation)
            if n.state_derivation
            else None,
            ideal_cycle_times={c.product_code: c.seconds for c in n.cycle_times},
        )
        for n in nodes
    ]
    tags = [
        TagInfo(
            id=t.id,
            key=t.key,
            node_id=t.node_id,
            name=t.name,
            data_type=t.data_type,
            unit=t.unit,
            role=t.role,
            enum={int(k): v for k, v in t.enum.items()} if t.enum else None,
            counter_max=t.counter_max,
            limits=t.limits,
            sample_interval_s=t.sample_interval_s,
            description=t.description,
        )
        for t in session.scalars(
            select(Tag).where(Tag.enabled.is_(True)).order_by(Tag.node_id, Tag.position)
        )
    ]
    return PlantRegistry(infos, tags, sites)


def get_node(session: Session, *, key: str) -> PlantNode:
    """A node by key, or NotFound."""
    node = session.scalar(select(PlantNode).where(PlantNode.key == key))
    if node is None:
        raise NotFound(f"no plant node '{key}'", loc=["path", "key"])
    return node


def get_tag(session: Session, *, tag_id: int) -> Tag:
    """A tag by id, or NotFound."""
    return get_or_not_found(session, Tag, tag_id, f"no tag {tag_id}", loc=["path", "tag_id"])


def update_tag(session: Session, *, tag_id: int, changes: dict[str, Any], user: str | None) -> Tag:
    """Apply validated changes to a tag (unit checked with pint, limits ordered)."""
    from ifactory.core.errors import InvalidInput
    from ifactory.plant.loader import _UNITS
    from ifactory.plant.spec import Limits

    tag = get_tag(session, tag_id=tag_id)
    if changes.get("unit"):
        try:
            _UNITS.parse_units(changes["unit"])
        except Exception as exc:
            raise InvalidInput(f"unknown unit '{changes['unit']}'", loc=["body", "unit"]) from exc
    if "limits" in changes and changes["limits"] is not None:
        try:
            changes["limits"] = Limits.model_validate(changes["limits"]).model_dump(
                exclude_none=True
            )
        except ValueError as exc:
            raise InvalidInput(str(exc).splitlines()[-1], loc=["body", "limits"]) from exc
    for name, value in changes.items():
        setattr(tag, name, value)
    tag.updated_by = user
    session.flush()
    return tag
