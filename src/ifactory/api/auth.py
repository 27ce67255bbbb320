"""Authentication, users and API tokens over HTTP, plus the dependencies other routers use.

A request is authenticated by `Authorization: Bearer <token>` or by the signed session cookie
set at login. Dependencies for the other routers:

- `CurrentUser`: the signed-in user (401 `unauthenticated` if none);
- `OptionalUser`: the signed-in user or None;
- `Actor`: for read endpoints, the user or, when `settings.anonymous_read`, an anonymous viewer;
- `require_roles(*roles)`: a dependency that lets through holders of one of `roles` (and
  admins), otherwise 403 `permission_denied`; `AdminUser` is `require_roles(Role.admin)`.

Cross-site request forgery: a cookie-authenticated request with an unsafe method, and every
sign-in (which creates the session), must come from this site's own origin (`check_origin`);
otherwise 403 `csrf_origin_mismatch` (the sign-in form gets its page back with the reason).
Bearer-token requests carry no ambient credential and are not checked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from ifactory.api.deps import SessionDep, get_platform
from ifactory.auth import service
from ifactory.auth.models import ApiToken, User
from ifactory.auth.principal import ANONYMOUS, Principal
from ifactory.auth.roles import Role
from ifactory.auth.schemas import (
    LoginRequest,
    MeUpdate,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from ifactory.auth.throttle import LoginThrottle
from ifactory.core.audit import record
from ifactory.core.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
)
from ifactory.core.settings import Settings

SESSION_COOKIE = "ifactory_session"
SESSION_MAX_AGE_S = 14 * 24 * 3600
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "web" / "templates")
BAD_CREDENTIALS = "invalid username or password"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

log = logging.getLogger(__name__)

router = APIRouter()


def install(
    app: FastAPI,
    *,
    settings: Settings | None = None,
    https_only: bool = False,
    max_age_s: int = SESSION_MAX_AGE_S,
) -> None:
    """Add the signed session cookie middleware (keyed by `settings.secret_key`) to `app`."""
    settings = settings or app.state.platform.settings
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=max_age_s,
        same_site="lax",
        https_only=https_only,
    )


# --- cross-site request forgery ----------------------------------------------------------


def origin_of(url: str) -> str | None:
    """The origin `scheme://host[:port]` of an absolute http(s) URL, else None.

    Normalised as RFC 6454 section 6.1 serialises an origin: scheme and host lower-case, the
    scheme's default port (80, 443) omitted, no path. "null" (an opaque origin) gives None.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number or out of range
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased, without the brackets of an IPv6 literal
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _accepted_origins(request: Request) -> set[str]:
    # The request's own origin as the server sees it (the scheme, and the Host header, which
    # Starlette builds request.url from), plus the configured ones for a Host-rewriting proxy.
    own = {origin_of(str(request.url))}
    trusted = {origin_of(o) for o in get_platform(request).settings.trusted_origins}
    return {o for o in own | trusted if o is not None}


@dataclass(frozen=True)
class OriginMismatch:
    """Why `check_origin` refuses a request: the header it judged and what that header said."""

    header: str  # "origin" or "referer"
    source: str | None  # the claimed origin, None when it is not one ("null", garbage)
    shown: str  # the claimed origin, or (if None) the start of the raw header value
    own: str | None  # this server's origin as the request reached it (scheme + Host)
    accepted: tuple[str, ...]  # every accepted origin: own and trusted, sorted


def origin_mismatch(request: Request) -> OriginMismatch | None:
    """The reason to refuse `request` as cross-origin, or None when it may pass.

    OWASP Cross-Site Request Forgery Prevention Cheat Sheet, "Verifying Origin With Standard
    Headers": the `Origin` header must be the request's own origin (or one listed in
    `settings.trusted_origins`); without `Origin`, the origin of `Referer` must be. With
    neither the request passes: browsers send `Origin` on every cross-origin unsafe request
    (Fetch standard, "append a request `Origin` header"), so only non-browser clients and
    privacy settings that strip both get here. SameSite=Lax on the cookie does not cover this:
    another port or subdomain of the same host is the same *site* but another *origin*.
    """
    header = "origin"
    claimed = request.headers.get("origin")
    if claimed is None:
        header = "referer"
        claimed = request.headers.get("referer")
        if claimed is None:
            return None
    source = origin_of(claimed)
    accepted = _accepted_origins(request)
    if source is not None and source in accepted:
        return None
    return OriginMismatch(
        header=header,
        source=source,
        shown=source if source is not None else claimed[:200],
        own=origin_of(str(request.url)),
        accepted=tuple(sorted(accepted)),
    )


def check_origin(request: Request) -> None:
    """Refuse a request sent from another origin (`origin_mismatch`): 403 `csrf_origin_mismatch`."""
    mismatch = origin_mismatch(request)
    if mismatch is None:
        return
    expected = ", ".join(mismatch.accepted) or "none"
    raise PermissionDenied(
        f"cross-origin request refused (CSRF protection): {mismatch.header} "
        f"{mismatch.shown!r} is not this server's origin ({expected}); behind a reverse proxy "
        "that changes the Host header, add the public origin to IFACTORY_TRUSTED_ORIGINS",
        loc=["header", mismatch.header],
        type="csrf_origin_mismatch",
    )


# --- dependencies ------------------------------------------------------------------------


def _cookie_session(request: Request) -> dict[str, Any] | None:
    # Read from the scope so that a missing middleware means "no session", not a crash.
    data: dict[str, Any] | None = request.scope.get("session")
    return data


def _from_bearer(header: str, session: Session) -> Principal:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "use 'Authorization: Bearer <token>'", loc=["header", "authorization"]
        )
    user = service.resolve_token(session, token=value.strip())
    if user is None:
        raise Unauthenticated(
            "the token is invalid, expired or revoked", loc=["header", "authorization"]
        )
    return Principal.from_user(user, authenticated_by="token")


def _from_cookie(request: Request, session: Session) -> Principal | None:
    data = _cookie_session(request)
    if not data:
        return None
    user = service.session_user(session, data)
    if user is None:
        data.clear()  # a stale cookie (deleted, deactivated, password changed): drop it
        return None
    if request.method not in SAFE_METHODS:
        check_origin(request)  # the browser attaches the cookie to forged requests too
    return Principal.from_user(user, authenticated_by="session")


def get_optional_user(request: Request, session: SessionDep) -> Principal | None:
    """The user of a bearer token or session cookie; None if neither (a bad token is a 401)."""
    header = request.headers.get("authorization")
    if header:
        return _from_bearer(header, session)
    return _from_cookie(request, session)


OptionalUser = Annotated[Principal | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> Principal:
    """The authenticated user; 401 `unauthenticated` without one."""
    if user is None:
        raise Unauthenticated("sign in, or send 'Authorization: Bearer <token>'")
    return user


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def get_actor(request: Request, user: OptionalUser) -> Principal:
    """For read endpoints: the user, or an anonymous viewer when anonymous reading is on."""
    if user is not None:
        return user
    if get_platform(request).settings.anonymous_read:
        return ANONYMOUS
    raise Unauthenticated("sign in, or send 'Authorization: Bearer <token>'")


Actor = Annotated[Principal, Depends(get_actor)]


def require_roles(*roles: Role | str) -> Callable[[Principal], Principal]:
    """A dependency returning the user if they hold one of `roles` (admin always does), else 403."""
    needed = tuple(Role(role) for role in roles)  # an unknown role name fails here, at import
    names = ", ".join(role.value for role in needed) or "none"

    def dependency(user: CurrentUser) -> Principal:
        if user.has_any_role(*needed):
            return user
        raise PermissionDenied(f"this needs one of the roles: {names} (or admin)")

    return dependency


AdminUser = Annotated[Principal, Depends(require_roles(Role.admin))]


# --- login and the session ---------------------------------------------------------------


def _start_session(request: Request, user: User) -> None:
    data = _cookie_session(request)
    if data is None:
        raise RuntimeError("session middleware missing: call ifactory.api.auth.install(app)")
    data.clear()
    data.update({"uid": user.id, "epoch": user.session_epoch})


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:  # an app built without install(): throttle all the same
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def _sign_in(
    request: Request, session: Session, *, username: str, password: str, via: str
) -> User | None:
    """Check the credentials under the throttle; audit the outcome. None: wrong credentials.

    Raises TooManyRequests while the username or the client address is over its limit of
    failed attempts (the password is not checked then). A failure is audited in a transaction
    of its own, so the record stays although the request fails.
    """
    name = service.normalize_username(username)[:64]
    address = request.client.host if request.client else None
    throttle = _throttle(request)
    wait = throttle.retry_after(name, address)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        raise TooManyRequests(
            f"too many failed sign-ins; try again in about {minutes} min", retry_after_s=wait
        )
    user = service.authenticate(session, username=username, password=password)
    details = {"address": address, "via": via}
    if user is None:
        throttle.failed(name, address)
        with get_platform(request).db.session() as own:
            record(
                own,
                user=name,
                action="login_failed",
                entity="user",
                entity_id=name,
                details=details,
            )
        return None
    throttle.succeeded(name)
    record(session, user=user, action="login", entity="user", entity_id=user.id, details=details)
    _start_session(request, user)
    return user


@router.post("/api/auth/login", tags=["auth"], response_model=UserRead)
def login(body: LoginRequest, request: Request, session: SessionDep) -> UserRead:
    """Sign in with username and password; sets the session cookie.

    Failed attempts are audited and throttled (429 with Retry-After after 5 failures for a
    username or 20 from one address within 15 minutes). A request from another origin is
    refused (403 `csrf_origin_mismatch`): it would sign the browser in to the sender's account.
    """
    check_origin(request)
    user = _sign_in(request, session, username=body.username, password=body.password, via="api")
    if user is None:
        raise Unauthenticated(BAD_CREDENTIALS, loc=["body"])
    return UserRead.model_validate(user)


@router.post("/api/auth/logout", tags=["auth"], status_code=204)
def logout(request: Request) -> Response:
    """Sign out: clears the session cookie (API tokens are revoked separately)."""
    data = _cookie_session(request)
    if data:
        check_origin(request)
        data.clear()
    return Response(status_code=204)


def _me(session: Session, principal: Principal) -> User:
    user = service.get(session, user_id=principal.id) if principal.id is not None else None
    if user is None:
        raise Unauthenticated("the account no longer exists")
    return user


@router.get("/api/auth/me", tags=["auth"], response_model=UserRead)
def read_me(principal: CurrentUser, session: SessionDep) -> UserRead:
    """The signed-in user."""
    return UserRead.model_validate(_me(session, principal))


@router.patch("/api/auth/me", tags=["auth"], response_model=UserRead)
def update_me(
    body: MeUpdate, principal: CurrentUser, request: Request, session: SessionDep
) -> UserRead:
    """Change one's own display name or password (the current password is required for that)."""
    user = _me(session, principal)
    if body.password is not None and (
        body.current_password is None or not service.check_password(user, body.current_password)
    ):
        raise InvalidInput("the current password is wrong", loc=["body", "current_password"])
    user = service.update(
        session, user=user, actor=principal, display_name=body.display_name, password=body.password
    )
    if principal.authenticated_by == "session":
        # The password change signed out every session; keep this one.
        _start_session(request, user)
    return UserRead.model_validate(user)


# --- users (admin) -----------------------------------------------------------------------


def _user_or_404(session: Session, user_id: int) -> User:
    user = service.get(session, user_id=user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}", loc=["path", "user_id"])
    return user


@router.get("/api/users", tags=["users"], response_model=UserPage)
def read_users(
    _: AdminUser,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    active: bool | None = None,
) -> UserPage:
    """All users, by username (admin)."""
    items, total = service.get_all(session, offset=offset, limit=limit, active=active)
    return UserPage(
        items=[UserRead.model_validate(u) for u in items], total=total, offset=offset, limit=limit
    )


@router.post("/api/users", tags=["users"], response_model=UserRead, status_code=201)
def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> UserRead:
    """Create a user (admin)."""
    user = service.create(
        session,
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        roles=body.roles,
        active=body.active,
        actor=admin,
    )
    return UserRead.model_validate(user)


@router.get("/api/users/{user_id}", tags=["users"], response_model=UserRead)
def read_user(user_id: int, _: AdminUser, session: SessionDep) -> UserRead:
    """One user (admin)."""
    return UserRead.model_validate(_user_or_404(session, user_id))


@router.patch("/api/users/{user_id}", tags=["users"], response_model=UserRead)
def update_user(user_id: int, body: UserUpdate, admin: AdminUser, session: SessionDep) -> UserRead:
    """Change a user's name, password, roles or active flag (admin)."""
    user = service.update(
        session,
        user=_user_or_404(session, user_id),
        actor=admin,
        display_name=body.display_name,
        password=body.password,
        roles=body.roles,
        active=body.active,
    )
    return UserRead.model_validate(user)


@router.delete("/api/users/{user_id}", tags=["users"], status_code=204)
def delete_user(user_id: int, admin: AdminUser, session: SessionDep) -> Response:
    """Delete a user and their tokens (admin)."""
    service.delete(session, user=_user_or_404(session, user_id), actor=admin)
    return Response(status_code=204)


# --- API tokens --------------------------------------------------------------------------


def _token_owner(session: Session, principal: Principal, user_id: int | None) -> User:
    if user_id is None or user_id == principal.id:
        return _me(session, principal)
    if not principal.is_admin:
        raise PermissionDenied("only an admin may manage another user's tokens", loc=["user_id"])
    return _user_or_404(session, user_id)


@router.get("/api/auth/tokens", tags=["auth"], response_model=list[TokenRead])
def read_tokens(
    principal: CurrentUser,
    session: SessionDep,
    user_id: int | None = None,
    include_revoked: bool = False,
) -> list[TokenRead]:
    """One's own API tokens, or (admin) those of `user_id`."""
    owner = _token_owner(session, principal, user_id)
    rows = service.get_tokens(session, user_id=owner.id, include_revoked=include_revoked)
    return [TokenRead.model_validate(row) for row in rows]


@router.post("/api/auth/tokens", tags=["auth"], response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, principal: CurrentUser, session: SessionDep) -> TokenCreated:
    """Create an API token; the secret is in this response only. Admins may issue to any user."""
    owner = _token_owner(session, principal, body.user_id)
    if owner.id == principal.id and principal.roles == {Role.device}:
        # A leaked device key must not be able to mint keys that outlive its revocation.
        raise PermissionDenied("device keys are issued by an admin", loc=["body"])
    row, secret = service.create_token(
        session, user=owner, name=body.name, expires_at=body.expires_at, actor=principal
    )
    return TokenCreated.model_validate(
        {**TokenRead.model_validate(row).model_dump(), "token": secret}
    )


def _token_or_404(session: Session, principal: Principal, token_id: int) -> ApiToken:
    token = service.get_token(session, token_id=token_id)
    # Another user's token is reported as missing, so ids do not reveal other users' tokens.
    if token is None or (token.user_id != principal.id and not principal.is_admin):
        raise NotFound(f"no token with id {token_id}", loc=["path", "token_id"])
    return token


@router.delete("/api/auth/tokens/{token_id}", tags=["auth"], status_code=204)
def revoke_token(token_id: int, principal: CurrentUser, session: SessionDep) -> Response:
    """Revoke an API token (one's own; admins any); it stops working at once."""
    service.revoke_token(
        session, token=_token_or_404(session, principal, token_id), actor=principal
    )
    return Response(status_code=204)


# --- the login page ----------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else "/" (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _login_page(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"next": next_path, "username": username, "error": error},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _cross_origin_message(mismatch: OriginMismatch) -> str:
    # Usually a reverse proxy that rewrites Host and is not listed in IFACTORY_TRUSTED_ORIGINS;
    # it may also be a real forgery, so the advice is conditional.
    server = mismatch.own or "unknown"
    others = [o for o in mismatch.accepted if o != mismatch.own]
    if others:
        server += f" (also trusted: {', '.join(others)})"
    if mismatch.source is None:
        return (
            "Sign-in refused (cross-site request protection): the browser sent this form from a "
            f"page whose origin the browser hides ({mismatch.shown}), and this server is "
            f"{server}. Open this site's sign-in page directly and sign in there."
        )
    return (
        "Sign-in refused (cross-site request protection): this form was sent from "
        f"{mismatch.source}, but this server is {server}. If {mismatch.source} is this "
        "site's public address (a reverse proxy in front of the server), the administrator "
        f"should add {mismatch.source} to IFACTORY_TRUSTED_ORIGINS. Otherwise another site "
        "tried to sign you in; nothing was done."
    )


@router.get("/login", include_in_schema=False, response_class=HTMLResponse)
def login_page(
    request: Request, next_path: Annotated[str, Query(alias="next")] = "/"
) -> HTMLResponse:
    """The sign-in form."""
    return _login_page(request, next_path=safe_next(next_path))


@router.post("/login", include_in_schema=False, response_model=None)
def login_form(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> HTMLResponse | RedirectResponse:
    """Sign in from the form: go to `next` (a local path), or show the form again with an error.

    A post from another origin (login CSRF) is refused: 403 with the form again and the
    reason, since a person reads it (the API answers `csrf_origin_mismatch` as JSON instead).
    """
    target = safe_next(next_path)
    mismatch = origin_mismatch(request)
    if mismatch is not None:
        # The administrator hears of it here, not only from the user who saw the page.
        log.warning(
            "sign-in refused as cross-origin (CSRF): %s %r is not one of %s; behind a reverse "
            "proxy that rewrites Host, add the public origin to IFACTORY_TRUSTED_ORIGINS",
            mismatch.header,
            mismatch.shown,
            ", ".join(mismatch.accepted) or "none",
        )
        # The sender's username is not put back: the page must not help a forged sign-in.
        return _login_page(
            request, next_path=target, error=_cross_origin_message(mismatch), status=403
        )
    user = None
    if username.strip() and password:
        try:
            user = _sign_in(request, session, username=username, password=password, via="form")
        except TooManyRequests as exc:
            page = _login_page(
                request,
                next_path=target,
                username=username[:64],
                error=exc.msg.capitalize() + ".",
                status=429,
            )
            page.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
            return page
    if user is None:
        message = (
            "Wrong username or password, or the account is disabled."
            if username.strip() and password
            else "Enter your username and password."
        )
        return _login_page(
            request, next_path=target, username=username[:64], error=message, status=401
        )
    return RedirectResponse(target, status_code=303)


@router.post("/logout", include_in_schema=False)
def logout_form(request: Request) -> RedirectResponse:
    """Sign out from a page and go back to the sign-in form."""
    data = _cookie_session(request)
    if data:
        check_origin(request)
        data.clear()
    return RedirectResponse("/login", status_code=303)
