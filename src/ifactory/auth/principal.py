"""Who is making a request: a signed-in user, a token's user, or the anonymous viewer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ifactory.auth.roles import Role, parse_roles

if TYPE_CHECKING:
    from ifactory.auth.models import User

AuthMethod = Literal["session", "token", "anonymous"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The acting user of a request, detached from the database session."""

    username: str
    roles: frozenset[Role]
    id: int | None = None
    display_name: str = ""
    authenticated_by: AuthMethod = "session"

    @classmethod
    def from_user(cls, user: User, *, authenticated_by: AuthMethod) -> Principal:
        """The principal of a stored user."""
        return cls(
            username=user.username,
            roles=parse_roles(user.roles),
            id=user.id,
            display_name=user.display_name,
            authenticated_by=authenticated_by,
        )

    @property
    def is_anonymous(self) -> bool:
        """Whether nobody signed in (anonymous read access)."""
        return self.authenticated_by == "anonymous"

    @property
    def is_admin(self) -> bool:
        """Whether the principal holds the admin role (which may do everything)."""
        return Role.admin in self.roles

    def has_any_role(self, *roles: Role) -> bool:
        """Whether the principal holds one of `roles`; admin holds them all."""
        return self.is_admin or not self.roles.isdisjoint(roles)


ANONYMOUS = Principal(
    username="anonymous", roles=frozenset({Role.viewer}), authenticated_by="anonymous"
)
