"""Triage and knowledge-base figures on this machine, through the real worker.

* ``encode``: the raw rate of the embedding model (batches of 64, and one text at a time) on
  the burst's inquiry texts — the ceiling for triage, which embeds every inquiry.
* ``burst``: N inquiries registered at once (default 1,000), then the real arq worker (its
  runtime already warm) triages them all: inquiries per second, and the ratio to the raw
  batched encode rate.
* ``steady``: inquiries registered at a steady 10 per second for a while (default 30 s) while
  a worker runs in its own process (``kefu worker``), as in production: the latency from
  registration to classification (``triaged_at - created_at``), p50/p95.
* ``suggest``: 10,000 published articles (the seed knowledge base plus synthetic articles
  built from it and the bootstrap messages), embedded; portal suggestions through the worker
  (asked and answered over Redis, :mod:`models.services.common.asks`) p50/p95, the
  worker-side search alone, and the web's lexical fallback.
* ``retrain``: a retraining with 10,000 labels — the first run embeds them (then stored), the
  second reuses the stored vectors.

Sizes: ``KEFU_BENCH_TRIAGE_BURST``, ``KEFU_BENCH_TRIAGE_STEADY_SECONDS``,
``KEFU_BENCH_TRIAGE_ARTICLES``, ``KEFU_BENCH_TRIAGE_LABELS``. The benchmark uses its own
scratch database, data directory (var/bench/triage-data), queue and Redis index (claimed and
flushed like the tests', released after).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

import models
from bench.common import (
    BENCH_DIR,
    claim_redis_db,
    percentiles,
    release_redis_db,
    scratch_database_url,
)
from models.article import Article
from models.base import utcnow
from models.customer import Customer
from models.db import Database, create_engine, unit_of_work
from models.enums import ArticleStatus, Channel, CustomerLevel, RequestType
from models.label import Label
from models.services.common import asks
from models.services.common.actor import Actor
from models.services.common.jobs import SUGGEST
from models.services.demo import seed as demo
from models.services.knowledge import kb
from models.services.tickets import commands
from models.settings import get_settings, reset_settings
from models.ticket import Ticket

SEED = 11
SYSTEM = Actor.system("bench")


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _configure(owner: str) -> str:
    """A data directory, queue and Redis index of the benchmark's own (models, caches, jobs);
    returns the Redis URL, for :func:`~bench.common.release_redis_db`.

    The Redis index is claimed and flushed like the tests' (never index 0): arq keeps a job's
    key (a day, if it never ran) and its result under the job id, whatever the queue, so jobs
    left by an earlier run with the same ticket ids would silently keep this run's jobs from
    being queued."""
    base = os.environ.get("KEFU_BENCH_REDIS", "redis://127.0.0.1:6379")
    redis_url = f"{base}/{claim_redis_db(base, owner)}"
    os.environ["KEFU_REDIS_URL"] = redis_url
    os.environ["KEFU_DATA_DIR"] = str(BENCH_DIR / "triage-data")
    os.environ["KEFU_DATABASE_URL"] = scratch_database_url("triage")
    os.environ["KEFU_QUEUE"] = "kefu-bench:triage"
    reset_settings()
    return redis_url


async def _schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(models.Base.metadata.drop_all)
        await conn.run_sync(models.Base.metadata.create_all)
    await engine.dispose()


def _messages() -> list[dict[str, Any]]:
    return demo.load_messages()


async def _customers(db: Database, n: int) -> list[int]:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(Customer),
            [
                {
                    "number": f"B{i:07d}",
                    "name": f"客户{i}",
                    "source_channel": Channel.PHONE,
                    "level": CustomerLevel.VIP if i % 10 == 0 else CustomerLevel.NORMAL,
                    "registered_at": utcnow(),
                }
                for i in range(n)
            ],
        )
    async with db.sessionmaker() as session:
        return list((await session.scalars(select(Customer.id))).all())


async def _register(db: Database, redis: Any, customer_id: int, text: str) -> int:
    settings = get_settings()
    async with unit_of_work(db, redis, settings.event_channel) as session:
        ticket, _ = await commands.create(
            session,
            SYSTEM,
            commands.TicketInput(customer_id=customer_id, description=text, channel=Channel.PORTAL),
        )
        return ticket.id


def _worker(runtime: Any, **overrides: Any) -> Any:
    from workers.main import KefuWorker, worker_options

    return KefuWorker(**{**worker_options(), "ctx": {"triage": runtime}, **overrides})


@contextlib.contextmanager
def _worker_process() -> Iterator[subprocess.Popen[bytes]]:
    """``kefu worker`` as its own process, on the benchmark's settings (environment): as in
    production, where inquiries are registered by web processes, not by the worker's."""
    kefu = Path(sys.executable).with_name("kefu")
    log = (BENCH_DIR / "triage-worker.log").open("wb")
    process = subprocess.Popen([str(kefu), "worker"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _classifier_ready() -> None:
    """Until the worker process's log says its classifier is ready (at most 15 minutes)."""
    log = BENCH_DIR / "triage-worker.log"
    async with asyncio.timeout(900):
        # Another process's log file: nothing to await but the next look.
        while "classifier ready" not in log.read_text(errors="replace"):  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def _encode_rates(embedder: Any, texts: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    await asyncio.to_thread(embedder.encode, texts, 64)
    batched = len(texts) / (time.perf_counter() - started)
    sample = texts[:100]
    started = time.perf_counter()
    for text in sample:
        await asyncio.to_thread(embedder.encode, [text], 1)
    single = len(sample) / (time.perf_counter() - started)
    return {
        "texts": len(texts),
        "batched_per_s": round(batched, 1),
        "one_at_a_time_per_s": round(single, 1),
    }


async def _burst(
    db: Database, redis: Any, runtime: Any, customers: list[int], texts: list[str]
) -> dict[str, Any]:
    for i, text in enumerate(texts):
        await _register(db, redis, customers[i % len(customers)], text)
    started, started_at = time.perf_counter(), utcnow()
    worker = _worker(runtime, burst=True, max_jobs=16)
    try:
        await worker.main()
    finally:
        await worker.close()
    seconds = time.perf_counter() - started
    async with db.sessionmaker() as session:
        done = len(
            (await session.scalars(select(Ticket.id).where(Ticket.triaged_at.is_not(None)))).all()
        )
        last = await session.scalar(select(func.max(Ticket.triaged_at)))
    # Classified and routed (triaged_at) vs all the work, which with a retrieval embedder of
    # its own includes ranking every ticket's suggestions again after (suggest-ticket jobs).
    classified = (last - started_at).total_seconds() if last else seconds
    return {
        "inquiries": len(texts),
        "triaged": done,
        "seconds": round(classified, 1),
        "per_s": round(done / classified, 1),
        "with_suggestions_seconds": round(seconds, 1),
        "with_suggestions_per_s": round(done / seconds, 1),
    }


async def _steady(
    db: Database, redis: Any, customers: list[int], texts: list[str], seconds: int
) -> dict[str, Any]:
    ids: list[int] = []
    with _worker_process():
        # warm the worker (models, index) before measuring
        warm = await _register(db, redis, customers[0], texts[0])
        for _ in range(3000):
            async with db.sessionmaker() as session:
                if (await session.get(Ticket, warm)).triaged_at is not None:  # type: ignore[union-attr]
                    break
            await asyncio.sleep(0.1)
        start = time.perf_counter()
        for i in range(seconds * 10):
            due = start + i / 10
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            ids.append(
                await _register(
                    db, redis, customers[(i + 1) % len(customers)], texts[(i + 1) % len(texts)]
                )
            )
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            async with db.sessionmaker() as session:
                left = len(
                    (
                        await session.scalars(
                            select(Ticket.id).where(Ticket.id.in_(ids), Ticket.triaged_at.is_(None))
                        )
                    ).all()
                )
            if not left:
                break
            await asyncio.sleep(0.2)
    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Ticket.created_at, Ticket.triaged_at).where(Ticket.id.in_(ids))
            )
        ).all()
    latencies = [
        (r.triaged_at - r.created_at).total_seconds() * 1000
        for r in rows
        if r.triaged_at is not None
    ]
    return {"rate_per_s": 10, "seconds": seconds, **percentiles(latencies)}


def _synthetic_articles(n: int, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Variants of the seed articles up to ``n`` in all: a seed body under a customer's
    question as title, with a few more questions of that language appended (distinct texts,
    real words)."""
    rng = random.Random(SEED)
    seeds = demo.load_articles()  # already published by the seed step
    rows: list[dict[str, Any]] = []
    by_lang: dict[str, list[str]] = {}
    for m in messages:
        by_lang.setdefault(m.get("lang", "zh"), []).append(m["text"])
    i = 0
    while len(rows) < n - len(seeds):
        seed = seeds[i % len(seeds)]
        lang = "en" if seed.get("locale") == "en" else "zh"
        pool = by_lang.get(lang) or next(iter(by_lang.values()))
        extra = "\n\n".join(rng.sample(pool, 3))
        rows.append(
            {
                "id": f"syn-{i}",
                "title": rng.choice(pool)[:120],
                "body": f"{seed['body']}\n\n{extra}",
                "locale": seed.get("locale", "zh_CN"),
            }
        )
        i += 1
    return rows


async def _suggest(
    db: Database, redis: Any, runtime: Any, n: int, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    now = utcnow()
    rows = _synthetic_articles(n, messages)
    async with db.engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(
                insert(Article),
                [
                    {
                        "external_id": r["id"],
                        "title": r["title"],
                        "body": r["body"],
                        "locale": r.get("locale", "zh_CN"),
                        "status": ArticleStatus.PUBLISHED,
                        "created_at": now,
                        "updated_at": now,
                        "published_at": now,
                        "suggested_count": 0,
                        "click_count": 0,
                        "solved_count": 0,
                    }
                    for r in rows[start : start + 2000]
                ],
            )
    started = time.perf_counter()
    embedded = await runtime.embed_articles(db)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    await runtime.kb_index(db)
    index_seconds = time.perf_counter() - started
    rng = random.Random(SEED)
    queries = [m["text"] for m in rng.sample(messages, 200)]
    search_ms = []
    for q in queries:
        t = time.perf_counter()
        await runtime.search(db, q, 3, locale="zh_CN")
        search_ms.append((time.perf_counter() - t) * 1000)
    portal_ms, fallback_ms, answered = [], [], 0
    with _worker_process():
        await asks.ask(redis, SUGGEST, {"query": "预热", "locale": "zh_CN", "k": 1}, 1800)
        # A worker in production readied its classifier long ago; this one does it as it
        # starts (seconds of CPU), which would otherwise overlap the first queries.
        await _classifier_ready()
        for q in queries:
            t = time.perf_counter()
            async with db.sessionmaker() as session:
                found = await kb.suggest_for_portal(session, q, "zh_CN", 3, redis=redis)
            portal_ms.append((time.perf_counter() - t) * 1000)
            answered += bool(found)
    for q in queries[:50]:
        t = time.perf_counter()
        async with db.sessionmaker() as session:
            await kb.suggest_for_portal(session, q, "zh_CN", 3)  # no redis: lexical only
        fallback_ms.append((time.perf_counter() - t) * 1000)
    return {
        "articles": n,
        "embedded": embedded,
        "embed_seconds": round(embed_seconds, 1),
        "index_build_seconds": round(index_seconds, 1),
        "portal_via_worker": percentiles(portal_ms),
        "with_suggestions": answered,
        "worker_search_only": percentiles(search_ms),
        "web_lexical_fallback": percentiles(fallback_ms),
        "timeout_ms": kb.SUGGEST_TIMEOUT * 1000,
    }


async def _retrain(
    db: Database, runtime: Any, n: int, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    rng = random.Random(SEED)
    by_type: dict[str, list[str]] = {}
    for m in messages:
        by_type.setdefault(m["category"], []).append(m["text"])
    now = utcnow() + timedelta(seconds=1)
    labels = []
    types = list(by_type)
    for i in range(n):
        category = types[i % len(types)]
        a, b = rng.sample(by_type[category], 2)
        labels.append(
            {
                "text": f"{a} {b}",
                "category": RequestType(category),
                "source": "import",
                "created_at": now,
            }
        )
    async with db.engine.begin() as conn:
        await conn.execute(insert(Label), labels)
    timings = {}
    for run in ("first_embeds_labels", "second_reuses_embeddings"):
        started = time.perf_counter()
        outcome = await runtime.retrain(db, trigger="manual")
        timings[run] = {
            "seconds": round(time.perf_counter() - started, 1),
            "status": str(outcome.status),
            "error": outcome.error,
        }
    return {"labels": n, **timings}


async def run() -> dict[str, Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    from triage.embedder import load_embedder
    from workers.context import TriageRuntime

    owner = f"bench-triage-{secrets.token_hex(5)}"
    redis_url = _configure(owner)
    settings = get_settings()
    await _schema(settings.database_url)
    db = Database(settings.database_url)
    redis = await create_pool(
        RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name
    )
    embedder = await asyncio.to_thread(load_embedder, settings.embedding_model)
    runtime = TriageRuntime(settings, embedder=embedder)
    results: dict[str, Any] = {"embedder": embedder.name}
    try:
        async with unit_of_work(db) as session:
            await demo.seed_reference(session)
            await demo.seed_articles(session)
        messages = _messages()
        rng = random.Random(SEED)
        burst_texts = [
            m["text"] for m in rng.sample(messages, _size("KEFU_BENCH_TRIAGE_BURST", 1000))
        ]
        customers = await _customers(db, 500)
        started = time.perf_counter()
        await runtime.classifier(db)  # bootstrap (or reuse) before timing
        results["bootstrap_seconds"] = round(time.perf_counter() - started, 1)
        await runtime.embed_articles(db)  # the seed articles, before anything is timed
        await runtime.kb_index(db)
        results["retrieval_embedder"] = await runtime.retrieval.name()
        results["encode"] = await _encode_rates(embedder, burst_texts)
        results["burst"] = await _burst(db, redis, runtime, customers, burst_texts)
        results["burst"]["vs_batched_encode"] = round(
            results["burst"]["per_s"] / results["encode"]["batched_per_s"], 2
        )
        results["steady"] = await _steady(
            db,
            redis,
            customers,
            burst_texts,
            _size("KEFU_BENCH_TRIAGE_STEADY_SECONDS", 30),
        )
        results["suggest"] = await _suggest(
            db, redis, runtime, _size("KEFU_BENCH_TRIAGE_ARTICLES", 10_000), messages
        )
        results["retrain"] = await _retrain(
            db, runtime, _size("KEFU_BENCH_TRIAGE_LABELS", 10_000), messages
        )
    finally:
        await runtime.close()
        await redis.aclose()
        await db.dispose()
        release_redis_db(redis_url, owner)
    return results
