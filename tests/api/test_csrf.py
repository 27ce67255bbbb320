"""CSRF protection: cookie-authenticated writes and sign-ins must come from the server's origin.

OWASP CSRF Prevention Cheat Sheet, "Verifying Origin With Standard Headers". The TestClient
talks to http://testserver, so that is the server's own origin here.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ifactory.api.auth import SESSION_COOKIE, origin_of
from ifactory.auth import service as auth_service
from ifactory.core.settings import Settings
from ifactory.platform import Platform

PASSWORD = "s3cret-pass"
OWN = "http://testserver"
# Same site as the plant host but another origin: SameSite=Lax lets the cookie through.
SIBLING = "http://testserver:8081"
FOREIGN = "https://evil.example"


@pytest.fixture
def signed_in(platform: Platform, client: TestClient) -> TestClient:
    """`client` with the session cookie of the admin (no Origin on the sign-in: a script)."""
    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password=PASSWORD)
    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert SESSION_COOKIE in client.cookies
    return client


def _csrf_error(response: Any, header: str, origin: str) -> None:
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert len(detail) == 1
    assert detail[0]["type"] == "csrf_origin_mismatch"
    assert detail[0]["loc"] == ["header", header]
    assert repr(origin) in detail[0]["msg"]
    assert OWN in detail[0]["msg"]


def _display_name(client: TestClient) -> str:
    r = client.get("/api/auth/me")
    assert r.status_code == 200, r.text
    name: str = r.json()["display_name"]
    return name


def _usernames(client: TestClient) -> list[str]:
    r = client.get("/api/users")
    assert r.status_code == 200, r.text
    return [u["username"] for u in r.json()["items"]]


def _new_user(name: str) -> dict[str, Any]:
    return {"username": name, "password": "another-pass-1", "roles": ["operator"]}


# --- cookie-authenticated unsafe requests ---------------------------------------------------


@pytest.mark.parametrize("origin", [FOREIGN, SIBLING, "null", "http://testserver.evil.example"])
def test_cookie_patch_from_another_origin_is_refused_and_changes_nothing(
    signed_in: TestClient, origin: str
) -> None:
    before = _display_name(signed_in)

    r = signed_in.patch(
        "/api/auth/me", json={"display_name": "Mallory"}, headers={"Origin": origin}
    )

    _csrf_error(r, "origin", origin)
    assert _display_name(signed_in) == before != "Mallory"


def test_cookie_post_and_delete_from_another_origin_are_refused(signed_in: TestClient) -> None:
    r = signed_in.post("/api/users", json=_new_user("mallory"), headers={"Origin": SIBLING})
    _csrf_error(r, "origin", SIBLING)
    assert "mallory" not in _usernames(signed_in)

    created = signed_in.post("/api/users", json=_new_user("victim"), headers={"Origin": OWN})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    r = signed_in.delete(f"/api/users/{user_id}", headers={"Origin": FOREIGN})
    _csrf_error(r, "origin", FOREIGN)
    assert "victim" in _usernames(signed_in)


def test_cookie_writes_from_the_same_origin_go_through(signed_in: TestClient) -> None:
    r = signed_in.patch("/api/auth/me", json={"display_name": "Ada"}, headers={"Origin": OWN})
    assert r.status_code == 200, r.text
    assert _display_name(signed_in) == "Ada"
    # The default port is the same origin (RFC 6454 serialisation omits it).
    r = signed_in.post(
        "/api/users", json=_new_user("bob"), headers={"Origin": "HTTP://TestServer:80"}
    )
    assert r.status_code == 201, r.text
    assert "bob" in _usernames(signed_in)


def test_cookie_writes_without_origin_or_referer_go_through(signed_in: TestClient) -> None:
    r = signed_in.patch("/api/auth/me", json={"display_name": "Script"})
    assert r.status_code == 200, r.text
    assert _display_name(signed_in) == "Script"


def test_without_origin_the_referer_decides(signed_in: TestClient) -> None:
    foreign_page = "https://evil.example/pages/trap.html?x=1"
    r = signed_in.patch(
        "/api/auth/me", json={"display_name": "Mallory"}, headers={"Referer": foreign_page}
    )
    _csrf_error(r, "referer", "https://evil.example")
    assert "trap.html" not in r.json()["detail"][0]["msg"]  # only the origin is echoed
    assert _display_name(signed_in) != "Mallory"

    r = signed_in.patch(
        "/api/auth/me", json={"display_name": "Ada"}, headers={"Referer": f"{OWN}/profile"}
    )
    assert r.status_code == 200, r.text
    assert _display_name(signed_in) == "Ada"


def test_origin_wins_over_referer(signed_in: TestClient) -> None:
    r = signed_in.patch(
        "/api/auth/me",
        json={"display_name": "Mallory"},
        headers={"Origin": FOREIGN, "Referer": f"{OWN}/profile"},
    )
    _csrf_error(r, "origin", FOREIGN)


def test_the_host_header_defines_the_own_origin(signed_in: TestClient) -> None:
    plant = {"Host": "plant.intranet:8000"}
    r = signed_in.patch(
        "/api/auth/me",
        json={"display_name": "Ada"},
        headers={**plant, "Origin": "http://plant.intranet:8000"},
    )
    assert r.status_code == 200, r.text
    # Another port of the same intranet host is another origin.
    r = signed_in.patch(
        "/api/auth/me",
        json={"display_name": "Mallory"},
        headers={**plant, "Origin": "http://plant.intranet:3000"},
    )
    assert r.status_code == 403, r.text
    assert r.json()["detail"][0]["type"] == "csrf_origin_mismatch"
    assert "http://plant.intranet:8000" in r.json()["detail"][0]["msg"]
    assert _display_name(signed_in) == "Ada"


def test_trusted_origins_are_accepted(signed_in: TestClient, platform: Platform) -> None:
    # A TLS-terminating proxy that forwards to http://testserver: the browser's origin is
    # the public one.
    public = "https://ifactory.plant.example"
    r = signed_in.patch("/api/auth/me", json={"display_name": "Ada"}, headers={"Origin": public})
    _csrf_error(r, "origin", public)

    platform.settings.trusted_origins = [f"{public}/"]
    r = signed_in.patch("/api/auth/me", json={"display_name": "Ada"}, headers={"Origin": public})
    assert r.status_code == 200, r.text
    r = signed_in.patch("/api/auth/me", json={"display_name": "X"}, headers={"Origin": FOREIGN})
    _csrf_error(r, "origin", FOREIGN)
    assert _display_name(signed_in) == "Ada"


@pytest.mark.parametrize(
    "bad",
    [
        "ifactory.plant",
        "https://plant/app",
        "ftp://plant",
        "https://plant:99999",
        "https://a@plant",
    ],
)
def test_a_trusted_origin_that_is_not_an_origin_is_a_settings_error(bad: str) -> None:
    with pytest.raises(ValidationError, match="trusted origin"):
        Settings(environment="test", trusted_origins=[bad])


def test_logout_from_another_origin_is_refused(signed_in: TestClient) -> None:
    r = signed_in.post("/api/auth/logout", headers={"Origin": FOREIGN})
    _csrf_error(r, "origin", FOREIGN)
    assert signed_in.get("/api/auth/me").status_code == 200
    assert signed_in.post("/api/auth/logout", headers={"Origin": OWN}).status_code == 204
    assert signed_in.get("/api/auth/me").status_code == 401


# --- requests the check does not concern ----------------------------------------------------


def test_bearer_token_requests_are_not_checked(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    client.cookies.clear()
    r = client.patch(
        "/api/auth/me",
        json={"display_name": "Robot"},
        headers={**admin_headers, "Origin": FOREIGN},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/users", json=_new_user("carol"), headers={**admin_headers, "Origin": FOREIGN}
    )
    assert r.status_code == 201, r.text


def test_safe_methods_from_another_origin_go_through(signed_in: TestClient) -> None:
    r = signed_in.get("/api/auth/me", headers={"Origin": FOREIGN})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "admin"
    assert signed_in.head("/api/auth/me", headers={"Origin": FOREIGN}).status_code != 403


# --- login CSRF -----------------------------------------------------------------------------


@pytest.fixture
def admin(platform: Platform) -> None:
    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password=PASSWORD)


@pytest.mark.usefixtures("admin")
def test_json_login_from_another_origin_is_refused(client: TestClient) -> None:
    r = client.post(
        "/api/auth/login",
        json={"username": "admin", "password": PASSWORD},
        headers={"Origin": SIBLING},
    )
    _csrf_error(r, "origin", SIBLING)
    assert SESSION_COOKIE not in r.cookies
    assert client.get("/api/auth/me").status_code == 401

    r = client.post(
        "/api/auth/login",
        json={"username": "admin", "password": PASSWORD},
        headers={"Origin": OWN},
    )
    assert r.status_code == 200, r.text
    assert client.get("/api/auth/me").status_code == 200


def _refusal_page(response: Any) -> str:
    """The text of the sign-in page that refused a form post as cross-origin; no session set."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    page = " ".join(html.unescape(response.text).split())
    assert '<form class="login-form card" method="post" action="/login"' in page
    return page


@pytest.mark.usefixtures("admin")
def test_form_login_from_another_origin_shows_the_sign_in_page_with_the_reason(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    form = {"username": "admin", "password": PASSWORD, "next": "/orders"}
    r = client.post("/login", data=form, headers={"Origin": FOREIGN}, follow_redirects=False)

    page = _refusal_page(r)
    assert f"this form was sent from {FOREIGN}, but this server is {OWN}." in page
    refusals = [rec for rec in caplog.records if "sign-in refused as cross-origin" in rec.message]
    assert len(refusals) == 1 and FOREIGN in refusals[0].message  # the administrator sees it
    assert refusals[0].levelname == "WARNING"
    assert f"add {FOREIGN} to IFACTORY_TRUSTED_ORIGINS" in page
    assert 'value="admin"' not in page  # the sender's username is not put in the form
    assert '<input type="hidden" name="next" value="/orders">' in page
    assert client.get("/api/auth/me").status_code == 401

    r = client.post("/login", data=form, headers={"Origin": OWN}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/orders"
    assert client.get("/api/auth/me").status_code == 200


@pytest.mark.usefixtures("admin")
def test_form_login_behind_a_host_rewriting_proxy_tells_what_to_trust(
    client: TestClient, platform: Platform
) -> None:
    # The proxy serves https://ifactory.plant.example and forwards with Host: 10.0.0.5:8000.
    public = "https://ifactory.plant.example"
    form = {"username": "admin", "password": PASSWORD}
    headers = {"Host": "10.0.0.5:8000", "Origin": public}

    page = _refusal_page(client.post("/login", data=form, headers=headers, follow_redirects=False))
    assert f"sent from {public}, but this server is http://10.0.0.5:8000." in page
    assert f"the administrator should add {public} to IFACTORY_TRUSTED_ORIGINS" in page
    assert client.get("/api/auth/me").status_code == 401

    platform.settings.trusted_origins = [public]
    r = client.post("/login", data=form, headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert SESSION_COOKIE in r.cookies


@pytest.mark.usefixtures("admin")
def test_form_login_refusals_by_referer_and_opaque_origin(
    client: TestClient, platform: Platform
) -> None:
    form = {"username": "admin", "password": PASSWORD}
    referer = {"Referer": "https://evil.example/trap.html"}
    page = _refusal_page(client.post("/login", data=form, headers=referer))
    assert f"sent from {FOREIGN}, but this server is {OWN}." in page
    assert "trap.html" not in page

    # An opaque origin is not one an administrator could trust: no advice to add it.
    platform.settings.trusted_origins = ["https://ifactory.plant.example"]
    page = _refusal_page(client.post("/login", data=form, headers={"Origin": "null"}))
    assert f"this server is {OWN} (also trusted: https://ifactory.plant.example)" in page
    assert "a page whose origin the browser hides (null)" in page
    assert "IFACTORY_TRUSTED_ORIGINS" not in page
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.usefixtures("admin")
def test_json_refusals_stay_json_whatever_the_client_accepts(client: TestClient) -> None:
    r = client.post(
        "/api/auth/login",
        json={"username": "admin", "password": PASSWORD},
        headers={"Origin": FOREIGN, "Accept": "text/html,application/xhtml+xml"},
    )
    _csrf_error(r, "origin", FOREIGN)
    assert r.headers["content-type"] == "application/json"
    assert SESSION_COOKIE not in r.cookies


def test_origin_of_serialises_like_rfc_6454() -> None:
    assert origin_of("HTTPS://Plant.Example:443/x?y#z") == "https://plant.example"
    assert origin_of("http://plant:8080/") == "http://plant:8080"
    assert origin_of("http://[::1]:8000/a") == "http://[::1]:8000"
    assert origin_of("null") is None
    assert origin_of("/relative/path") is None
    assert origin_of("http://plant:notaport") is None
