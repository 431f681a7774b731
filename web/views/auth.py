"""Sign in, sign out, language switch, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import text

from models.services.admin import twofactor, users
from models.services.demo import seed
from models.user import User
from web import i18n
from web.deps import DbSession
from web.security import SESSION_PENDING_KEY, SESSION_USER_KEY

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class LoginForm:
    username: str = ""
    password: str = ""
    next: str = "/board"


@dataclass
class CodeForm:
    code: str = ""


@dataclass
class LanguageForm:
    locale: str = ""
    next: str = "/"


def safe_next(target: str | None, default: str = "/board") -> str:
    """Only same-site paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/board")


async def _login_context(db_session: DbSession, **context: Any) -> dict[str, Any]:
    """The sign-in page's context; a demo install also lists its untouched demo logins."""
    return {"demo_logins": await seed.demo_logins(db_session), **context}


def _signed_in(request: Request[Any, Any, Any], user: User, next: str) -> Response[Any]:
    request.clear_session()
    request.set_session({SESSION_USER_KEY: user.id})
    response = Redirect(safe_next(next))
    if user.locale:
        response.set_cookie(
            i18n.COOKIE, user.locale, httponly=True, samesite="lax", max_age=365 * 86400
        )
    return response


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], db_session: DbSession, next: FromQuery[str] = "/board"
) -> Response[Any]:
    user_id = request.session.get(SESSION_USER_KEY)
    if isinstance(user_id, int):
        if await users.active_user(db_session, user_id) is not None:
            return Redirect(safe_next(next))
        request.clear_session()  # a deactivated account's session: sign in again
    return Template(
        "auth/login.html",
        context=await _login_context(db_session, next=safe_next(next), username=""),
    )


@post("/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[LoginForm, Form],
) -> Response[Any]:
    user = await users.authenticate(db_session, data.username, data.password)
    if user is None:
        return Template(
            "auth/login.html",
            context=await _login_context(
                db_session,
                error=i18n.gettext("Incorrect username or password."),
                next=safe_next(data.next),
                username=data.username[:64],
            ),
            status_code=401,
        )
    if user.totp_enabled:  # the password was right; the second factor is still due
        request.clear_session()
        request.set_session({SESSION_PENDING_KEY: user.id, "next": safe_next(data.next)})
        return Redirect("/login/code")
    return _signed_in(request, user, data.next)


@get("/login/code", include_in_schema=False)
async def login_code_page(request: Request[Any, Any, Any]) -> Response[Any]:
    if not isinstance(request.session.get(SESSION_PENDING_KEY), int):
        return Redirect("/login")
    return Template("auth/code.html", context={})


@post("/login/code", include_in_schema=False)
async def login_code(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[CodeForm, Form],
) -> Response[Any]:
    """The second step: a code from the authenticator app, or a recovery code."""
    pending = request.session.get(SESSION_PENDING_KEY)
    if not isinstance(pending, int):
        return Redirect("/login")
    attempts = int(request.session.get("attempts") or 0) + 1
    user = await twofactor.complete_sign_in(db_session, pending, data.code)
    if user is not None:
        return _signed_in(request, user, str(request.session.get("next") or "/board"))
    if attempts >= twofactor.MAX_ATTEMPTS:  # start again from the password
        request.clear_session()
        return Redirect("/login")
    request.set_session({**request.session, "attempts": attempts})
    return Template(
        "auth/code.html",
        context={"error": i18n.gettext(twofactor.WRONG_CODE)},
        status_code=401,
    )


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/login")


@post("/lang", include_in_schema=False)
async def switch_language(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[LanguageForm, Form],
) -> Redirect:
    locale = i18n.normalize(data.locale) or i18n.DEFAULT_LOCALE
    user_id = request.session.get(SESSION_USER_KEY)  # /lang is public: read the session
    if isinstance(user_id, int):
        await users.set_locale(db_session, user_id, locale)
    response = Redirect(safe_next(data.next, "/"))
    response.set_cookie(i18n.COOKIE, locale, httponly=True, samesite="lax", max_age=365 * 86400)
    return response


@get("/health", include_in_schema=False)
async def health(request: Request[Any, Any, Any], db_session: DbSession) -> dict[str, str]:
    await db_session.execute(text("SELECT 1"))
    await request.app.state.redis.ping()
    return {"status": "ok"}


ROUTES = [home, login_page, login, login_code_page, login_code, logout, switch_language, health]
