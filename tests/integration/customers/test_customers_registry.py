"""The customer registry: list and filters, the customer page and its history, create/edit,
masking per role with audited reveals, level changes that re-rank open tickets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from models.audit import AuditEvent
from models.customer import Customer
from models.db import unit_of_work
from models.enums import (
    Channel,
    CustomerLevel,
    CustomerType,
    FollowUpMethod,
    Industry,
    Priority,
    TicketStatus,
)
from models.services.admin.users import actor_for
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands, surveys
from models.ticket import Ticket
from models.user import User
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("test")


async def staff(db: Any, username: str) -> Actor:
    async with db.sessionmaker() as s:
        return actor_for((await s.scalars(select(User).where(User.username == username))).one())


async def register(db: Any, **fields: Any) -> Customer:
    async with unit_of_work(db) as s:
        return await registry.register(s, SYSTEM, registry.CustomerInput(**fields))


async def ticket_for(db: Any, customer_id: int, description: str = "打印机卡纸") -> Ticket:
    async with unit_of_work(db) as s:
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer_id, description=description, channel=Channel.PHONE
            ),
        )
        return ticket


async def audits(db: Any, action: str) -> list[AuditEvent]:
    async with db.sessionmaker() as s:
        return list((await s.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def test_list_search_and_filters(client: Any, db: Any) -> None:
    await register(
        db,
        name="云帆科技有限公司",
        type=CustomerType.ENTERPRISE,
        industry=Industry.I,
        level=CustomerLevel.VIP,
        phone="13811112222",
    )
    await register(db, name="张伟", phone="13933334444", email="zhang.wei@example.com")
    await register(
        db,
        name="蓝海贸易",
        type=CustomerType.ENTERPRISE,
        industry=Industry.F,
        level=CustomerLevel.STRATEGIC,
    )
    await sign_in(client, "agent", "kefu-agent")

    async def names(**params: str) -> set[str]:
        page = await client.get("/customers", params=params)
        assert page.status_code == 200
        return {n for n in ("云帆科技有限公司", "张伟", "蓝海贸易") if n in page.text}

    assert await names() == {"云帆科技有限公司", "张伟", "蓝海贸易"}
    assert await names(level="vip") == {"云帆科技有限公司"}
    assert await names(type="enterprise") == {"云帆科技有限公司", "蓝海贸易"}
    assert await names(industry="F") == {"蓝海贸易"}
    assert await names(q="蓝海") == {"蓝海贸易"}
    assert await names(q="139-3333-4444") == {"张伟"}, "phone lookups go through the hash"
    assert await names(q="Zhang.Wei@Example.com") == {"张伟"}
    assert await names(level="bogus") == {"云帆科技有限公司", "张伟", "蓝海贸易"}
    page = await client.get("/customers")
    assert "138****2222" in page.text and "13811112222" not in page.text


async def test_the_list_pages(db: Any) -> None:
    for n in range(5):
        await register(db, name=f"客户{n}")
    async with db.sessionmaker() as s:
        first = await registry.list_page(s, registry.CustomerFilters(), limit=2)
        last = await registry.list_page(s, registry.CustomerFilters(), offset=4, limit=2)
    assert len(first.rows) == 2 and first.next_offset == 2 and first.prev_offset is None
    assert len(last.rows) == 1 and last.next_offset is None and last.prev_offset == 2


async def test_agents_see_masks_and_cannot_reveal(client: Any, db: Any) -> None:
    customer = await register(db, name="李雷", phone="13812345678", email="li.lei@example.com")
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{customer.id}")
    assert page.status_code == 200
    assert "138****5678" in page.text and "l***@example.com" in page.text
    assert "13812345678" not in page.text and "li.lei@example.com" not in page.text
    assert f"/customers/{customer.id}/reveal" not in page.text
    refused = await client.post(
        f"/customers/{customer.id}/reveal", data={"_csrf_token": client.cookies.get("kefu_csrf")}
    )
    assert refused.status_code == 403
    assert "13812345678" not in refused.text
    assert await audits(db, "reveal_contacts") == []


@pytest.mark.parametrize("username", ["lead", "admin"])
async def test_leads_and_admins_reveal_and_each_reveal_is_audited(
    client: Any, db: Any, username: str
) -> None:
    customer = await register(db, name="韩梅梅", phone="13812345678", email="mei@example.com")
    await sign_in(client, username, f"kefu-{username}")
    page = await client.get(f"/customers/{customer.id}")
    assert f"/customers/{customer.id}/reveal" in page.text and "13812345678" not in page.text
    for _ in range(2):
        revealed = await client.post(
            f"/customers/{customer.id}/reveal",
            data={"_csrf_token": client.cookies.get("kefu_csrf")},
            headers={"HX-Request": "true"},
        )
        assert revealed.status_code == 200
        assert "13812345678" in revealed.text and "mei@example.com" in revealed.text
        assert "<html" not in revealed.text
    events = await audits(db, "reveal_contacts")
    user = await staff(db, username)
    assert len(events) == 2
    assert all(e.entity_id == customer.id and e.actor_id == user.user_id for e in events)


async def test_audit_trail_and_raw_rows_hold_no_plaintext_contacts(client: Any, db: Any) -> None:
    customer = await register(db, name="王芳", phone="13700001111", email="wang.fang@example.com")
    await sign_in(client, "lead", "kefu-lead")
    token = client.cookies.get("kefu_csrf")
    edited = await client.post(
        f"/customers/{customer.id}",
        data={
            "name": "王芳",
            "type": "individual",
            "phone": "+86 137 0000 2222",
            "email": "fang.wang@example.org",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    await client.post(f"/customers/{customer.id}/reveal", data={"_csrf_token": token})
    async with db.engine.connect() as conn:
        dump = ""
        for table in ("customers", "audit_events"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).mappings().all()
            dump += " ".join(str(v) for row in rows for v in row.values())
    for plaintext in (
        "13700001111",
        "13700002222",
        "wang.fang@example.com",
        "fang.wang@example.org",
    ):
        assert plaintext not in dump
    assert "137****2222" in dump, "contact changes are audited as masks"
    async with db.sessionmaker() as s:
        found = await registry.find_by_contact(s, phone="13700002222")
        assert found is not None and found.id == customer.id
        assert await registry.find_by_contact(s, phone="13700001111") is None


async def test_lead_changes_level_audited_and_open_tickets_are_re_ranked(
    client: Any, db: Any
) -> None:
    customer = await register(db, name="恒通物流", type=CustomerType.ENTERPRISE)
    computed = await ticket_for(db, customer.id, "系统登录不了")
    manual = await ticket_for(db, customer.id, "发票信息有误")
    done = await ticket_for(db, customer.id, "上月的问题")
    lead = await staff(db, "lead")
    async with unit_of_work(db) as s:
        await commands.change_priority(s, lead, manual.id, Priority.LOW, expected_version=None)
        for target in (TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION):
            await commands.move(s, lead, done.id, target, expected_version=None)
        await commands.move(
            s, lead, done.id, TicketStatus.COMPLETED, expected_version=None, resolution="已重置密码"
        )
    async with db.sessionmaker() as s:
        before_done = (await s.get(Ticket, done.id)).priority_rank  # type: ignore[union-attr]
    await sign_in(client, "lead", "kefu-lead")
    response = await client.post(
        f"/customers/{customer.id}/level",
        data={"level": "vip", "_csrf_token": client.cookies.get("kefu_csrf")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "VIP" in response.text
    async with db.sessionmaker() as s:
        assert (await s.get(Customer, customer.id)).level is CustomerLevel.VIP  # type: ignore[union-attr]
        t1 = await s.get(Ticket, computed.id)
        t2 = await s.get(Ticket, manual.id)
        t3 = await s.get(Ticket, done.id)
    assert t1 is not None and t2 is not None and t3 is not None
    assert t1.priority is Priority.HIGH and t1.priority_rank == 11, "VIP raises a step"
    assert t2.priority is Priority.LOW and t2.priority_rank == 31, "a manual priority is kept"
    assert t3.priority_rank == before_done, "closed history is left alone"
    changes = [e for e in await audits(db, "change") if e.entity_type == "customer"]
    assert [(e.field, e.before, e.after) for e in changes] == [("level", "normal", "vip")]


async def test_only_leads_change_levels(client: Any, db: Any) -> None:
    customer = await register(db, name="周婷")
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{customer.id}")
    assert f"/customers/{customer.id}/level" not in page.text
    response = await client.post(
        f"/customers/{customer.id}/level",
        data={"level": "vip", "_csrf_token": client.cookies.get("kefu_csrf")},
    )
    assert response.status_code == 403
    await sign_in(client, "lead", "kefu-lead")
    bad = await client.post(
        f"/customers/{customer.id}/level",
        data={"level": "platinum", "_csrf_token": client.cookies.get("kefu_csrf")},
    )
    assert bad.status_code == 422
    async with db.sessionmaker() as s:
        assert (await s.get(Customer, customer.id)).level is CustomerLevel.NORMAL  # type: ignore[union-attr]


async def test_customer_page_shows_the_full_history(client: Any, db: Any) -> None:
    customer = await register(db, name="孙丽", phone="13655556666")
    first = await ticket_for(db, customer.id, "路由器无法联网")
    await ticket_for(db, customer.id, "想了解企业套餐")
    agent = await staff(db, "agent")
    lead = await staff(db, "lead")
    async with unit_of_work(db) as s:
        await commands.add_follow_up(
            s,
            agent,
            first.id,
            commands.FollowUpInput(
                method=FollowUpMethod.PHONE, discussed="指导客户重启光猫", next_step="明天回访"
            ),
        )
        for target in (TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION):
            await commands.move(s, lead, first.id, target, expected_version=None)
        await commands.move(
            s,
            lead,
            first.id,
            TicketStatus.COMPLETED,
            expected_version=None,
            resolution="更换了光猫电源",
        )
        survey = await surveys.create_for_ticket(s, await commands.get(s, first.id))
        assert survey is not None
        token = surveys.token_for(survey)
        assert token is not None
        await surveys.submit(
            s,
            token,
            surveys.Answer(
                speed=5, solution=4, attitude=5, comment="师傅很耐心", suggestion=None, contact=None
            ),
        )
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{customer.id}")
    for expected in (
        "路由器无法联网",
        "想了解企业套餐",
        "指导客户重启光猫",
        "明天回访",
        "更换了光猫电源",
        "师傅很耐心",
        first.number,
    ):
        assert expected in page.text, expected
    async with db.sessionmaker() as s:
        profile = await registry.profile(s, agent, customer.id)
    assert profile.ticket_count == 2 and profile.open_count == 1
    assert profile.average_score == pytest.approx(4.7)
    assert (await client.get("/customers/999999")).status_code == 404


async def test_create_and_edit_customers_stay_de_duplicated(client: Any, db: Any) -> None:
    await register(db, name="已有客户", phone="13512345678", email="taken@example.com")
    await sign_in(client, "agent", "kefu-agent")
    blank = await client.get("/customers/new")
    assert blank.status_code == 200 and 'name="level"' not in blank.text, "agents set no level"
    token = client.cookies.get("kefu_csrf")
    form = {
        "name": "新客户",
        "type": "enterprise",
        "industry": "C",
        "phone": "135 1234 5678",
        "_csrf_token": token,
    }
    duplicate = await client.post("/customers", data=form)
    assert duplicate.status_code == 422 and "已登记在其他客户名下" in duplicate.text
    vip = await client.post("/customers", data={**form, "phone": "", "level": "vip"})
    assert vip.status_code == 403
    created = await client.post(
        "/customers", data={**form, "phone": "13598765432"}, follow_redirects=False
    )
    assert created.status_code == 303
    new_id = int(created.headers["location"].rsplit("/", 1)[1])
    taken = await client.post(
        f"/customers/{new_id}",
        data={
            "name": "新客户",
            "type": "enterprise",
            "email": "TAKEN@example.com",
            "_csrf_token": token,
        },
    )
    assert taken.status_code == 422 and "已登记在其他客户名下" in taken.text
    invalid = await client.post(
        f"/customers/{new_id}",
        data={"name": "", "type": "enterprise", "phone": "123", "_csrf_token": token},
    )
    assert invalid.status_code == 422 and "必填" in invalid.text
    renamed = await client.post(
        f"/customers/{new_id}",
        data={
            "name": "新客户（已更名）",
            "type": "enterprise",
            "industry": "C",
            "phone": "",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    async with db.sessionmaker() as s:
        customer = await s.get(Customer, new_id)
        assert customer is not None and customer.name == "新客户（已更名）"
        assert customer.industry is Industry.C and customer.phone_enc, "phone kept when empty"
        assert int(await s.scalar(select(func.count()).select_from(Customer)) or 0) == 2
    edit_page = await client.get(f"/customers/{new_id}/edit")
    assert 'placeholder="135****5432"' in edit_page.text and "13598765432" not in edit_page.text
