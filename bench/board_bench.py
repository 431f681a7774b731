"""The board at scale: p50/p95 of the board page and of a move, through the real app.

Fills a scratch database with ``demo.fill`` (100,000 tickets unless ``KEFU_BENCH_TICKETS``
says fewer; ``KEFU_BENCH_DATABASE_URL`` points it at PostgreSQL), signs a lead in and times
requests through the real Litestar app (middleware, auth, CSRF, templates, database).

    python -m bench board              # or: python -m bench.board_bench
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import (
    BENCH_DIR,
    fill_demo,
    pending_cards,
    percentiles,
    scratch_database_url,
)

WARMUP = 3
PAGE_SAMPLES = 30
MOVE_SAMPLES = 30


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Point the settings at the scratch database for the benchmark, then restore them."""
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


async def _timed(samples: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(WARMUP):
        await call()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def run() -> dict[str, Any]:
    tickets = int(os.environ.get("KEFU_BENCH_TICKETS", "100000"))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    url = scratch_database_url("board")
    with _environment(
        KEFU_DATABASE_URL=url,
        KEFU_DATA_DIR=str(BENCH_DIR / "board-data"),
        KEFU_EVENT_CHANNEL="kefu-bench:events",
        KEFU_QUEUE="kefu-bench:queue",
        KEFU_ARGON2_TIME_COST="1",
        KEFU_ARGON2_MEMORY_KIB="1024",
    ):
        from litestar.testing import AsyncTestClient

        from models.settings import ensure_runtime_files
        from web.app import create_app

        settings = ensure_runtime_files()
        figures: dict[str, Any] = {"backend": url.split(":", 1)[0]}
        figures.update(await fill_demo(url, tickets))
        moves = await pending_cards(url, MOVE_SAMPLES + WARMUP)

        async with AsyncTestClient(create_app(settings), base_url="http://bench.local") as client:
            page = await client.get("/login")
            token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
            signed = await client.post(
                "/login",
                data={"username": "lead", "password": "kefu-lead", "_csrf_token": token},
                follow_redirects=False,
            )
            assert signed.status_code in (302, 303), signed.status_code
            csrf = client.cookies.get("kefu_csrf")
            headers = {
                "HX-Request": "true",
                "HX-Current-URL": "http://bench.local/board",
                "x-csrftoken": str(csrf),
            }

            async def get(path: str) -> None:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.status_code)

            figures["board_page"] = percentiles(await _timed(PAGE_SAMPLES, lambda: get("/board")))
            figures["board_search_zh"] = percentiles(
                await _timed(PAGE_SAMPLES // 3, lambda: get("/board?q=%E5%8F%91%E7%A5%A8"))
            )
            # The search index: a Latin word prefix, two Chinese words, part of a phone.
            for name, q in (
                ("board_search_en", "refund"),
                ("board_search_zh_phrase", "%E7%94%B3%E8%AF%B7%E9%80%80%E6%AC%BE"),  # 申请退款
                ("board_search_phone", "5678"),
            ):
                figures[name] = percentiles(
                    await _timed(PAGE_SAMPLES // 3, lambda q=q: get(f"/board?q={q}"))  # type: ignore[misc]
                )
            figures["board_sla_breached"] = percentiles(
                await _timed(PAGE_SAMPLES // 3, lambda: get("/board?sla=breached"))
            )
            figures["column_more"] = percentiles(
                await _timed(
                    PAGE_SAMPLES // 3, lambda: get("/board/columns/closed/more?offset=500")
                )
            )
            figures["matrix"] = percentiles(
                await _timed(PAGE_SAMPLES // 3, lambda: get("/board/matrix"))
            )

            queue = iter(moves)

            async def move() -> None:
                ticket_id, version = next(queue)
                response = await client.post(
                    "/board/move",
                    data={"ticket_id": ticket_id, "version": version, "status": "in_progress"},
                    headers=headers,
                )
                assert response.status_code == 200, response.text[:300]

            samples = min(MOVE_SAMPLES, max(len(moves) - WARMUP, 0))
            figures["move"] = percentiles(await _timed(samples, move)) if samples else {"n": 0}
    return figures


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run()), indent=2, ensure_ascii=False))
