"""An agent calls a customer back: in a real browser, the drawer of their department's ticket
shows the masked phone, Reveal shows it in full as a tel: link (and the reveal is audited);
another department's ticket offers no reveal."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from tests.e2e.conftest import screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

SYSTEM = Actor.system("e2e")


async def _ticket(db: Database, name: str, phone: str, department_id: int) -> tuple[int, int]:
    async with unit_of_work(db) as s:
        customer = await registry.register(
            s, SYSTEM, registry.CustomerInput(name=name, phone=phone, email="cb@example.com")
        )
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer.id,
                description="打印机卡纸，请回电。",
                channel=Channel.PHONE,
                department_id=department_id,
            ),
        )
    return customer.id, ticket.id


async def test_an_agent_reveals_the_phone_in_the_drawer_and_gets_a_tel_link(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    customer_id, ticket_id = await _ticket(db, "林小姐", "13800138222", reference["SUPPORT"])
    await sign_in(page, "agent", "kefu-agent")
    await page.goto("/board")
    await page.click(f"[data-testid=open-{ticket_id}]")
    contacts = page.locator(f"#contacts-{customer_id}")
    await expect(contacts).to_contain_text("138****8222")
    await expect(contacts.locator("[data-testid=contact-phone]")).to_have_count(0)

    await contacts.locator("[data-testid=reveal-contacts]").click()
    phone = page.locator(f"#contacts-{customer_id} [data-testid=contact-phone]")
    await expect(phone).to_have_text("13800138222")
    await expect(phone).to_have_attribute("href", "tel:13800138222")
    await expect(
        page.locator(f"#contacts-{customer_id} [data-testid=contact-email]")
    ).to_have_attribute("href", "mailto:cb@example.com")
    await expect(page.locator(f"#contacts-{customer_id}")).to_contain_text("审计")
    await page.screenshot(path=screenshot_path("contact-revealed-in-drawer"))
    async with db.sessionmaker() as s:
        events = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "reveal_contacts"))
        ).all()
    assert [e.entity_id for e in events] == [customer_id]


async def test_another_departments_ticket_offers_no_reveal(
    db: Database, reference: dict[str, int], page: Any
) -> None:
    customer_id, ticket_id = await _ticket(db, "张先生", "13900139333", reference["TECH"])
    await sign_in(page, "agent", "kefu-agent")
    await page.goto(f"/tickets/{ticket_id}")
    contacts = page.locator(f"#contacts-{customer_id}")
    await expect(contacts).to_contain_text("139****9333")
    await expect(contacts.locator("[data-testid=reveal-contacts]")).to_have_count(0)
    await expect(contacts.locator("a[href^='tel:']")).to_have_count(0)
