"""The reports' per-day figures put each ticket on the local day it was registered (and
resolved) on, in zones with whole-hour, half-hour and daylight-saving offsets, on both
databases: instants a second either side of local midnight, across the DST changes of March
2024 (St. John's on the 10th, Berlin on the 31st)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.db import unit_of_work
from models.enums import Channel, TicketStatus
from models.services.reports import days
from models.services.tickets import commands
from models.ticket import Ticket
from tests.integration.reports_data import actors, customer, make_ticket

pytestmark = pytest.mark.usefixtures("reference")

FIRST = date(2024, 3, 8)
COUNT = 26  # 8 March … 2 April
ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/St_Johns")


def instants() -> list[datetime]:
    """For every zone and day: a second before local midnight, midnight itself, and noon."""
    out = []
    for tz in ZONES:
        zone = ZoneInfo(tz)
        for i in range(COUNT + 1):
            midnight = datetime.combine(FIRST + timedelta(days=i), time(), zone)
            out += [midnight - timedelta(seconds=1), midnight, midnight + timedelta(hours=12)]
    return out


@pytest.mark.parametrize(
    ("tz", "first", "count"),
    [
        ("Asia/Shanghai", FIRST, COUNT),  # one offset: the local date in SQL
        ("Europe/Berlin", FIRST, COUNT),  # crosses a DST change: a search over midnights
        ("America/St_Johns", FIRST, COUNT),  # half-hour offset, crosses a DST change
        ("America/St_Johns", date(2024, 3, 12), 10),  # half-hour offset, no change
    ],
)
async def test_each_ticket_counts_on_its_local_day(
    db: Any, tz: str, first: date, count: int
) -> None:
    lead = (await actors(db))["admin"]
    someone = await customer(db)
    registered = instants()
    async with unit_of_work(db) as s:
        for i, instant in enumerate(registered):
            ticket, _ = await commands.create(
                s,
                lead,
                commands.TicketInput(
                    customer_id=someone, description=f"问题 {i}", channel=Channel.PHONE
                ),
            )
            ticket.created_at = instant
            ticket.resolved_at = instant + timedelta(hours=5) if i % 2 else None
    zone = ZoneInfo(tz)
    last = first + timedelta(days=count - 1)

    def by_day(values: list[datetime | None]) -> Counter[date]:
        local = (v.astimezone(zone).date() for v in values if v is not None)
        return Counter(d for d in local if first <= d <= last)

    edges = days.midnights(tz, first, count)
    async with db.sessionmaker() as s:
        cohort = await days.scan_cohort(s, edges)
        resolved = await days.scan_resolved(s, edges)
        rows = (await s.execute(Ticket.__table__.select())).mappings().all()
    expected_registered = by_day([row["created_at"] for row in rows])
    expected_resolved = by_day([row["resolved_at"] for row in rows])
    assert sum(expected_registered.values()) > 3 * count  # the instants fall around midnights
    got_registered = Counter(
        {
            first + timedelta(days=i): sum(c[0] for c in cells.values())
            for i, cells in enumerate(cohort)
        }
    )
    got_resolved = Counter(
        {first + timedelta(days=i): sum(cells.values()) for i, cells in enumerate(resolved)}
    )
    assert +got_registered == expected_registered
    assert +got_resolved == expected_resolved


async def test_surveys_count_whatever_order_the_ids_run_in(db: Any) -> None:
    """The day's surveys are read within the id range of the day's tickets: a ticket
    registered later under a lower id (an import, a clock put right) still brings its
    survey, and a survey of a ticket outside the days does not count."""
    someone = await customer(db)
    tz = "Asia/Shanghai"
    first = date(2024, 3, 8)
    zone = ZoneInfo(tz)
    # Ids rise while the registration days fall: the last ticket made is the earliest.
    made = []
    for i, day in enumerate((3, 2, 1, 0, -1)):
        when = datetime.combine(first + timedelta(days=day), time(10), zone)
        made.append(
            await make_ticket(
                db,
                customer_id=someone,
                description=f"屏幕碎了 {i}",
                request_type=None,
                assignee=None,
                created=when,
                resolved=when + timedelta(hours=2),
                status=TicketStatus.COMPLETED,
                scores=(5 - i % 3, 4, 3 + i % 2),
            )
        )
    edges = days.midnights(tz, first, 4)  # 8–11 March: the one on the 7th is outside
    async with db.sessionmaker() as s:
        cohort = await days.scan_cohort(s, edges)
    cells = [cell for day in cohort for cell in day.values()]
    assert sum(c[0] for c in cells) == 4  # tickets
    assert sum(c[6] for c in cells) == 4  # answered surveys
    assert sum(c[7] for c in cells) == (5 + 4 + 3 + 5)  # speed, the 7th's (4) left out
    assert [sum(c[6] for c in day.values()) for day in cohort] == [1, 1, 1, 1]
