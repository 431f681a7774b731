"""One installation on several processes, as on several machines: two ``kefu web`` and two
``kefu worker`` processes over the run's PostgreSQL database, its Redis index and an S3 store
(moto's server on loopback). Nothing may assume one process: a move made through one web
process reaches a board connected to the other, a session and its CSRF token from one are
good on the other, a file uploaded through one is downloaded through the other, each inquiry
is triaged once and each periodic job runs once per period however many workers run.

PostgreSQL only (the multi-machine database; deselected on the SQLite run).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from bench import http_bench
from bench.common import free_port, log_tail, start_server, stop_server, wait_healthy
from models.attachment import Attachment
from models.db import Database, unit_of_work
from models.enums import Channel, TicketStatus
from models.services.admin import api_keys
from models.services.chat import widgets
from models.services.common.actor import Actor
from models.services.common.storage import S3Storage, parse_s3_url
from models.services.customers import registry
from models.services.tickets import commands
from models.ticket import Ticket
from tests.conftest import _TMP
from tests.e2e.conftest import CHROMIUM, REPO_ROOT, sign_in
from tests.integration.attachments_support import moto_s3

pytestmark = pytest.mark.postgresql

SYSTEM = Actor.system("test")
WORKER_START_S = 120.0
TRIAGE_WAIT_S = 300.0
# A periodic job starting: "periodic run cron:sla_tick:1796263200000" (its name and instant).
PERIODIC_STARTED = re.compile(r"periodic run (cron:[a-z_]+:\d+)")
# "  0.21s → triage:2:triage_ticket(ticket_id=2)"
TRIAGE_STARTED = re.compile(r"→ triage:(\d+):triage_ticket\(")


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_s3(monkeypatch) as url:
        monkeypatch.setenv("KEFU_ATTACHMENT_STORAGE_URL", url)  # the processes started below
        yield url


@asynccontextmanager
async def _web(name: str) -> AsyncIterator[str]:
    port = free_port()
    log = _TMP / f"multi-{name}.log"
    process = start_server(port, log, workers=1)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)


def _spawn_worker(log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker", "--log-level", "info"],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@asynccontextmanager
async def _worker(name: str) -> AsyncIterator[Path]:
    """``kefu worker`` (its log at info: every job's start); yields the log once it runs."""
    log = _TMP / f"multi-{name}.log"
    process = _spawn_worker(log)
    try:
        deadline = time.monotonic() + WORKER_START_S
        while "Starting worker for" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{log_tail(log)}")
            await asyncio.sleep(0.2)
        yield log
    finally:
        stop_server(process)


def _htmx(client: httpx.AsyncClient) -> dict[str, str]:
    """The headers htmx sends from a board page (its CSRF token from the cookie)."""
    return {"HX-Request": "true", "x-csrftoken": str(client.cookies.get("kefu_csrf"))}


async def _move(
    client: httpx.AsyncClient, base_url: str, db: Database, ticket_id: int, target: TicketStatus
) -> None:
    async with db.sessionmaker() as s:
        version = (await s.get(Ticket, ticket_id)).version  # type: ignore[union-attr]
    answer = await client.post(
        f"{base_url}/board/move",
        data={
            "ticket_id": str(ticket_id),
            "status": target.value,
            "version": str(version),
            "resolution": "",
        },
        headers=_htmx(client),
    )
    assert answer.status_code == 200, answer.text[:500]


async def _board(browser: Any, contexts: list[Any], sign_in_at: str, board_at: str) -> Any:
    """A lead's board on ``board_at``, signed in through ``sign_in_at``, its stream open."""
    context = await browser.new_context(base_url=sign_in_at, locale="zh-CN")
    contexts.append(context)
    context.set_default_timeout(20_000)
    page = await context.new_page()
    await sign_in(page, "lead", "kefu-lead")
    await page.goto(f"{board_at}/board?department=all")
    await expect(page.locator("body")).to_have_attribute("data-live-stream", "open")
    return page


def _job_starts(logs: list[Path], pattern: re.Pattern[str]) -> Counter[str]:
    """How many times each job (by what ``pattern`` captures of its id) started, over all logs."""
    runs: Counter[str] = Counter()
    for log in logs:
        runs.update(pattern.findall(log.read_text(errors="replace")))
    return runs


async def test_two_web_processes_and_two_workers_are_one_installation(
    db: Database, reference: dict[str, int], redis: Any, browser: Any, s3_url: str
) -> None:
    assert CHROMIUM
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s, SYSTEM, registry.CustomerInput(name="多进程客户", phone="13900002222")
        )
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer.id, description="两台机器之间的工单", channel=Channel.PHONE
            ),
        )
        _, api_key = await api_keys.create(s, SYSTEM, "multi-process")
        widget = await widgets.save(s, SYSTEM, widgets.WidgetInput(name="多进程在线客服"))

    async with (
        _web("web-a") as web_a,
        _web("web-b") as web_b,
        _worker("worker-1") as log_1,
        _worker("worker-2") as log_2,
    ):
        both_running = time.time()
        lead = await http_bench._signed_in(web_a)  # the lead, through the login form
        contexts: list[Any] = []
        try:
            # A session and its CSRF token from A are good on B.
            board_b = await lead.get(f"{web_b}/board")
            assert board_b.status_code == 200 and 'id="board"' in board_b.text

            # A move made through A reaches a board connected to B, and the other way round.
            page_b = await _board(browser, contexts, web_a, web_b)
            page_a = await _board(browser, contexts, web_b, web_a)
            await _move(lead, web_a, db, ticket.id, TicketStatus.IN_PROGRESS)
            on_b = page_b.locator(f"[data-testid=column-in_progress] #card-{ticket.id}")
            await expect(on_b).to_have_count(1)
            await expect(page_b.locator(f"#card-{ticket.id}")).to_have_count(1)
            await _move(lead, web_b, db, ticket.id, TicketStatus.AWAITING_CONFIRMATION)
            on_a = page_a.locator(f"[data-testid=column-awaiting_confirmation] #card-{ticket.id}")
            await expect(on_a).to_have_count(1)
            await expect(page_a.locator(f"#card-{ticket.id}")).to_have_count(1)

            # A file uploaded through A (into the S3 store) is downloaded through B.
            content = "到货破损照片说明：外箱右下角压痕。".encode()
            uploaded = await lead.post(
                f"{web_a}/tickets/{ticket.id}/attachments",
                files=[("files", ("说明.txt", content, "text/plain"))],
                headers=_htmx(lead),
            )
            assert uploaded.status_code == 200, uploaded.text[:500]
            async with db.sessionmaker() as s:
                attachment = await s.scalar(
                    select(Attachment).where(Attachment.ticket_id == ticket.id)
                )
            assert attachment is not None
            downloaded = await lead.get(f"{web_b}/attachments/{attachment.id}")
            assert downloaded.status_code == 200 and downloaded.content == content
            # The bytes are in the bucket (moto keeps one store per test process, so other
            # tests' objects may be there too).
            assert await S3Storage(parse_s3_url(s3_url)).get(attachment.sha256) == content

            # A customer chatting through A and an agent answering through B talk live.
            agent_context = await browser.new_context(base_url=web_a, locale="zh-CN")
            contexts.append(agent_context)
            agent_context.set_default_timeout(20_000)
            agent = await agent_context.new_page()
            await sign_in(agent, "agent", "kefu-agent")
            await agent.goto(f"{web_b}/chat")
            await expect(agent.locator("body")).to_have_attribute("data-live-stream", "open")
            async with agent.expect_response(
                lambda r: r.url.endswith("/chat/availability") and r.request.method == "POST"
            ) as answer:
                await agent.locator("[data-testid=chat-available]").check()
            assert (await answer.value).ok
            visitor_context = await browser.new_context(locale="zh-CN")
            contexts.append(visitor_context)
            visitor_context.set_default_timeout(20_000)
            visitor = await visitor_context.new_page()
            await visitor.goto(f"{web_a}/chat/w/{widget.key}")
            await visitor.locator("[data-testid=chat-widget-input]").fill("经 A 发来的咨询")
            await visitor.locator("[data-testid=chat-widget-input]").press("Enter")
            item = agent.locator("[data-testid=chat-mine] [data-testid=chat-item]")
            await expect(item).to_contain_text("经 A 发来的咨询")
            await item.click()
            box = agent.locator(".chat-reply textarea")
            await box.fill("经 B 回复的答案")
            await box.press("Enter")
            await expect(visitor.locator("[data-testid=chat-widget-lines]")).to_contain_text(
                "经 B 回复的答案"
            )

            # Inquiries registered through both web processes are each triaged once.
            numbers = []
            for i in range(6):
                answer = await lead.post(
                    f"{(web_a, web_b)[i % 2]}/api/v1/inquiries",
                    json={
                        "description": f"订单 {4000 + i} 的退款什么时候到账？第{i}次询问",
                        "name": f"多进程客户{i}",
                        "phone": f"1390000{3000 + i}",
                        "channel": "social_media",
                    },
                    headers={
                        "Authorization": f"Bearer {api_key}",
                        "Idempotency-Key": uuid.uuid4().hex,
                    },
                )
                assert answer.status_code == 201, answer.text[:500]
                numbers.append(answer.json()["number"])
            deadline = time.monotonic() + TRIAGE_WAIT_S
            while True:
                async with db.sessionmaker() as s:
                    waiting = await s.scalar(
                        select(func.count())
                        .select_from(Ticket)
                        .where(Ticket.number.in_(numbers), Ticket.triaged_at.is_(None))
                    )
                if not waiting:
                    break
                assert time.monotonic() < deadline, (
                    f"{waiting} inquiries not triaged:\n{log_tail(log_1)}\n{log_tail(log_2)}"
                )
                await asyncio.sleep(1)
            async with db.sessionmaker() as s:
                ids = list(await s.scalars(select(Ticket.id).where(Ticket.number.in_(numbers))))
            triaged = _job_starts([log_1, log_2], TRIAGE_STARTED)
            assert {ticket_id: triaged[str(ticket_id)] for ticket_id in ids} == dict.fromkeys(
                ids, 1
            )

            # Each periodic run (the SLA tick at :00, the assignment drain and the mailbox
            # poll at :30 of every minute) starts once, on one of the two workers.
            deadline = time.monotonic() + 100
            while True:
                runs = _job_starts([log_1, log_2], PERIODIC_STARTED)
                after = [
                    run for run in runs if int(run.rsplit(":", 1)[1]) / 1000 > both_running + 1
                ]
                names = {run.split(":")[1] for run in after}
                if {"sla_tick", "drain_assignments", "poll_mailboxes"} <= names:
                    break
                assert time.monotonic() < deadline, (runs, log_tail(log_1), log_tail(log_2))
                await asyncio.sleep(1)
            await asyncio.sleep(3)  # a second start of the same run would be in by now
            runs = _job_starts([log_1, log_2], PERIODIC_STARTED)
            assert runs and all(n == 1 for n in runs.values()), runs
        finally:
            await lead.aclose()
            for context in contexts:
                await context.close()
