"""Signing in and out: the JSON endpoint, the login page, sessions that stop working."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ifactory.api.auth import SESSION_COOKIE, safe_next
from ifactory.auth.roles import Role
from ifactory.core.db import Database

from .helpers import ADMIN_PASSWORD, PASSWORD, add_user, assert_error, login


def test_json_login_sets_a_session_that_identifies_the_user(client: TestClient) -> None:
    response = client.post(
        "/api/auth/login", json={"username": "Admin ", "password": ADMIN_PASSWORD}
    )

    assert response.status_code == 200
    assert response.json()["username"] == "admin"
    assert "password_hash" not in response.json()
    assert SESSION_COOKIE in response.cookies
    me = client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["roles"] == ["admin"]
    assert client.get("/api/whoami").json() == {"username": "admin", "by": "session"}


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient) -> None:
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": "nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope"})

    assert assert_error(wrong, 401, "unauthenticated") == assert_error(
        unknown, 401, "unauthenticated"
    )
    assert SESSION_COOKIE not in wrong.cookies
    assert_error(client.get("/api/auth/me"), 401, "unauthenticated")


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client, "admin", ADMIN_PASSWORD)

    assert client.post("/api/auth/logout").status_code == 204

    response = client.get("/api/auth/me")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_forged_session_cookie_is_ignored(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "eyJ1aWQiOiAxLCAiZXBvY2giOiAwfQ==.forged.signature")

    assert_error(client.get("/api/auth/me"), 401, "unauthenticated")


def test_inactive_user_cannot_sign_in(client: TestClient, db: Database) -> None:
    add_user(db, "olga", Role.operator, active=False)

    response = client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
    assert_error(response, 401, "unauthenticated")
    page = client.post("/login", data={"username": "olga", "password": PASSWORD})
    assert page.status_code == 401
    assert SESSION_COOKIE not in page.cookies


def test_deactivating_a_user_ends_their_sessions(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    user_id = add_user(db, "olga", Role.operator)
    with TestClient(app) as olga:
        login(olga, "olga", PASSWORD)
        login(client, "admin", ADMIN_PASSWORD)

        assert client.patch(f"/api/users/{user_id}", json={"active": False}).status_code == 200

        assert_error(olga.get("/api/auth/me"), 401, "unauthenticated")
        # Reactivating does not revive the old cookie: it was tied to the previous epoch.
        assert client.patch(f"/api/users/{user_id}", json={"active": True}).status_code == 200
        assert_error(olga.get("/api/auth/me"), 401, "unauthenticated")


def test_changing_ones_password_needs_the_current_one_and_signs_out_elsewhere(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    add_user(db, "olga", Role.operator)
    with TestClient(app) as other_browser:
        login(client, "olga", PASSWORD)
        login(other_browser, "olga", PASSWORD)

        wrong = client.patch("/api/auth/me", json={"password": "new-password-1"})
        detail = assert_error(wrong, 422, "invalid_input")
        assert detail["loc"] == ["body", "current_password"]

        changed = client.patch(
            "/api/auth/me", json={"password": "new-password-1", "current_password": PASSWORD}
        )
        assert changed.status_code == 200

        assert client.get("/api/auth/me").status_code == 200  # this session continues
        assert_error(other_browser.get("/api/auth/me"), 401, "unauthenticated")
        assert_error(
            client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD}),
            401,
            "unauthenticated",
        )
        login(other_browser, "olga", "new-password-1")


def test_login_page_renders_a_form(client: TestClient) -> None:
    response = client.get("/login", params={"next": "/machines?line=2"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<form class="login-form card" method="post" action="/login"' in html
    assert 'href="/static/app.css"' in html
    assert 'name="next" value="/machines?line=2"' in html
    assert 'type="password"' in html


def test_login_form_signs_in_and_redirects_to_next(client: TestClient) -> None:
    response = client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": "/machines?line=2"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/machines?line=2"
    assert client.get("/api/auth/me").json()["username"] == "admin"


def test_login_form_with_wrong_password_shows_the_form_again(client: TestClient) -> None:
    response = client.post(
        "/login",
        data={"username": "admin", "password": "wrong-password", "next": "/oee"},
        follow_redirects=False,
    )

    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert 'value="admin"' in response.text  # the username stays filled in
    assert 'name="next" value="/oee"' in response.text
    assert SESSION_COOKIE not in response.cookies


def test_login_form_escapes_what_it_echoes(client: TestClient) -> None:
    response = client.post(
        "/login", data={"username": '"><script>x()</script>', "password": "whatever-1"}
    )

    assert response.status_code == 401
    assert "<script>x()" not in response.text


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "", "x"],
)
def test_login_form_never_redirects_off_site(client: TestClient, target: str) -> None:
    response = client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "next": target},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/work-orders/12?tab=parts#history") == "/work-orders/12?tab=parts#history"
    assert safe_next("/\tevil") == "/"
    assert safe_next(None) == "/"


def test_login_form_sent_empty_asks_for_both_fields(client: TestClient) -> None:
    response = client.post("/login", data={})

    assert response.status_code == 401
    assert "Enter your username and password." in response.text
