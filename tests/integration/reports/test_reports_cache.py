"""The cached problem summary, KPI dashboard and department matrix always equal a full
recomputation.

Random moves, type changes, surveys, merges and new tickets go through the services in units
of work that publish to Redis, as the web and the worker do; after each, the cached figures of
March 2024 (the dataset's month) and of the current month (which depends on the clock) are
compared with the figures computed afresh. Reads alone never invalidate the cache.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.customer import Customer
from models.db import flush_side_effects, report_days_key, reports_generation_key, unit_of_work
from models.enums import Channel, CustomerLevel, RequestType, TicketStatus
from models.services.customers import registry
from models.services.reports import cache, kpi
from models.services.reports import summary as reports
from models.services.tickets import board, commands, surveys
from models.settings import get_settings
from models.survey import Survey
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.reports_data import actors, customer, march_dataset

pytestmark = pytest.mark.usefixtures("reference")

TZ = "Asia/Shanghai"
MARCH = reports.Period("month", date(2024, 3, 1), date(2024, 3, 31), TZ)
NEXT_STEP = {
    TicketStatus.PENDING: TicketStatus.IN_PROGRESS,
    TicketStatus.IN_PROGRESS: TicketStatus.AWAITING_CONFIRMATION,
    TicketStatus.AWAITING_CONFIRMATION: TicketStatus.COMPLETED,
    TicketStatus.COMPLETED: TicketStatus.CLOSED,
}


# The department matrix as a lead and an agent see it: everything, VIP customers' tickets
# (levels change below), the viewer's own, and a search.
MATRIX_FILTERS = (
    board.BoardFilters(),
    board.BoardFilters(level=CustomerLevel.VIP),
    board.BoardFilters(mine=True),
    board.BoardFilters(q="问题"),
)


def this_month() -> reports.Period:
    today = reports.today_local()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return reports.Period("month", first, last, TZ)


async def generation(redis: Any) -> int:
    return int(await redis.get(reports_generation_key(get_settings().event_channel)) or 0)


async def every_day_moved(redis: Any) -> int:
    """How often "every day's figures" was bumped (a bulk change the reports cannot place)."""
    return int(await redis.hget(report_days_key(get_settings().event_channel), "all") or 0)


async def day_entries(redis: Any) -> dict[bytes, bytes]:
    """The cached day figures: one entry per kind, time zone and day, by key."""
    keys = sorted(await redis.keys("*reports-day:*"))
    return dict(zip(keys, await redis.mget(keys), strict=True)) if keys else {}


async def check_equal(db: Any, redis: Any) -> None:
    channel = get_settings().event_channel
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    current = this_month()
    for period in (MARCH, current):
        async with db.sessionmaker() as s:
            hit = await cache.problem_summary(s, redis, channel, period, now=now)
            fresh = await reports.problem_summary(s, period, now=minute)
        assert hit == fresh, period
    for a in (MARCH, current):
        async with db.sessionmaker() as s:
            hit_board = await cache.dashboard(s, redis, channel, a, a.previous(), now=now)
            fresh_board = await kpi.dashboard(s, a, a.previous(), now=minute)
        assert hit_board == fresh_board, a
    people = await actors(db)
    for who in ("admin", "agent"):
        for filters in MATRIX_FILTERS:
            async with db.sessionmaker() as s:
                hit_matrix = await cache.matrix(s, redis, channel, people[who], filters, now=now)
                fresh_matrix = await board.matrix(s, people[who], filters, now=minute)
            assert hit_matrix == fresh_matrix, (who, filters)


async def test_cached_figures_equal_a_recomputation_after_random_changes(
    db: Any, redis: Any
) -> None:
    made = await march_dataset(db)
    channel = get_settings().event_channel
    lead = (await actors(db))["admin"]
    rng = random.Random(20260610)
    ids = [m.ticket_id for m in made.values()]
    zhang = await customer(db, name="王五", phone="13700001111", email=None)
    await check_equal(db, redis)
    for step in range(24):
        before = await generation(redis)
        everything = await every_day_moved(redis)
        op = rng.choice(["move", "type", "survey", "merge", "create", "level"])
        async with unit_of_work(db, redis, channel) as s:
            live = [
                t
                for t in (await s.scalars(select(Ticket).where(Ticket.id.in_(ids)))).all()
                if t.merged_into_id is None
            ]
            ticket = rng.choice(live)
            status = TicketStatus(ticket.status)
            if op == "level":
                owner = await s.get(Customer, ticket.customer_id)
                assert owner is not None
                other_levels = [lv for lv in CustomerLevel if lv != owner.level]
                await commands.change_customer_level(s, lead, owner.id, rng.choice(other_levels))
            if op == "move" and status in NEXT_STEP:
                await commands.move(
                    s, lead, ticket.id, NEXT_STEP[status], expected_version=None, resolution="ok"
                )
            elif op == "survey":
                survey = await s.scalar(
                    select(Survey).where(Survey.submitted_at.is_(None)).limit(1)
                )
                if survey is None:
                    op = "type"
                else:
                    await surveys.submit(
                        s,
                        surveys.token_for(survey),
                        surveys.parse_answer(
                            surveys.AnswerInput(
                                speed=str(rng.randint(1, 5)),
                                solution=str(rng.randint(1, 5)),
                                attitude=str(rng.randint(1, 5)),
                            )
                        ),
                    )
            elif op == "merge" and len(live) > 3:
                open_ones = [t for t in live if t.status not in ("completed", "closed")]
                if len(open_ones) >= 2:
                    duplicate, primary = rng.sample(open_ones, 2)
                    await commands.merge(
                        s, lead, duplicate.id, primary.id, other_customer_confirmed=True
                    )
                else:
                    op = "create"
            if op == "create":
                created, _ = await commands.create(
                    s,
                    lead,
                    commands.TicketInput(
                        customer_id=zhang, description=f"新的问题 {step}", channel=Channel.PHONE
                    ),
                )
                ids.append(created.id)
            elif op == "type" or (op == "move" and status not in NEXT_STEP):
                other = [t for t in RequestType if t != ticket.request_type]
                await commands.change_type(
                    s, lead, ticket.id, rng.choice(other), expected_version=None
                )
        assert await generation(redis) > before, f"step {step} ({op}) did not invalidate"
        # Each change names its days: no step makes every day's figures be computed again.
        assert await every_day_moved(redis) == everything, f"step {step} ({op})"
        await check_equal(db, redis)


async def test_after_a_change_only_the_days_of_the_changed_ticket_are_read_again(
    db: Any, redis: Any
) -> None:
    made = await march_dataset(db)
    channel = get_settings().event_channel
    lead = (await actors(db))["admin"]
    async with db.sessionmaker() as s:
        await cache.problem_summary(s, redis, channel, MARCH)
        await cache.dashboard(s, redis, channel, MARCH, MARCH.previous())
    cached = await day_entries(redis)
    assert len(cached) == 3 * (29 + 31)  # February and March: cohort, resolved, texts
    t2 = made["t2"].ticket_id  # registered 5 March, resolved 6 March
    async with unit_of_work(db, redis, channel) as s:
        await commands.change_type(s, lead, t2, RequestType.COMPLAINT, expected_version=None)
    async with db.sessionmaker() as s:
        hit = await cache.problem_summary(s, redis, channel, MARCH)
        assert hit == await reports.problem_summary(s, MARCH)
        complaints = next(r for r in hit.rows if r.request_type is RequestType.COMPLAINT)
        assert complaints.count >= 1
    after = await day_entries(redis)
    # Written again in place: still one entry per kind and day, nothing left behind.
    assert after.keys() == cached.keys()
    again = {key.decode().split(":reports-day:")[1] for key in after if after[key] != cached[key]}
    # Days are marked in UTC: t2 was registered on 5 March 09:00 and resolved on 6 March 09:00
    # Beijing time, UTC days 5 and 6 March, which the local days 5–7 March overlap.
    days = {entry.split(":")[3] for entry in again}
    assert "2024-03-05" in days and days <= {"2024-03-05", "2024-03-06", "2024-03-07"}, again
    assert {entry.split(":")[1] for entry in again} == {"cohort", "texts"}, again


async def test_a_change_whose_day_bump_was_lost_makes_the_next_commit_refresh_every_day(
    db: Any, redis: Any
) -> None:
    made = await march_dataset(db)
    someone = await customer(db, name="王五", phone="13700001111", email=None)
    channel = get_settings().event_channel
    lead = (await actors(db))["admin"]
    async with db.sessionmaker() as s:
        before = await cache.problem_summary(s, redis, channel, MARCH)
    everything = await every_day_moved(redis)
    # Redis is away when this change commits: its days cannot be bumped.
    async with db.sessionmaker() as s:
        await commands.change_type(
            s, lead, made["t1"].ticket_id, RequestType.AFTER_SALES, expected_version=None
        )
        await s.commit()
        await flush_side_effects(s, _UnreachableRedis(), channel)
    # The whole-page entry expires or moves on meanwhile; the next commit of this process
    # that reaches Redis bumps every day, so no day keeps the lost change's figures.
    await redis.incr(reports_generation_key(channel))
    async with db.sessionmaker() as s:
        stale = await cache.problem_summary(s, redis, channel, MARCH)
    assert stale == before  # the day entries cannot know yet
    async with unit_of_work(db, redis, channel) as s:
        await commands.create(
            s,
            lead,
            commands.TicketInput(
                customer_id=someone, description="另一个问题", channel=Channel.PHONE
            ),
        )
    assert await every_day_moved(redis) == everything + 1
    async with db.sessionmaker() as s:
        hit = await cache.problem_summary(s, redis, channel, MARCH)
        assert hit == await reports.problem_summary(s, MARCH)
    assert hit != before


async def test_a_change_to_customers_alone_refreshes_the_matrix_filtered_by_level(
    db: Any, redis: Any
) -> None:
    made = await march_dataset(db)
    channel = get_settings().event_channel
    admin = (await actors(db))["admin"]
    vip = board.BoardFilters(level=CustomerLevel.VIP)
    async with db.sessionmaker() as s:
        before = await cache.matrix(s, redis, channel, admin, vip)
        ticket = await s.get(Ticket, next(iter(made.values())).ticket_id)
        assert ticket is not None
    async with unit_of_work(db, redis, channel) as s:
        # The customer record alone (no ticket row is written).
        await registry.set_level(s, admin, ticket.customer_id, CustomerLevel.VIP)
    async with db.sessionmaker() as s:
        after = await cache.matrix(s, redis, channel, admin, vip)
        assert after == await board.matrix(
            s, admin, vip, now=utcnow().replace(second=0, microsecond=0)
        )
    assert sum(r.total for r in after) > sum(r.total for r in before)


async def test_reading_reports_keeps_the_cache_and_redis_going_away_does_not_matter(
    db: Any, redis: Any, client: Any
) -> None:
    await march_dataset(db)
    await sign_in(client, "lead", "kefu-lead")
    for path in ("/reports?period=month&month=2024-03", "/reports/kpi?period=month&month=2024-03"):
        assert (await client.get(path)).status_code == 200
    before = await generation(redis)
    keys = sorted(await redis.keys("*reports:*"))
    assert len(keys) == 2, keys  # one summary, one dashboard
    for path in ("/reports?period=month&month=2024-03", "/reports/kpi?period=month&month=2024-03"):
        page = await client.get(path)
        assert page.status_code == 200
    assert await generation(redis) == before
    assert sorted(await redis.keys("*reports:*")) == keys  # served from the cache

    async with db.sessionmaker() as s:
        dead = _UnreachableRedis()
        channel = get_settings().event_channel
        figures = await cache.problem_summary(s, dead, channel, MARCH)
        assert figures == await reports.problem_summary(s, MARCH)


class _UnreachableRedis:
    """What the pool does while Redis is away: every command fails to connect."""

    async def get(self, _key: str) -> Any:
        raise ConnectionError("Redis is away")

    async def set(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("Redis is away")

    async def incr(self, _key: str) -> Any:
        raise ConnectionError("Redis is away")

    async def hmget(self, *_args: Any) -> Any:
        raise ConnectionError("Redis is away")

    def pipeline(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("Redis is away")
