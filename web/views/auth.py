"""Sign in, sign out, language switch, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from models.services.admin import sessions, sign_in, users
from models.services.common.health import check_health
from web import i18n
from web.deps import DbSession
from web.security import current_user, session_cookie, session_token

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
    if current_user(request) is not None:
        return Redirect(safe_next(next))
    return Template("auth/login.html", context={"next": safe_next(next), "username": ""})


def _login_refused(
    data: LoginForm, error: str, status: int, headers: dict[str, str] | None = None
) -> Template:
    """The login form again, with one message that never says whether the account exists."""
    return Template(
        "auth/login.html",
        context={"error": error, "next": safe_next(data.next), "username": data.username[:64]},
        status_code=status,
        headers=headers,
    )


@post("/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[LoginForm, Form],
) -> Response[Any]:
    settings = request.app.state.settings
    try:
        signed_in = await sign_in.sign_in(
            db_session,
            data.username,
            data.password,
            client_ip=request.client.host if request.client else "unknown",
            previous_token=session_token(request),
        )
    except sign_in.SignInThrottled as exc:
        return _login_refused(
            data,
            i18n.gettext(exc.message, **exc.params),
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    if signed_in is None:
        return _login_refused(data, i18n.gettext("Incorrect username or password."), 401)
    user = signed_in.user
    response = Redirect(safe_next(data.next), cookies=[session_cookie(settings, signed_in.token)])
    if user.locale:
        response.set_cookie(
            i18n.COOKIE, user.locale, httponly=True, samesite="lax", max_age=365 * 86400
        )
    return response


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any], db_session: DbSession) -> Redirect:
    token = session_token(request)
    if token:
        await sessions.end(db_session, token)
    return Redirect("/login", cookies=[session_cookie(request.app.state.settings, None)])


@post("/lang", include_in_schema=False)
async def switch_language(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[LanguageForm, Form],
) -> Redirect:
    locale = i18n.normalize(data.locale) or i18n.DEFAULT_LOCALE
    user = current_user(request)  # /lang is public: signed in or not
    if user is not None:
        await users.set_locale(db_session, user.id, locale)
    response = Redirect(safe_next(data.next, "/"))
    response.set_cookie(i18n.COOKIE, locale, httponly=True, samesite="lax", max_age=365 * 86400)
    return response


@get("/health", include_in_schema=False)
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """200 ``ok``; 200 ``degraded`` naming what is down while the database is up (inquiries
    are still taken); 503 ``down`` without the database."""
    report = await check_health(request.app.state.db, request.app.state.redis)
    return Response(report.body, status_code=503 if report.down else 200)


ROUTES = [home, login_page, login, logout, switch_language, health]
