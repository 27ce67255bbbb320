"""Sign-in throttling and auditing: repeated failures are refused for a while, and recorded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ifactory.auth.throttle import LoginThrottle, ThrottlePolicy
from ifactory.core.audit import AuditEntry
from ifactory.core.db import Database

from .helpers import ADMIN_PASSWORD, assert_error


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_username_is_refused_after_its_limit_until_the_window_passes() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        ThrottlePolicy(per_username=3, per_address=100, window_s=60), clock=clock
    )
    for _ in range(3):
        assert throttle.retry_after("ann", "10.0.0.1") == 0
        throttle.failed("ann", "10.0.0.1")
        clock.t += 10
    # Failures at 1000, 1010, 1020: allowed again when the first leaves the window (1060).
    assert throttle.retry_after("ann", "10.0.0.9") == pytest.approx(30.0)
    assert throttle.retry_after("bob", "10.0.0.1") == 0  # other users from that address
    clock.t = 1060.0
    assert throttle.retry_after("ann", "10.0.0.1") == 0


def test_an_address_is_refused_after_many_usernames_and_success_clears_the_user_only() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        ThrottlePolicy(per_username=2, per_address=3, window_s=60), clock=clock
    )
    for name in ("a", "b", "c"):
        throttle.failed(name, "10.0.0.1")
    assert throttle.retry_after("d", "10.0.0.1") == pytest.approx(60.0)
    assert throttle.retry_after("d", "10.0.0.2") == 0
    throttle.failed("e", "10.0.0.2")
    throttle.failed("e", "10.0.0.3")
    assert throttle.retry_after("e", "10.0.0.4") > 0
    throttle.succeeded("e")
    assert throttle.retry_after("e", "10.0.0.4") == 0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ThrottlePolicy(per_username=0)


def test_sixth_failed_sign_in_gets_429_with_retry_after_and_all_are_audited(
    client: TestClient, db: Database
) -> None:
    for _ in range(5):
        wrong = client.post("/api/auth/login", json={"username": "admin", "password": "nope-nope"})
        assert_error(wrong, 401, "unauthenticated")
    refused = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert_error(refused, 429, "too_many_requests")
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    # The page form says so too, without checking the password.
    page = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text
    assert "retry-after" in page.headers
    # Another user is not locked out by admin's failures.
    other = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert_error(other, 401, "unauthenticated")
    with db.session() as s:
        actions = [
            (e.action, e.username)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.entity == "user"))
        ]
    assert actions.count(("login_failed", "admin")) == 5
    assert ("login_failed", "ghost") in actions
    assert ("login", "admin") not in actions


def test_a_successful_sign_in_is_audited_with_the_address(client: TestClient, db: Database) -> None:
    ok = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert ok.status_code == 200
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "login")).one()
    assert entry.username == "admin" and entry.details == {"address": "testclient", "via": "api"}
