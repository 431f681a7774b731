"""Demo data: every state, every record, bilingual, idempotent reference data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models.chat_widget import ChatWidget
from models.customer import Customer
from models.db import unit_of_work
from models.enums import CustomerLevel, TicketStatus
from models.followup import FollowUp
from models.services.demo import seed as demo
from models.survey import Survey
from models.ticket import Ticket
from models.user import User


async def test_demo_fills_every_state_and_record(db: Any) -> None:
    async with unit_of_work(db) as s:
        result = await demo.fill(s, tickets=300, seed=3)
    assert result.tickets == 300
    async with db.sessionmaker() as s:
        states = dict(
            (await s.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all()
        )
        assert set(states) == set(TicketStatus)
        levels = set((await s.scalars(select(Customer.level).distinct())).all())
        assert levels == set(CustomerLevel)
        assert await s.scalar(select(func.count()).select_from(FollowUp)) == result.follow_ups > 0
        assert await s.scalar(select(func.count()).select_from(Survey)) == result.surveys > 0
        # Bilingual: Chinese and English ticket texts both present.
        texts = (await s.scalars(select(Ticket.description))).all()
        assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)
        assert any(t.isascii() for t in texts)
        # A few fresh tickets are left for the worker to triage.
        assert await s.scalar(select(func.count()).where(Ticket.triaged_at.is_(None))) == 5
        numbers = (await s.scalars(select(Ticket.number))).all()
        assert len(set(numbers)) == 300


async def test_reference_data_is_idempotent_and_numbers_continue(db: Any) -> None:
    async with unit_of_work(db) as s:
        await demo.fill(s, tickets=20, seed=1)
    async with unit_of_work(db) as s:
        await demo.seed_reference(s)
        await demo.fill(s, tickets=20, seed=2)
    async with db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(User)) == len(demo.ACCOUNTS)
        numbers = (await s.scalars(select(Ticket.number))).all()
        assert len(numbers) == 40 and len(set(numbers)) == 40
        # One chat widget to try, however often the demo is filled.
        [widget] = (await s.scalars(select(ChatWidget))).all()
        assert widget.identity_secret_enc and widget.greeting_en
