"""Human-readable numbers stay unique under concurrent creation."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import func, select

from models.db import unit_of_work
from models.enums import Channel, CustomerLevel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.ticket import Ticket

SYSTEM = Actor.system("test")


async def _customer(db: Any) -> int:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s,
            SYSTEM,
            registry.CustomerInput(
                name="并发测试客户", phone="13800138000", level=CustomerLevel.VIP
            ),
        )
        return customer.id


async def test_fifty_concurrent_ticket_creations_get_unique_numbers(db: Any) -> None:
    customer_id = await _customer(db)

    async def create(i: int) -> str:
        async with unit_of_work(db) as s:
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer_id, description=f"第 {i} 个并发请求", channel=Channel.API
                ),
            )
            return ticket.number

    numbers = await asyncio.gather(*(create(i) for i in range(50)))
    assert len(set(numbers)) == 50
    assert all(re.fullmatch(r"TASK\d{8}\d{4}", n) for n in numbers)
    # The daily sequence has no gaps: 0001 … 0050.
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 51))
    async with db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 50


async def test_customer_numbers_follow_the_cs_date_sequence_format(db: Any) -> None:
    async with unit_of_work(db) as s:
        first = await registry.register(s, SYSTEM, registry.CustomerInput(name="甲"))
        second = await registry.register(s, SYSTEM, registry.CustomerInput(name="乙"))
    assert re.fullmatch(r"CS\d{8}001", first.number)
    assert second.number == first.number[:-3] + "002"
