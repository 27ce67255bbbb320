"""The audit trail: who changed what, and when, for every change made through the API.

Domain services call `record` in the same transaction as the change, so an entry exists exactly
when the change was committed, and `stamp` to fill a row's `Audited` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ifactory.core.db import Audited, Base, utcnow

SYSTEM = "system"  # the actor of changes made by the platform itself (CLI, playbooks, seeding)


class HasUsername(Protocol):
    """Anything that names a user: an ORM user, an authenticated principal..."""

    @property
    def username(self) -> str: ...


UserRef = str | HasUsername


class AuditEntry(Base):
    """One change: when, by whom, what was done to which entity, with optional details."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


def username_of(user: UserRef) -> str:
    """The username of `user` (a name, or an object with a `username`)."""
    return user if isinstance(user, str) else user.username


def record(
    session: Session,
    *,
    user: UserRef,
    action: str,
    entity: str,
    entity_id: str | int,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (committed with the change it describes)."""
    entry = AuditEntry(
        at=utcnow(),
        username=username_of(user),
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        details=details,
    )
    session.add(entry)
    return entry


def stamp(row: Audited, *, user: UserRef) -> None:
    """Fill the `Audited` columns of a new or changed row with the acting user."""
    name = username_of(user)
    if row.created_by is None:
        row.created_by = name
    row.updated_by = name
    row.updated_at = utcnow()


def get_all(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: str | int | None = None,
    username: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Sequence[AuditEntry]:
    """Audit entries, newest first, optionally for one entity (and id) or one user."""
    query = select(AuditEntry)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == str(entity_id))
    if username is not None:
        query = query.where(AuditEntry.username == username)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset).limit(limit)
    return session.scalars(query).all()
