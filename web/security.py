"""Sign-in sessions, the signed-in user, and the role guards of each route group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.security.session_auth import SessionAuth

from models.enums import Role
from models.services.admin import site, users
from models.services.common.actor import Actor
from models.settings import Settings

SESSION_USER_KEY = "user_id"
# Password checked, second factor still due (never a signed-in session by itself).
SESSION_PENDING_KEY = "pending_2fa_user_id"
# Where a user with a pending account step is sent before anything else.
GATE_PASSWORD = "/account/password"
GATE_TWO_FACTOR = "/account/2fa"
PUBLIC_PATHS = [
    "^/login",
    "^/static/",
    "^/portal",
    "^/survey/",
    "^/api/",
    "^/health",
    "^/lang",
    "^/schema",
    "^/favicon",
]


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


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection) -> CurrentUser | None:
    """The session's user, re-read on every request: a deactivated account is refused at once."""
    user_id = session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int):
        return None
    db = connection.app.state.db
    async with db.sessionmaker() as db_session:
        user = await users.active_user(db_session, user_id)
        if user is None:
            return None
        gate = None
        if user.must_change_password:
            gate = GATE_PASSWORD
        elif Role(user.role) is Role.ADMIN and not user.totp_enabled:
            _, require_admin_2fa = await site.read_site(db_session)
            gate = GATE_TWO_FACTOR if require_admin_2fa else None
        return CurrentUser(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            department_id=user.department_id,
            locale=user.locale,
            gate=gate,
        )


def session_auth(settings: Settings) -> SessionAuth[CurrentUser, ServerSideSessionBackend]:
    return SessionAuth[CurrentUser, ServerSideSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=ServerSideSessionConfig(
            key="kefu_session",
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            max_age=60 * 60 * 12,
            renew_on_access=True,
        ),
        exclude=PUBLIC_PATHS,
    )


def _user(connection: ASGIConnection, *, gated: bool = True) -> CurrentUser:
    user = connection.scope.get("user")
    if not isinstance(user, CurrentUser):
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
