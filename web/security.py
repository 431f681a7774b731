"""Sign-in sessions, the signed-in user, and the role guards of each route group.

Sessions live in the database (see :mod:`models.services.admin.sessions`): a Redis outage
or restart signs nobody out, and an anonymous request creates nothing on the server. The
middleware below reads the ``kefu_session`` cookie, resolves it to the signed-in user (with
a fresh role from the database on every request) and sends anonymous visitors of staff
pages to the login page. The portal, the API, the survey pages, static files and the health
check never look at the staff session at all.

Resolving the session also computes the user's *gate*: a user who must change a reset
password, or an admin without two-factor sign-in on an install that requires it, is sent to
the /account page that finishes that step before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from models.enums import Role
from models.services.admin import sessions, site
from models.services.common.actor import Actor
from models.settings import Settings

SESSION_COOKIE = "kefu_session"
# Where a user with a pending account step is sent before anything else.
GATE_PASSWORD = "/account/password"
GATE_TWO_FACTOR = "/account/2fa"
# Reachable without signing in (the staff session is still read where it matters: /login).
PUBLIC_PATHS = (
    "/login",
    "/static/",
    "/assets/",
    "/portal",
    "/survey/",
    "/api/",
    "/chat/w/",
    "/health",
    "/lang",
    "/schema",
    "/favicon",
)
# Never read the staff session: anonymous surfaces and machine clients.
SESSIONLESS_PATHS = (
    "/static/",
    "/assets/",
    "/portal",
    "/survey/",
    "/api/",
    "/chat/w/",
    "/health",
    "/schema",
    "/favicon",
)


@dataclass(frozen=True)
class CurrentUser:
    """What a request knows of its signed-in user (never the ORM row)."""

    id: int
    username: str
    display_name: str
    role: Role
    department_id: int | None
    locale: str | None
    # GATE_PASSWORD after an admin's reset; GATE_TWO_FACTOR for an admin without 2FA when
    # the install requires it; None otherwise.
    gate: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(
            user_id=self.id, label=self.username, role=self.role, department_id=self.department_id
        )

    @property
    def is_lead(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class AccountStepRequired(PermissionDeniedException):
    """The signed-in user must finish an account step (new password, 2FA) first."""

    def __init__(self, target: str) -> None:
        super().__init__("account step required")
        self.target = target


def session_cookie(settings: Settings, token: str | None) -> Cookie:
    """The session cookie carrying ``token``; None makes the browser forget it."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token or "",
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=int(sessions.IDLE_TIMEOUT.total_seconds()) if token else 0,
    )


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            cookie_name, _, cookie_value = part.strip().partition("=")
            if cookie_name == name and cookie_value:
                return cookie_value
    return None


def session_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The session token the browser sent (whether or not it is valid)."""
    return _cookie(connection.scope, SESSION_COOKIE)


async def _resolve(scope: Scope, token: str) -> tuple[CurrentUser | None, str | None]:
    db = scope["app"].state.db
    gate = None
    async with db.sessionmaker() as db_session:
        resolved = await sessions.resolve(db_session, token)
        if resolved is not None:
            user = resolved.user
            if user.must_change_password:
                gate = GATE_PASSWORD
            elif Role(user.role) is Role.ADMIN and not user.totp_enabled:
                # The install's switches are read only for the admins they concern.
                _, require_admin_2fa = await site.read_site(db_session)
                gate = GATE_TWO_FACTOR if require_admin_2fa else None
        await db_session.commit()
    if resolved is None:
        return None, None
    current = CurrentUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        department_id=user.department_id,
        locale=user.locale,
        gate=gate,
    )
    return current, resolved.rotated_token


def session_middleware(app: ASGIApp) -> ASGIApp:
    """Put the signed-in user (or None) in ``scope["user"]``; guard the staff pages."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or path.startswith(SESSIONLESS_PATHS):
            await app(scope, receive, send)
            return
        token = _cookie(scope, SESSION_COOKIE)
        user, rotated = await _resolve(scope, token) if token else (None, None)
        scope["user"] = user
        if user is None and not (path == "/" or path.startswith(PUBLIC_PATHS)):
            raise NotAuthorizedException()
        if user is None:
            await app(scope, receive, send)
            return
        # Every signed-in response renews the cookie (its lifetime slides with the session's
        # idle timeout) and carries the new id after a rotation — unless the handler itself
        # set the cookie (sign-in, sign-out).
        settings = scope["app"].state.settings
        name, value = session_cookie(settings, rotated or token).to_encoded_header()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                prefix = SESSION_COOKIE + "="
                if not any(v.startswith(prefix) for v in headers.getall("set-cookie", [])):
                    headers.add(name.decode("latin-1"), value.decode("latin-1"))
            await send(message)

        await app(scope, receive, send_with_cookie)

    return middleware


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
    user = connection.scope.get("user")
    return user if isinstance(user, CurrentUser) else None


def _user(connection: ASGIConnection, *, gated: bool = True) -> CurrentUser:
    user = current_user(connection)
    if user is None:
        raise NotAuthorizedException()
    if gated and user.gate is not None:
        raise AccountStepRequired(user.gate)
    return user


def requires_account(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Signed in, pending account steps allowed (the /account pages that finish them)."""
    _user(connection, gated=False)


def requires_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    _user(connection)


def requires_lead(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_lead:
        raise PermissionDeniedException("lead")


def requires_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_admin:
        raise PermissionDeniedException("admin")
