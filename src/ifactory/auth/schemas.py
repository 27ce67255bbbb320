"""Pydantic schemas of the users, login and token API (no schema carries a password hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ifactory.auth import passwords
from ifactory.auth.roles import Role

# Checked before lower-casing, so either case is accepted; it is stored lower-case.
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=64, pattern=USERNAME_PATTERN
    ),
]
Password = Annotated[str, Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    """A new user; without a password the account can only use API tokens (e.g. a device)."""

    username: Username
    display_name: DisplayName = ""
    password: Password | None = None
    roles: list[Role] = Field(default_factory=lambda: [Role.viewer])
    active: bool = True


class UserUpdate(_Input):
    """Changes to a user; fields left out stay as they are."""

    display_name: DisplayName | None = None
    password: Password | None = None
    roles: list[Role] | None = None
    active: bool | None = None


class MeUpdate(_Input):
    """Changes users make to their own account; a new password needs the current one."""

    display_name: DisplayName | None = None
    password: Password | None = None
    current_password: Annotated[str, Field(max_length=passwords.MAX_LENGTH)] | None = None


class UserRead(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    roles: list[Role]
    active: bool
    has_password: bool
    last_login_at: datetime | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None


class UserPage(BaseModel):
    """One page of users."""

    items: list[UserRead]
    total: int
    offset: int
    limit: int


class LoginRequest(_Input):
    """Credentials for a session login."""

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=passwords.MAX_LENGTH)]


class TokenCreate(_Input):
    """A new API token; `user_id` (admin only) issues it to another user, e.g. a device."""

    name: TokenName
    expires_at: AwareDatetime | None = None
    user_id: int | None = None


class TokenRead(BaseModel):
    """An API token as listed: never the secret, only its first characters."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    """A token just created: `token` is the secret, shown this once and never again."""

    token: str
