"""Agent intake: find-or-create the customer, register the ticket, reach the board."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, TicketStatus, Urgency
from models.services.admin.users import actor_for
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import board, intake
from models.settings import get_settings
from models.ticket import Ticket
from models.user import User
from tests.conftest import run_worker_burst, sign_in

pytestmark = pytest.mark.usefixtures("reference")

FORM_KEY_RE = re.compile(r'name="form_key" value="([^"]+)"')


async def intake_form(client: Any) -> dict[str, str]:
    page = await client.get("/intake")
    assert page.status_code == 200
    return {
        "_csrf_token": client.cookies.get("kefu_csrf"),
        "form_key": FORM_KEY_RE.search(page.text).group(1),
    }  # type: ignore[union-attr]


def request(**overrides: str) -> dict[str, str]:
    data = {
        "customer_id": "",
        "name": "王建国",
        "phone": "13800138000",
        "email": "",
        "customer_type": "individual",
        "description": "来电咨询：会员积分什么时候到期？",
        "urgency": "normal",
        "channel": "phone",
        "order_number": "",
    }
    data.update(overrides)
    return data


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_agent_registers_an_inquiry_for_a_new_customer(
    client: Any, db: Any, redis: Any
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    form = await intake_form(client)
    response = await client.post(
        "/intake",
        data={**form, **request(urgency="urgent", channel="visit")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    assert "咨询已登记" in response.text and "已登记新客户" in response.text
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        assert ticket.status is TicketStatus.PENDING and ticket.channel is Channel.VISIT
        assert ticket.urgency is Urgency.URGENT
        customer = await s.get(Customer, ticket.customer_id)
        assert customer is not None and customer.source_channel is Channel.VISIT
    # The confirmation opens the new ticket: classification may route it to another
    # department, whose column the agent's board does not show.
    assert f'href="/tickets/{ticket.id}"' in response.text
    assert f"打开 {ticket.number}" in response.text
    opened = await client.get(f"/tickets/{ticket.id}")
    assert opened.status_code == 200 and ticket.number in opened.text
    job = Job(f"triage:{ticket.id}", redis, _queue_name=get_settings().queue_name)
    assert await job.status() is JobStatus.queued


async def test_a_letter_is_titled_by_its_request_not_its_greeting(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    letters = {
        "您好：\n\n耳机没声音了，能换吗\n\n麻烦了，谢谢\n张伟": "耳机没声音了，能换吗",
        "Hi team,\nMy refund has not arrived.\nThanks,\nTom": "My refund has not arrived.",
        "您好，退款什么时候到账？": "您好，退款什么时候到账？",
    }
    for description in letters:
        form = await intake_form(client)
        response = await client.post("/intake", data={**form, **request(description=description)})
        assert response.status_code in (200, 303), response.text
    async with db.sessionmaker() as s:
        tickets = (await s.scalars(select(Ticket).order_by(Ticket.id))).all()
    # the description is kept whole; only the title skips the greeting
    assert [(t.title, t.description) for t in tickets] == [
        (title, description) for description, title in letters.items()
    ]


async def test_same_phone_written_differently_is_one_customer(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    for n, phone in enumerate(("13800138000", "+86 138-0013-8000", "0086 (138) 0013 8000")):
        # Three different requests (the same one again within minutes would be one ticket).
        text = f"第 {n + 1} 个问题：订单还没有发货。"
        response = await client.post(
            "/intake",
            data={
                **await intake_form(client),
                **request(phone=phone, name="王先生", description=text),
            },
        )
        assert response.status_code == 200
    assert await count(db, Ticket) == 3
    assert await count(db, Customer) == 1
    async with db.sessionmaker() as s:
        customer = (await s.scalars(select(Customer))).one()
        assert customer.name == "王建国" or customer.name == "王先生"
        # De-duplication works on the email too, case and spaces ignored.
        assert (await registry.find_by_contact(s, phone="13800138000")) is not None


async def test_email_written_differently_is_one_customer(db: Any) -> None:
    actor = Actor.system("test")
    for email in ("Li.Na@Example.com", "  li.na@example.COM "):
        async with unit_of_work(db) as s:
            await intake.register_once(
                s,
                actor,
                intake.InquiryInput(
                    description="发票抬头写错了", channel="email", name="李娜", email=email
                ),
            )
    assert await count(db, Customer) == 1 and await count(db, Ticket) == 2


async def test_agent_picks_an_existing_customer(client: Any, db: Any) -> None:
    async with unit_of_work(db) as s:
        existing = await registry.register(
            s,
            Actor.system("test"),
            registry.CustomerInput(
                name="星河科技有限公司", phone="02161234567", level=CustomerLevel.VIP
            ),
        )
    await sign_in(client, "agent", "kefu-agent")
    found = await client.get("/intake/customers", params={"q": "星河"})
    assert "星河科技有限公司" in found.text and "021****4567" in found.text
    assert "VIP" in found.text
    assert "02161234567" not in found.text, "search results are masked"
    by_phone = await client.get("/intake/customers", params={"q": "021-6123 4567"})
    assert "星河科技有限公司" in by_phone.text
    response = await client.post(
        "/intake",
        data={
            **await intake_form(client),
            **request(customer_id=str(existing.id), name="", phone=""),
        },
    )
    assert response.status_code == 200
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        assert ticket.customer_id == existing.id
        assert ticket.priority_rank % 10 == 1, "a VIP's ticket ranks above normal customers"
    assert await count(db, Customer) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"description": ""}, "请描述您的问题"),
        ({"description": "长" * 5001}, "内容过长"),
        ({"phone": "139"}, "请输入有效的电话号码"),
        ({"email": "a@b"}, "请输入有效的邮箱地址"),
        ({"channel": "portal"}, "请从列表中选择渠道"),
        ({"urgency": "whenever"}, "请从列表中选择紧急程度"),
        ({"customer_id": "999999", "name": ""}, "未找到该客户"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_half_written(
    client: Any, db: Any, overrides: dict[str, str], message: str
) -> None:
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        "/intake", data={**await intake_form(client), **request(**overrides)}
    )
    assert response.status_code in (404, 422)
    assert message in response.text
    assert await count(db, Customer) == 0, "the new customer is not stored without a ticket"
    assert await count(db, Ticket) == 0


async def test_double_submit_of_the_intake_form_is_one_ticket(client: Any, db: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    form = await intake_form(client)
    for _ in range(2):
        assert (await client.post("/intake", data={**form, **request()})).status_code == 200
    assert await count(db, Ticket) == 1


async def test_racing_identical_submissions_create_one_ticket(db: Any) -> None:
    """The loser of the race hits the unique idempotency key and returns the winner's ticket."""
    actor = Actor.system("test")
    data = intake.InquiryInput(
        description="门户重复提交",
        channel="portal",
        name="赵六",
        phone="13700137000",
        allowed_channels=(Channel.PORTAL,),
        require_contact=True,
        with_tracking_link=True,
        idempotency_key=intake.idempotency_key("portal", "k" * 32),
    )
    async with db.sessionmaker() as first, db.sessionmaker() as second:
        winner = await intake.register_once(first, actor, data)  # flushed, not committed
        loser = asyncio.create_task(intake.register_once(second, actor, data))
        await asyncio.sleep(0.3)  # let the second reach its insert, which waits on the first
        await first.commit()
        repeat = await loser
        await second.commit()
    assert repeat.repeated and repeat.ticket.id == winner.ticket.id
    assert repeat.tracking_token == winner.tracking_token
    assert await count(db, Ticket) == 1 and await count(db, Customer) == 1


async def test_anonymous_visitors_are_sent_to_sign_in(client: Any) -> None:
    response = await client.get("/intake", follow_redirects=False)
    assert response.status_code in (302, 303)


async def test_portal_inquiry_reaches_the_board_through_the_worker(
    client: Any, db: Any, redis: Any
) -> None:
    """Portal → ticket committed → triage job queued (id triage:<id>) → the pending column of
    the board; when the triage job is registered, the real worker runs it too."""
    from tests.integration.tickets.test_portal_flow import portal_form, submit
    from workers.jobs import FUNCTIONS

    settings = get_settings()
    pubsub = redis.pubsub()
    await pubsub.subscribe(settings.event_channel)
    response = await submit(
        client, await portal_form(client), description="门户来的咨询：包裹显示已签收但我没收到"
    )
    assert response.status_code == 303
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
    job = Job(f"triage:{ticket.id}", redis, _queue_name=settings.queue_name)
    assert await job.status() is JobStatus.queued
    created = None
    for _ in range(20):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message and b"ticket.created" in message["data"]:
            created = message["data"]
            break
    await pubsub.aclose()
    assert created is not None and f'"ticket_id": {ticket.id}'.encode() in created
    if any(getattr(f, "__name__", getattr(f, "name", "")) == "triage_ticket" for f in FUNCTIONS):
        await run_worker_burst()
        assert await job.status() is JobStatus.complete
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get("/board?department=all")  # wherever triage routed it
    assert page.status_code == 200 and ticket.number in page.text
    async with db.sessionmaker() as s:
        agent = actor_for((await s.scalars(select(User).where(User.username == "agent"))).one())
        cards, _ = await board.column_cards(s, agent, TicketStatus.PENDING, board.BoardFilters())
    assert ticket.id in [card.id for card in cards]
