"""API tokens: shown once, stored hashed, usable as bearer tokens, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ifactory.auth.models import ApiToken
from ifactory.auth.roles import Role
from ifactory.core.db import Database, utcnow

from .helpers import ADMIN_PASSWORD, PASSWORD, add_user, assert_error, login


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_shown_once_and_stored_only_as_a_digest(
    client: TestClient, db: Database
) -> None:
    login(client, "admin", ADMIN_PASSWORD)

    created = client.post("/api/auth/tokens", json={"name": "grafana"})

    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("ifk_") and len(secret) > 40
    assert created.json()["prefix"] == secret[:12]
    listed = client.get("/api/auth/tokens")
    assert [t["name"] for t in listed.json()] == ["grafana"]
    assert secret not in listed.text
    assert "token_hash" not in listed.text
    with db.session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash != secret and secret not in row.token_hash


def test_a_bearer_token_authenticates_without_a_cookie(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    secret = client.post("/api/auth/tokens", json={"name": "script"}).json()["token"]

    with TestClient(app) as script:
        response = script.get("/api/whoami", headers=bearer(secret))

    assert response.json() == {"username": "admin", "by": "token"}
    listed = client.get("/api/auth/tokens").json()
    assert listed[0]["last_used_at"] is not None


def test_a_revoked_token_stops_working_at_once(app: FastAPI, client: TestClient) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    created = client.post("/api/auth/tokens", json={"name": "script"}).json()
    with TestClient(app) as script:
        assert script.get("/api/whoami", headers=bearer(created["token"])).status_code == 200

        assert client.delete(f"/api/auth/tokens/{created['id']}").status_code == 204

        detail = assert_error(
            script.get("/api/whoami", headers=bearer(created["token"])), 401, "unauthenticated"
        )
        assert "revoked" in detail["msg"]
    assert client.get("/api/auth/tokens").json() == []
    revoked = client.get("/api/auth/tokens", params={"include_revoked": True}).json()
    assert revoked[0]["revoked_at"] is not None
    # Revoking twice is harmless.
    assert client.delete(f"/api/auth/tokens/{created['id']}").status_code == 204


def test_an_expired_token_is_refused(app: FastAPI, client: TestClient, db: Database) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    created = client.post("/api/auth/tokens", json={"name": "temp", "expires_at": soon}).json()
    with db.session() as session:
        session.get_one(ApiToken, created["id"]).expires_at = utcnow() - timedelta(seconds=1)

    with TestClient(app) as script:
        assert_error(
            script.get("/api/whoami", headers=bearer(created["token"])), 401, "unauthenticated"
        )


def test_an_expiry_in_the_past_or_without_time_zone_is_rejected(client: TestClient) -> None:
    login(client, "admin", ADMIN_PASSWORD)

    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert_error(
        client.post("/api/auth/tokens", json={"name": "x", "expires_at": past}),
        422,
        "invalid_input",
    )
    naive = client.post("/api/auth/tokens", json={"name": "x", "expires_at": "2099-01-01T00:00:00"})
    assert naive.status_code == 422


def test_bad_authorization_headers_are_401_not_anonymous(app: FastAPI, db: Database) -> None:
    with TestClient(app) as client:
        for header in (
            "Bearer ifk_not-a-real-token",
            "Basic YWRtaW46YWRtaW4=",
            "Bearer ",
            "Bearer " + "x" * 5000,
        ):
            assert_error(
                client.get("/api/whoami", headers={"Authorization": header}), 401, "unauthenticated"
            )


def test_tokens_of_an_inactive_user_stop_working(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    user_id = add_user(db, "olga", Role.operator)
    with TestClient(app) as olga:
        login(olga, "olga", PASSWORD)
        secret = olga.post("/api/auth/tokens", json={"name": "mine"}).json()["token"]
    login(client, "admin", ADMIN_PASSWORD)

    client.patch(f"/api/users/{user_id}", json={"active": False})

    with TestClient(app) as script:
        assert_error(script.get("/api/whoami", headers=bearer(secret)), 401, "unauthenticated")


def test_users_manage_only_their_own_tokens(app: FastAPI, client: TestClient, db: Database) -> None:
    add_user(db, "olga", Role.operator)
    login(client, "admin", ADMIN_PASSWORD)
    admin_token = client.post("/api/auth/tokens", json={"name": "admin's"}).json()
    admin_id = client.get("/api/auth/me").json()["id"]

    with TestClient(app) as olga:
        login(olga, "olga", PASSWORD)
        assert olga.get("/api/auth/tokens").json() == []
        assert_error(
            olga.get("/api/auth/tokens", params={"user_id": admin_id}), 403, "permission_denied"
        )
        assert_error(olga.delete(f"/api/auth/tokens/{admin_token['id']}"), 404, "not_found")
        assert_error(
            olga.post("/api/auth/tokens", json={"name": "x", "user_id": admin_id}),
            403,
            "permission_denied",
        )
        olga_token = olga.post("/api/auth/tokens", json={"name": "olga's"}).json()

    # An admin sees and revokes anyone's tokens.
    olga_id = olga_token["user_id"]
    assert [
        t["name"] for t in client.get("/api/auth/tokens", params={"user_id": olga_id}).json()
    ] == ["olga's"]
    assert client.delete(f"/api/auth/tokens/{olga_token['id']}").status_code == 204


def test_admin_issues_a_device_key_that_may_ingest_but_not_mint_keys(
    app: FastAPI, client: TestClient
) -> None:
    login(client, "admin", ADMIN_PASSWORD)
    device = client.post(
        "/api/users", json={"username": "press-01", "roles": ["device"], "display_name": "Press 1"}
    ).json()
    assert device["has_password"] is False
    key = client.post("/api/auth/tokens", json={"name": "edge gateway", "user_id": device["id"]})
    assert key.status_code == 201
    secret = key.json()["token"]

    with TestClient(app) as machine:
        assert machine.post("/api/ingest", headers=bearer(secret)).json() == {
            "username": "press-01"
        }
        assert_error(machine.post("/api/things", headers=bearer(secret)), 403, "permission_denied")
        assert_error(
            machine.post("/api/auth/tokens", headers=bearer(secret), json={"name": "more"}),
            403,
            "permission_denied",
        )
        # A device account has no password, so it cannot sign in with one.
        assert_error(
            machine.post(
                "/api/auth/login", json={"username": "press-01", "password": "anything-at-all"}
            ),
            401,
            "unauthenticated",
        )


def test_deleting_a_user_deletes_their_tokens(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    user_id = add_user(db, "olga", Role.operator)
    with TestClient(app) as olga:
        login(olga, "olga", PASSWORD)
        secret = olga.post("/api/auth/tokens", json={"name": "mine"}).json()["token"]
    login(client, "admin", ADMIN_PASSWORD)

    assert client.delete(f"/api/users/{user_id}").status_code == 204

    with TestClient(app) as script:
        assert_error(script.get("/api/whoami", headers=bearer(secret)), 401, "unauthenticated")
    with db.session() as session:
        assert session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all() == []
