"""Serialised assets: their data, documents, spare parts, and where they are installed over time.

Installing an asset in a machine closes its open installation (if it was elsewhere) and opens
a new one, so the history of an asset is the list of its installations: which machine, from
when to when, installed and removed by whom.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ifactory.core.audit import UserRef, record, stamp, username_of
from ifactory.core.clock import to_datetime
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.inventory.models import SparePart
from ifactory.maintenance import service
from ifactory.maintenance.models import Asset, AssetDocument, AssetInstallation, AssetSparePart

CRITICALITY = ("A", "B", "C")  # A: its failure stops production or harms safety; C: run to fail
STATUSES = ("in_service", "in_store", "in_repair", "scrapped")
ASSET_FIELDS = (
    "code",
    "name",
    "kind",
    "criticality",
    "manufacturer",
    "model",
    "serial_number",
    "manufactured_on",
    "purchased_on",
    "warranty_until",
    "description",
    "attributes",
)


def _check_fields(values: dict[str, Any]) -> None:
    unknown = set(values) - set(ASSET_FIELDS) - {"status"}
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}", loc=["body"])
    if "code" in values and not str(values["code"] or "").strip():
        raise InvalidInput("an asset needs its asset number", loc=["body", "code"])
    if "name" in values and not str(values["name"] or "").strip():
        raise InvalidInput("an asset needs a name", loc=["body", "name"])
    if "criticality" in values and values["criticality"] not in CRITICALITY:
        raise InvalidInput("criticality is A, B or C", loc=["body", "criticality"])
    if "status" in values and values["status"] not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(STATUSES)}", loc=["body", "status"])
    for field in ("manufactured_on", "purchased_on", "warranty_until"):
        value = values.get(field)
        if value is not None:
            try:
                date.fromisoformat(value)
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"{field} must be a date (YYYY-MM-DD)", loc=["body", field]
                ) from None


def get_asset(session: Session, *, asset_id: int) -> Asset:
    """One asset, or NotFound."""
    return get_or_not_found(
        session, Asset, asset_id, f"no asset {asset_id}", loc=["path", "asset_id"]
    )


def get_all_assets(
    session: Session,
    *,
    machine_id: int | None = None,
    kind: str | None = None,
    criticality: str | None = None,
    status: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Asset], int]:
    """Assets matching the filters, by asset number, with the total count."""
    query = select(Asset)
    if machine_id is not None:
        query = query.where(Asset.machine_id == machine_id)
    if kind is not None:
        query = query.where(Asset.kind == kind)
    if criticality is not None:
        query = query.where(Asset.criticality == criticality)
    if status is not None:
        query = query.where(Asset.status == status)
    if search:
        like = f"%{search.strip()}%"
        query = query.where(
            or_(Asset.code.ilike(like), Asset.name.ilike(like), Asset.serial_number.ilike(like))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Asset.code).offset(offset).limit(limit)).all()
    return list(rows), int(total)


def create_asset(session: Session, *, fields: dict[str, Any], actor: UserRef) -> Asset:
    """Register a serialised asset (in store until installed)."""
    _check_fields(fields)
    code = str(fields["code"]).strip()
    if session.scalar(select(Asset.id).where(Asset.code == code)) is not None:
        raise Conflict(f"asset number '{code}' exists already", loc=["body", "code"])
    asset = Asset(**{**fields, "code": code, "status": "in_store", "machine_id": None})
    stamp(asset, user=actor)
    session.add(asset)
    session.flush()
    record(session, user=actor, action="create", entity="asset", entity_id=asset.id)
    return asset


def update_asset(
    session: Session, *, asset: Asset, changes: dict[str, Any], actor: UserRef
) -> Asset:
    """Change an asset's data (its location changes only by installing or removing it)."""
    _check_fields(changes)
    if changes.get("status") == "in_service" and asset.machine_id is None:
        raise Conflict("an asset is in service once installed in a machine", type="not_installed")
    if asset.machine_id is not None and changes.get("status") in ("in_store", "scrapped"):
        raise Conflict("remove the asset from its machine first", type="installed")
    if "code" in changes:
        code = str(changes["code"]).strip()
        other = session.scalar(select(Asset.id).where(Asset.code == code, Asset.id != asset.id))
        if other is not None:
            raise Conflict(f"asset number '{code}' exists already", loc=["body", "code"])
        changes = {**changes, "code": code}
    before = {k: getattr(asset, k) for k in changes}
    for key, value in changes.items():
        setattr(asset, key, value)
    stamp(asset, user=actor)
    record(
        session,
        user=actor,
        action="update",
        entity="asset",
        entity_id=asset.id,
        details={"before": before, "after": changes},
    )
    session.flush()
    return asset


def delete_asset(session: Session, *, asset: Asset, actor: UserRef) -> None:
    """Delete an asset registered in error: never installed and without work orders."""
    from ifactory.maintenance.models import WorkOrder

    used = session.scalar(
        select(func.count(AssetInstallation.id)).where(AssetInstallation.asset_id == asset.id)
    ) or session.scalar(select(func.count(WorkOrder.id)).where(WorkOrder.asset_id == asset.id))
    if used:
        raise Conflict(
            f"{asset.code} has history (installations or work orders); scrap it instead",
            type="asset_has_history",
        )
    record(
        session,
        user=actor,
        action="delete",
        entity="asset",
        entity_id=asset.id,
        details={"code": asset.code},
    )
    session.delete(asset)
    session.flush()


def current_installation(session: Session, *, asset_id: int) -> AssetInstallation | None:
    """The asset's open installation, if it is installed."""
    return session.scalar(
        select(AssetInstallation).where(
            AssetInstallation.asset_id == asset_id, AssetInstallation.removed_at.is_(None)
        )
    )


def get_installations(
    session: Session,
    *,
    asset_id: int | None = None,
    machine_id: int | None = None,
    open_only: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[AssetInstallation], int]:
    """Installation history (of an asset, or of a machine), newest first, with the total."""
    query = select(AssetInstallation)
    if asset_id is not None:
        query = query.where(AssetInstallation.asset_id == asset_id)
    if machine_id is not None:
        query = query.where(AssetInstallation.machine_id == machine_id)
    if open_only:
        query = query.where(AssetInstallation.removed_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AssetInstallation.installed_at.desc(), AssetInstallation.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)


def _close(inst: AssetInstallation, *, actor: UserRef, at_us: int | None, note: str) -> None:
    removed_at = to_datetime(at_us) if at_us is not None else utcnow()
    if removed_at < inst.installed_at:
        raise InvalidInput(
            "an asset cannot be removed before it was installed", loc=["body", "at_us"]
        )
    inst.removed_at = removed_at
    inst.removed_by = username_of(actor)
    inst.remove_note = note


def install(
    session: Session,
    *,
    asset: Asset,
    machine_id: int,
    actor: UserRef,
    position: str = "",
    note: str = "",
    at_us: int | None = None,
    work_order_id: int | None = None,
    replace: bool = False,
) -> AssetInstallation:
    """Install `asset` in a machine (moving it if it is elsewhere), keeping the history.

    With a `position`, another asset installed at that position of the machine is removed
    when `replace` is set (a swap), otherwise it is a Conflict.
    """
    if asset.status == "scrapped":
        raise Conflict(f"{asset.code} is scrapped", type="asset_scrapped")
    node = service.get_machine(session, machine_id=machine_id, loc=["body", "machine_id"])
    if work_order_id is not None:
        service.get_work_order(session, work_order_id=work_order_id)
    position = position.strip()
    current = current_installation(session, asset_id=asset.id)
    if current is not None and current.machine_id == machine_id and current.position == position:
        raise Conflict(f"{asset.code} is installed there already", type="already_installed")
    if position:
        occupant = session.scalar(
            select(AssetInstallation).where(
                AssetInstallation.machine_id == machine_id,
                AssetInstallation.position == position,
                AssetInstallation.removed_at.is_(None),
                AssetInstallation.asset_id != asset.id,
            )
        )
        if occupant is not None:
            other = session.get_one(Asset, occupant.asset_id)
            if not replace:
                raise Conflict(
                    f"{other.code} is installed at '{position}' of {node.key}; replace it",
                    loc=["body", "position"],
                    type="position_occupied",
                )
            _close(occupant, actor=actor, at_us=at_us, note=f"replaced by {asset.code}")
            other.machine_id = None
            other.position = ""
            other.status = "in_store"
            stamp(other, user=actor)
            record(
                session,
                user=actor,
                action="remove",
                entity="asset",
                entity_id=other.id,
                details={"machine_id": machine_id, "replaced_by": asset.id},
            )
    if current is not None:
        _close(current, actor=actor, at_us=at_us, note=f"moved to {node.key}")
        session.flush()
    inst = AssetInstallation(
        asset_id=asset.id,
        machine_id=machine_id,
        position=position,
        installed_at=to_datetime(at_us) if at_us is not None else utcnow(),
        installed_by=username_of(actor),
        install_note=note,
        remove_note="",
        work_order_id=work_order_id,
    )
    session.add(inst)
    asset.machine_id = machine_id
    asset.position = position
    asset.status = "in_service"
    stamp(asset, user=actor)
    session.flush()
    record(
        session,
        user=actor,
        action="install",
        entity="asset",
        entity_id=asset.id,
        details={"machine_id": machine_id, "position": position, "installation_id": inst.id},
    )
    return inst


def remove(
    session: Session,
    *,
    asset: Asset,
    actor: UserRef,
    note: str = "",
    at_us: int | None = None,
    status: str = "in_store",
) -> AssetInstallation:
    """Take `asset` out of its machine (to the store, to repair, or scrapped)."""
    if status not in ("in_store", "in_repair", "scrapped"):
        raise InvalidInput("status is in_store, in_repair or scrapped", loc=["body", "status"])
    current = current_installation(session, asset_id=asset.id)
    if current is None:
        raise Conflict(f"{asset.code} is not installed", type="not_installed")
    _close(current, actor=actor, at_us=at_us, note=note)
    asset.machine_id = None
    asset.position = ""
    asset.status = status
    stamp(asset, user=actor)
    record(
        session,
        user=actor,
        action="remove",
        entity="asset",
        entity_id=asset.id,
        details={"machine_id": current.machine_id, "status": status, "note": note},
    )
    session.flush()
    return current


# --- documents and spare parts ----------------------------------------------------------------


def get_documents(session: Session, *, asset_id: int) -> Sequence[AssetDocument]:
    """The asset's documents (links)."""
    return session.scalars(
        select(AssetDocument).where(AssetDocument.asset_id == asset_id).order_by(AssetDocument.id)
    ).all()


def add_document(
    session: Session, *, asset: Asset, title: str, url: str, kind: str, actor: UserRef
) -> AssetDocument:
    """Attach a document link (manual, drawing, certificate) to an asset."""
    if not title.strip():
        raise InvalidInput("a document needs a title", loc=["body", "title"])
    if not url.startswith(("http://", "https://", "/")):
        raise InvalidInput(
            "the link must be an http(s) URL or a path on this server", loc=["body", "url"]
        )
    doc = AssetDocument(asset_id=asset.id, title=title.strip(), url=url, kind=kind)
    stamp(doc, user=actor)
    session.add(doc)
    session.flush()
    record(
        session,
        user=actor,
        action="add_document",
        entity="asset",
        entity_id=asset.id,
        details={"document_id": doc.id, "url": url},
    )
    return doc


def delete_document(session: Session, *, document_id: int, actor: UserRef) -> None:
    """Remove a document link."""
    doc = get_or_not_found(
        session,
        AssetDocument,
        document_id,
        f"no document {document_id}",
        loc=["path", "document_id"],
    )
    record(
        session,
        user=actor,
        action="delete_document",
        entity="asset",
        entity_id=doc.asset_id,
        details={"document_id": doc.id, "url": doc.url},
    )
    session.delete(doc)
    session.flush()


def get_spare_parts(session: Session, *, asset_id: int) -> list[tuple[AssetSparePart, SparePart]]:
    """The asset's spare-parts list with each part's master data."""
    rows = session.execute(
        select(AssetSparePart, SparePart)
        .join(SparePart, SparePart.id == AssetSparePart.part_id)
        .where(AssetSparePart.asset_id == asset_id)
        .order_by(SparePart.part_number)
    ).all()
    return [(a, p) for a, p in rows]


def set_spare_part(
    session: Session,
    *,
    asset: Asset,
    part_id: int,
    quantity: float,
    actor: UserRef,
    note: str = "",
) -> AssetSparePart:
    """Put a part on the asset's spare-parts list (or change its quantity)."""
    if session.get(SparePart, part_id) is None:
        raise NotFound(f"no spare part {part_id}", loc=["body", "part_id"])
    if quantity <= 0:
        raise InvalidInput("the quantity must be positive", loc=["body", "quantity"])
    row = session.get(AssetSparePart, (asset.id, part_id))
    if row is None:
        row = AssetSparePart(asset_id=asset.id, part_id=part_id)
        session.add(row)
    row.quantity = quantity
    row.note = note
    stamp(row, user=actor)
    record(
        session,
        user=actor,
        action="set_spare_part",
        entity="asset",
        entity_id=asset.id,
        details={"part_id": part_id, "quantity": quantity},
    )
    session.flush()
    return row


def delete_spare_part(session: Session, *, asset: Asset, part_id: int, actor: UserRef) -> None:
    """Take a part off the asset's spare-parts list."""
    row = get_or_not_found(
        session,
        AssetSparePart,
        (asset.id, part_id),
        f"part {part_id} is not on {asset.code}'s list",
        loc=["path", "part_id"],
    )
    session.delete(row)
    record(
        session,
        user=actor,
        action="delete_spare_part",
        entity="asset",
        entity_id=asset.id,
        details={"part_id": part_id},
    )
    session.flush()
