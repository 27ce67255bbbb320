"""Dependency aliases shared by the routers (FastAPI full-stack template style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from ifactory.platform import Platform


def get_platform(request: Request) -> Platform:
    """The running platform (database, historian, bus...) held by the app."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated["Platform", Depends(get_platform)]


def get_session(request: Request) -> Iterator[Session]:
    """A unit-of-work session: committed when the request handler returns without error."""
    with get_platform(request).db.session() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# never reported to the client as a success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
