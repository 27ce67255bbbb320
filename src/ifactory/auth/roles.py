"""The roles a user may hold; a user may hold several, and admin may do everything."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    """A role; `device` is for machine accounts whose API tokens feed telemetry in."""

    viewer = "viewer"
    operator = "operator"
    technician = "technician"
    planner = "planner"
    quality = "quality"
    manager = "manager"
    admin = "admin"
    device = "device"


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """The known roles among `values` (role names stored by a newer version are ignored)."""
    known = {role.value for role in Role}
    return frozenset(Role(v) for v in values if v in known)


def role_list(roles: Iterable[str | Role]) -> list[str]:
    """Roles as stored: validated, unique and sorted (raises ValueError on an unknown role)."""
    return sorted({Role(r).value for r in roles})
