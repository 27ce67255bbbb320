"""ORM models of users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ifactory.core.db import Audited, Base, utcnow


class User(Audited, Base):
    """A person (or, with the device role, a machine) who may sign in or hold API tokens."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # Stored lower-case (the service normalises), so "Anna" and "anna" are one account.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # None: a token-only account (typically a device) that cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    # Role names; replaced as a whole by the service (a JSON list does not track in-place edits).
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Bumped on a password change or deactivation: session cookies of an older epoch stop working.
    session_epoch: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def has_password(self) -> bool:
        """Whether the user can sign in with a password (the hash itself is never exposed)."""
        return self.password_hash is not None

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r})"


class ApiToken(Base):
    """A bearer token of a user; only its SHA-256 digest is stored, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def revoked(self) -> bool:
        """Whether the token has been revoked."""
        return self.revoked_at is not None

    def is_valid(self, now: datetime) -> bool:
        """Whether the token may be used at `now` (not revoked, not expired)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id!r}, prefix={self.prefix!r}, user_id={self.user_id!r})"
