"""Reference data of maintenance: crafts with their rates, and the failure code catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.core.audit import UserRef, record, stamp
from ifactory.core.db import get_or_not_found
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.maintenance.models import Craft, FailureCode

FAILURE_KINDS = ("problem", "cause", "remedy")


def get_crafts(session: Session) -> Sequence[Craft]:
    """Every craft, by code."""
    return session.scalars(select(Craft).order_by(Craft.code)).all()


def get_craft(session: Session, *, code: str) -> Craft:
    """One craft, or NotFound."""
    return get_or_not_found(session, Craft, code, f"no craft '{code}'", loc=["path", "code"])


def create_craft(
    session: Session, *, code: str, name: str, hourly_rate: float, actor: UserRef
) -> Craft:
    """Add a craft (trade) with its standard hourly rate."""
    if session.get(Craft, code) is not None:
        raise Conflict(f"craft '{code}' exists already", loc=["body", "code"])
    if hourly_rate < 0:
        raise InvalidInput("the hourly rate cannot be negative", loc=["body", "hourly_rate"])
    craft = Craft(code=code, name=name, hourly_rate=hourly_rate)
    stamp(craft, user=actor)
    session.add(craft)
    session.flush()
    record(session, user=actor, action="create", entity="craft", entity_id=code)
    return craft


def update_craft(
    session: Session, *, craft: Craft, changes: dict[str, Any], actor: UserRef
) -> Craft:
    """Change a craft's name or rate (rates already booked on labour entries stay as booked)."""
    if changes.get("hourly_rate") is not None and changes["hourly_rate"] < 0:
        raise InvalidInput("the hourly rate cannot be negative", loc=["body", "hourly_rate"])
    before = {k: getattr(craft, k) for k in changes}
    for key, value in changes.items():
        if value is not None:
            setattr(craft, key, value)
    stamp(craft, user=actor)
    record(
        session,
        user=actor,
        action="update",
        entity="craft",
        entity_id=craft.code,
        details={"before": before, "after": changes},
    )
    session.flush()
    return craft


def get_failure_codes(
    session: Session, *, kind: str | None = None, active: bool | None = None
) -> Sequence[FailureCode]:
    """The failure code catalogue (problems, causes, remedies), by kind and code."""
    query = select(FailureCode)
    if kind is not None:
        query = query.where(FailureCode.kind == kind)
    if active is not None:
        query = query.where(FailureCode.active == active)
    return session.scalars(query.order_by(FailureCode.kind, FailureCode.code)).all()


def get_failure_code(session: Session, *, code_id: int) -> FailureCode:
    """One failure code, or NotFound."""
    return get_or_not_found(
        session, FailureCode, code_id, f"no failure code {code_id}", loc=["path", "code_id"]
    )


def create_failure_code(
    session: Session,
    *,
    kind: str,
    code: str,
    name: str,
    actor: UserRef,
    description: str = "",
) -> FailureCode:
    """Add a problem, cause or remedy code to the catalogue."""
    if kind not in FAILURE_KINDS:
        raise InvalidInput("kind is problem, cause or remedy", loc=["body", "kind"])
    exists = session.scalar(
        select(FailureCode.id).where(FailureCode.kind == kind, FailureCode.code == code)
    )
    if exists is not None:
        raise Conflict(f"{kind} code '{code}' exists already", loc=["body", "code"])
    row = FailureCode(kind=kind, code=code, name=name, description=description, active=True)
    stamp(row, user=actor)
    session.add(row)
    session.flush()
    record(
        session,
        user=actor,
        action="create",
        entity="failure_code",
        entity_id=row.id,
        details={"kind": kind, "code": code},
    )
    return row


def update_failure_code(
    session: Session, *, failure_code: FailureCode, changes: dict[str, Any], actor: UserRef
) -> FailureCode:
    """Rename, describe or retire (active=False) a code; work orders keep the codes they have."""
    before = {k: getattr(failure_code, k) for k in changes}
    for key, value in changes.items():
        if value is not None:
            setattr(failure_code, key, value)
    stamp(failure_code, user=actor)
    record(
        session,
        user=actor,
        action="update",
        entity="failure_code",
        entity_id=failure_code.id,
        details={"before": before, "after": changes},
    )
    session.flush()
    return failure_code
