"""The error hierarchy every layer raises; the API turns them into typed responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class IFactoryError(Exception):
    """Base class: a message a user can act on, a location and a stable type code."""

    code = "error"
    status = 400

    def __init__(self, msg: str, *, loc: Sequence[str | int] = (), type: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.loc = list(loc)
        if type is not None:
            self.code = type

    def detail(self) -> list[dict[str, Any]]:
        """The error as the `detail` list of the API's error body."""
        return [{"msg": self.msg, "loc": self.loc, "type": self.code}]


class NotFound(IFactoryError):
    code = "not_found"
    status = 404


class Conflict(IFactoryError):
    code = "conflict"
    status = 409


class InvalidInput(IFactoryError):
    code = "invalid_input"
    status = 422


class PermissionDenied(IFactoryError):
    code = "permission_denied"
    status = 403


class Unauthenticated(IFactoryError):
    code = "unauthenticated"
    status = 401


class TooManyRequests(IFactoryError):
    """Refused for now; `retry_after_s` says when to try again (the Retry-After header)."""

    code = "too_many_requests"
    status = 429

    def __init__(self, msg: str, *, retry_after_s: float, loc: Sequence[str | int] = ()) -> None:
        super().__init__(msg, loc=loc)
        self.retry_after_s = retry_after_s


class Unavailable(IFactoryError):
    code = "unavailable"
    status = 503
