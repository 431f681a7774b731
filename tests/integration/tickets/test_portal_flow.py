"""The public portal: submit, double submit, honeypot, bad input, tracking, adding information."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import func, select, text

from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.services.admin.users import actor_for
from models.services.common.crypto import token_hash
from models.services.tickets import commands
from models.ticket import Ticket
from models.user import User
from tests.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("reference")

FORM_KEY_RE = re.compile(r'name="form_key" value="([^"]+)"')


async def portal_form(client: Any) -> dict[str, str]:
    """CSRF token and a fresh idempotency key, as a visitor's browser has them."""
    token = await csrf_token(client, "/portal")
    page = await client.get("/portal")
    match = FORM_KEY_RE.search(page.text)
    assert match, "the portal form carries an idempotency key"
    return {"_csrf_token": token, "form_key": match.group(1)}


def inquiry(**overrides: str) -> dict[str, str]:
    data = {
        "name": "林小姐",
        "phone": "138 0013 8000",
        "email": "",
        "description": "我的订单一直没有发货，请帮忙查询一下。",
        "order_number": "SO-2026-001",
    }
    data.update(overrides)
    return data


async def submit(client: Any, form: dict[str, str], **overrides: str) -> Any:
    return await client.post(
        "/portal", data={**form, **inquiry(**overrides)}, follow_redirects=False
    )


async def count(db: Any, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def token_of(response: Any) -> str:
    location = response.headers["location"]
    match = re.fullmatch(r"/portal/t/([A-Za-z0-9_-]+)\?new=(1|again)", location)
    assert match, location
    return match.group(1)


async def test_portal_renders_in_chinese_and_english(client: Any) -> None:
    zh = await client.get("/portal")
    assert zh.status_code == 200
    assert "提交咨询" in zh.text and 'hx-trigger="input changed delay:400ms"' in zh.text
    en = await client.get("/portal", headers={"Accept-Language": "en"})
    assert "How can we help?" in en.text and "Submit inquiry" in en.text


async def test_submission_creates_a_pending_portal_ticket_with_a_tracking_link(
    client: Any, db: Any
) -> None:
    response = await submit(client, await portal_form(client))
    assert response.status_code == 303
    token = token_of(response)
    async with db.sessionmaker() as s:
        ticket = (await s.scalars(select(Ticket))).one()
        assert ticket.channel is Channel.PORTAL and ticket.status is TicketStatus.PENDING
        assert ticket.order_number == "SO-2026-001"
        assert ticket.tracking_token_hash == token_hash(token)
    async with db.engine.connect() as conn:
        raw = " ".join(
            str(v)
            for row in (await conn.execute(text("SELECT * FROM tickets"))).mappings().all()
            for v in row.values()
        )
    assert token not in raw, "only the hash of the tracking token is stored"
    page = await client.get(f"/portal/t/{token}?new=1")
    assert page.status_code == 200
    assert ticket.number in page.text and "待处理" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in page.headers["cache-control"]


async def test_double_submit_creates_one_ticket_and_shows_the_same_link(
    client: Any, db: Any
) -> None:
    form = await portal_form(client)
    first = await submit(client, form)
    second = await submit(client, form)
    assert first.status_code == second.status_code == 303
    assert token_of(first) == token_of(second)
    assert second.headers["location"].endswith("?new=again")
    page = await client.get(second.headers["location"])
    assert "我们已收到过这条咨询" in page.text
    assert await count(db, Ticket) == 1
    assert await count(db, Customer) == 1


async def test_concurrent_double_submit_creates_one_ticket(client: Any, db: Any) -> None:
    form = await portal_form(client)
    responses = await asyncio.gather(submit(client, form), submit(client, form))
    assert [r.status_code for r in responses] == [303, 303], [r.text[:300] for r in responses]
    assert token_of(responses[0]) == token_of(responses[1])
    assert await count(db, Ticket) == 1


async def test_a_new_form_is_a_new_inquiry_for_the_same_customer(client: Any, db: Any) -> None:
    await submit(client, await portal_form(client))
    await submit(
        client,
        await portal_form(client),
        phone="+86 138-0013-8000",
        description="还有一个问题：发票怎么开？",
    )
    assert await count(db, Ticket) == 2
    assert await count(db, Customer) == 1, "same phone written differently: one customer"


async def test_honeypot_submission_stores_nothing(client: Any, db: Any) -> None:
    response = await submit(client, await portal_form(client), website="http://spam.example")
    assert response.status_code == 200
    assert "已收到您的咨询" in response.text
    assert await count(db, Ticket) == 0 and await count(db, Customer) == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"phone": "12345"}, "phone", "请输入有效的电话号码"),
        ({"phone": "", "email": "not-an-email"}, "email", "请输入有效的邮箱地址"),
        ({"phone": "", "email": ""}, "phone", "请填写电话号码或邮箱地址"),
        ({"description": "   "}, "description", "请描述您的问题"),
        ({"description": "太长" * 2501}, "description", "内容过长"),
        ({"name": ""}, "name", "必填"),
    ],
)
async def test_bad_input_is_refused_in_place_and_nothing_is_stored(
    client: Any, db: Any, overrides: dict[str, str], field: str, message: str
) -> None:
    form = await portal_form(client)
    response = await client.post(
        "/portal", data={**form, **inquiry(**overrides)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert message in response.text
    assert f'id="err-{field}"' in response.text
    assert 'id="portal-form"' in response.text, "the form partial comes back with the errors"
    assert await count(db, Ticket) == 0 and await count(db, Customer) == 0


async def test_bad_input_in_english(client: Any) -> None:
    form = await portal_form(client)
    response = await client.post(
        "/portal", data={**form, **inquiry(phone="12")}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert "Enter a valid phone number." in response.text
    assert "<html" in response.text, "without htmx the whole page comes back"


async def test_a_tracking_token_never_reveals_another_ticket(client: Any, db: Any) -> None:
    first = token_of(
        await submit(client, await portal_form(client), description="甲的问题：耳机没有声音")
    )
    second = token_of(
        await submit(
            client, await portal_form(client), phone="13900139000", description="乙的问题：申请退款"
        )
    )
    page = await client.get(f"/portal/t/{first}")
    assert "甲的问题" in page.text and "乙的问题" not in page.text
    page = await client.get(f"/portal/t/{second}")
    assert "乙的问题" in page.text and "甲的问题" not in page.text
    for wrong in (first[:-1] + ("A" if first[-1] != "A" else "B"), "x" * 43, "short"):
        missing = await client.get(f"/portal/t/{wrong}")
        assert missing.status_code == 404
        assert "该链接没有对应的咨询" in missing.text
        assert "甲的问题" not in missing.text and "乙的问题" not in missing.text


async def test_tracking_shows_only_replies_meant_for_the_customer(client: Any, db: Any) -> None:
    token = token_of(await submit(client, await portal_form(client)))
    async with unit_of_work(db) as s:
        ticket = (await s.scalars(select(Ticket))).one()
        agent = actor_for((await s.scalars(select(User).where(User.username == "agent"))).one())
        await commands.add_follow_up(
            s,
            agent,
            ticket.id,
            commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed="内部备注：客户语气急躁"),
        )
        await commands.add_follow_up(
            s,
            agent,
            ticket.id,
            commands.FollowUpInput(
                method=FollowUpMethod.ONLINE_CHAT,
                discussed="您好，包裹已于今天发出。",
                visible_to_customer=True,
            ),
        )
    page = await client.get(f"/portal/t/{token}")
    assert "您好，包裹已于今天发出。" in page.text
    assert "内部备注" not in page.text


async def test_customer_adds_information_as_a_customer_follow_up(
    client: Any, db: Any, redis: Any
) -> None:
    from models.settings import get_settings

    token = token_of(await submit(client, await portal_form(client)))
    pubsub = redis.pubsub()
    await pubsub.subscribe(get_settings().event_channel)
    response = await client.post(
        f"/portal/t/{token}/info",
        data={
            "text": "补充：收货地址是上海市浦东新区。",
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "补充：收货地址是上海市浦东新区。" in response.text and 'id="thread"' in response.text
    async with db.sessionmaker() as s:
        added = (await s.scalars(select(FollowUp))).one()
        assert added.by_customer is True and added.user_id is None
        assert added.visible_to_customer is True
    events = []
    for _ in range(20):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message:
            events.append(message["data"])
            break
    await pubsub.aclose()
    assert events and b"ticket.updated" in events[0]
    empty = await client.post(
        f"/portal/t/{token}/info",
        data={"text": " ", "_csrf_token": client.cookies.get("kefu_csrf")},
    )
    assert empty.status_code == 422
    assert await count(db, FollowUp) == 1


async def test_portal_post_without_csrf_is_refused(client: Any, db: Any) -> None:
    await client.get("/portal")
    response = await client.post("/portal", data=inquiry())
    assert response.status_code == 403
    assert await count(db, Ticket) == 0
