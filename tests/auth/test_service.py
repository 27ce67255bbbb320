"""The user service and models on each database backend (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ifactory.auth import service
from ifactory.auth.models import ApiToken, User
from ifactory.auth.roles import Role
from ifactory.core import audit
from ifactory.core.db import Database, utcnow
from ifactory.core.errors import Conflict, InvalidInput

from .helpers import PASSWORD


def test_a_user_round_trips_with_roles_and_aware_times(db: Database) -> None:
    with db.session() as session:
        user = service.create(
            session,
            username=" Olga ",
            password=PASSWORD,
            display_name="Olga K.",
            roles=[Role.quality, "operator", Role.quality],
            actor="admin",
        )
        user_id = user.id

    with db.session() as session:
        stored = service.get(session, user_id=user_id)
        assert stored is not None
        assert stored.username == "olga"
        assert stored.roles == ["operator", "quality"]
        assert stored.created_by == stored.updated_by == "admin"
        assert stored.created_at.tzinfo is UTC
        assert stored.password_hash is not None and PASSWORD not in stored.password_hash
        assert service.get_by_username(session, username="OLGA") is stored


def test_the_database_enforces_unique_usernames(db: Database) -> None:
    with db.session() as session:
        session.add(User(username="olga"))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(User(username="olga"))


def test_create_refuses_duplicates_reserved_names_bad_roles_and_short_passwords(
    db: Database,
) -> None:
    with db.session() as session:
        service.create(session, username="olga", actor="admin")
    bad = [
        ({"username": "OLGA"}, Conflict),
        ({"username": "system"}, InvalidInput),
        ({"username": "a b"}, InvalidInput),
        ({"username": "x", "roles": ["wizard"]}, InvalidInput),
        ({"username": "x", "password": "short"}, InvalidInput),
    ]
    for kwargs, error in bad:
        with pytest.raises(error), db.session() as session:
            service.create(session, actor="admin", **kwargs)  # type: ignore[arg-type]


def test_get_all_pages_and_filters(db: Database) -> None:
    with db.session() as session:
        for name in ("carl", "anna", "bert"):
            service.create(session, username=name, actor="admin", active=name != "bert")

    with db.session() as session:
        items, total = service.get_all(session, offset=1, limit=1)
        assert total == 3 and [u.username for u in items] == ["bert"]
        active, active_total = service.get_all(session, active=True)
        assert active_total == 2 and [u.username for u in active] == ["anna", "carl"]


def test_authenticate_accepts_only_the_right_password_of_an_active_user(db: Database) -> None:
    with db.session() as session:
        service.create(session, username="olga", password=PASSWORD, actor="admin")
        service.create(session, username="ivan", password=PASSWORD, active=False, actor="admin")
        service.create(session, username="press-01", roles=[Role.device], actor="admin")

    with db.session() as session:
        assert service.authenticate(session, username="Olga", password=PASSWORD) is not None
        assert service.authenticate(session, username="olga", password=PASSWORD.upper()) is None
        assert service.authenticate(session, username="ghost", password=PASSWORD) is None
        assert service.authenticate(session, username="ivan", password=PASSWORD) is None
        assert service.authenticate(session, username="press-01", password="") is None
        assert service.authenticate(session, username="x" * 500, password=PASSWORD) is None


def test_a_login_is_noted_without_counting_as_a_change(db: Database) -> None:
    with db.session() as session:
        user = service.create(session, username="olga", password=PASSWORD, actor="admin")
        user_id, updated_at = user.id, user.updated_at

    with db.session() as session:
        assert service.authenticate(session, username="olga", password=PASSWORD) is not None

    with db.session() as session:
        stored = session.get_one(User, user_id)
        assert stored.last_login_at is not None
        assert stored.updated_at == updated_at
        assert stored.updated_by == "admin"


def test_update_stamps_the_actor_and_bumps_the_session_epoch_on_password_change(
    db: Database,
) -> None:
    with db.session() as session:
        user = service.create(session, username="olga", password=PASSWORD, actor="admin")
        service.update(session, user=user, actor="boss", display_name="Olga")
        assert user.session_epoch == 0 and user.updated_by == "boss"
        service.update(session, user=user, actor="boss", password="new-password")
        assert user.session_epoch == 1
        assert service.authenticate(session, username="olga", password="new-password") is user


def test_ensure_admin_creates_the_first_admin_once(db: Database) -> None:
    with db.session() as session:
        first = service.ensure_admin(session, username="admin", password=PASSWORD)
        assert first is not None and first.roles == ["admin"]
    with db.session() as session:
        assert service.ensure_admin(session, username="other", password=PASSWORD) is None
        assert service.get_by_username(session, username="other") is None
        entries = audit.get_all(session, entity="user", entity_id=first.id)
        assert [(e.username, e.action) for e in entries] == [("system", "create")]


def test_ensure_admin_restores_an_admin_when_none_is_active(db: Database) -> None:
    with db.session() as session:
        service.create(
            session,
            username="admin",
            password="forgotten-1",
            roles=[Role.viewer],
            active=False,
            actor="x",
        )

    with db.session() as session:
        restored = service.ensure_admin(session, username="admin", password=PASSWORD)
        assert restored is not None and restored.active and "admin" in restored.roles
    with db.session() as session:
        assert service.authenticate(session, username="admin", password=PASSWORD) is not None


def test_deleting_a_user_cascades_to_tokens_in_the_database(db: Database) -> None:
    with db.session() as session:
        user = service.create(session, username="olga", actor="admin")
        service.create(session, username="keeper", roles=[Role.admin], actor="admin")
        service.create_token(session, user=user, name="one", actor="admin")
        service.create_token(session, user=user, name="two", actor="admin")
        user_id = user.id

    with db.session() as session:
        service.delete(session, user=session.get_one(User, user_id), actor="keeper")

    with db.session() as session:
        assert session.scalars(select(ApiToken)).all() == []
        entries = audit.get_all(session, entity="user", entity_id=user_id)
        assert entries[0].action == "delete" and entries[0].details == {"username": "olga"}


def test_tokens_resolve_until_revoked_or_expired(db: Database) -> None:
    with db.session() as session:
        user = service.create(session, username="press-01", roles=[Role.device], actor="admin")
        row, secret = service.create_token(
            session, user=user, name="edge", actor="admin", expires_at=utcnow() + timedelta(days=1)
        )
        token_id = row.id
        assert row.token_hash != secret and len(row.token_hash) == 64

    with db.session() as session:
        resolved = service.resolve_token(session, token=secret)
        assert resolved is not None and resolved.username == "press-01"
    with db.session() as session:
        first_use = session.get_one(ApiToken, token_id).last_used_at
        assert first_use is not None and first_use.tzinfo is UTC
        assert service.resolve_token(session, token=secret + "x") is None
        assert service.resolve_token(session, token="") is None

    with db.session() as session:
        session.get_one(ApiToken, token_id).expires_at = utcnow() - timedelta(seconds=1)
    with db.session() as session:
        assert service.resolve_token(session, token=secret) is None
        token = session.get_one(ApiToken, token_id)
        token.expires_at = None
        service.revoke_token(session, token=token, actor="admin")
    with db.session() as session:
        assert service.resolve_token(session, token=secret) is None
        assert service.get_tokens(session, user_id=user.id) == []
        assert len(service.get_tokens(session, user_id=user.id, include_revoked=True)) == 1


def test_token_names_and_expiry_are_validated(db: Database) -> None:
    with db.session() as session:
        user = service.create(session, username="olga", actor="admin")
        with pytest.raises(InvalidInput):
            service.create_token(session, user=user, name="  ", actor="admin")
        with pytest.raises(InvalidInput):
            service.create_token(
                session,
                user=user,
                name="x",
                actor="admin",
                expires_at=utcnow().replace(tzinfo=None),
            )
        with pytest.raises(InvalidInput):
            service.create_token(
                session, user=user, name="x", actor="admin", expires_at=utcnow() - timedelta(1)
            )


def test_audit_record_and_stamp(db: Database) -> None:
    with db.session() as session:
        user = service.create(session, username="olga", actor="admin")
        entry = audit.record(
            session,
            user=user,
            action="approve",
            entity="work_order",
            entity_id=7,
            details={"note": "ok"},
        )
        audit.stamp(user, user="planner-1")
        assert user.created_by == "admin" and user.updated_by == "planner-1"

    with db.session() as session:
        entries = audit.get_all(session, entity="work_order", entity_id="7")
        assert [(e.id, e.username, e.details) for e in entries] == [
            (entry.id, "olga", {"note": "ok"})
        ]
        assert entries[0].at.tzinfo is UTC
        assert audit.get_all(session, username="olga")[0].action == "approve"
