"""Shared fixtures: a real database (SQLite or PostgreSQL, ``--db``), real Redis, the app.

The whole suite runs once per backend (``make test`` runs both). Each run gets its own
database, Redis database index, queue name and event channel, so runs never see each other's
data. Tables are emptied after every test that used the database.

The product's clock (``models.clock``) starts at a fixed instant for every run (``--now`` /
``KEFU_TEST_NOW``) and runs on; the processes the tests start inherit it. The ``clock``
fixture moves or freezes it for one test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

TEST_RUN = uuid.uuid4().hex[:10]
_TMP = Path(tempfile.mkdtemp(prefix=f"kefu-test-{TEST_RUN}-"))
PG_ADMIN_URL = os.environ.get("KEFU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("KEFU_TEST_REDIS", "redis://127.0.0.1:6379")


CLAIM_KEY = "kefu-test:claim"
# Every run starts the product's clock at the same instant, so no result depends on when the
# suite runs (a Wednesday, 10:00 in Asia/Shanghai); `make test-clock` tries awkward ones.
DEFAULT_NOW = "2026-06-10T02:00:00Z"
SYSTEM_CLOCK = "system"


def _claim_redis_db() -> int:
    """The first Redis database index (1–15) no other live test run has claimed."""
    import redis as redis_lib

    for index in range(1, 16):
        client = redis_lib.Redis.from_url(f"{REDIS_BASE}/{index}")
        try:
            if client.set(CLAIM_KEY, TEST_RUN, nx=True, ex=3 * 3600):
                client.flushdb()
                client.set(CLAIM_KEY, TEST_RUN, ex=3 * 3600)
                return index
        finally:
            client.close()
    raise RuntimeError("every Redis database index is claimed by a running test run")


def pytest_report_header(config: pytest.Config) -> str:
    start = config.getoption("--now")
    return f"kefu clock: {start} (--now / KEFU_TEST_NOW), running on"


def pytest_unconfigure(config: pytest.Config) -> None:
    import redis as redis_lib

    url = os.environ.get("KEFU_REDIS_URL")
    if url:
        client = redis_lib.Redis.from_url(url)
        if client.get(CLAIM_KEY) == TEST_RUN.encode():
            client.flushdb()
        client.close()


async def clear_redis(pool: Any) -> None:
    """Forget every key of this run's Redis index except the claim."""
    async for key in pool.scan_iter(count=500):
        if key != CLAIM_KEY.encode():
            await pool.delete(key)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("KEFU_TEST_DB", "sqlite"),
        choices=["sqlite", "postgresql"],
        help="database backend for the integration tests",
    )
    parser.addoption(
        "--now",
        default=os.environ.get("KEFU_TEST_NOW") or DEFAULT_NOW,
        metavar="INSTANT",
        help="start the product's clock at this ISO 8601 instant (e.g. 2026-12-31T15:59:59Z) "
        f"and let it run on; also KEFU_TEST_NOW (default {DEFAULT_NOW}; 'system' for the "
        "real clock). The web server, worker and CLI the tests start keep the same time.",
    )


def _configure_clock(start: str) -> None:
    """Start the one clock (models.clock) at ``start`` for this process and its children."""
    from models import clock

    if start != SYSTEM_CLOCK:
        os.environ[clock.NOW_ENV] = clock.parse_instant(start).isoformat()
        os.environ[clock.ANCHOR_ENV] = repr(time.time())
    else:
        os.environ.pop(clock.NOW_ENV, None)
        os.environ.pop(clock.ANCHOR_ENV, None)
    clock.set_clock(None)


def _configure_environment(backend: str) -> None:
    """Point settings at this run's database, Redis index, queue and data directory."""
    os.environ["KEFU_DATA_DIR"] = str(_TMP / "data")
    # The bootstrap corpus's embeddings are the same for every run of this checkout: the
    # parallel runs (SQLite, PostgreSQL, drills) encode them once and share the file.
    os.environ.setdefault(
        "KEFU_EMBEDDING_CACHE_DIR",
        str(Path(__file__).resolve().parent.parent / "var" / "test-cache"),
    )
    os.environ["KEFU_ENCRYPTION_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    os.environ["KEFU_SECRET_KEY"] = secrets.token_urlsafe(32)
    # Each run claims a Redis database index of its own (runs may overlap on one machine).
    os.environ["KEFU_REDIS_URL"] = f"{REDIS_BASE}/{_claim_redis_db()}"
    os.environ["KEFU_QUEUE"] = f"kefu-test:{TEST_RUN}:queue"
    os.environ["KEFU_EVENT_CHANNEL"] = f"kefu-test:{TEST_RUN}:events"
    os.environ["KEFU_ARGON2_TIME_COST"] = "1"
    os.environ["KEFU_ARGON2_MEMORY_KIB"] = "1024"
    if backend == "postgresql":
        name = f"kefu_test_{TEST_RUN}"
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        os.environ["KEFU_DATABASE_URL"] = (
            f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        )
    else:
        os.environ["KEFU_DATABASE_URL"] = f"sqlite+aiosqlite:///{_TMP / 'kefu.db'}"


def pytest_configure(config: pytest.Config) -> None:
    _configure_clock(config.getoption("--now"))
    _configure_environment(config.getoption("--db"))
    from models.settings import reset_settings

    reset_settings()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SQLite run deselects the PostgreSQL-only tests (reported as deselected)."""
    if config.getoption("--db") == "postgresql":
        return
    kept = [item for item in items if item.get_closest_marker("postgresql") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _create_schema(url: str) -> None:
    import models
    from models.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.create_all)
    await engine.dispose()


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--db"))


@pytest.fixture(scope="session")
def database_url(backend: str) -> Iterator[str]:
    """A fresh database for this run with the models' schema.

    The schema comes from the models (fast, and always current); tests/integration/
    test_migrations.py proves the migrations build exactly the same schema.
    """
    from models.settings import get_settings

    url = get_settings().database_url
    name = url.rsplit("/", 1)[-1]
    if backend == "postgresql":
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    asyncio.run(_create_schema(url))
    yield url
    if backend == "postgresql":
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Any]:
    from models.db import Database

    db = Database(database_url)
    yield db
    await db.dispose()


async def _empty_tables(db: Any) -> None:
    from sqlalchemy.exc import DBAPIError

    import models

    tables = [t.name for t in reversed(models.Base.metadata.sorted_tables)]
    # The foreign keys that close a cycle (a department's supervisor is a user of a
    # department): emptied first, so each table can then be emptied in dependency order.
    cycles = [
        (fk.table.name, fk.column_keys[0])
        for table in models.Base.metadata.sorted_tables
        for fk in table.foreign_key_constraints
        if fk.use_alter
    ]
    for attempt in range(5):
        try:
            async with db.engine.begin() as conn:
                if db.dialect == "postgresql":
                    # DELETE, not TRUNCATE: TRUNCATE gives each of the ~50 tables new files
                    # (0.1–1 s per test on this machine's disk), DELETE of a test's few rows
                    # takes milliseconds. The ids start again at 1, as after a TRUNCATE
                    # RESTART IDENTITY.
                    for table, column in cycles:
                        await conn.exec_driver_sql(
                            f'UPDATE "{table}" SET "{column}" = NULL WHERE "{column}" IS NOT NULL'
                        )
                    for table in tables:
                        await conn.exec_driver_sql(f'DELETE FROM "{table}"')
                    await conn.exec_driver_sql(
                        "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
                        "WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace"
                    )
                else:
                    await conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
                    for table in tables:
                        await conn.exec_driver_sql(f'DELETE FROM "{table}"')
            return
        except DBAPIError as exc:
            # A request the browser tests' live server is still answering (a reconnecting event
            # stream, the bell) can hold rows the cleanup needs: PostgreSQL breaks the
            # deadlock by aborting one side; the cleanup tries again.
            if "deadlock" not in str(exc).lower() or attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


@pytest.fixture
async def db(database: Any) -> AsyncIterator[Any]:
    """The run's database, emptied after the test."""
    yield database
    await _empty_tables(database)


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    """An arq Redis pool on this run's Redis index (flushed after the test)."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from models.settings import get_settings

    settings = get_settings()
    pool = await create_pool(
        RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name
    )
    await clear_redis(pool)
    yield pool
    await clear_redis(pool)
    await pool.aclose()


@pytest.fixture
def clock() -> Iterator[Any]:
    """``clock(instant)`` moves this process's product clock to ``instant``, running on
    (``frozen=True`` stops it there); the run's clock (``--now``) is back after the test."""
    from models import clock as product_clock

    yield product_clock.set_clock
    product_clock.set_clock(None)


@pytest.fixture
async def session(db: Any) -> AsyncIterator[Any]:
    """A session for arranging and inspecting data; the test commits what it needs."""
    async with db.sessionmaker() as s:
        yield s


@pytest.fixture
async def reference(db: Any) -> dict[str, int]:
    """Departments, demo staff accounts, routing and the default SLA policy."""
    from models.db import unit_of_work
    from models.services.demo import seed

    async with unit_of_work(db) as s:
        return await seed.seed_reference(s)


_APPS: dict[Any, Any] = {}


@pytest.fixture
async def app(db: Any, redis: Any) -> AsyncIterator[Any]:
    """The app for this process's settings: built once per settings, as a server process
    builds it once and serves every request with it (building one takes about half a second
    of route registration). Each test client runs its lifespan afresh: new database engine,
    Redis pool and caches in ``app.state``."""
    from models.settings import get_settings
    from web.app import create_app

    settings = get_settings()
    if settings not in _APPS:
        _APPS[settings] = create_app(settings)
    yield _APPS[settings]


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def login() -> Any:
    """``await login(client, "lead", "kefu-lead")`` signs a test client in (with CSRF)."""
    return sign_in


async def csrf_token(client: Any, path: str = "/login") -> str:
    response = await client.get(path)
    token = client.cookies.get("kefu_csrf")
    assert token, f"no CSRF cookie from {path} ({response.status_code})"
    return str(response.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0])


async def sign_in(client: Any, username: str, password: str) -> Any:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "next": "/board", "_csrf_token": token},
    )
    assert response.status_code in (200, 302, 303), response.text[:500]
    return response


async def run_worker_burst(**overrides: Any) -> Any:
    """Run the real arq worker until its queue is empty."""
    from workers.main import KefuWorker, worker_options

    options = {**worker_options(), "burst": True, "poll_delay": 0.05, **overrides}
    worker = KefuWorker(**options)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker
