"""The dependencies other routers use: Actor, CurrentUser and require_roles."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ifactory.auth.roles import Role
from ifactory.core.db import Database

from .helpers import PASSWORD, add_user, assert_error, login, make_app


def test_anonymous_visitors_read_when_anonymous_read_is_on(db: Database, admin_id: int) -> None:
    with TestClient(make_app(db, anonymous_read=True)) as client:
        assert client.get("/api/things").json() == {"username": "anonymous", "anonymous": True}
        # Writes still need a user, and "who am I" is not answered for nobody.
        assert_error(client.post("/api/things"), 401, "unauthenticated")
        assert_error(client.get("/api/whoami"), 401, "unauthenticated")
        assert_error(client.get("/api/auth/me"), 401, "unauthenticated")


def test_anonymous_visitors_are_refused_when_anonymous_read_is_off(
    db: Database, admin_id: int
) -> None:
    with TestClient(make_app(db, anonymous_read=False)) as client:
        assert_error(client.get("/api/things"), 401, "unauthenticated")
        add_user(db, "vic", Role.viewer)
        login(client, "vic", PASSWORD)
        assert client.get("/api/things").json() == {"username": "vic", "anonymous": False}


def test_a_role_check_refuses_others_with_permission_denied(db: Database, admin_id: int) -> None:
    add_user(db, "otto", Role.operator, Role.viewer)
    with TestClient(make_app(db)) as client:
        login(client, "otto", PASSWORD)

        detail = assert_error(client.post("/api/things"), 403, "permission_denied")

    assert "planner" in detail["msg"] and "manager" in detail["msg"]


def test_any_of_the_required_roles_is_enough_and_admin_has_them_all(
    db: Database, admin_id: int
) -> None:
    add_user(db, "pia", Role.planner)
    add_user(db, "mia", Role.manager, Role.quality)
    add_user(db, "ada", Role.admin)
    for username in ("pia", "mia", "ada"):
        with TestClient(make_app(db)) as client:
            login(client, username, PASSWORD)
            assert client.post("/api/things").json() == {"username": username}


def test_a_role_change_applies_to_the_next_request(db: Database, admin_id: int) -> None:
    add_user(db, "otto", Role.operator)
    app = make_app(db)
    with TestClient(app) as otto, TestClient(app) as admin:
        login(otto, "otto", PASSWORD)
        login(admin, "admin", "admin-password-1")
        assert_error(otto.post("/api/things"), 403, "permission_denied")

        me = otto.get("/api/auth/me").json()
        admin.patch(f"/api/users/{me['id']}", json={"roles": ["operator", "planner"]})

        assert otto.post("/api/things").status_code == 200
