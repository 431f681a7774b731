"""Sign in, sign out, language switch, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import text

from models.services.admin import users
from web import i18n
from web.deps import DbSession
from web.security import SESSION_USER_KEY

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class LoginForm:
    username: str = ""
    password: str = ""
    next: str = "/board"


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


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], next: FromQuery[str] = "/board"
) -> Response[Any]:
    if isinstance(request.session.get(SESSION_USER_KEY), int):
        return Redirect(safe_next(next))
    return Template("auth/login.html", context={"next": safe_next(next), "username": ""})


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
            context={
                "error": i18n.gettext("Incorrect username or password."),
                "next": safe_next(data.next),
                "username": data.username[:64],
            },
            status_code=401,
        )
    request.clear_session()
    request.set_session({SESSION_USER_KEY: user.id})
    response = Redirect(safe_next(data.next))
    if user.locale:
        response.set_cookie(
            i18n.COOKIE, user.locale, httponly=True, samesite="lax", max_age=365 * 86400
        )
    return response


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


ROUTES = [home, login_page, login, logout, switch_language, health]
