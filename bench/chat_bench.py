"""Live chat under load: 200 visitors chatting with agents at once through a real ``kefu web``.

A scratch database (SQLite under var/bench/, or ``KEFU_BENCH_DATABASE_URL``: an empty
PostgreSQL database) gets the migrations, the demo's reference data and one widget; eight
demo staff accounts get room for the chats (``chat_capacity``). ``kefu web --workers 2``
serves it on a free loopback port with a Redis database index of its own. Then:

* the agents sign in (the sign-in form and its CSRF token), switch "available for chats" on,
  keep the staff live stream (``/board/events``) open and the inbox heartbeat going;
* the visitors arrive over ``RAMP_S`` seconds, each with its own secret: the first message
  opens a conversation, which is offered to an agent; the visitor then opens the
  conversation's live stream;
* once every conversation is open, all of them exchange ``ROUNDS`` rounds at once: the
  visitor writes, its agent answers from the inbox, each after a pause of 5–15 s (a person
  reading and typing; 200 chats at that pace offer about 20 messages a second, which two
  cores serve without queueing — at 1–5 s they did not, and every figure measured the queue).

A message is delivered when the other side's live stream names it (``chat`` with type
``chat.message`` and its number on the agent's stream, ``message`` on the visitor's); the
latency runs from the moment the sender posted it. One not named within ``TIMEOUT_S`` is
lost (a refused post counts as an error, and its message as lost); one named twice on a
stream is doubled. Each transcript is read back at the end (``/state``): every confirmed
message stored once, in order. The web processes' memory (RSS of uvicorn's master and
workers) is sampled throughout; the server's log is counted (errors, warnings, 5xx) and kept
under var/bench/ when anything went wrong.

    python -m bench chat
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BENCH_DIR,
    claim_redis_db,
    free_port,
    percentiles,
    release_redis_db,
    scratch_database_url,
    start_server,
    stop_server,
    wait_healthy,
)
from bench.http_bench import _environment, _htmx, _rss_mib, _signed_in

SESSIONS = 200
ROUNDS = 5
# Demo staff of several departments (the widget has none, so any of them may take a chat).
STAFF = (
    ("agent", "kefu-agent"),
    ("agent.emma", "kefu-agent"),
    ("agent.tech", "kefu-agent"),
    ("agent.care", "kefu-agent"),
    ("agent.after", "kefu-agent"),
    ("lead.tech", "kefu-lead"),
    ("lead.care", "kefu-lead"),
    ("lead.after", "kefu-lead"),
)
SPARE_CAPACITY = 2  # per agent, above an even share of the sessions
TIMEOUT_S = 10.0  # a message not delivered by then is lost
PAUSE_S = (5.0, 15.0)  # reading and typing before each message, uniformly drawn
RAMP_S = 20.0  # the visitors arrive over this long
HEARTBEAT_S = 30.0  # as the inbox page sends it
RSS_EVERY_S = 0.5
ERROR_SAMPLES = 5
STREAM_TIMEOUT = httpx.Timeout(30.0, read=60.0)  # the streams send a keep-alive every 15 s
SEQ_RE = re.compile(r'data-seq="(\d+)"')


# --- what the live streams saw ----------------------------------------------------------------


Key = tuple[str, str, int]  # (whose stream, conversation, message number)


@dataclass
class Tally:
    """Everything counted across the sessions."""

    delivered: dict[str, list[float]] = field(
        default_factory=lambda: {"open": [], "to_agent": [], "to_visitor": []}
    )
    posts: dict[str, list[float]] = field(
        default_factory=lambda: {"open": [], "visitor": [], "agent": []}
    )
    late: list[tuple[Key, float]] = field(default_factory=list)  # not within the timeout
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    transcripts_checked: int = 0
    transcripts_wrong: int = 0
    streams_dropped: int = 0
    empty_events: int = 0  # "data: " and nothing else (a keep-alive comment carries one)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(what[:300])


class Arrivals:
    """When each live stream named each message, and which agent each conversation went to."""

    def __init__(self) -> None:
        self.seen: dict[Key, asyncio.Future[float]] = {}
        self.owners: dict[str, asyncio.Future[int]] = {}
        self.doubled: list[Key] = []

    def _seen(self, key: Key) -> asyncio.Future[float]:
        if key not in self.seen:
            self.seen[key] = asyncio.get_running_loop().create_future()
        return self.seen[key]

    def _owner(self, conversation: str) -> asyncio.Future[int]:
        if conversation not in self.owners:
            self.owners[conversation] = asyncio.get_running_loop().create_future()
        return self.owners[conversation]

    def saw(self, key: Key, at: float) -> None:
        found = self._seen(key)
        if found.done():
            self.doubled.append(key)
        else:
            found.set_result(at)

    def offered(self, conversation: str, agent_id: int) -> None:
        found = self._owner(conversation)
        if not found.done():
            found.set_result(agent_id)

    async def when(self, key: Key, deadline: float) -> float | None:
        """When the stream named the message, or None if not by ``deadline``."""
        return await _by(self._seen(key), deadline)

    async def owner(self, conversation: str, deadline: float) -> int | None:
        return await _by(self._owner(conversation), deadline)


async def _by(future: asyncio.Future[Any], deadline: float) -> Any:
    try:
        return await asyncio.wait_for(
            asyncio.shield(future), max(0.0, deadline - time.perf_counter())
        )
    except TimeoutError:
        return None


async def _listen(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    on_event: Callable[[str, str, float], None],
    ready: asyncio.Event,
    tally: Tally,
) -> None:
    """Read a server-sent event stream, as EventSource does, until cancelled; ``ready`` once
    the server has subscribed. An event with an empty ``data:`` line is dispatched (as a
    browser does) only to be counted; a stream that ends or fails on its own is counted."""
    try:
        async with client.stream("GET", path, headers=headers, timeout=STREAM_TIMEOUT) as answer:
            if answer.status_code != 200:
                await answer.aread()
                tally.error(f"GET {path} → {answer.status_code}: {answer.text[:200]}")
                return
            name, data = "message", list[str]()
            async for line in answer.aiter_lines():
                if not line:
                    if name == "ready":
                        ready.set()
                    elif data == [""]:
                        tally.empty_events += 1
                    elif data:
                        _dispatch(on_event, name, "\n".join(data), tally)
                    name, data = "message", []
                elif not line.startswith(":"):
                    what, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if what == "event":
                        name = value
                    elif what == "data":
                        data.append(value)
    except httpx.HTTPError as exc:
        tally.error(f"GET {path}: {exc!r}")
    tally.streams_dropped += 1


def _dispatch(
    on_event: Callable[[str, str, float], None], name: str, data: str, tally: Tally
) -> None:
    try:
        on_event(name, data, time.perf_counter())
    except (ValueError, KeyError, TypeError) as exc:
        tally.error(f"malformed {name} event {data[:100]!r}: {exc!r}")


# --- the agents -------------------------------------------------------------------------------


@dataclass
class Agent:
    user_id: int
    client: httpx.AsyncClient


async def _agents(
    base_url: str,
    ids: dict[str, int],
    arrivals: Arrivals,
    tally: Tally,
    agents: dict[int, Agent],
    tasks: list[asyncio.Task[None]],
) -> None:
    """Each staff member signed in, available, with the inbox's live stream and heartbeat
    (into ``agents`` and ``tasks``, for the caller to close and cancel)."""
    readies = []
    for username, password in STAFF:
        agent = Agent(
            ids[username],
            await _signed_in(
                base_url,
                (username, password),
                request_timeout=30,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            ),
        )
        agents[agent.user_id] = agent
        answer = await agent.client.post(
            "/chat/availability", data={"available": "on"}, headers=_htmx(agent.client, "/chat/")
        )
        if answer.status_code != 200:
            raise RuntimeError(f"{username}: availability refused: {answer.status_code}")
        ready = asyncio.Event()
        readies.append(ready)
        tasks.append(
            asyncio.create_task(
                _listen(
                    agent.client, "/board/events", {}, _agent_events(agent, arrivals), ready, tally
                )
            )
        )
        tasks.append(asyncio.create_task(_heartbeat(agent, tally)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), TIMEOUT_S)


def _agent_events(agent: Agent, arrivals: Arrivals) -> Callable[[str, str, float], None]:
    stream = f"agent:{agent.user_id}"

    def on_event(name: str, data: str, at: float) -> None:
        if name != "chat":
            return
        payload = json.loads(data)
        conversation = str(payload.get("conversation"))
        if payload.get("type") == "chat.message":
            arrivals.saw((stream, conversation, int(payload["seq"])), at)
        elif payload.get("type") == "chat.offered" and payload.get("agent_id") is not None:
            arrivals.offered(conversation, int(payload["agent_id"]))

    return on_event


async def _heartbeat(agent: Agent, tally: Tally) -> None:
    """The open inbox keeps its agent counted as online (and offered waiting chats)."""
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        answer = await agent.client.post("/chat/heartbeat", headers=_htmx(agent.client, "/chat/"))
        if answer.status_code != 204:
            tally.error(f"heartbeat → {answer.status_code}")


# --- the visitors -----------------------------------------------------------------------------


@dataclass
class Run:
    """What every session shares."""

    key: str
    visitors: httpx.AsyncClient
    agents: dict[int, Agent]
    arrivals: Arrivals
    tally: Tally
    sessions: int
    rounds: int
    pause: tuple[float, float]
    ramp: float
    lost_after: float  # seconds
    all_open: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0
    streams: list[asyncio.Task[None]] = field(default_factory=list)

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.sessions:
            self.all_open.set()


@dataclass
class Chat:
    """One visitor's open conversation, the agent it went to and who said what since: the
    authors of the messages the server confirmed, in order (the first message, the agent
    joining, …); a message it refused is not expected in the transcript."""

    n: int
    path: str  # the widget's API
    headers: dict[str, str]  # the visitor's secret
    locale: str
    conversation: str
    agent: Agent
    said: list[str] = field(default_factory=lambda: ["customer", "system"])


async def _timed(
    posts: list[float], send: Awaitable[httpx.Response]
) -> tuple[float, httpx.Response | None, str]:
    """(when it was sent, the answer or None, what went wrong)."""
    sent = time.perf_counter()
    try:
        answer = await send
    except httpx.HTTPError as exc:
        return sent, None, repr(exc)
    posts.append((time.perf_counter() - sent) * 1000)
    return sent, answer, ""


def _failure(answer: httpx.Response | None, failure: str) -> str:
    return failure if answer is None else f"{answer.status_code}: {answer.text[:200]}"


async def _delivered(run: Run, kind: str, key: Key, sent: float) -> None:
    at = await run.arrivals.when(key, sent + run.lost_after)
    if at is None:
        run.tally.late.append((key, sent))
    else:
        run.tally.delivered[kind].append((at - sent) * 1000)


async def _session(run: Run, n: int) -> None:
    """One visitor: open the chat, wait until every visitor has, then the rounds; the
    transcript read back after."""
    await asyncio.sleep(n * run.ramp / run.sessions)
    try:
        chat = await _open(run, n)
    finally:
        run.arrive()
    if chat is None:
        return
    await run.all_open.wait()
    rng = random.Random(n)
    for r in range(1, run.rounds + 1):
        await asyncio.sleep(rng.uniform(*run.pause))
        await _visitor_says(run, chat, r)
        await asyncio.sleep(rng.uniform(*run.pause))
        await _agent_says(run, chat, r)
    await _check_transcript(run, chat)


async def _open(run: Run, n: int) -> Chat | None:
    """The first message (a new conversation, offered to an agent), then the conversation's
    live stream; None if any of it failed."""
    headers = {"x-kefu-visitor": secrets.token_urlsafe(24)}
    locale = "en" if n % 4 == 3 else "zh-CN"
    path = f"/api/chat/{run.key}"
    body = {
        "text": f"您好，我的订单 BENCH-{n:04d} 还没有发货，能帮忙查一下吗？",
        "client_id": secrets.token_hex(8),
        "locale": locale,
    }
    sent, answer, failure = await _timed(
        run.tally.posts["open"], run.visitors.post(f"{path}/messages", json=body, headers=headers)
    )
    if answer is None or answer.status_code != 201:
        run.tally.error(f"open #{n} → {_failure(answer, failure)}")
        return None
    opened = answer.json()
    conversation = str(opened["conversation"])
    agent_id = await run.arrivals.owner(conversation, sent + run.lost_after)
    if agent_id is None or agent_id not in run.agents:
        run.tally.error(f"#{n}: conversation {conversation} was not offered to a bench agent")
        return None
    chat = Chat(n, path, headers, locale, conversation, run.agents[agent_id])
    key = (f"agent:{agent_id}", conversation, int(opened["line"]["seq"]))
    await _delivered(run, "open", key, sent)
    ready = asyncio.Event()
    listen = _listen(
        run.visitors,
        f"{path}/c/{conversation}/events",
        headers,
        _visitor_events(run.arrivals, conversation),
        ready,
        run.tally,
    )
    run.streams.append(asyncio.create_task(listen))
    try:
        await asyncio.wait_for(ready.wait(), run.lost_after)
    except TimeoutError:
        run.tally.error(f"#{n}: the conversation's live stream did not open")
        return None
    return chat


async def _visitor_says(run: Run, chat: Chat, r: int) -> None:
    body = {
        "text": f"第 {r} 个问题：快递单号是多少？ (visitor {chat.n}, round {r})",
        "client_id": secrets.token_hex(8),
        "conversation": chat.conversation,
        "locale": chat.locale,
    }
    sent, answer, failure = await _timed(
        run.tally.posts["visitor"],
        run.visitors.post(f"{chat.path}/messages", json=body, headers=chat.headers),
    )
    if answer is None or answer.status_code != 201:
        run.tally.error(f"#{chat.n} round {r} → {_failure(answer, failure)}")
        return
    chat.said.append("customer")
    key = (f"agent:{chat.agent.user_id}", chat.conversation, int(answer.json()["line"]["seq"]))
    await _delivered(run, "to_agent", key, sent)


async def _agent_says(run: Run, chat: Chat, r: int) -> None:
    """The agent answers from the inbox (the reply form, as htmx posts it)."""
    client = chat.agent.client
    form = {
        "text": f"已为您查询，第 {r} 个回复 (to visitor {chat.n})",
        "client_id": secrets.token_hex(8),
    }
    sent, answer, failure = await _timed(
        run.tally.posts["agent"],
        client.post(
            f"/chat/c/{chat.conversation}/messages",
            data=form,
            headers=_htmx(client, f"/chat/?c={chat.conversation}"),
        ),
    )
    found = SEQ_RE.search(answer.text) if answer is not None else None
    if answer is None or answer.status_code != 200 or found is None:
        run.tally.error(f"reply #{chat.n} round {r} → {_failure(answer, failure)}")
        return
    chat.said.append("agent")
    await _delivered(run, "to_visitor", ("visitor", chat.conversation, int(found.group(1))), sent)


def _visitor_events(arrivals: Arrivals, conversation: str) -> Callable[[str, str, float], None]:
    def on_event(name: str, data: str, at: float) -> None:
        if name == "message":
            arrivals.saw(("visitor", conversation, int(json.loads(data)["seq"])), at)

    return on_event


async def _check_transcript(run: Run, chat: Chat) -> None:
    """Read back: every confirmed message stored once, in order, numbered 1, 2, 3, … and
    nothing else (a refused one stored anyway would show here)."""
    answer = await run.visitors.get(f"{chat.path}/state", headers=chat.headers)
    run.tally.transcripts_checked += 1
    if answer.status_code != 200:
        run.tally.error(f"state #{chat.n} → {_failure(answer, '')}")
        run.tally.transcripts_wrong += 1
        return
    lines = answer.json()["lines"]
    authors = [line["author"] for line in lines]
    if authors != chat.said or [line["seq"] for line in lines] != list(range(1, len(lines) + 1)):
        run.tally.transcripts_wrong += 1
        run.tally.error(f"transcript #{chat.n}: {[(x['seq'], x['author']) for x in lines]}")


# --- the run ----------------------------------------------------------------------------------


async def _prepare(url: str, sessions: int) -> tuple[str, dict[str, int], int]:
    """Schema (the migrations, unless the database has one), reference data, a widget and
    the staff's chat capacity: (widget key, staff user ids, capacity each)."""
    from sqlalchemy import inspect, select

    from models.db import Database, unit_of_work
    from models.migrate import upgrade
    from models.services.chat import widgets
    from models.services.common.actor import Actor
    from models.services.demo import seed
    from models.user import User

    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        if "users" not in tables:
            await asyncio.to_thread(upgrade, url)
        capacity = -(-sessions // len(STAFF)) + SPARE_CAPACITY
        async with unit_of_work(db) as session:
            await seed.seed_reference(session)
            widget = await widgets.save(
                session,
                Actor.system("bench"),
                widgets.WidgetInput(
                    name="压测 chat bench", greeting_zh="您好！", greeting_en="Hi!"
                ),
            )
            # No service sets the cap (an admin form does not exist yet): set on the rows.
            names = [username for username, _ in STAFF]
            staff = (await session.scalars(select(User).where(User.username.in_(names)))).all()
            for user in staff:
                user.chat_capacity = capacity
            ids = {user.username: user.id for user in staff}
            return widget.key, ids, capacity
    finally:
        await db.dispose()


async def _sample_rss(pid: int, peak: dict[str, Any]) -> None:
    while True:
        now = _rss_mib(pid)
        if now["rss_mib"] > peak.get("rss_mib", 0):
            peak.update(now)
        await asyncio.sleep(RSS_EVERY_S)


async def _stop(tasks: list[asyncio.Task[None]], tally: Tally) -> None:
    """Cancel the background tasks; one that had failed by itself is an error."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            tally.error(f"background task failed: {task.exception()!r}")
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _chat(
    base_url: str,
    process: subprocess.Popen[bytes],
    key: str,
    ids: dict[str, int],
    run_args: dict[str, Any],
) -> dict[str, Any]:
    """Agents, then the visitors' sessions; the figures."""
    tally = Tally()
    arrivals = Arrivals()
    peak: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
    visitors = httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)
    agents: dict[int, Agent] = {}
    background: list[asyncio.Task[None]] = []
    run: Run | None = None
    try:
        await _agents(base_url, ids, arrivals, tally, agents, background)
        figures["rss_before"] = _rss_mib(process.pid)
        background.append(asyncio.create_task(_sample_rss(process.pid, peak)))
        run = Run(
            key=key, visitors=visitors, agents=agents, arrivals=arrivals, tally=tally, **run_args
        )
        cpu, started = time.process_time(), time.perf_counter()
        sessions = [asyncio.create_task(_session(run, n)) for n in range(run.sessions)]
        await run.all_open.wait()
        opened = time.perf_counter()
        figures["open_seconds"] = round(opened - started, 1)
        figures["streams_open"] = len(agents) + len(run.streams)
        outcomes = await asyncio.gather(*sessions, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                tally.error(f"session failed: {outcome!r}")
        figures["exchange_seconds"] = round(time.perf_counter() - opened, 1)
        figures["client_cpu_seconds"] = round(time.process_time() - cpu, 1)
        await asyncio.sleep(0.5)  # anything still on its way is late, not lost
        figures["rss_end"] = _rss_mib(process.pid)
    finally:
        await _stop(background + (run.streams if run else []), tally)
        for agent in agents.values():
            await agent.client.aclose()
        await visitors.aclose()
    figures["rss_peak"] = peak
    figures["tally"] = tally
    figures["doubled"] = arrivals.doubled
    figures["late"] = sum(1 for key, _ in tally.late if arrivals.seen[key].done())
    return figures


async def measure(
    sessions: int = SESSIONS,
    rounds: int = ROUNDS,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    workers: int = 2,
    pause: tuple[float, float] = PAUSE_S,
    ramp: float = RAMP_S,
    lost_after: float = TIMEOUT_S,
) -> dict[str, Any]:
    """``sessions`` visitors, ``rounds`` rounds each, through ``kefu web --workers N``: the
    figures (JSON-ready). ``database_url`` None: a scratch SQLite file (or
    KEFU_BENCH_DATABASE_URL); ``redis_url`` None: claim a free index on KEFU_BENCH_REDIS."""
    from models.settings import get_settings

    started = time.perf_counter()
    url = database_url or scratch_database_url("chat")
    owner = f"bench-chat-{secrets.token_hex(5)}"
    claimed = redis_url is None
    if redis_url is None:
        base = os.environ.get("KEFU_BENCH_REDIS", "redis://127.0.0.1:6379")
        redis_url = f"{base}/{claim_redis_db(base, owner)}"
    data_dir = BENCH_DIR / f"{owner}-data"
    data_dir.mkdir(parents=True, mode=0o700)
    log = BENCH_DIR / f"{owner}-web.log"
    env = {
        "KEFU_DATABASE_URL": url,
        "KEFU_DATA_DIR": str(data_dir),
        "KEFU_REDIS_URL": redis_url,
        "KEFU_QUEUE": f"{owner}:queue",
        "KEFU_EVENT_CHANNEL": f"{owner}:events",
        "KEFU_SECRET_KEY": secrets.token_urlsafe(48),
        "KEFU_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    figures: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "server_workers": workers,
        "sessions": sessions,
        "rounds": rounds,
        "agents": len(STAFF),
        "pause_seconds": list(pause),
        "lost_after_seconds": lost_after,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    process: subprocess.Popen[bytes] | None = None
    try:
        with _environment(env):
            get_settings()
            key, ids, figures["agent_capacity"] = await _prepare(url, sessions)
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            process = start_server(port, log, workers=workers)
            await wait_healthy(base_url, process, log)
            run_args = {
                "sessions": sessions,
                "rounds": rounds,
                "pause": pause,
                "ramp": ramp,
                "lost_after": lost_after,
            }
            measured = await _chat(base_url, process, key, ids, run_args)
    finally:
        if process is not None:
            stop_server(process)
        shutil.rmtree(data_dir, ignore_errors=True)
        if claimed:
            release_redis_db(redis_url, owner)
    figures.update(_figures(measured, sessions, rounds))
    figures["server_log"] = _log_counts(log)
    if figures["errors"] or figures["lost"] or figures["server_log"]["errors"]:
        figures["server_log"]["path"] = str(log)  # kept, to be read
    else:
        log.unlink(missing_ok=True)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _log_counts(log: Path) -> dict[str, Any]:
    """Error and warning lines the server logged (each with its traceback), 5xx answers."""
    lines = log.read_text(errors="replace").splitlines()
    return {
        "errors": sum(1 for line in lines if line.startswith(("ERROR", "CRITICAL"))),
        "warnings": sum(1 for line in lines if line.startswith("WARNING")),
        "answers_5xx": sum(1 for line in lines if re.search(r'HTTP/1\.1" 5\d\d ', line)),
    }


def _figures(measured: dict[str, Any], sessions: int, rounds: int) -> dict[str, Any]:
    tally: Tally = measured["tally"]
    expected = sessions * (1 + 2 * rounds)
    delivered = sum(len(v) for v in tally.delivered.values())
    exchanged = len(tally.delivered["to_agent"]) + len(tally.delivered["to_visitor"])
    return {
        "messages_expected": expected,
        "messages_delivered": delivered,
        "lost": expected - delivered,
        "late": measured["late"],  # of the lost: named after the timeout
        "doubled": len(measured["doubled"]),
        **(
            {"doubled_samples": [list(k) for k in measured["doubled"][:5]]}
            if measured["doubled"]
            else {}
        ),
        "errors": tally.errors,
        **({"error_samples": tally.error_samples} if tally.error_samples else {}),
        "delivery": {
            "to_agent": percentiles(tally.delivered["to_agent"]),
            "to_visitor": percentiles(tally.delivered["to_visitor"]),
            "open_to_agent": percentiles(tally.delivered["open"]),
        },
        "post": {
            "visitor": percentiles(tally.posts["visitor"]),
            "agent": percentiles(tally.posts["agent"]),
            "open": percentiles(tally.posts["open"]),
        },
        "open_seconds": measured.get("open_seconds"),
        "exchange_seconds": measured.get("exchange_seconds"),
        "messages_per_second": round(exchanged / measured["exchange_seconds"], 1)
        if measured.get("exchange_seconds")
        else 0,
        "streams_open": measured.get("streams_open", 0),
        "streams_dropped": tally.streams_dropped,
        "empty_events": tally.empty_events,
        "transcripts": {"checked": tally.transcripts_checked, "wrong": tally.transcripts_wrong},
        "server": {
            "processes": measured.get("rss_before", {}).get("processes"),
            "rss_mib_before": measured.get("rss_before", {}).get("rss_mib"),
            "rss_mib_peak": measured["rss_peak"].get("rss_mib"),
            "rss_mib_end": measured.get("rss_end", {}).get("rss_mib"),
        },
        "client_cpu_seconds": measured.get("client_cpu_seconds"),
    }


async def run() -> dict[str, Any]:
    """For ``python -m bench chat``: 200 sessions, 5 rounds."""
    return await measure()
