"""Who may reveal a customer's phone and email: leads and admins always; agents as the admin's
contact policy says (never / their tickets / their department's tickets, the default), for a
ticket that is open or was completed or closed lately. Every reveal is audited, a refusal
records nothing; once revealed the contacts are tel:/mailto: links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, ContactReveal, TicketStatus
from models.services.admin import site
from models.services.admin.users import actor_for
from models.services.common.actor import Actor
from models.services.common.errors import Forbidden
from models.services.customers import registry
from models.services.tickets import commands
from models.ticket import Ticket
from models.user import User
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("test")
PHONE = "13812345678"
EMAIL = "li.lei@example.com"


async def staff(db: Any, username: str) -> Actor:
    async with db.sessionmaker() as s:
        return actor_for((await s.scalars(select(User).where(User.username == username))).one())


async def a_customer(db: Any, name: str = "李雷", phone: str = PHONE) -> Customer:
    async with unit_of_work(db) as s:
        return await registry.register(
            s, SYSTEM, registry.CustomerInput(name=name, phone=phone, email=EMAIL)
        )


async def a_ticket(
    db: Any, customer_id: int, *, department_id: int | None = None, assignee: str | None = None
) -> Ticket:
    assignee_id = (await staff(db, assignee)).user_id if assignee else None
    async with unit_of_work(db) as s:
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer_id,
                description="打印机卡纸，请回电",
                channel=Channel.PHONE,
                department_id=department_id,
                assignee_id=assignee_id,
            ),
        )
        return ticket


async def set_policy(db: Any, policy: ContactReveal) -> None:
    admin = await staff(db, "admin")
    async with unit_of_work(db) as s:
        await site.set_contact_reveal(s, admin, policy)


async def reveals(db: Any) -> list[AuditEvent]:
    async with db.sessionmaker() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == "reveal_contacts")
        return list((await s.scalars(stmt)).all())


async def post_reveal(client: Any, customer_id: int, language: str = "zh-CN") -> Any:
    return await client.post(
        f"/customers/{customer_id}/reveal",
        data={"_csrf_token": client.cookies.get("kefu_csrf")},
        headers={"HX-Request": "true", "Accept-Language": language},
    )


async def may(db: Any, username: str, customer_id: int) -> bool:
    actor = await staff(db, username)
    async with db.sessionmaker() as s:
        return await registry.may_reveal(s, actor, customer_id)


async def test_an_agent_reveals_the_customer_of_their_ticket_with_call_and_mail_links(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    # Assigned to the agent although routed to another department: theirs all the same.
    customer = await a_customer(db)
    await a_ticket(db, customer.id, department_id=reference["TECH"], assignee="agent")
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{customer.id}")
    assert f"/customers/{customer.id}/reveal" in page.text and PHONE not in page.text
    revealed = await post_reveal(client, customer.id)
    assert revealed.status_code == 200, revealed.text[:300]
    assert f'href="tel:{PHONE}"' in revealed.text
    assert f'href="mailto:{EMAIL}"' in revealed.text
    events = await reveals(db)
    agent = await staff(db, "agent")
    assert [(e.entity_id, e.actor_id) for e in events] == [(customer.id, agent.user_id)]


async def test_an_agent_reveals_the_customer_of_their_departments_ticket(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    customer = await a_customer(db)
    await a_ticket(db, customer.id, department_id=reference["SUPPORT"])
    await sign_in(client, "agent", "kefu-agent")
    revealed = await post_reveal(client, customer.id)
    assert revealed.status_code == 200
    assert PHONE in revealed.text and EMAIL in revealed.text
    assert len(await reveals(db)) == 1


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-CN", "您只能查看分配给您或您所在部门的工单所属客户的完整联系方式。"),
        ("en", "only of customers with a ticket assigned to you or to your department"),
    ],
)
async def test_another_departments_customer_is_refused_and_nothing_is_audited(
    client: Any, db: Any, reference: dict[str, int], language: str, message: str
) -> None:
    customer = await a_customer(db)
    await a_ticket(db, customer.id, department_id=reference["TECH"], assignee="agent.tech")
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{customer.id}")
    assert f"/customers/{customer.id}/reveal" not in page.text
    refused = await post_reveal(client, customer.id, language)
    assert refused.status_code == 403
    assert message in refused.text
    assert PHONE not in refused.text and EMAIL not in refused.text
    assert await reveals(db) == []


async def test_a_customer_without_tickets_is_refused(client: Any, db: Any) -> None:
    customer = await a_customer(db)
    await sign_in(client, "agent", "kefu-agent")
    assert (await post_reveal(client, customer.id)).status_code == 403
    assert await reveals(db) == []


@pytest.mark.parametrize(
    ("policy", "own", "department"),
    [
        (ContactReveal.NEVER, False, False),
        (ContactReveal.OWN, True, False),
        (ContactReveal.DEPARTMENT, True, True),
    ],
)
async def test_each_policy_setting(
    db: Any,
    reference: dict[str, int],
    policy: ContactReveal,
    own: bool,
    department: bool,
) -> None:
    theirs = await a_customer(db, "韩梅梅", "13900000001")
    colleagues = await a_customer(db, "王芳", "13900000002")
    elsewhere = await a_customer(db, "张伟", "13900000003")
    await a_ticket(db, theirs.id, department_id=reference["TECH"], assignee="agent")
    await a_ticket(db, colleagues.id, department_id=reference["SUPPORT"], assignee="agent.emma")
    await a_ticket(db, elsewhere.id, department_id=reference["TECH"])
    await set_policy(db, policy)
    assert await may(db, "agent", theirs.id) is own
    assert await may(db, "agent", colleagues.id) is department
    assert await may(db, "agent", elsewhere.id) is False
    agent = await staff(db, "agent")
    async with unit_of_work(db) as s:
        if own:
            assert (await registry.reveal(s, agent, theirs.id)).phone == "13900000001"
        else:
            with pytest.raises(Forbidden):
                await registry.reveal(s, agent, theirs.id)
    assert len(await reveals(db)) == int(own)
    # Leads and admins are not touched by the setting.
    for username in ("lead", "admin"):
        assert await may(db, username, elsewhere.id)


async def test_under_never_the_refusal_says_so(client: Any, db: Any) -> None:
    customer = await a_customer(db)
    await a_ticket(db, customer.id, assignee="agent")
    await set_policy(db, ContactReveal.NEVER)
    await sign_in(client, "agent", "kefu-agent")
    refused = await post_reveal(client, customer.id, "en")
    assert refused.status_code == 403
    assert "You may not reveal contact details." in refused.text
    assert await reveals(db) == []


async def test_a_done_ticket_counts_for_thirty_days(
    db: Any, reference: dict[str, int], clock: Any
) -> None:
    customer = await a_customer(db)
    ticket = await a_ticket(db, customer.id, department_id=reference["TECH"], assignee="agent")
    lead = await staff(db, "lead")
    async with unit_of_work(db) as s:
        for target in (
            TicketStatus.IN_PROGRESS,
            TicketStatus.AWAITING_CONFIRMATION,
            TicketStatus.COMPLETED,
            TicketStatus.CLOSED,
        ):
            await commands.move(
                s, lead, ticket.id, target, expected_version=None, resolution="已更换搓纸轮"
            )
        closed_at = (await s.get(Ticket, ticket.id)).closed_at  # type: ignore[union-attr]
    assert closed_at is not None
    clock(closed_at + registry.REVEAL_AFTER_DONE - timedelta(hours=1))
    assert await may(db, "agent", customer.id)
    clock(closed_at + registry.REVEAL_AFTER_DONE + timedelta(hours=1))
    assert not await may(db, "agent", customer.id)
    assert await may(db, "lead", customer.id)


@pytest.mark.parametrize("username", ["lead", "admin"])
async def test_leads_and_admins_reveal_any_customer_as_before(
    client: Any, db: Any, username: str
) -> None:
    customer = await a_customer(db)
    await set_policy(db, ContactReveal.NEVER)
    await sign_in(client, username, f"kefu-{username}")
    revealed = await post_reveal(client, customer.id)
    assert revealed.status_code == 200
    assert f'href="tel:{PHONE}"' in revealed.text
    assert len(await reveals(db)) == 1


async def test_the_drawer_offers_the_reveal_to_an_agent_of_the_department(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    ours = await a_customer(db, "韩梅梅", "13900000001")
    theirs = await a_customer(db, "张伟", "13900000002")
    our_ticket = await a_ticket(db, ours.id, department_id=reference["SUPPORT"])
    their_ticket = await a_ticket(db, theirs.id, department_id=reference["TECH"])
    await sign_in(client, "agent", "kefu-agent")
    drawer = await client.get(f"/tickets/{our_ticket.id}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200
    assert f"/customers/{ours.id}/reveal" in drawer.text and "139****0001" in drawer.text
    drawer = await client.get(f"/tickets/{their_ticket.id}", headers={"HX-Request": "true"})
    assert drawer.status_code == 200
    assert f"/customers/{theirs.id}/reveal" not in drawer.text


async def test_admins_set_the_policy_in_settings_and_the_change_is_audited(
    client: Any, db: Any
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get("/admin/users")
    assert 'name="agent_contact_reveal"' in page.text
    saved = await client.post(
        "/admin/contact-policy",
        data={"_csrf_token": client.cookies.get("kefu_csrf"), "agent_contact_reveal": "own"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200
    async with db.sessionmaker() as s:
        assert await site.read_contact_reveal(s) is ContactReveal.OWN
        events = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "agent_contact_reveal"))
        ).all()
    assert [(e.before, e.after) for e in events] == [({"policy": "department"}, {"policy": "own"})]


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-CN", "请选择客服可查看哪些客户的完整联系方式。"), ("en", "Choose whose contact")],
)
async def test_a_bad_policy_value_is_a_localized_422(
    client: Any, db: Any, language: str, message: str
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    await client.get("/admin/users")
    refused = await client.post(
        "/admin/contact-policy",
        data={"_csrf_token": client.cookies.get("kefu_csrf"), "agent_contact_reveal": "all"},
        headers={"HX-Request": "true", "Accept-Language": language},
    )
    assert refused.status_code == 422
    assert message in refused.text
    async with db.sessionmaker() as s:
        assert await site.read_contact_reveal(s) is ContactReveal.DEPARTMENT


async def test_agents_and_leads_cannot_change_the_policy(client: Any, db: Any) -> None:
    for username in ("agent", "lead"):
        await sign_in(client, username, f"kefu-{username}")
        refused = await client.post(
            "/admin/contact-policy",
            data={"_csrf_token": client.cookies.get("kefu_csrf"), "agent_contact_reveal": "own"},
        )
        assert refused.status_code == 403
    async with db.sessionmaker() as s:
        assert await site.read_contact_reveal(s) is ContactReveal.DEPARTMENT
