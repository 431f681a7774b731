"""Who an inquiry belongs to: a phone or email match under another name on the portal or the
API is a new customer marked "possible duplicate", never the matched customer; staff see the
mark and dismiss it (audited)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.customer import Customer
from models.db import unit_of_work
from models.services.common.actor import Actor
from models.services.tickets import intake
from models.ticket import Ticket
from tests.conftest import csrf_token, sign_in
from tests.integration.tickets.test_api_inquiries import new_key
from tests.integration.tickets.test_portal_flow import portal_form, submit, token_of

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("test")
PHONE = "138 0013 8000"
REFUND = "上次的退款还没有到账，订单 SO-777 的退款进度如何？"


async def customers(db: Any) -> list[Customer]:
    async with db.sessionmaker() as s:
        return list(await s.scalars(select(Customer).order_by(Customer.id)))


async def tickets_of(db: Any, customer_id: int) -> list[Ticket]:
    async with db.sessionmaker() as s:
        stmt = select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
        return list(await s.scalars(stmt))


async def portal(client: Any, **fields: str) -> Any:
    response = await submit(client, await portal_form(client), **fields)
    assert response.status_code == 303, response.text
    return response


async def test_a_phone_match_under_another_name_is_a_new_customer_marked_possible_duplicate(
    client: Any, db: Any
) -> None:
    await portal(client, name="王晓明", phone=PHONE, description=REFUND)
    [wang] = await customers(db)
    [wang_ticket] = await tickets_of(db, wang.id)
    impostor = await portal(
        client, name="李冒名", phone="13800138000", description="请告诉我我的退款记录。"
    )
    wang_after, li = await customers(db)
    assert li.name == "李冒名" and li.id != wang.id
    assert li.duplicate_of_id == wang.id and li.duplicate_match == "phone"
    assert wang_after.duplicate_of_id is None and wang_after.name == "王晓明"
    # 王晓明's record keeps exactly his own ticket; the new inquiry is on 李冒名's record.
    assert [t.id for t in await tickets_of(db, wang.id)] == [wang_ticket.id]
    [li_ticket] = await tickets_of(db, li.id)
    # Neither the receipt nor the tracking page shows anything of 王晓明.
    for page in (
        await client.get(impostor.headers["location"]),
        await client.get(f"/portal/t/{token_of(impostor)}"),
    ):
        assert page.status_code == 200 and li_ticket.number in page.text
        for secret in ("王晓明", wang.number, wang_ticket.number, "SO-777", "退款还没有到账"):
            assert secret not in page.text


@pytest.mark.parametrize(
    "typed", ["王晓明", "  王 晓明 ", "Wang Xiaoming", "ｗａｎｇ　XIAOMING"], ids=str.strip
)
async def test_the_same_name_is_the_same_customer(client: Any, db: Any, typed: str) -> None:
    recorded = "王晓明" if "王" in typed else "wang xiaoming"
    await portal(client, name=recorded, phone=PHONE)
    await portal(client, name=typed, phone=PHONE, description="第二个问题：发票怎么开？")
    [only] = await customers(db)
    assert only.duplicate_of_id is None
    assert len(await tickets_of(db, only.id)) == 2


async def test_an_email_match_under_another_name_on_the_portal_follows_the_same_rule(
    client: Any, db: Any
) -> None:
    await portal(client, name="王晓明", phone="", email="wang@example.com")
    await portal(client, name="李冒名", phone="", email="WANG@example.com ")
    wang, li = await customers(db)
    assert li.duplicate_of_id == wang.id and li.duplicate_match == "email"
    assert len(await tickets_of(db, wang.id)) == 1 and len(await tickets_of(db, li.id)) == 1


async def test_the_api_applies_the_rule_too(client: Any, db: Any) -> None:
    _, raw = await new_key(db)
    body = {"phone": PHONE, "description": "Where is my refund?", "channel": "social_media"}
    for name in ("王晓明", "王晓明", "李冒名"):
        response = await client.post(
            "/api/v1/inquiries", json={**body, "name": name}, headers={"X-API-Key": raw}
        )
        assert response.status_code == 201, response.text
    wang, li = await customers(db)
    assert len(await tickets_of(db, wang.id)) == 2
    assert li.name == "李冒名" and li.duplicate_of_id == wang.id


async def test_staff_see_the_mark_and_dismiss_it_audited(client: Any, db: Any) -> None:
    await portal(client, name="王晓明", phone=PHONE)
    await portal(client, name="李冒名", phone=PHONE, description="另一个问题")
    wang, li = await customers(db)
    [li_ticket] = await tickets_of(db, li.id)
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get(f"/customers/{li.id}")
    assert page.status_code == 200
    assert "可能重复" in page.text and f"与 {wang.number} 电话相同" in page.text
    assert f'href="/customers/{wang.id}"' in page.text and "不是同一人" in page.text
    english = await client.get(f"/customers/{li.id}", headers={"Accept-Language": "en"})
    assert "Possible duplicate" in english.text and f"Same phone as {wang.number}" in english.text
    drawer = await client.get(f"/tickets/{li_ticket.id}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200 and "可能重复" in drawer.text
    assert "可能重复" not in (await client.get(f"/customers/{wang.id}")).text

    dismissed = await client.post(
        f"/customers/{li.id}/not-duplicate",
        data={"_csrf_token": client.cookies.get("kefu_csrf")},
        headers={"HX-Request": "true"},
    )
    assert dismissed.status_code == 200 and "已标记为不是同一人" in dismissed.text
    assert "可能重复" not in (await client.get(f"/customers/{li.id}")).text
    async with db.sessionmaker() as s:
        assert (await s.get(Customer, li.id)).duplicate_of_id is None  # type: ignore[union-attr]
        [event] = await s.scalars(select(AuditEvent).where(AuditEvent.action == "not_duplicate"))
        assert event.entity_id == li.id and event.before == wang.number
        assert event.actor_label
    # Dismissing again changes nothing and records nothing.
    again = await client.post(
        f"/customers/{li.id}/not-duplicate",
        data={"_csrf_token": client.cookies.get("kefu_csrf")},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 200
    async with db.sessionmaker() as s:
        events = await s.scalars(select(AuditEvent).where(AuditEvent.action == "not_duplicate"))
        assert len(list(events)) == 1


async def test_a_signed_out_visitor_cannot_dismiss_the_mark(client: Any, db: Any) -> None:
    await portal(client, name="王晓明", phone=PHONE)
    await portal(client, name="李冒名", phone=PHONE, description="另一个问题")
    _, li = await customers(db)
    response = await client.post(
        f"/customers/{li.id}/not-duplicate",
        data={"_csrf_token": await csrf_token(client, "/portal")},
        follow_redirects=False,
    )
    assert response.status_code == 302 and response.headers["location"].startswith("/login")
    async with db.sessionmaker() as s:
        assert (await s.get(Customer, li.id)).duplicate_of_id is not None  # type: ignore[union-attr]


async def test_the_agent_form_keeps_the_plain_contact_match(client: Any, db: Any) -> None:
    """An agent on the phone decides who the caller is; only the portal and the API, where
    anyone may type anyone's number, mark a possible duplicate."""
    await portal(client, name="王晓明", phone=PHONE)
    async with unit_of_work(db) as s:
        result = await intake.register_inquiry(
            s,
            SYSTEM,
            intake.InquiryInput(
                description="来电：王先生的太太代他询问退款。",
                channel="phone",
                name="王太太",
                phone=PHONE,
            ),
        )
    [wang] = await customers(db)
    assert result.customer_id == wang.id and not result.customer_created
