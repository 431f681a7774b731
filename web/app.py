"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import ConnectionPool

from models.db import Database
from models.i18n import SUPPORTED, translations
from models.services.knowledge.kb import LexicalIndexCache
from models.settings import Settings, ensure_runtime_files
from web import i18n
from web.deps import provide_actor, provide_db_session
from web.errors import EXCEPTION_HANDLERS
from web.headers import add_security_headers, install_access_log_filter
from web.inputs import input_middleware
from web.security import session_middleware
from web.templating import STATIC_DIR, template_config
from web.views import ROUTE_HANDLERS
from web.views.attachments import body_limit

# A request never waits long on Redis: jobs and events are extras after the commit.
REDIS_CONNECT_TIMEOUT = 1.0
REDIS_COMMAND_TIMEOUT = 3.0


def locale_middleware(app: ASGIApp) -> ASGIApp:
    """Choose the request's language: cookie, then Accept-Language, then the default."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            cookies = headers.get("cookie", "")
            cookie = next(
                (
                    part.split("=", 1)[1]
                    for part in cookies.split("; ")
                    if part.startswith(i18n.COOKIE + "=")
                ),
                None,
            )
            default = scope["app"].state.settings.default_locale
            i18n.set_locale(i18n.negotiate(cookie, headers.get("accept-language"), default))
        await app(scope, receive, send)

    return middleware


def redis_pool(settings: Settings) -> ArqRedis:
    """The web's Redis client, connecting lazily: the app starts (and serves) without Redis."""
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_COMMAND_TIMEOUT,
    )
    return ArqRedis(pool, default_queue_name=settings.queue_name)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or ensure_runtime_files()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        install_access_log_filter()
        app.state.db = Database(settings.database_url)
        # The lexical fallback index for portal suggestions, rebuilt when articles change.
        app.state.kb_lexical = LexicalIndexCache()
        app.state.redis = redis_pool(settings)
        # The catalogs are compiled once per process: here, not in the first request.
        for locale in SUPPORTED:
            translations(locale)
        try:
            yield
        finally:
            await app.state.redis.aclose(close_connection_pool=True)
            await app.state.db.dispose()

    return Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], include_in_schema=False
            ),
        ],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        dependencies={
            "db_session": Provide(provide_db_session),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
        # The session is resolved first, then the language is chosen; NUL characters,
        # out-of-range ids, over-deep JSON and unreadable forms are refused before any handler.
        middleware=[
            DefineMiddleware(session_middleware),
            DefineMiddleware(locale_middleware),
            DefineMiddleware(input_middleware),
        ],
        before_send=[add_security_headers],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="kefu_csrf",
            cookie_httponly=True,
            cookie_samesite="lax",
            cookie_secure=settings.secure_cookies,
            header_name="x-csrftoken",
            exclude=["^/api/"],
        ),
        template_config=template_config(),
        plugins=[HTMXPlugin()],
        exception_handlers=EXCEPTION_HANDLERS,
        # Uploads: a larger body than a full batch of attachments is a clean, localized 413.
        request_max_body_size=body_limit(settings),
        openapi_config=OpenAPIConfig(
            title="Kefu API",
            version="1",
            path="/schema",
            # The machine-readable schema only: the HTML viewers load scripts and fonts from
            # third-party hosts onto the staff origin.
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
        ),
        debug=settings.debug,
    )
