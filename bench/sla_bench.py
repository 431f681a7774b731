"""The SLA tick at 100,000 and 1,000,000 stored tickets, with the same number due.

A service desk's history grows; what is due each minute does not. Each size gets a scratch
database of the same desk (about 1,400 registrations a day) over a longer history: most
tickets closed long ago, the same open backlog (3,000 tickets, deadlines ahead) and the same
few hundred falling due right now. The tick reads ``tickets.sla_next_at`` (indexed), so its
time should track the due tickets, not the stored ones.

Figures: ``first_tick_ms`` acts on everything due (claims, notifications, overdue marks, the
previous day's end-of-day list); ``idle_tick`` is the p50/p95 of the following minutes'
ticks, when nothing new is due; ``plan`` is SQLite's query plan for the due tickets.
Sizes come from ``KEFU_BENCH_SLA_SIZES`` (default ``100000,1000000``).
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

import models
from bench.common import percentiles, scratch_database_url
from models.customer import Customer
from models.db import Database, unit_of_work
from models.enums import Channel, CustomerLevel, Priority, TicketStatus, Urgency
from models.notification import Notification
from models.services.demo import seed
from models.services.escalation import engine as sla_engine
from models.sla_action import SlaAction
from models.ticket import Ticket
from models.user import User

PER_DAY = 1_370
DUE_NOW = 400
OPEN_TICKETS = 3_000  # the open backlog: days of work, whatever the history
BATCH = 20_000
IDLE_TICKS = 9
# A Wednesday, 10:30 in Shanghai. The first tick also sends Tuesday's end-of-day list (the
# day's ~1,400 registrations, none followed up in this data): the same work at every size.
NOW = datetime(2026, 3, 4, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def _sizes() -> list[int]:
    raw = os.environ.get("KEFU_BENCH_SLA_SIZES", "100000,1000000")
    return [int(part) for part in raw.split(",") if part.strip()]


async def _reference(db: Database) -> tuple[list[int], dict[int, int], list[int]]:
    """Departments, staff and a thousand customers; returns customers, agent→dept, agents."""
    async with unit_of_work(db) as session:
        await seed.seed_reference(session)
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(Customer),
            [
                {
                    "number": f"C{n:08d}",
                    "name": f"客户{n}",
                    "source_channel": Channel.PHONE,
                    "level": CustomerLevel.VIP if n % 20 == 0 else CustomerLevel.NORMAL,
                }
                for n in range(1000)
            ],
        )
        customers = list((await conn.execute(select(Customer.id))).scalars())
        staff = (
            await conn.execute(
                select(User.id, User.department_id).where(User.department_id.is_not(None))
            )
        ).all()
    departments = {user: dept for user, dept in staff if dept is not None}
    return customers, departments, list(departments)


def _rows(
    start: int,
    count: int,
    total: int,
    rng: random.Random,
    customers: list[int],
    departments: dict[int, int],
    agents: list[int],
) -> list[dict[str, Any]]:
    """Tickets ``start`` … ``start + count`` of ``total``, oldest first; the last ones open."""
    span = timedelta(days=total / PER_DAY)
    open_from = total - OPEN_TICKETS
    rows = []
    for n in range(start, start + count):
        created = NOW - span + span * (n / total)
        agent = agents[n % len(agents)]
        row: dict[str, Any] = {
            "number": f"B{n:09d}",
            "customer_id": customers[n % len(customers)],
            "title": "网络连接不稳定",
            "description": "网络连接不稳定，经常掉线，请尽快处理。",
            "channel": Channel.PHONE,
            "urgency": Urgency.NORMAL,
            "priority": Priority.MEDIUM,
            "priority_rank": 2,
            "department_id": departments[agent],
            "assignee_id": agent,
            "owner_id": agent,
            "created_at": created,
            "updated_at": created,
            "triaged_at": created,
            "assigned_at": created,
            "acknowledged_at": created,
            "first_responded_at": created,
            "first_response_due": created + timedelta(hours=24),
            "acknowledge_due": created + timedelta(hours=1),
            "resolution_due": created + timedelta(days=3),
            "sla_next_at": None,
            "status": TicketStatus.CLOSED,
            "closed_at": created + timedelta(days=1),
            "resolved_at": created + timedelta(days=1),
        }
        if n >= open_from:
            row.update(status=TicketStatus.IN_PROGRESS, closed_at=None, resolved_at=None)
            if total - n <= DUE_NOW:
                # Due now: resolution deadlines that passed in the last minutes.
                due = NOW - timedelta(seconds=rng.randint(1, 600))
                row.update(resolution_due=due, sla_next_at=due)
            else:
                due = NOW + timedelta(minutes=rng.randint(IDLE_TICKS + 1, 3 * 24 * 60))
                row.update(resolution_due=due, sla_next_at=due)
        rows.append(row)
    return rows


async def _fill(db: Database, total: int) -> float:
    rng = random.Random(total)
    customers, departments, agents = await _reference(db)
    started = time.perf_counter()
    for start in range(0, total, BATCH):
        rows = _rows(start, min(BATCH, total - start), total, rng, customers, departments, agents)
        async with db.engine.begin() as conn:
            await conn.execute(insert(Ticket), rows)  # executemany, one batch per transaction
    async with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE tickets"))
    return time.perf_counter() - started


async def _plan(db: Database) -> str:
    """How the database reads the due tickets (it should name the sla_next_at index)."""
    if db.dialect != "sqlite":
        return ""
    stmt = select(Ticket.id).where(Ticket.sla_next_at <= NOW).order_by(Ticket.sla_next_at)
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": False})
    async with db.engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", (NOW.strftime("%Y-%m-%d %H:%M:%S.%f"),)
            )
        ).all()
    return " | ".join(str(r[-1]) for r in rows)


async def _one(total: int) -> dict[str, Any]:
    url = scratch_database_url(f"sla_{total}")
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            if db.dialect == "postgresql":
                await conn.run_sync(models.Base.metadata.drop_all)
            await conn.run_sync(models.Base.metadata.create_all)
        fill_seconds = await _fill(db, total)
        async with db.sessionmaker() as session:
            stored = int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)
            due = int(
                await session.scalar(
                    select(func.count()).select_from(Ticket).where(Ticket.sla_next_at <= NOW)
                )
                or 0
            )
        started = time.perf_counter()
        async with unit_of_work(db) as session:
            report = await sla_engine.tick(session, NOW)
        first_ms = (time.perf_counter() - started) * 1000
        idle = []
        for minute in range(1, IDLE_TICKS + 1):
            started = time.perf_counter()
            async with unit_of_work(db) as session:
                await sla_engine.tick(session, NOW + timedelta(minutes=minute))
            idle.append((time.perf_counter() - started) * 1000)
        async with db.sessionmaker() as session:
            actions = int(await session.scalar(select(func.count()).select_from(SlaAction)) or 0)
            told = int(await session.scalar(select(func.count()).select_from(Notification)) or 0)
        return {
            "tickets": stored,
            "due": due,
            "fill_seconds": round(fill_seconds, 1),
            "first_tick_ms": round(first_ms, 1),
            "first_tick": {k: v for k, v in report.as_dict().items() if k != "now" and v},
            "idle_tick": percentiles(idle),
            "actions": actions,
            "notifications": told,
            "plan": await _plan(db),
        }
    finally:
        await db.dispose()


async def run() -> dict[str, Any]:
    results = {str(size): await _one(size) for size in _sizes()}
    sizes = sorted(results, key=int)
    summary: dict[str, Any] = {"due_per_size": DUE_NOW, "sizes": results}
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        summary["first_tick_ratio_large_to_small"] = round(
            large["first_tick_ms"] / max(small["first_tick_ms"], 0.001), 2
        )
        summary["idle_tick_p50_ratio_large_to_small"] = round(
            large["idle_tick"]["p50_ms"] / max(small["idle_tick"]["p50_ms"], 0.001), 2
        )
    return summary
