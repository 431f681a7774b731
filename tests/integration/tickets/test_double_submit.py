"""The same form sent twice is one inquiry, even when the second one carries a fresh key
(Back re-renders the form): the same content for the same contact (or customer) within the
window is the ticket already registered, with the same tracking link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models import clock
from models.db import unit_of_work
from models.enums import Channel
from models.services.tickets import intake, portal
from tests.integration.sla.test_sla_helpers import actor

pytestmark = pytest.mark.usefixtures("reference")

TEXT = "快递显示已签收，但我没有收到包裹。"


async def submit(db: Any, key: str, **over: Any) -> intake.InquiryResult:
    values: dict[str, Any] = {
        "description": TEXT,
        "channel": Channel.PORTAL.value,
        "name": "王先生",
        "phone": "139 1234 0000",
        "idempotency_key": intake.idempotency_key("portal", key),
        "allowed_channels": (Channel.PORTAL,),
        "require_contact": True,
        "with_tracking_link": True,
        "match_names": True,
        "dedupe_recent": True,
        **over,
    }
    async with unit_of_work(db) as s:
        return await intake.register_once(s, portal.PORTAL, intake.InquiryInput(**values))


async def test_the_same_content_with_a_fresh_key_is_the_first_inquiry(db: Any) -> None:
    first = await submit(db, "a" * 20)
    again = await submit(db, "b" * 20, phone="13912340000")
    assert again.repeated and again.ticket.id == first.ticket.id
    assert again.tracking_token == first.tracking_token
    # Another description, or the same number under another name, is a new inquiry.
    other = await submit(db, "c" * 20, description="发票还没有开。")
    assert not other.repeated and other.ticket.id != first.ticket.id
    stranger = await submit(db, "d" * 20, name="张三")
    assert not stranger.repeated and stranger.ticket.id != first.ticket.id


async def test_after_the_window_the_same_content_is_a_new_inquiry(db: Any) -> None:
    first = await submit(db, "e" * 20)
    clock.set_clock(clock.utcnow() + intake.DEDUP_WINDOW + timedelta(minutes=1))
    try:
        later = await submit(db, "f" * 20)
    finally:
        clock.set_clock(None)
    assert not later.repeated and later.ticket.id != first.ticket.id


async def test_staff_intake_for_a_known_customer_is_deduplicated_too(db: Any) -> None:
    first = await submit(db, "g" * 20)
    agent = await actor(db, "agent")
    async with unit_of_work(db) as s:
        again = await intake.register_once(
            s,
            agent,
            intake.InquiryInput(
                description=TEXT,
                channel=Channel.PORTAL.value,
                customer_id=first.customer_id,
                allowed_channels=(Channel.PORTAL,),
                idempotency_key=intake.idempotency_key("intake:1", "h" * 20),
                dedupe_recent=True,
            ),
        )
    assert again.repeated and again.ticket.id == first.ticket.id
