"""Kefu as people meet it: the real server (``kefu web``, several worker processes) over HTTP.

Fills a database (``KEFU_BENCH_TICKETS`` demo tickets, 100,000 by default; SQLite under
var/bench/http-data, or ``KEFU_BENCH_DATABASE_URL``) with the same commands a team runs
(``kefu db upgrade``, ``kefu demo``), starts ``kefu web --workers 2`` on a free port, signs
leads in (one session per simulated person) and measures, per endpoint:

- ``c1``: one person at a time — p50/p95 of ``KEFU_BENCH_HTTP_SAMPLES`` requests (after warm-up);
- ``c8``: eight people at once in a closed loop for ``KEFU_BENCH_HTTP_SECONDS`` — requests per
  second and p95.

Every answer's status is checked: anything but 2xx counts as an error and is reported. Moves
take distinct pending cards to 处理中 (real transitions with each card's version), so each
move is a real write. Board reads are also measured with 1 and with 2 web processes. The
server's memory (all its processes) and the machine's load average are reported beside.

    python -m bench http
    KEFU_BENCH_TICKETS=20000 KEFU_BENCH_HTTP_ONLY=board,move python -m bench http
    KEFU_BENCH_REUSE=1 python -m bench http   # keep the filled database of the last run
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import BENCH_DIR, percentiles

WARMUP = 3
# A request of one kind; None when there is nothing left to do (no pending card left to move).
Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response | None]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kefu() -> list[str]:
    return [sys.executable, "-m", "web.cli"]


def _environment(data_dir: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KEFU_DATA_DIR=str(data_dir),
        KEFU_DATABASE_URL=url,
        KEFU_REDIS_URL=os.environ.get("KEFU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        KEFU_EVENT_CHANNEL="kefu-bench:events",
        KEFU_QUEUE="kefu-bench:queue",
    )
    return env


def _fill(env: dict[str, str], tickets: int) -> float:
    """Migrate and fill with the demo (nothing when it already has tickets); seconds taken."""
    started = time.perf_counter()
    subprocess.run([*_kefu(), "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*_kefu(), "demo", "--tickets", str(tickets), "--if-empty"],
        env=env,
        check=True,
        capture_output=True,
    )
    return round(time.perf_counter() - started, 1)


class Server:
    """``kefu web`` in a subprocess, until closed."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*_kefu(), "web", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=self.base) as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
        raise RuntimeError("kefu web did not answer /health")

    def rss_mib(self) -> float:
        """Resident memory of the server and all its processes."""
        pids, total = [self.process.pid], 0
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
            pids += [int(c) for c in children]
        return round(total / 1024, 1)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        self.process.wait(timeout=30)


async def _signed_in(base: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=60)
    page = await client.get("/login")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = await client.post(
        "/login", data={"username": "lead", "password": "kefu-lead", "_csrf_token": token}
    )
    assert signed.status_code in (302, 303), signed.status_code
    client.headers.update(
        {"HX-Request": "true", "x-csrftoken": str(client.cookies.get("kefu_csrf"))}
    )
    return client


async def _c1(client: httpx.AsyncClient, request: Request, samples: int) -> dict[str, Any]:
    timings, errors = [], 0
    for i in range(WARMUP + samples):
        started = time.perf_counter()
        response = await request(client, i)
        if response is None:
            break
        if i >= WARMUP:
            timings.append((time.perf_counter() - started) * 1000)
        errors += response.status_code >= 300
    return {**percentiles(timings), "errors": errors}


async def _c8(clients: list[httpx.AsyncClient], request: Request, seconds: float) -> dict[str, Any]:
    timings: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    stop = time.perf_counter() + seconds

    async def person(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            response = await request(client, next(counter))
            if response is None:
                return
            timings.append((time.perf_counter() - started) * 1000)
            errors += response.status_code >= 300

    started = time.perf_counter()
    await asyncio.gather(*(person(c) for c in clients))
    elapsed = time.perf_counter() - started
    return {
        "per_second": round(len(timings) / elapsed, 1),
        "p95_ms": round(statistics.quantiles(timings, n=20)[18], 1) if len(timings) > 1 else None,
        "n": len(timings),
        "errors": errors,
    }


async def _pending(url: str, env: dict[str, str], count: int) -> Iterator[tuple[int, int]]:
    """Distinct pending cards (id, version) a lead may take, oldest first."""
    code = (
        "import asyncio, json\n"
        "from sqlalchemy import select\n"
        "from models.db import Database\n"
        "from models.ticket import Ticket\n"
        "async def main():\n"
        f"    db = Database({url!r})\n"
        "    async with db.sessionmaker() as s:\n"
        "        rows = (await s.execute(select(Ticket.id, Ticket.version).where(\n"
        "            Ticket.status == 'pending', Ticket.merged_into_id.is_(None))\n"
        f"            .order_by(Ticket.id).limit({count}))).all()\n"
        "    await db.dispose()\n"
        "    print(json.dumps([list(r) for r in rows]))\n"
        "asyncio.run(main())\n"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    out = done.stdout
    return iter([(int(i), int(v)) for i, v in json.loads(out)])


def _requests(
    cards: Iterator[tuple[int, int]], sample_ids: list[int], number: str
) -> dict[str, Request]:
    def get(path: str) -> Request:
        async def call(client: httpx.AsyncClient, _i: int) -> httpx.Response:
            return await client.get(path)

        return call

    async def drawer(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.get(f"/tickets/{sample_ids[i % len(sample_ids)]}")

    async def move(client: httpx.AsyncClient, _i: int) -> httpx.Response | None:
        card = next(cards, None)
        if card is None:
            return None
        ticket_id, version = card
        data = {"ticket_id": str(ticket_id), "version": str(version), "status": "in_progress"}
        return await client.post("/board/move", data=data)

    async def intake(client: httpx.AsyncClient, i: int) -> httpx.Response:
        stamp = f"{os.getpid()}{i:07d}{time.monotonic_ns() % 10**6:06d}"
        data = {
            "name": f"压测客户{stamp[-6:]}",
            "phone": f"139{stamp[-8:]}",
            "description": f"订单 {stamp} 的退款还没到账，麻烦查一下",
            "urgency": "normal",
            "channel": "phone",
            "customer_type": "individual",
            "form_key": f"bench-{stamp}",
        }
        return await client.post("/intake/", data=data)

    return {
        "board": get("/board"),
        "board_search_zh": get("/board?q=%E9%80%80%E6%AC%BE"),  # 退款
        "board_search_number": get(f"/board?q={number}"),
        "drawer": drawer,
        "move": move,
        "intake_create": intake,
        "matrix": get("/board/matrix"),
        "kpi_dashboard": get("/reports/kpi"),
        "problem_summary": get("/reports/"),
    }


async def _measure(
    server: Server, requests: dict[str, Request], only: set[str], samples: int, seconds: float
) -> dict[str, Any]:
    clients = [await _signed_in(server.base) for _ in range(8)]
    try:
        figures: dict[str, Any] = {}
        for name, request in requests.items():
            if only and name not in only:
                continue
            figures[name] = {
                "c1": await _c1(clients[0], request, samples),
                "c8": await _c8(clients, request, seconds),
            }
        return figures
    finally:
        for client in clients:
            await client.aclose()


async def run() -> dict[str, Any]:
    tickets = int(os.environ.get("KEFU_BENCH_TICKETS", "100000"))
    samples = int(os.environ.get("KEFU_BENCH_HTTP_SAMPLES", "30"))
    seconds = float(os.environ.get("KEFU_BENCH_HTTP_SECONDS", "10"))
    only = {n for n in os.environ.get("KEFU_BENCH_HTTP_ONLY", "").split(",") if n}
    data_dir = BENCH_DIR / "http-data"
    if not os.environ.get("KEFU_BENCH_REUSE"):
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("KEFU_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir}/kefu.db"
    env = _environment(data_dir, url)
    result: dict[str, Any] = {
        "database": url.split(":", 1)[0],
        "tickets": tickets,
        "load_average_start": round(os.getloadavg()[0], 2),
        "fill_seconds": _fill(env, tickets),
    }
    moves_needed = (WARMUP + samples) + int(seconds * 400)
    cards = await _pending(url, env, moves_needed)
    server = Server(env, workers=2)
    try:
        await server.ready()
        probe = await _signed_in(server.base)
        board = (await probe.get("/board")).text
        await probe.aclose()
        ids = [int(x.split('"', 1)[0]) for x in board.split('data-id="')[1:]][:50]
        number = board.split('data-number="', 1)[1].split('"', 1)[0]
        requests = _requests(cards, ids, number)
        result["workers_2"] = await _measure(server, requests, only, samples, seconds)
        result["server_rss_mib_workers_2"] = server.rss_mib()
    finally:
        server.close()
    if not only or "board" in only:
        single = Server(env, workers=1)
        try:
            await single.ready()
            reads = {"board": requests["board"]}
            result["workers_1"] = await _measure(single, reads, {"board"}, samples, seconds)
            result["server_rss_mib_workers_1"] = single.rss_mib()
        finally:
            single.close()
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2, ensure_ascii=False))
