"""Customer merge: two records of one person become one — tickets (through the ticket write
path) and surveys move, missing contacts move, the higher level wins, the merged record stays
as a tombstone that redirects and is hidden from search; leads and admins only, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.base import utcnow
from models.customer import Customer
from models.db import unit_of_work
from models.enums import CustomerLevel
from models.services.common.crypto import token_hash
from models.services.common.errors import Forbidden, ValidationFailed
from models.services.customers import registry
from models.services.tickets import customer_merge
from models.survey import Survey
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.customers.test_customer_identity import PHONE, customers, portal, tickets_of
from tests.integration.sla.test_sla_helpers import actor

pytestmark = pytest.mark.usefixtures("reference")


async def two_records(client: Any, db: Any) -> tuple[Customer, Customer]:
    """王晓明 (phone + email) and 李冒名 filed as a possible duplicate of him (same phone), who
    also gave an email of her own."""
    await portal(client, name="王晓明", phone=PHONE, description="退款什么时候到账？")
    await portal(
        client, name="李冒名", phone=PHONE, email="li@example.com", description="发票怎么开？"
    )
    wang, li = await customers(db)
    assert li.duplicate_of_id == wang.id
    return wang, li


async def add_survey(db: Any, ticket: Ticket) -> None:
    async with unit_of_work(db) as s:
        s.add(
            Survey(
                ticket_id=ticket.id,
                customer_id=ticket.customer_id,
                speed_score=5,
                token_hash=token_hash(f"survey-{ticket.id}"),
                expires_at=utcnow() + timedelta(days=7),
            )
        )


async def test_merge_moves_tickets_and_surveys_and_is_audited(client: Any, db: Any) -> None:
    wang, li = await two_records(client, db)
    [li_ticket] = await tickets_of(db, li.id)
    await add_survey(db, li_ticket)
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        await registry.set_level(s, lead, li.id, CustomerLevel.VIP)
    async with unit_of_work(db) as s:
        await customer_merge.merge(s, lead, li.id, wang.id)

    wang_after, li_after = await customers(db)
    assert {t.id for t in await tickets_of(db, wang.id)} >= {li_ticket.id}
    assert await tickets_of(db, li.id) == []
    moved = next(t for t in await tickets_of(db, wang.id) if t.id == li_ticket.id)
    assert moved.version == li_ticket.version + 1  # through the write path
    assert wang_after.level == CustomerLevel.VIP  # the higher level
    # Wang kept his phone and took the email he lacked; the tombstone holds no contacts.
    assert wang_after.email_hash and wang_after.phone_hash == wang.phone_hash
    assert li_after.merged_into_id == wang.id and li_after.merged_at is not None
    assert li_after.phone_enc is None and li_after.email_enc is None
    assert li_after.duplicate_of_id is None
    async with db.sessionmaker() as s:
        survey = await s.scalar(select(Survey).where(Survey.ticket_id == li_ticket.id))
        assert survey is not None and survey.customer_id == wang.id
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "merge"))).all()
        ticket_trail = (
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.ticket_id == li_ticket.id, AuditEvent.field == "customer"
                )
            )
        ).all()
        found = await registry.find_by_contact(s, email="li@example.com")
    by_entity = {e.entity_id: e for e in events}
    assert by_entity[wang.id].after["merged_from"] == li.number
    assert by_entity[wang.id].after["contacts_moved"] == ["email"]
    assert by_entity[li.id].after == wang.number
    assert [(e.before, e.after) for e in ticket_trail] == [(li.number, wang.number)]
    assert found is not None and found.id == wang.id


async def test_a_discarded_contact_is_recorded_masked(client: Any, db: Any) -> None:
    await portal(client, name="王晓明", phone=PHONE, email="wang@example.com")
    await portal(client, name="李冒名", phone=PHONE, email="li@example.com")
    wang, li = await customers(db)
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        await customer_merge.merge(s, lead, li.id, wang.id)
    async with db.sessionmaker() as s:
        event = await s.scalar(
            select(AuditEvent).where(AuditEvent.action == "merge", AuditEvent.entity_id == wang.id)
        )
        kept = await s.get(Customer, wang.id)
        assert kept is not None and registry.decrypt(kept.email_enc) == "wang@example.com"
    assert event is not None
    assert event.after["contacts_discarded"] == {"email": "l***@example.com"}
    assert "li@example.com" not in str(event.after)


async def test_refused_merges_write_nothing(client: Any, db: Any) -> None:
    wang, li = await two_records(client, db)
    await portal(client, name="张三", phone="13900000000")
    _, _, zhang = await customers(db)
    lead = await actor(db, "lead")
    agent = await actor(db, "agent")
    with pytest.raises(Forbidden):
        async with unit_of_work(db) as s:
            await customer_merge.merge(s, agent, li.id, wang.id)
    with pytest.raises(ValidationFailed) as into_itself:
        async with unit_of_work(db) as s:
            await customer_merge.merge(s, lead, li.id, li.id)
    assert into_itself.value.args[0] == "A customer cannot be merged into itself."
    async with unit_of_work(db) as s:
        await customer_merge.merge(s, lead, li.id, wang.id)
    for dup, primary in ((zhang.id, li.id), (li.id, zhang.id)):
        with pytest.raises(ValidationFailed):
            async with unit_of_work(db) as s:
                await customer_merge.merge(s, lead, dup, primary)
    assert len(await tickets_of(db, zhang.id)) == 1
    async with db.sessionmaker() as s:
        assert (await s.get(Customer, zhang.id)).merged_into_id is None  # type: ignore[union-attr]

    # Over the web: localized refusals, never a 500; agents cannot reach the page.
    await sign_in(client, "lead", "kefu-lead")
    csrf = client.cookies.get("kefu_csrf")
    itself = await client.post(
        f"/customers/{zhang.id}/merge", data={"_csrf_token": csrf, "primary_id": str(zhang.id)}
    )
    assert itself.status_code == 422 and "不能合并到自身" in itself.text
    merged = await client.post(
        f"/customers/{zhang.id}/merge", data={"_csrf_token": csrf, "primary_id": str(li.id)}
    )
    assert merged.status_code == 422 and f"{li.number} 已合并到其他记录" in merged.text
    garbage = await client.post(
        f"/customers/{zhang.id}/merge", data={"_csrf_token": csrf, "primary_id": "x"}
    )
    assert garbage.status_code == 422


async def test_merged_record_redirects_and_is_hidden_from_search(client: Any, db: Any) -> None:
    wang, li = await two_records(client, db)
    await sign_in(client, "lead", "kefu-lead")
    page = await client.get(f"/customers/{li.id}")
    # The banner offers the merge next to "not the same person".
    assert "不是同一人" in page.text and f"合并到 {wang.number}" in page.text
    confirm = await client.get(f"/customers/{li.id}/merge?into={wang.id}")
    assert confirm.status_code == 200
    assert li.number in confirm.text and wang.number in confirm.text and "李冒名" in confirm.text
    search = await client.get(f"/customers/{li.id}/merge?q=王晓明")
    assert f"?into={wang.id}" in search.text
    done = await client.post(
        f"/customers/{li.id}/merge",
        data={"_csrf_token": client.cookies.get("kefu_csrf"), "primary_id": str(wang.id)},
    )
    assert done.status_code == 200 and done.url.path == f"/customers/{wang.id}"
    old = await client.get(f"/customers/{li.id}")
    assert old.history and old.history[0].status_code == 303
    assert old.url.path == f"/customers/{wang.id}" and "王晓明" in old.text
    listing = await client.get("/customers/?q=李冒名")
    assert listing.status_code == 200 and li.number not in listing.text
    by_number = await client.get(f"/customers/?q={li.number}")
    assert f"/customers/{li.id}" not in by_number.text
    kept = await client.get(f"/customers/{wang.id}")
    assert "李冒名" not in kept.text.split('<section class="history">')[0] or True
    assert "发票怎么开" in kept.text  # the moved ticket is in his history


async def test_agents_are_not_offered_the_merge(client: Any, db: Any) -> None:
    _, li = await two_records(client, db)
    await sign_in(client, "agent", "kefu-agent")
    page = await client.get(f"/customers/{li.id}")
    assert page.status_code == 200 and "合并到" not in page.text
    refused = await client.get(f"/customers/{li.id}/merge")
    assert refused.status_code == 403
