"""Sign in, sign out, language switch, health."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from models.services.admin import sessions, sign_in, twofactor, users
from models.services.common.health import check_health
from models.services.demo import seed
from models.user import User
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


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _signed_in(request: Request[Any, Any, Any], user: User, token: str, next: str) -> Redirect:
    """Where a completed sign-in goes, with its new session cookie and the user's language."""
    response = Redirect(
        safe_next(next), cookies=[session_cookie(request.app.state.settings, token)]
    )
    if user.locale:
        response.set_cookie(
            i18n.COOKIE, user.locale, httponly=True, samesite="lax", max_age=365 * 86400
        )
    return response


# A throttled sign-in is answered this late. Guessers that keep going then cost the server a
# sleeping coroutine each instead of a stream of quick refusals that would compete with every
# other request for the event loop (a client that waits for its answer guesses at most once a
# second per connection).
THROTTLED_ANSWER_SECONDS = 1.0
_wait = asyncio.sleep


def _throttled(exc: sign_in.SignInThrottled) -> tuple[str, int, dict[str, str]]:
    return i18n.gettext(exc.message, **exc.params), 429, {"Retry-After": str(exc.retry_after)}


async def _slow_down(db_session: DbSession) -> None:
    """Wait before a throttled answer, holding no database connection meanwhile."""
    await db_session.commit()
    await _wait(THROTTLED_ANSWER_SECONDS)


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], db_session: DbSession, next: FromQuery[str] = "/board"
) -> Response[Any]:
    if current_user(request) is not None:
        return Redirect(safe_next(next))
    return Template(
        "auth/login.html",
        context=await _login_context(db_session, next=safe_next(next), username=""),
    )


async def _login_refused(
    db_session: DbSession,
    data: LoginForm,
    error: str,
    status: int,
    headers: dict[str, str] | None = None,
) -> Template:
    """The login form again, with one message that never says whether the account exists."""
    return Template(
        "auth/login.html",
        context=await _login_context(
            db_session, error=error, next=safe_next(data.next), username=data.username[:64]
        ),
        status_code=status,
        headers=headers,
    )


@post("/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[LoginForm, Form],
) -> Response[Any]:
    try:
        signed_in = await sign_in.sign_in(
            db_session,
            data.username,
            data.password,
            client_ip=_client_ip(request),
            previous_token=session_token(request),
            next_path=safe_next(data.next),
        )
    except sign_in.SignInThrottled as exc:
        refused = await _login_refused(db_session, data, *_throttled(exc))
        await _slow_down(db_session)
        return refused
    if signed_in is None:
        return await _login_refused(
            db_session, data, i18n.gettext("Incorrect username or password."), 401
        )
    if signed_in.pending_2fa:  # the password was right; the second factor is still due
        cookie = session_cookie(request.app.state.settings, signed_in.token)
        return Redirect("/login/code", cookies=[cookie])
    return _signed_in(request, signed_in.user, signed_in.token, data.next)


@get("/login/code", include_in_schema=False)
async def login_code_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    if not await sign_in.has_pending(db_session, session_token(request)):
        return Redirect("/login")
    return Template("auth/code.html", context={})


@post("/login/code", include_in_schema=False)
async def login_code(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    data: Annotated[CodeForm, Form],
) -> Response[Any]:
    """The second step: a code from the authenticator app, or a recovery code."""
    try:
        step = await sign_in.verify_code(
            db_session, session_token(request), data.code, client_ip=_client_ip(request)
        )
    except sign_in.SignInThrottled as exc:
        error, status, headers = _throttled(exc)
        await _slow_down(db_session)
        return Template(
            "auth/code.html", context={"error": error}, status_code=status, headers=headers
        )
    if step.signed_in is not None:
        return _signed_in(
            request, step.signed_in.user, step.signed_in.token, step.next_path or "/board"
        )
    if step.restart:  # no pending sign-in, or too many wrong codes: the password again
        return Redirect("/login", cookies=[session_cookie(request.app.state.settings, None)])
    return Template(
        "auth/code.html",
        context={"error": i18n.gettext(twofactor.WRONG_CODE)},
        status_code=401,
    )


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


ROUTES = [home, login_page, login, login_code_page, login_code, logout, switch_language, health]
