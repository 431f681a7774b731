"""Contact details are encrypted at rest and found again through their keyed hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from models.db import unit_of_work
from models.services.common.actor import Actor
from models.services.customers import registry

SYSTEM = Actor.system("test")


async def test_raw_rows_hold_no_plaintext_contacts(db: Any) -> None:
    async with unit_of_work(db) as s:
        await registry.register(
            s,
            SYSTEM,
            registry.CustomerInput(
                name="李雷", phone="+86 139-1234-5678", email="Li.Lei@Example.com"
            ),
        )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM customers"))).mappings().all()
    raw = " ".join(str(v) for v in rows[0].values())
    for plaintext in ("13912345678", "139-1234-5678", "li.lei@example.com", "Li.Lei"):
        assert plaintext not in raw
    assert rows[0]["phone_enc"].startswith("v1:")


async def test_lookup_by_any_spelling_of_the_same_contact(db: Any) -> None:
    async with unit_of_work(db) as s:
        created = await registry.register(
            s,
            SYSTEM,
            registry.CustomerInput(name="韩梅梅", phone="13912345678", email="mei@example.com"),
        )
    async with db.sessionmaker() as s:
        by_phone = await registry.find_by_contact(s, phone="13912345678")
        by_email = await registry.find_by_contact(s, email="mei@example.com")
        assert by_phone is not None and by_phone.id == created.id
        assert by_email is not None and by_email.id == created.id
        contacts = registry.masked_contacts(by_phone)
        assert contacts.phone == "139****5678"
        assert contacts.email == "m***@example.com"
