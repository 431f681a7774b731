"""Kefu through HTTP, with colleagues at work: the real ``kefu web`` under a closed-loop client.

Fills a scratch database with ``demo.fill`` (``--tickets``, default ``KEFU_BENCH_TICKETS`` or
100,000; SQLite under var/bench/, or ``--database-url`` / ``KEFU_BENCH_DATABASE_URL``), starts
``kefu web --workers 2`` on a free loopback port with a Redis database index of its own, signs
eight sessions in as the demo lead (the sign-in form and its CSRF token, as a browser does) and
times every endpoint twice:

* ``c1``: one client, ``--samples`` requests after a warm-up: p50/p95;
* ``c8``: eight clients in a closed loop for ``--duration`` seconds: requests/s and p95.

Writes go to distinct objects: each move takes another pending card (待处理 → 处理中) with the
version the board showed; intake, portal and API inquiries come from distinct customers (the
portal's from distinct addresses, as through a reverse proxy). Every answer's status is
checked: anything but 2xx/3xx is an error, counted and sampled in the figures. The exports
(every ticket, CSV and XLSX) are timed one at a time to the first byte and to the end. Then
the server's RSS (master and workers), and the board's c8 throughput with one worker and two.

The matrix, KPI and summary rows are what a lead meets when nothing changed since the last
view (the cached figures); their ``*_fresh`` rows are the first view after a change to a ticket
registered today (a move, an assignment, a reply): before each request the reports' generation
and today's day counter move on, as such a committed write does. ``summary_new`` follows a new
inquiry, registered and classified through the services before each request (untimed): the
page's figures, without its "most frequent problems", which the page then fetches and
``topics_new`` times (worked out again from the new texts). ``*_cold`` follow a change the
reports cannot place (every day is read from the database again).

    python -m bench http                                  # everything, 100,000 tickets
    python -m bench http --tickets 2000 --duration 3 --only board,move
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BENCH_DIR,
    claim_redis_db,
    count_tickets,
    fill_demo,
    free_port,
    pending_cards,
    percentiles,
    release_redis_db,
    scratch_database_url,
    start_server,
    stop_server,
    wait_healthy,
)

HERE = Path(__file__).parent
CONCURRENCY = 8
WARMUP = 3
LEAD = ("lead", "kefu-lead")
SEARCH_ZH = "发票"
SEARCH_PHONE = "5678"  # what an agent types from the middle of a phone number
# The board read with one and with two web processes, after the searches: explicit, since a
# bare /board shows the board the person last looked at (by then, their last search).
WORKERS_BOARD = "/board?department=all"
ENDPOINTS = (
    "board",
    "move",
    "drawer",
    "intake",
    "portal",
    "api",
    "search_zh",
    "search_phone",
    "search_number",
    "matrix",
    "kpi",
    "summary",
    "export_csv",
    "export_xlsx",
    "workers",
    "matrix_fresh",
    "kpi_fresh",
    "summary_fresh",
    "summary_new",
    "topics_new",
    "kpi_cold",
    "summary_cold",
)
GROUPS = {
    "search": ("search_zh", "search_phone", "search_number"),
    "export": ("export_csv", "export_xlsx"),
    "fresh": ("matrix_fresh", "kpi_fresh", "summary_fresh", "summary_new", "topics_new"),
    "cold": ("kpi_cold", "summary_cold"),
}
ERROR_SAMPLES = 5


@dataclass(frozen=True)
class Options:
    tickets: int = 100_000
    database_url: str | None = None  # None: a scratch SQLite file (or KEFU_BENCH_DATABASE_URL)
    redis_url: str | None = None  # None: claim a free index on KEFU_BENCH_REDIS
    duration: float = 10.0
    samples: int = 20
    export_samples: int = 2
    workers: int = 2
    only: tuple[str, ...] = ENDPOINTS
    # The database already holds the tickets (a fill kept from an earlier run, migrated to
    # the current schema): measure on it as it is. Its keys come from KEFU_SECRET_KEY and
    # KEFU_ENCRYPTION_KEY, which must be the ones it was filled with.
    filled: bool = False


@dataclass
class Tally:
    """Statuses and the first few failures of one endpoint."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    warm_up: Counter[int] = field(default_factory=Counter)  # another endpoint's, as warm-up

    def check(self, what: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if not 200 <= response.status_code < 400 and len(self.failures) < ERROR_SAMPLES:
            self.failures.append(f"{what} → {response.status_code}: {response.text[:200]}")

    @property
    def errors(self) -> int:
        answers = self.statuses + self.warm_up
        return sum(n for status, n in answers.items() if not 200 <= status < 400)


Call = Callable[[httpx.AsyncClient, Tally], Awaitable[None]]


class Exhausted(Exception):
    """No more distinct objects to write to: the loop ends early."""


# --- the clients ------------------------------------------------------------------------------


def _csrf_from(page: str) -> str:
    return page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]


async def _signed_in(
    base_url: str,
    account: tuple[str, str] = LEAD,
    *,
    request_timeout: float = 300,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """A browser session of a demo account (the lead unless told): the sign-in form, its
    token, the session cookie."""
    client = httpx.AsyncClient(
        base_url=base_url, timeout=request_timeout, limits=limits or httpx.Limits()
    )
    page = await client.get("/login")
    username, password = account
    signed = await client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": _csrf_from(page.text)},
    )
    if signed.status_code not in (302, 303):
        await client.aclose()
        raise RuntimeError(f"{username}: sign-in refused: {signed.status_code} {signed.text[:300]}")
    return client


def _htmx(client: httpx.AsyncClient, page: str) -> dict[str, str]:
    """The headers htmx sends from a page (``hx-headers`` carries the CSRF token)."""
    return {
        "HX-Request": "true",
        "HX-Current-URL": f"{client.base_url}{page.lstrip('/')}",
        "x-csrftoken": str(client.cookies.get("kefu_csrf")),
    }


async def _untimed(call: Call) -> None:
    """The step before a request that is not part of it (the change before a report's view)."""
    if isinstance(call, AfterChange):
        await call.change()


async def _one_client(calls: Call, client: httpx.AsyncClient, tally: Tally, n: int) -> list[float]:
    for _ in range(WARMUP):
        await calls(client, tally)
    timings = []
    for _ in range(n):
        await _untimed(calls)
        started = time.perf_counter()
        await calls(client, tally)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _closed_loop(
    call: Call,
    clients: list[httpx.AsyncClient],
    tally: Tally,
    seconds: float,
    warm_up: Call | None = None,
) -> dict[str, Any]:
    """Each client sends its next request when its last one is answered, for ``seconds``
    (after a warm-up round per client, ``warm_up`` or ``call``: every server worker has its
    templates and pools)."""
    timings: list[float] = []
    exhausted = False

    async def warm(client: httpx.AsyncClient) -> None:
        for _ in range(WARMUP):
            if warm_up is None:
                await call(client, tally)
            else:  # its answers are checked, not counted as the endpoint's
                await warm_up(client, Tally(statuses=tally.warm_up, failures=tally.failures))

    try:
        await asyncio.gather(*(warm(c) for c in clients))
    except Exhausted:
        exhausted = True
    started = time.perf_counter()
    until = started + seconds

    async def loop(client: httpx.AsyncClient) -> None:
        nonlocal exhausted
        while time.perf_counter() < until and not exhausted:
            await _untimed(call)
            begun = time.perf_counter()
            try:
                await call(client, tally)
            except Exhausted:
                exhausted = True
                return
            timings.append((time.perf_counter() - begun) * 1000)

    await asyncio.gather(*(loop(c) for c in clients))
    elapsed = time.perf_counter() - started
    figures = percentiles(timings)
    figures.pop("n", None)
    return {
        "requests": len(timings),
        "seconds": round(elapsed, 2),
        "rps": round(len(timings) / elapsed, 1),
        **figures,
        **({"ran_out_of_objects": True} if exhausted else {}),
    }


# --- what is timed ----------------------------------------------------------------------------


@dataclass
class Fixtures:
    """What the requests need, read from the filled database before the server starts."""

    cards: list[tuple[int, int]]
    ticket_ids: list[int]
    ticket_number: str
    api_key: str


def _get(path: str, htmx_page: str | None = None) -> Call:
    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        headers = _htmx(client, htmx_page) if htmx_page else None
        tally.check(f"GET {path}", await client.get(path, headers=headers))

    return call


Change = Callable[[str], Awaitable[Any]]


@dataclass
class AfterChange:
    """``call`` as the first view after a change, made untimed before each request."""

    call: Call
    change: Callable[[], Awaitable[Any]]

    async def __call__(self, client: httpx.AsyncClient, tally: Tally) -> None:
        await self.call(client, tally)


def _after_change(call: Call, changed: Change, what: str) -> Call:
    """``call`` after a change (``what``: "today", "new" or "all")."""
    return AfterChange(call, lambda: changed(what))


def _drawer(ticket_ids: list[int]) -> Call:
    rng = random.Random(19)

    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        path = f"/tickets/{rng.choice(ticket_ids)}"
        tally.check(f"GET {path}", await client.get(path, headers=_htmx(client, "/board")))

    return call


def _move(cards: list[tuple[int, int]]) -> Call:
    queue = iter(cards)

    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        try:
            ticket_id, version = next(queue)
        except StopIteration:
            raise Exhausted from None
        response = await client.post(
            "/board/move",
            data={"ticket_id": ticket_id, "version": version, "status": "in_progress"},
            headers=_htmx(client, "/board"),
        )
        tally.check(f"move #{ticket_id} v{version}", response)

    return call


class _Customers:
    """Distinct customers, one per inquiry: a phone number, a name, a description."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def next(self) -> dict[str, str]:
        self.n += 1
        phone = f"139{self.rng.randrange(10**8):08d}"
        return {
            "name": f"压测客户{self.n}",
            "phone": phone,
            "description": f"订单 BENCH-{phone} 的发票还没有收到，已经等了一周，请尽快帮忙处理。",
        }


def _intake() -> Call:
    from models.services.tickets import intake

    customers = _Customers(1)

    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        data = {
            **customers.next(),
            "customer_type": "individual",
            "urgency": "normal",
            "channel": "phone",
            "form_key": intake.new_form_key(),
        }
        response = await client.post("/intake", data=data, headers=_htmx(client, "/intake"))
        tally.check("POST /intake", response)

    return call


def _portal(base_url: str) -> tuple[Call, Callable[[], Awaitable[list[httpx.AsyncClient]]]]:
    """Customers at the portal: each client has its own CSRF cookie; each inquiry comes from
    another address (``X-Forwarded-For`` through a proxy), as customers do."""
    from models.services.tickets import intake

    customers = _Customers(2)
    rng = random.Random(3)

    async def visitors() -> list[httpx.AsyncClient]:
        out = []
        for _ in range(CONCURRENCY):
            client = httpx.AsyncClient(base_url=base_url, timeout=300)
            page = await client.get("/portal")
            client.headers["x-bench-token"] = _csrf_from(page.text)
            out.append(client)
        return out

    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        data = {
            **customers.next(),
            "form_key": intake.new_form_key(),
            "website": "",
            "_csrf_token": client.headers["x-bench-token"],
        }
        address = f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        headers = {**_htmx(client, "/portal"), "X-Forwarded-For": address}
        tally.check("POST /portal", await client.post("/portal", data=data, headers=headers))

    return call, visitors


def _api(key: str) -> Call:
    customers = _Customers(3)

    async def call(client: httpx.AsyncClient, tally: Tally) -> None:
        response = await client.post(
            "/api/v1/inquiries",
            json={**customers.next(), "channel": "social_media"},
            headers={"Authorization": f"Bearer {key}"},
        )
        tally.check("POST /api/v1/inquiries", response)

    return call


def _report_paths(today: date) -> dict[str, str]:
    last_month = today.replace(day=1) - timedelta(days=1)
    start = today - timedelta(days=89)
    return {
        "kpi": f"/reports/kpi?period=custom&from={start}&to={today}",
        "summary": f"/reports/?period=month&month={last_month:%Y-%m}",
        "summary_now": f"/reports/?period=month&month={today:%Y-%m}",
        "topics_now": f"/reports/topics?period=month&month={today:%Y-%m}",
    }


async def _export(client: httpx.AsyncClient, path: str, tally: Tally) -> tuple[float, float, int]:
    """(ms to the first byte of the body, ms to the last, bytes)."""
    started = time.perf_counter()
    first = 0.0
    size = 0
    async with client.stream("GET", path) as response:
        if not 200 <= response.status_code < 400:
            await response.aread()
        else:
            async for chunk in response.aiter_raw():
                if not first:
                    first = time.perf_counter()
                size += len(chunk)
        tally.check(f"GET {path}", response)
    ended = time.perf_counter()
    return ((first or ended) - started) * 1000, (ended - started) * 1000, size


# --- the run ----------------------------------------------------------------------------------


def _family(pid: int) -> set[int]:
    """``pid`` and its descendants (uvicorn's master and workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    family, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family


def _rss_mib(pid: int) -> dict[str, Any]:
    """Resident memory of ``pid`` and its descendants."""
    family = _family(pid)
    total = 0
    for member in family:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return {"processes": len(family), "rss_mib": round(total / 1024, 1)}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) spent so far by ``pid`` and its descendants."""
    ticks = 0
    for member in _family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    from models.settings import reset_settings

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


@asynccontextmanager
async def _registrar(
    url: str, redis: Any, channel: str
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A new inquiry registered and classified through the services, as the intake and the
    worker would (its commit moves the reports' counters on), by the demo lead for the demo's
    first customer."""
    from sqlalchemy import func, select

    from models.db import Database, unit_of_work
    from models.enums import Channel, RequestType
    from models.services.admin import users
    from models.services.tickets import commands
    from models.ticket import Ticket
    from models.user import User

    db = Database(url)
    async with db.sessionmaker() as session:
        lead = await session.scalar(select(User).where(User.username == "lead"))
        customer = await session.scalar(select(func.min(Ticket.customer_id)))
    assert lead is not None and customer is not None
    actor = users.actor_for(lead)
    count = 0

    async def register() -> None:
        nonlocal count
        count += 1
        async with unit_of_work(db, redis, channel) as session:
            ticket, _ = await commands.create(
                session,
                actor,
                commands.TicketInput(
                    customer_id=customer,
                    description=f"快递第{count}次显示已签收，但我没有收到包裹",
                    channel=Channel.PHONE,
                ),
            )
            await commands.change_type(
                session, actor, ticket.id, RequestType.PROBLEM, expected_version=None
            )

    try:
        yield register
    finally:
        await db.dispose()


async def _fixtures(url: str, cards_wanted: int) -> Fixtures:
    from sqlalchemy import func, select

    from models.db import Database, unit_of_work
    from models.services.admin import api_keys
    from models.services.common.actor import Actor
    from models.ticket import Ticket

    cards = await pending_cards(url, cards_wanted)
    db = Database(url)
    try:
        async with unit_of_work(db) as session:
            _, key = await api_keys.create(session, Actor.system("bench"), "http-bench")
        async with db.sessionmaker() as session:
            newest = await session.scalar(select(func.max(Ticket.id)))
            assert newest is not None, "the demo filled no tickets"
            number = await session.scalar(select(Ticket.number).where(Ticket.id == newest))
            ids = list(
                await session.scalars(
                    select(Ticket.id)
                    .where(Ticket.merged_into_id.is_(None))
                    .order_by(Ticket.id.desc())
                    .limit(2000)
                )
            )
    finally:
        await db.dispose()
    return Fixtures(cards=cards, ticket_ids=ids, ticket_number=str(number), api_key=key)


class Server:
    """``kefu web --workers N`` on a free port, and the sessions signed in to it."""

    def __init__(self, workers: int, log: Path) -> None:
        self.workers = workers
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.clients: list[httpx.AsyncClient] = []

    async def __aenter__(self) -> Server:
        self.process = start_server(self.port, self.log, workers=self.workers)
        await wait_healthy(self.base_url, self.process, self.log)
        self.clients = [await _signed_in(self.base_url) for _ in range(CONCURRENCY)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.aclose()
        if self.process is not None:
            stop_server(self.process)


async def _endpoint(
    call: Call,
    clients: list[httpx.AsyncClient],
    options: Options,
    server_pid: int,
    warm_up: Call | None = None,
) -> dict[str, Any]:
    """c1 and c8 figures; at c8 also the CPU each request cost the server and this client
    (what bounds the throughput on a machine both share: cores / (server + client) CPU)."""
    tally = Tally()
    one = percentiles(await _one_client(call, clients[0], tally, options.samples))
    server_cpu, client_cpu = _cpu_seconds(server_pid), time.process_time()
    eight = await _closed_loop(call, clients, tally, options.duration, warm_up)
    served = max(1, eight["requests"])
    # (the warm-up round is in the CPU figures too: a handful of requests in hundreds)
    eight["server_cpu_ms_per_request"] = round(
        (_cpu_seconds(server_pid) - server_cpu) * 1000 / served, 1
    )
    eight["client_cpu_ms_per_request"] = round(
        (time.process_time() - client_cpu) * 1000 / served, 1
    )
    return {
        "c1": one,
        "c8": eight,
        "errors": tally.errors,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        **({"error_samples": tally.failures} if tally.failures else {}),
    }


async def _measure_all(
    server: Server, fx: Fixtures, options: Options, changed: Change
) -> dict[str, Any]:
    from models.services.reports import summary as reports

    wanted = set(options.only)
    assert server.process is not None
    pid = server.process.pid
    reports_at = _report_paths(reports.today_local())
    reads: dict[str, Call] = {
        "board": _get("/board"),
        "drawer": _drawer(fx.ticket_ids),
        "search_zh": _get(f"/board?q={SEARCH_ZH}"),
        "search_phone": _get(f"/board?q={SEARCH_PHONE}"),
        "search_number": _get(f"/board?q={fx.ticket_number}"),
        "matrix": _get("/board/matrix"),
        "kpi": _get(reports_at["kpi"]),
        "summary": _get(reports_at["summary"]),
        "move": _move(fx.cards),
        "intake": _intake(),
        "api": _api(fx.api_key),
    }
    # After a change today, the summary worth timing is this month's (last month's has no day
    # that changed).
    this_month = _get(reports_at["summary_now"])
    reads["matrix_fresh"] = _after_change(reads["matrix"], changed, "today")
    reads["kpi_fresh"] = _after_change(reads["kpi"], changed, "today")
    reads["summary_fresh"] = _after_change(this_month, changed, "today")
    reads["summary_new"] = _after_change(this_month, changed, "new")
    # ... whose "most frequent problems" section the page then fetches, worked out again.
    reads["topics_new"] = _after_change(_get(reports_at["topics_now"]), changed, "new")
    for name in ("kpi", "summary"):
        reads[f"{name}_cold"] = _after_change(reads[name], changed, "all")
    out: dict[str, Any] = {}
    for name in ENDPOINTS:
        if name not in wanted:
            continue
        if name in reads:
            # Pending cards are few in a small demo: the board (the same column templates)
            # warms the workers up for the moves.
            warm_up = reads["board"] if name == "move" else None
            out[name] = await _endpoint(reads[name], server.clients, options, pid, warm_up)
        elif name == "portal":
            call, visitors = _portal(server.base_url)
            anonymous = await visitors()
            try:
                out[name] = await _endpoint(call, anonymous, options, pid)
            finally:
                for client in anonymous:
                    await client.aclose()
        elif name.startswith("export_"):
            fmt = name.removeprefix("export_")
            tally = Tally()
            runs = [
                await _export(server.clients[0], f"/exports/tickets.{fmt}", tally)
                for _ in range(options.export_samples)
            ]
            out[name] = {
                "first_byte": percentiles([r[0] for r in runs]),
                "total": percentiles([r[1] for r in runs]),
                "mib": round(runs[-1][2] / 2**20, 1) if runs else 0,
                "errors": tally.errors,
                **({"error_samples": tally.failures} if tally.failures else {}),
            }
        if name in out:
            print(f"  {name}: {json.dumps(out[name], ensure_ascii=False)}", flush=True)
    if "move" in out:
        out["move"]["cards_available"] = len(fx.cards)
    return out


async def measure(options: Options) -> dict[str, Any]:
    """Fill, serve, time; the figures (JSON-ready)."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from models.db import report_days_key, reports_generation_key
    from models.settings import get_settings
    from models.ticket_count import utc_day

    started = time.perf_counter()
    url = options.database_url or scratch_database_url("http")
    owner = f"bench-http-{secrets.token_hex(5)}"
    redis_url = options.redis_url
    claimed = redis_url is None
    if redis_url is None:
        base = os.environ.get("KEFU_BENCH_REDIS", "redis://127.0.0.1:6379")
        redis_url = f"{base}/{claim_redis_db(base, owner)}"
    data_dir = BENCH_DIR / f"{owner}-data"
    data_dir.mkdir(parents=True, mode=0o700)
    env = {
        "KEFU_DATABASE_URL": url,
        "KEFU_DATA_DIR": str(data_dir),
        "KEFU_REDIS_URL": redis_url,
        "KEFU_QUEUE": f"{owner}:queue",
        "KEFU_EVENT_CHANNEL": f"{owner}:events",
        "KEFU_SECRET_KEY": secrets.token_urlsafe(48),
        "KEFU_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    if options.filled:
        env["KEFU_SECRET_KEY"] = os.environ["KEFU_SECRET_KEY"]
        env["KEFU_ENCRYPTION_KEY"] = os.environ["KEFU_ENCRYPTION_KEY"]
    load_start = [round(x, 2) for x in os.getloadavg()]
    figures: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
        },
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "server_workers": options.workers,
        "concurrency": CONCURRENCY,
        "c1_samples": options.samples,
        "c8_seconds": options.duration,
        "load_average_at_start": load_start,
    }
    try:
        with _environment(env):
            get_settings()
            if options.filled:
                figures["tickets"] = await count_tickets(url)
                print(f"measuring on {figures['tickets']:,} tickets already filled", flush=True)
            else:
                print(f"filling {options.tickets:,} tickets into {figures['database']}", flush=True)
                figures.update(await fill_demo(url, options.tickets))
                print(f"  filled in {figures['fill_seconds']} s", flush=True)
            moves_needed = int(60 * options.duration) + options.samples + WARMUP
            fx = await _fixtures(url, moves_needed if "move" in options.only else 0)
            log = BENCH_DIR / f"{owner}-web.log"
            # An arq pool: the registrar's commits enqueue triage as the intake's do (into this
            # run's own Redis database, where no worker takes them).
            generations = await create_pool(RedisSettings.from_dsn(redis_url))
            generation_key = reports_generation_key(env["KEFU_EVENT_CHANNEL"])
            days_key = report_days_key(env["KEFU_EVENT_CHANNEL"])

            async with _registrar(url, generations, env["KEFU_EVENT_CHANNEL"]) as registered:

                async def changed(what: str) -> Any:
                    if what == "new":  # a real inquiry, classified: new text for the topics
                        return await registered()
                    await generations.incr(generation_key)
                    field = "all" if what == "all" else str(utc_day(datetime.now(UTC)))
                    await generations.hincrby(days_key, field, 1)  # type: ignore[misc]

                up = time.perf_counter()
                async with Server(options.workers, log) as server:
                    print(
                        f"  kefu web up, 8 signed in: {time.perf_counter() - up:.1f} s", flush=True
                    )
                    figures["endpoints"] = await _measure_all(server, fx, options, changed)
                    if "workers" in options.only:
                        tally = Tally()
                        figures["board_c8_by_workers"] = {
                            str(options.workers): await _closed_loop(
                                _get(WORKERS_BOARD), server.clients, tally, options.duration
                            )
                        }
                    assert server.process is not None
                    figures["server"] = _rss_mib(server.process.pid)
                if "workers" in options.only and options.workers != 1:
                    async with Server(1, log) as single:
                        figures["board_c8_by_workers"]["1"] = await _closed_loop(
                            _get(WORKERS_BOARD), single.clients, tally, options.duration
                        )
                    figures["board_c8_by_workers"]["errors"] = tally.errors
            log.unlink(missing_ok=True)
            await generations.aclose()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if claimed:
            release_redis_db(redis_url, owner)
    endpoints = figures.get("endpoints", {})
    figures["errors"] = sum(e.get("errors", 0) for e in endpoints.values()) + figures.get(
        "board_c8_by_workers", {}
    ).get("errors", 0)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


# --- the command ------------------------------------------------------------------------------


def table(figures: dict[str, Any]) -> str:
    """A compact table of the figures."""
    head = (
        f"{figures['tickets']:,} tickets, {figures['database']}, kefu web --workers "
        f"{figures['server_workers']}, load {figures['load_average_at_start'][0]} → "
        f"{figures['load_average_at_end'][0]}"
    )
    columns = (
        f"{'endpoint':<15} {'c1 p50':>9} {'c1 p95':>9} {'c8 req/s':>9} {'c8 p95':>9} "
        f"{'srv CPU':>8} {'cli CPU':>8} err"
    )
    lines = [head, columns]
    for name, e in figures.get("endpoints", {}).items():
        if "c1" in e:
            c1, c8 = e["c1"], e["c8"]
            lines.append(
                f"{name:<15} {c1.get('p50_ms', 0):>9.1f} {c1.get('p95_ms', 0):>9.1f} "
                f"{c8['rps']:>9.1f} {c8.get('p95_ms', 0):>9.1f} "
                f"{c8.get('server_cpu_ms_per_request', 0):>8.1f} "
                f"{c8.get('client_cpu_ms_per_request', 0):>8.1f} {e['errors']}"
            )
        else:
            lines.append(
                f"{name:<15} first byte {e['first_byte'].get('p50_ms', 0):.0f} ms, total "
                f"{e['total'].get('p50_ms', 0):.0f} ms, {e['mib']} MiB, {e['errors']} err"
            )
    by_workers = figures.get("board_c8_by_workers")
    if by_workers:
        lines.append(
            "board c8 by workers: "
            + ", ".join(f"{k}: {v['rps']} req/s" for k, v in by_workers.items() if k != "errors")
        )
    if "server" in figures:
        server = figures["server"]
        lines.append(f"server RSS {server['rss_mib']} MiB over {server['processes']} processes")
    lines.append(f"errors: {figures['errors']}")
    return "\n".join(lines)


def save(figures: dict[str, Any], path: Path, *, partial: bool = False) -> None:
    """Merge the figures into ``path`` under "http" (SQLite) or "http_postgresql" ("http_1m",
    "http_1m_postgresql" from a million tickets up), keeping every other key. A ``partial`` run
    (``--only``) replaces only the endpoints it measured, each stamped with its run's time,
    database, size and load, and keeps the rest of the last full run on the same database and
    scale."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    key = "http_1m" if figures["tickets"] >= 1_000_000 else "http"
    if figures["database"] != "sqlite":
        key += f"_{figures['database']}"
    if partial and "endpoints" in results.get(key, {}):
        stamp = {
            k: figures[k] for k in ("measured_at", "database", "tickets", "load_average_at_start")
        }
        for name, entry in figures["endpoints"].items():
            results[key]["endpoints"][name] = {**entry, "run": stamp}
    else:
        results[key] = figures
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse(argv: list[str]) -> tuple[Options, Path]:
    parser = argparse.ArgumentParser(prog="python -m bench http", description=__doc__)
    parser.add_argument(
        "--tickets", type=int, default=int(os.environ.get("KEFU_BENCH_TICKETS", "100000"))
    )
    parser.add_argument("--database-url", default=None, help="default: a scratch SQLite file")
    parser.add_argument("--redis-url", default=None, help="default: claim a free index")
    parser.add_argument("--duration", type=float, default=10.0, help="c8 seconds per endpoint")
    parser.add_argument("--samples", type=int, default=20, help="c1 samples after warm-up")
    parser.add_argument("--export-samples", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(ENDPOINTS))
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--filled",
        action="store_true",
        help="--database-url already holds the tickets (migrated; KEFU_SECRET_KEY and "
        "KEFU_ENCRYPTION_KEY set to its keys): measure without filling",
    )
    args = parser.parse_args(argv)
    if args.filled and not args.database_url:
        parser.error("--filled needs --database-url")
    only: tuple[str, ...] = ENDPOINTS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in ENDPOINTS and n not in GROUPS]
        if unknown:
            parser.error(f"unknown endpoints: {', '.join(unknown)}")
        groups = {e for n in names for e in GROUPS.get(n, ())}
        only = tuple(e for e in ENDPOINTS if e in names or e in groups)
    options = Options(
        tickets=args.tickets,
        database_url=args.database_url,
        redis_url=args.redis_url,
        duration=args.duration,
        samples=args.samples,
        export_samples=args.export_samples,
        workers=args.workers,
        only=only,
        filled=args.filled,
    )
    return options, args.results


def main(argv: list[str]) -> int:
    options, path = parse(argv)
    figures = asyncio.run(measure(options))
    save(figures, path, partial=options.only != ENDPOINTS)
    print(table(figures))
    return 1 if figures["errors"] else 0


async def run() -> dict[str, Any]:
    """For ``python -m bench`` (everything): the defaults."""
    return await measure(parse([])[0])


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))
