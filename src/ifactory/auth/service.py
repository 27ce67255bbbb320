"""Users, authentication and API tokens: plain functions on a session (no web framework here).

Every change is recorded in the audit trail (`core.audit`) with the acting user, in the same
transaction as the change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ifactory.auth import passwords, tokens
from ifactory.auth.models import ApiToken, User
from ifactory.auth.roles import Role, role_list
from ifactory.core import audit
from ifactory.core.audit import UserRef
from ifactory.core.db import utcnow
from ifactory.core.errors import Conflict, InvalidInput

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# Names that appear as actors in the audit trail without being accounts.
RESERVED_USERNAMES = frozenset({"anonymous", audit.SYSTEM})
# A token's last use is written at most this often, so that a device sending data every
# second does not turn each request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def normalize_username(username: str) -> str:
    """The stored form of a username: stripped and lower-case."""
    return username.strip().lower()


# --- users -------------------------------------------------------------------------------


def get(session: Session, *, user_id: int) -> User | None:
    """The user with id `user_id`, or None."""
    return session.get(User, user_id)


def session_user(session: Session, data: Mapping[str, Any]) -> User | None:
    """The user a signed session cookie's data (`uid`, `epoch`) names, if still valid: the
    user exists, is active and has not ended its sessions since (password change, sign-out
    everywhere, deactivation bump the epoch)."""
    user_id = data.get("uid")
    user = get(session, user_id=user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or data.get("epoch") != user.session_epoch:
        return None
    return user


def get_by_username(session: Session, *, username: str) -> User | None:
    """The user named `username` (any case), or None."""
    name = normalize_username(username)
    return session.scalars(select(User).where(User.username == name)).one_or_none()


def get_all(
    session: Session, *, offset: int = 0, limit: int = 100, active: bool | None = None
) -> tuple[Sequence[User], int]:
    """One page of users ordered by username, and the total count."""
    query = select(User)
    if active is not None:
        query = query.where(User.active.is_(active))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(User.username).offset(offset).limit(limit)).all()
    return items, total


def create(
    session: Session,
    *,
    username: str,
    actor: UserRef,
    password: str | None = None,
    display_name: str = "",
    roles: Iterable[Role | str] = (Role.viewer,),
    active: bool = True,
) -> User:
    """Create a user; without a password the account can only authenticate with API tokens."""
    name = _valid_username(username)
    if get_by_username(session, username=name) is not None:
        raise Conflict(f"a user named '{name}' already exists", loc=["username"])
    user = User(
        username=name,
        display_name=display_name.strip(),
        password_hash=_hash(password) if password is not None else None,
        active=active,
        roles=_valid_roles(roles),
    )
    audit.stamp(user, user=actor)
    session.add(user)
    _flush_unique(session, name)
    audit.record(
        session,
        user=actor,
        action="create",
        entity="user",
        entity_id=user.id,
        details={
            "username": user.username,
            "display_name": user.display_name,
            "roles": user.roles,
            "active": user.active,
            "has_password": user.has_password,
        },
    )
    return user


def update(
    session: Session,
    *,
    user: User,
    actor: UserRef,
    display_name: str | None = None,
    password: str | None = None,
    roles: Iterable[Role | str] | None = None,
    active: bool | None = None,
) -> User:
    """Change a user; arguments left as None stay unchanged. The last active admin is kept."""
    changes: dict[str, Any] = {}
    if display_name is not None and display_name.strip() != user.display_name:
        changes["display_name"] = {"from": user.display_name, "to": display_name.strip()}
    new_roles = _valid_roles(roles) if roles is not None else user.roles
    if new_roles != user.roles:
        changes["roles"] = {"from": user.roles, "to": new_roles}
    if active is not None and active != user.active:
        changes["active"] = {"from": user.active, "to": active}
    new_hash = _hash(password) if password is not None else None
    if new_hash is not None:
        changes["password"] = "changed"  # never the password or its hash
    if not changes:
        return user

    still_admin = (active if active is not None else user.active) and Role.admin in new_roles
    if not still_admin:
        _keep_an_admin(session, user, "remove the admin role from or deactivate")

    if "display_name" in changes:
        user.display_name = changes["display_name"]["to"]
    if "roles" in changes:
        user.roles = new_roles
    if "active" in changes:
        user.active = bool(active)
    if new_hash is not None:
        user.password_hash = new_hash
    if new_hash is not None or ("active" in changes and not user.active):
        # Signs out every session of this user (signed cookies cannot be revoked one by one).
        user.session_epoch += 1
    audit.stamp(user, user=actor)
    session.flush()
    audit.record(
        session, user=actor, action="update", entity="user", entity_id=user.id, details=changes
    )
    return user


def delete(session: Session, *, user: User, actor: UserRef) -> None:
    """Delete a user and their API tokens (the audit trail keeps the username)."""
    _keep_an_admin(session, user, "delete")
    audit.record(
        session,
        user=actor,
        action="delete",
        entity="user",
        entity_id=user.id,
        details={"username": user.username},
    )
    session.delete(user)
    session.flush()


def ensure_admin(session: Session, *, username: str, password: str) -> User | None:
    """On first start (or with no active admin left) create or restore `username` as admin.

    Returns the user when something was done, None when an active admin already exists. An
    existing account of that name is activated, given the admin role and the new password.
    """
    if _active_admins(session, exclude=None) > 0:
        return None
    existing = get_by_username(session, username=username)
    if existing is None:
        log.info("creating the first administrator '%s'", normalize_username(username))
        return create(
            session,
            username=username,
            password=password,
            display_name="Administrator",
            roles=(Role.admin,),
            actor=audit.SYSTEM,
        )
    log.warning("no active administrator: restoring '%s' as administrator", existing.username)
    return update(
        session,
        user=existing,
        actor=audit.SYSTEM,
        password=password,
        roles=[*existing.roles, Role.admin],
        active=True,
    )


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (equal work for unknown usernames)."""
    name = normalize_username(username)
    user = get_by_username(session, username=name) if USERNAME_RE.fullmatch(name) else None
    matched = passwords.verify_password(user.password_hash if user is not None else None, password)
    if user is None or not matched:
        log.info("failed login for '%s'", name[:64])
        return None
    if not user.active:
        log.info("refused login of inactive user '%s'", name)
        return None
    values: dict[str, Any] = {"last_login_at": utcnow()}
    if user.password_hash is not None and passwords.needs_rehash(user.password_hash):
        values["password_hash"] = passwords.hash_password(password)
    _write_quietly(session, user, values)
    return user


def check_password(user: User, password: str) -> bool:
    """Whether `password` is the user's current password."""
    return passwords.verify_password(user.password_hash, password)


# --- API tokens --------------------------------------------------------------------------


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    actor: UserRef,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token to `user`; returns the stored row and the secret (shown once, never stored)."""
    clean_name = name.strip()
    if not 1 <= len(clean_name) <= 100:
        raise InvalidInput("a token needs a name of 1 to 100 characters", loc=["name"])
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("the expiry needs a time zone", loc=["expires_at"])
        if expires_at <= utcnow():
            raise InvalidInput("the expiry must be in the future", loc=["expires_at"])
    secret = tokens.generate()
    row = ApiToken(
        user=user,
        name=clean_name,
        token_hash=tokens.digest(secret),
        prefix=tokens.display_prefix(secret),
        created_at=utcnow(),
        created_by=audit.username_of(actor),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        user=actor,
        action="create",
        entity="api_token",
        entity_id=row.id,
        details={"user": user.username, "name": row.name, "prefix": row.prefix},
    )
    return row, secret


def get_token(session: Session, *, token_id: int) -> ApiToken | None:
    """The token with id `token_id`, or None."""
    return session.get(ApiToken, token_id)


def get_tokens(
    session: Session, *, user_id: int | None = None, include_revoked: bool = False
) -> Sequence[ApiToken]:
    """Tokens of one user (or of everyone when `user_id` is None), newest first."""
    query = select(ApiToken)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def revoke_token(session: Session, *, token: ApiToken, actor: UserRef) -> ApiToken:
    """Revoke a token (idempotent); the row stays for the record."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            user=actor,
            action="revoke",
            entity="api_token",
            entity_id=token.id,
            details={"user": token.user.username, "name": token.name, "prefix": token.prefix},
        )
        session.flush()
    return token


def resolve_token(session: Session, *, token: str) -> User | None:
    """The active user holding this valid token, or None; notes when the token was last used."""
    if not token or len(token) > tokens.MAX_LENGTH:
        return None
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == tokens.digest(token))
    ).one_or_none()
    now = utcnow()
    if row is None or not row.is_valid(now) or not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row.user


# --- helpers -----------------------------------------------------------------------------


def _valid_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise InvalidInput(
            "a username has 1 to 64 characters: letters, digits and . _ @ -, starting with a "
            "letter or digit",
            loc=["username"],
        )
    if name in RESERVED_USERNAMES:
        raise InvalidInput(f"'{name}' is reserved", loc=["username"])
    return name


def _valid_roles(roles: Iterable[Role | str]) -> list[str]:
    try:
        return role_list(roles)
    except ValueError as exc:
        known = ", ".join(role.value for role in Role)
        raise InvalidInput(f"unknown role; the roles are {known}", loc=["roles"]) from exc


def _hash(password: str) -> str:
    problem = passwords.check_policy(password)
    if problem is not None:
        raise InvalidInput(problem, loc=["password"])
    return passwords.hash_password(password)


def _flush_unique(session: Session, username: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Two requests created the same username at once: the database's unique index decided.
        raise Conflict(f"a user named '{username}' already exists", loc=["username"]) from exc


def _active_admins(session: Session, *, exclude: int | None) -> int:
    # Roles are a JSON list, so the admin check runs in Python; user tables are small.
    query = select(User.id, User.roles).where(User.active.is_(True))
    if exclude is not None:
        query = query.where(User.id != exclude)
    return sum(1 for _id, roles in session.execute(query) if Role.admin.value in (roles or []))


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    if (
        user.active
        and Role.admin.value in user.roles
        and _active_admins(session, exclude=user.id) == 0
    ):
        raise Conflict(f"cannot {what} the last active administrator", loc=["user", user.id])


def _write_quietly(session: Session, user: User, values: dict[str, Any]) -> None:
    # Bookkeeping (last login, hash upgrade) is not a change by anyone: keep `updated_at/by`,
    # which would otherwise move through the column's onupdate.
    session.execute(
        sql_update(User)
        .where(User.id == user.id)
        .values(**values, updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    for key, value in values.items():
        set_committed_value(user, key, value)
