"""Users, roles, API tokens and authentication (the service layer; the router is `api.auth`)."""

from __future__ import annotations

from ifactory.auth.principal import ANONYMOUS, Principal
from ifactory.auth.roles import Role

__all__ = ["ANONYMOUS", "Principal", "Role"]
