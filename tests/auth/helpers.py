"""Helpers shared by the auth tests: the test app, sign-in, users and error checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from ifactory.api import auth as auth_api
from ifactory.api import errors
from ifactory.api.auth import Actor, CurrentUser, require_roles
from ifactory.auth import service
from ifactory.auth.models import ApiToken, User
from ifactory.auth.principal import Principal
from ifactory.auth.roles import Role
from ifactory.core.audit import AuditEntry
from ifactory.core.db import Database
from ifactory.core.settings import Settings

ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "correct horse battery"
# The tables of this package; the tests create only these, whatever other models are imported.
TABLES = [User.__table__, ApiToken.__table__, AuditEntry.__table__]


def make_app(db: Database, *, anonymous_read: bool = False) -> FastAPI:
    """The auth router on a bare app, plus two endpoints guarded the way domain routers do."""
    app = FastAPI()
    app.state.platform = SimpleNamespace(
        db=db,
        settings=Settings(
            secret_key="test-secret", anonymous_read=anonymous_read, environment="test"
        ),
    )
    errors.install(app)
    auth_api.install(app)
    app.include_router(auth_api.router)
    things = APIRouter()

    @things.get("/api/things")
    def read_things(actor: Actor) -> dict[str, Any]:
        return {"username": actor.username, "anonymous": actor.is_anonymous}

    @things.post("/api/things")
    def plan_things(
        user: Annotated[Principal, Depends(require_roles(Role.planner, Role.manager))],
    ) -> dict[str, Any]:
        return {"username": user.username}

    @things.post("/api/ingest")
    def ingest(user: Annotated[Principal, Depends(require_roles(Role.device))]) -> dict[str, Any]:
        return {"username": user.username}

    @things.get("/api/whoami")
    def whoami(user: CurrentUser) -> dict[str, Any]:
        return {"username": user.username, "by": user.authenticated_by}

    app.include_router(things)
    return app


def login(client: TestClient, username: str, password: str) -> None:
    """Sign `client` in through the JSON endpoint."""
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text


def add_user(
    db: Database, username: str, *roles: Role, password: str | None = PASSWORD, active: bool = True
) -> int:
    """A user made directly through the service; returns the id."""
    with db.session() as session:
        user = service.create(
            session, username=username, password=password, roles=roles, active=active, actor="test"
        )
        return user.id


def new_client(app: FastAPI) -> TestClient:
    """A second browser (its own cookie jar)."""
    return TestClient(app)


def assert_error(response: Any, status: int, type_: str) -> dict[str, Any]:
    """The response is a typed error; returns its first detail."""
    assert response.status_code == status, response.text
    detail: dict[str, Any] = response.json()["detail"][0]
    assert detail["type"] == type_
    return detail
