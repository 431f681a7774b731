"""Key rotation: every contact stays readable and findable before, during and after."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from models.db import Database, unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.common.crypto import generate_key
from models.services.customers import registry
from models.services.tickets import commands, surveys
from models.settings import get_settings, reset_settings

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("test")
PEOPLE = [
    ("赵一", "13800000001", "zhao1@example.com"),
    ("钱二", "13800000002", None),
    ("孙三", None, "sun3@example.com"),
    ("李四", "13800000004", "li4@example.com"),
    ("周五", "13800000005", "zhou5@example.com"),
]


@pytest.fixture
def restore_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    reset_settings()


async def arrange(db: Any) -> int:
    """Customers with contacts, and a survey contact, all under the current key."""
    async with unit_of_work(db) as s:
        ids = []
        for name, phone, email in PEOPLE:
            customer = await registry.register(
                s, SYSTEM, registry.CustomerInput(name=name, phone=phone, email=email)
            )
            ids.append(customer.id)
        ticket, _ = await commands.create(
            s,
            SYSTEM,
            commands.TicketInput(
                customer_id=ids[0], description="路由器坏了", channel=Channel.PHONE
            ),
        )
        survey = await surveys.create_for_ticket(s, ticket)
        assert survey is not None
        token = surveys.token_for(survey)
        assert token is not None
        await surveys.submit(
            s,
            token,
            surveys.Answer(
                speed=5,
                solution=5,
                attitude=5,
                comment=None,
                suggestion=None,
                contact="13800000001",
            ),
        )
        return survey.id


async def assert_all_readable_and_findable(db: Any, survey_id: int) -> None:
    from models.survey import Survey

    async with db.sessionmaker() as s:
        for name, phone, email in PEOPLE:
            found = await registry.find_by_contact(s, phone=phone, email=email)
            assert found is not None and found.name == name, name
            plain = (registry.decrypt(found.phone_enc), registry.decrypt(found.email_enc))
            assert plain == (phone, email)
        survey = await s.get(Survey, survey_id)
        assert survey is not None and surveys.decrypt_contact(survey) == "13800000001"


async def stored_key_ids(db: Any) -> set[str]:
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT phone_enc, email_enc FROM customers UNION ALL "
                    "SELECT contact, NULL FROM surveys"
                )
            )
        ).all()
    return {value.split(":")[1] for row in rows for value in row if value}


async def rotate_all(db: Any, batch: int = 2) -> None:
    """What `kefu keys rotate --no-new-key` does, batch by batch."""
    after: int | None = 0
    while after is not None:
        async with unit_of_work(db) as s:
            _, after = await registry.reencrypt_batch(s, after_id=after, limit=batch)
    while True:
        async with unit_of_work(db) as s:
            if not await registry.reencrypt_survey_contacts(s, limit=batch):
                break


async def test_rotation_keeps_every_contact_readable_and_findable(
    db: Any, restore_settings: pytest.MonkeyPatch
) -> None:
    survey_id = await arrange(db)
    old = get_settings().encryption_keys[0]
    old_id = registry.ring_ids()[0]
    new = generate_key()
    # 1. The new key goes first; the old one stays in the ring.
    restore_settings.setenv("KEFU_ENCRYPTION_KEY", f"{new},{old}")
    reset_settings()
    new_id = registry.ring_ids()[0]
    assert await stored_key_ids(db) == {old_id}
    await assert_all_readable_and_findable(db, survey_id)  # during: old rows still work
    async with unit_of_work(db) as s:  # a row written mid-rotation uses the new key
        await registry.register(
            s, SYSTEM, registry.CustomerInput(name="新来的", phone="13900000009")
        )
    assert await stored_key_ids(db) == {old_id, new_id}
    # 2. Re-encrypt and re-hash everything in batches.
    await rotate_all(db)
    assert await stored_key_ids(db) == {new_id}
    async with db.sessionmaker() as s:
        usage = await registry.key_usage(s)
    assert usage.stale == 0 and usage.counts[new_id] == 10
    # 3. The old key leaves the ring: nothing depended on it any more.
    restore_settings.setenv("KEFU_ENCRYPTION_KEY", new)
    reset_settings()
    await assert_all_readable_and_findable(db, survey_id)
    async with db.sessionmaker() as s:
        masked = registry.masked_contacts(await registry.find_by_contact(s, phone="13900000009"))  # type: ignore[arg-type]
    assert masked.phone == "139****0009"


async def test_a_missing_key_degrades_to_a_marker_not_an_error(
    db: Any, restore_settings: pytest.MonkeyPatch
) -> None:
    await arrange(db)
    restore_settings.setenv("KEFU_ENCRYPTION_KEY", generate_key())
    reset_settings()
    async with db.sessionmaker() as s:
        rows = await registry.list_page(s, registry.CustomerFilters())
    assert rows.rows and all(r.phone in (None, registry.UNREADABLE) for r in rows.rows)


def test_cli_rotation_with_the_key_file(
    db: Any, restore_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`kefu keys rotate` adds the key itself, `status` and `prune` finish the job."""
    from click.testing import CliRunner

    from web.cli import main

    old = get_settings().encryption_keys[0]
    restore_settings.delenv("KEFU_ENCRYPTION_KEY")
    restore_settings.setenv("KEFU_DATA_DIR", str(tmp_path))
    key_file = tmp_path / "encryption.key"
    key_file.write_text(old + "\n")
    reset_settings()
    url = get_settings().database_url

    async def with_db(work: Any) -> Any:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    survey_id = asyncio.run(with_db(arrange))
    runner = CliRunner()
    rotated = runner.invoke(main, ["keys", "rotate", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 5 customers and 1 survey contacts" in rotated.output
    ring = key_file.read_text().split()
    assert len(ring) == 2 and ring[1] == old and ring[0] != old
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    status = runner.invoke(main, ["keys", "status"])
    assert "0 ciphertexts still under an old key" in status.output
    archive = tmp_path / "retired.keys"
    pruned = runner.invoke(main, ["keys", "prune", "--archive", str(archive)])
    assert pruned.exit_code == 0, pruned.output
    assert key_file.read_text().split() == [ring[0]]
    assert archive.read_text().split() == [old]
    reset_settings()
    asyncio.run(with_db(lambda database: assert_all_readable_and_findable(database, survey_id)))
    env_mode = runner.invoke(main, ["keys", "rotate"], env={"KEFU_ENCRYPTION_KEY": ring[0]})
    assert env_mode.exit_code != 0 and "--no-new-key" in env_mode.output
    assert os.environ.get("KEFU_ENCRYPTION_KEY") is None


async def test_a_running_process_follows_the_key_file(
    db: Any, restore_settings: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The app re-reads the key file when `kefu keys rotate` rewrites it."""
    old = get_settings().encryption_keys[0]
    restore_settings.delenv("KEFU_ENCRYPTION_KEY")
    restore_settings.setenv("KEFU_DATA_DIR", str(tmp_path))
    key_file = tmp_path / "encryption.key"
    key_file.write_text(old + "\n")
    reset_settings()
    before = registry.current_cipher().primary_id
    new = generate_key()
    key_file.write_text(f"{new}\n{old}\n")
    os.utime(key_file, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    assert registry.current_cipher().primary_id != before
    assert registry.current_cipher().primary_id == registry.ring_ids()[0]
