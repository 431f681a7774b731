"""Password guessing against a real ``kefu web``: does ``/health`` stay fast meanwhile?

Starts ``python -m web.cli web`` (uvicorn, one process) on a free loopback port over a scratch
SQLite database under var/bench/, with its own data directory and a Redis database index
claimed the way the tests claim theirs, and creates staff accounts through the services
(with the configured argon2 cost: 64 MiB, 3 passes by default). Then:

1. ``/health`` alone, one request at a time.
2. Two guessing phases of ``KEFU_BENCH_SIGNIN_SECONDS`` (default 20) each: 8 clients post
   wrong passwords to the sign-in form, each with its own CSRF cookie and token as a browser
   has, over a list of names of which some exist, while a 9th client times ``/health``.

   - ``one_address``: every guess from the loopback address, as one attacking machine; the
     per-address limit (30 failures in 15 minutes) soon answers 429 without hashing.
   - ``many_addresses``: each guess from another address (``X-Forwarded-For``, which uvicorn
     trusts from 127.0.0.1, as behind a reverse proxy), as a botnet: only the per-account
     limit (5 failures) applies, so almost every guess costs an argon2 hash — the worst case.

The issue's target: 8 guessing clients do not slow ``/health`` past 50 ms p95.

    python -m bench signin
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import secrets
import shutil
import subprocess
import time
from collections import Counter
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

GUESSERS = 8
HEALTH_ALONE = 200
HEALTH_PAUSE_S = 0.02  # the 9th client: a monitor polling /health, not a load generator
PASSWORD = "Bench-signin-7391"
# Existing accounts per phase (each phase guesses at fresh ones: the first phase's are locked).
EXISTING = {"one_address": ["agent.li", "lead.wu"], "many_addresses": ["agent.he", "lead.xu"]}
UNKNOWN_NAMES = 60


def _rss_mib(pid: int) -> dict[str, float]:
    """The server's resident memory now and at its peak (VmHWM)."""
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mib": figures.get("VmRSS", 0.0), "peak_rss_mib": figures.get("VmHWM", 0.0)}


async def _create_accounts(url: str) -> None:
    import models
    from models.db import Database, unit_of_work
    from models.services.admin import users
    from models.services.common.actor import Actor

    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.drop_all)
        await conn.run_sync(models.Base.metadata.create_all)
    async with unit_of_work(db) as s:
        for names in EXISTING.values():
            for username in names:
                role = "lead" if username.startswith("lead") else "agent"
                await users.create_user(
                    s, Actor.system("bench"), username=username, password=PASSWORD, role=role
                )
    await db.dispose()


async def _health_samples(client: httpx.AsyncClient, stop: asyncio.Event | int) -> list[float]:
    """``/health`` latencies: ``stop`` samples, or until the event is set."""
    samples: list[float] = []
    while (len(samples) < stop) if isinstance(stop, int) else not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        if not isinstance(stop, int):
            await asyncio.sleep(HEALTH_PAUSE_S)
    return samples


async def _guesser(
    base_url: str, n: int, names: list[str], spread: bool, until: float, answers: Counter[int]
) -> None:
    """One browser: the sign-in page for its CSRF cookie and token, then wrong passwords."""
    rng = random.Random(n)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        page = await client.get("/login")
        token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        i = n
        while time.monotonic() < until:
            headers = {}
            if spread:  # 198.18.0.0/15: the range set aside for benchmarks
                headers["X-Forwarded-For"] = (
                    f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                )
            response = await client.post(
                "/login",
                data={
                    "username": names[i % len(names)],
                    "password": secrets.token_urlsafe(9),
                    "_csrf_token": token,
                },
                headers=headers,
            )
            answers[response.status_code] += 1
            i += GUESSERS


async def _guessing(base_url: str, phase: str, seconds: float, pid: int) -> dict[str, Any]:
    spread = phase == "many_addresses"
    names = EXISTING[phase] + [f"{phase[:4]}-guess-{k}" for k in range(UNKNOWN_NAMES)]
    answers: Counter[int] = Counter()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as monitor:
        health = asyncio.create_task(_health_samples(monitor, stop))
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(
            *(_guesser(base_url, n, names, spread, until, answers) for n in range(GUESSERS))
        )
        elapsed = time.monotonic() - started
        stop.set()
        samples = await health
    total = sum(answers.values())
    return {
        "guessers": GUESSERS,
        "seconds": round(elapsed, 1),
        "names": len(names),
        "existing_names": len(EXISTING[phase]),
        "health": percentiles(samples),
        "guesses": total,
        "guesses_per_s": round(total / elapsed, 1),
        "share_401": round(answers[401] / total, 3) if total else 0.0,
        "share_429": round(answers[429] / total, 3) if total else 0.0,
        "other_answers": {str(k): v for k, v in answers.items() if k not in (401, 429)},
        "server": _rss_mib(pid),
    }


async def run() -> dict[str, Any]:
    from models.settings import get_settings, reset_settings

    seconds = float(os.environ.get("KEFU_BENCH_SIGNIN_SECONDS", "20"))
    url = scratch_database_url("signin")
    data_dir = BENCH_DIR / "signin-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, mode=0o700)
    owner = f"bench-signin-{secrets.token_hex(5)}"
    redis_base = os.environ.get("KEFU_BENCH_REDIS", "redis://127.0.0.1:6379")
    redis_url = f"{redis_base}/{claim_redis_db(redis_base, owner)}"
    env = {
        "KEFU_DATABASE_URL": url,
        "KEFU_DATA_DIR": str(data_dir),
        "KEFU_REDIS_URL": redis_url,
        "KEFU_QUEUE": f"{owner}:queue",
        "KEFU_EVENT_CHANNEL": f"{owner}:events",
        "KEFU_SECRET_KEY": secrets.token_urlsafe(48),
        "KEFU_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_settings()
    settings = get_settings()
    process: subprocess.Popen[bytes] | None = None
    log = BENCH_DIR / "signin-web.log"
    try:
        await _create_accounts(url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = start_server(port, log)
        await wait_healthy(base_url, process, log)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            await _health_samples(client, 20)  # warm-up
            alone = await _health_samples(client, HEALTH_ALONE)
        idle = _rss_mib(process.pid)
        phases = {
            phase: await _guessing(base_url, phase, seconds, process.pid)
            for phase in ("one_address", "many_addresses")
        }
        return {
            "database": "sqlite",
            "argon2": {
                "time_cost": settings.argon2_time_cost,
                "memory_kib": settings.argon2_memory_kib,
            },
            "limits": {
                "per_account": settings.sign_in_max_failures,
                "per_address": settings.sign_in_max_failures_ip,
                "window_minutes": settings.sign_in_window_minutes,
            },
            "health_alone": percentiles(alone),
            "server_idle": idle,
            **phases,
            "target_health_p95_ms": 50,
        }
    finally:
        if process is not None:
            stop_server(process)
        release_redis_db(redis_url, owner)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(asyncio.run(run()), indent=2))
