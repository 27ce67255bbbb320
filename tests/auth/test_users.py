"""User administration over the API: admin only, audited, never showing a password hash."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifactory.auth.roles import Role
from ifactory.core import audit
from ifactory.core.db import Database

from .helpers import ADMIN_PASSWORD, PASSWORD, add_user, assert_error, login


def audit_trail(
    db: Database, entity: str, entity_id: Any
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(username, action, details) of an entity's audit entries, oldest first."""
    with db.session() as session:
        entries = audit.get_all(session, entity=entity, entity_id=entity_id)
        return [(e.username, e.action, e.details) for e in reversed(entries)]


def test_admin_creates_reads_updates_and_deletes_a_user(client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)

    created = client.post(
        "/api/users",
        json={
            "username": "Olga.K",
            "display_name": "Olga K.",
            "password": PASSWORD,
            "roles": ["operator", "quality"],
        },
    )
    assert created.status_code == 201
    user = created.json()
    assert user["username"] == "olga.k"
    assert user["roles"] == ["operator", "quality"]
    assert user["created_by"] == "admin" and user["updated_by"] == "admin"

    assert client.get(f"/api/users/{user['id']}").json()["display_name"] == "Olga K."
    page = client.get("/api/users").json()
    assert page["total"] == 2
    assert [u["username"] for u in page["items"]] == ["admin", "olga.k"]

    updated = client.patch(
        f"/api/users/{user['id']}", json={"roles": ["technician"], "display_name": "Olga"}
    )
    assert updated.status_code == 200
    assert updated.json()["roles"] == ["technician"]
    assert updated.json()["display_name"] == "Olga"

    assert client.delete(f"/api/users/{user['id']}").status_code == 204
    assert_error(client.get(f"/api/users/{user['id']}"), 404, "not_found")
    assert_error(client.delete(f"/api/users/{user['id']}"), 404, "not_found")


def test_user_changes_are_audited_with_the_acting_user(client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    user_id = client.post("/api/users", json={"username": "olga", "password": PASSWORD}).json()[
        "id"
    ]
    client.patch(
        f"/api/users/{user_id}", json={"roles": ["operator"], "password": "another-password"}
    )
    client.delete(f"/api/users/{user_id}")

    trail = audit_trail(db, "user", user_id)

    assert [(who, action) for who, action, _ in trail] == [
        ("admin", "create"),
        ("admin", "update"),
        ("admin", "delete"),
    ]
    update_details = trail[1][2]
    assert update_details == {
        "roles": {"from": ["viewer"], "to": ["operator"]},
        "password": "changed",
    }
    assert "another-password" not in str(trail) and PASSWORD not in str(trail)


def test_a_change_that_changes_nothing_is_not_audited(client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    user_id = client.post("/api/users", json={"username": "olga", "roles": ["operator"]}).json()[
        "id"
    ]

    client.patch(f"/api/users/{user_id}", json={"roles": ["operator"]})

    assert [action for _, action, _ in audit_trail(db, "user", user_id)] == ["create"]


def test_token_changes_are_audited(client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    token = client.post("/api/auth/tokens", json={"name": "script"}).json()
    client.delete(f"/api/auth/tokens/{token['id']}")

    trail = audit_trail(db, "api_token", token["id"])

    assert [(who, action) for who, action, _ in trail] == [("admin", "create"), ("admin", "revoke")]
    assert token["token"] not in str(trail)


def test_usernames_are_unique_whatever_the_case(client: TestClient) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    client.post("/api/users", json={"username": "olga"})

    detail = assert_error(client.post("/api/users", json={"username": "OLGA"}), 409, "conflict")
    assert "olga" in detail["msg"]


def test_invalid_users_are_rejected_with_the_field(client: TestClient) -> None:
    login(client, "admin", ADMIN_PASSWORD)

    cases: list[dict[str, Any]] = [
        {"username": "olga", "password": "short"},
        {"username": "olga", "roles": ["wizard"]},
        {"username": "has space"},
        {"username": ""},
        {"username": "olga", "password_hash": "$argon2id$..."},
    ]
    for body in cases:
        assert client.post("/api/users", json=body).status_code == 422, body
    detail = assert_error(
        client.post("/api/users", json={"username": "anonymous"}), 422, "invalid_input"
    )
    assert detail["loc"] == ["username"]


def test_the_last_active_admin_cannot_be_removed(client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    admin_id = client.get("/api/auth/me").json()["id"]

    assert_error(
        client.patch(f"/api/users/{admin_id}", json={"roles": ["viewer"]}), 409, "conflict"
    )
    assert_error(client.patch(f"/api/users/{admin_id}", json={"active": False}), 409, "conflict")
    assert_error(client.delete(f"/api/users/{admin_id}"), 409, "conflict")

    # With a second admin, the first may step down.
    add_user(db, "second", Role.admin)
    assert client.patch(f"/api/users/{admin_id}", json={"roles": ["manager"]}).status_code == 200


def test_only_admins_manage_users(app: FastAPI, db: Database) -> None:
    add_user(db, "mia", Role.manager, Role.planner)
    with TestClient(app) as client:
        assert_error(client.get("/api/users"), 401, "unauthenticated")
        login(client, "mia", PASSWORD)

        for response in (
            client.get("/api/users"),
            client.get("/api/users/1"),
            client.post("/api/users", json={"username": "x"}),
            client.patch("/api/users/1", json={"active": False}),
            client.delete("/api/users/1"),
        ):
            detail = assert_error(response, 403, "permission_denied")
            assert "admin" in detail["msg"]


def test_no_response_ever_contains_a_password_or_its_hash(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    responses = [
        client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    ]
    created = client.post(
        "/api/users", json={"username": "olga", "password": PASSWORD, "roles": ["operator"]}
    )
    user_id = created.json()["id"]
    responses += [
        created,
        client.get("/api/users"),
        client.get(f"/api/users/{user_id}"),
        client.patch(f"/api/users/{user_id}", json={"password": "second-password"}),
        client.get("/api/auth/me"),
        client.patch("/api/auth/me", json={"display_name": "The Admin"}),
        client.post("/login", data={"username": "admin", "password": "wrong-password"}),
    ]
    with TestClient(app) as olga:
        responses.append(
            olga.post("/api/auth/login", json={"username": "olga", "password": "second-password"})
        )

    for response in responses:
        assert response.status_code < 500
        for secret in (
            "$argon2",
            "password_hash",
            PASSWORD,
            ADMIN_PASSWORD,
            "second-password",
            "wrong-password",
        ):
            assert secret not in response.text, (response.request.url, secret)
