"""Backup and restore, round trip, on the run's backend (SQLite online backup / pg_dump).

Data is made through the services; the backup is restored into a brand-new database, which
must hold exactly the same rows per table and whose encrypted contacts must still decrypt
and be found by their lookup hash.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import models
from models.db import Database, report_days_key, unit_of_work
from models.enums import Channel, CustomerLevel, FollowUpMethod, Role, TicketStatus
from models.services.admin import backup
from models.services.common.actor import Actor
from models.services.common.crypto import generate_key, normalize_phone
from models.services.common.errors import Conflict, ValidationFailed
from models.services.customers import registry
from models.services.demo import seed as demo
from models.services.tickets import commands
from models.settings import REPO_ROOT, get_settings
from models.user import User
from tests.conftest import _TMP, PG_ADMIN_URL, _create_schema, _pg_admin

pytestmark = pytest.mark.usefixtures("reference")

SYSTEM = Actor.system("test")
CONTACTS = [
    ("王小明", "+86 138-0013-8000", "Wang.XM@Example.cn"),
    ("Emma Stone", "13912345678", "emma@example.com"),
    ("李雷", "0086 13700001111", None),
]


def _scratch_url(backend: str) -> Iterator[str]:
    if backend == "postgresql":
        name = f"kefu_bak_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = _TMP / f"restore-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite+aiosqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def scratch_url(backend: str) -> Iterator[str]:
    """An empty database (no tables at all) of the run's backend, dropped afterwards."""
    yield from _scratch_url(backend)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder for backups and a second data directory, removed afterwards."""
    path = _TMP / f"backup-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _lead(session: Any) -> Actor:
    user = await session.scalar(select(User).where(User.username == "lead"))
    return Actor(
        user_id=user.id, label=user.username, role=Role.LEAD, department_id=user.department_id
    )


async def _make_history(db: Database) -> dict[str, str]:
    """Customers with encrypted contacts, tickets in several states, follow-ups, demo rows."""
    numbers: dict[str, str] = {}
    async with unit_of_work(db) as s:
        lead = await _lead(s)
        for name, phone, email in CONTACTS:
            customer = await registry.register(
                s,
                SYSTEM,
                registry.CustomerInput(
                    name=name, phone=phone, email=email, level=CustomerLevel.VIP
                ),
            )
            numbers[name] = customer.number
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer.id,
                    description=f"{name}: 订单没有收到，请帮忙查一下",
                    channel=Channel.PHONE,
                ),
            )
            await commands.add_follow_up(
                s,
                lead,
                ticket.id,
                commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed="已联系快递公司"),
            )
            await commands.move(
                s, lead, ticket.id, TicketStatus.IN_PROGRESS, expected_version=ticket.version
            )
    async with unit_of_work(db) as s:
        await demo.fill(s, tickets=40, seed=3, days=30)
    return numbers


async def _counts(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            counts, _, _ = await backup.inventory(conn)
        return counts
    finally:
        await database.dispose()


def _attachments(data_dir: Path) -> None:
    folder = data_dir / "attachments" / "2026" / "05"
    folder.mkdir(parents=True)
    (folder / "receipt.txt").write_text("发票 #42", encoding="utf-8")
    kept_mail = data_dir / "mail-quarantine"
    kept_mail.mkdir()
    (kept_mail / "ab12.eml").write_bytes(b"sealed mail")


async def test_round_trip_restores_every_row_and_readable_contacts(
    db: Database, database_url: str, scratch_url: str, workdir: Path
) -> None:
    settings = get_settings()
    numbers = await _make_history(db)
    source_data = workdir / "source-data"
    _attachments(source_data)

    made = await backup.create_backup(
        database_url,
        output_dir=workdir / "backups",
        data_dir=source_data,
        encryption_keys=settings.encryption_keys,
    )

    source_counts = await _counts(database_url)
    manifest = json.loads((made.path / "manifest.json").read_text(encoding="utf-8"))
    assert made.path.name.startswith("kefu-backup-")
    assert manifest["tables"] == source_counts
    assert set(models.Base.metadata.tables) <= set(source_counts)
    for table in ("customers", "tickets", "follow_ups", "audit_events", "surveys", "articles"):
        assert source_counts[table] > 0, table
    # Key ids only, never key material.
    assert manifest["encryption_key_ids"] == backup.key_ids_of(settings.encryption_keys)[:1]
    raw = (made.path / "manifest.json").read_text()
    assert all(key not in raw for key in settings.encryption_keys)
    assert manifest["attachments"] == 1

    target_data = workdir / "target-data"
    restored = await backup.restore_backup(
        made.path, scratch_url, data_dir=target_data, encryption_keys=settings.encryption_keys
    )

    assert restored.tables == source_counts
    assert await _counts(scratch_url) == source_counts
    assert restored.missing_key_ids == []
    assert (target_data / "attachments" / "2026" / "05" / "receipt.txt").read_text(
        encoding="utf-8"
    ) == "发票 #42"
    assert (target_data / "mail-quarantine" / "ab12.eml").read_bytes() == b"sealed mail"

    copy = Database(scratch_url)
    try:
        async with copy.sessionmaker() as s:
            for name, phone, email in CONTACTS:
                found = await registry.find_by_contact(s, phone=normalize_phone(phone))
                assert found is not None and found.number == numbers[name]
                assert found.name == name
                lead = await _lead(s)
                contacts = registry.reveal_contacts(s, lead, found)
                assert contacts.phone == normalize_phone(phone)
                if email:
                    assert contacts.email == email.lower()
                    by_email = await registry.find_by_contact(s, email=email.lower())
                    assert by_email is not None and by_email.id == found.id
        # The restored database is live: ids and ticket numbers continue, nothing collides.
        async with unit_of_work(copy) as s:
            customer = await registry.register(
                s, SYSTEM, registry.CustomerInput(name="恢复后的新客户", phone="13600000001")
            )
            ticket, _ = await commands.create(
                s,
                SYSTEM,
                commands.TicketInput(
                    customer_id=customer.id, description="恢复后第一张工单", channel=Channel.EMAIL
                ),
            )
        assert ticket.id > source_counts["tickets"]
    finally:
        await copy.dispose()


async def test_restore_refuses_a_database_with_data_unless_forced(
    db: Database, database_url: str, scratch_url: str, workdir: Path
) -> None:
    await _make_history(db)
    made = await backup.create_backup(database_url, output_dir=workdir, data_dir=workdir / "d")
    # An empty schema (what `kefu db upgrade` leaves) is a fine target.
    await _create_schema(scratch_url)
    await backup.restore_backup(made.path, scratch_url, data_dir=workdir / "t")

    # Now it holds data: refused, and left untouched.
    copy = Database(scratch_url)
    try:
        async with unit_of_work(copy) as s:
            await registry.register(s, SYSTEM, registry.CustomerInput(name="只在目标库"))
    finally:
        await copy.dispose()
    before = await _counts(scratch_url)
    with pytest.raises(Conflict) as refused:
        await backup.restore_backup(made.path, scratch_url, data_dir=workdir / "t")
    assert "customers" in str(refused.value) and "--force" in str(refused.value)
    assert await _counts(scratch_url) == before

    forced = await backup.restore_backup(made.path, scratch_url, data_dir=workdir / "t", force=True)
    assert forced.tables == made.manifest.tables
    assert await _counts(scratch_url) == made.manifest.tables


async def test_restore_names_missing_keys_and_refuses_foreign_folders(
    db: Database, database_url: str, scratch_url: str, workdir: Path, backend: str
) -> None:
    await _make_history(db)
    made = await backup.create_backup(
        database_url,
        output_dir=workdir,
        data_dir=workdir / "d",
        encryption_keys=get_settings().encryption_keys,
    )
    other_keyring = (generate_key(),)
    restored = await backup.restore_backup(
        made.path / "manifest.json",
        scratch_url,
        data_dir=workdir / "t",
        encryption_keys=other_keyring,
    )
    assert restored.missing_key_ids == made.manifest.encryption_key_ids != []

    with pytest.raises(ValidationFailed, match="not a Kefu backup"):
        await backup.restore_backup(workdir, scratch_url, data_dir=workdir / "t", force=True)
    other = (
        "sqlite+aiosqlite:///" + str(workdir / "x.db")
        if backend == "postgresql"
        else ("postgresql+asyncpg://postgres@127.0.0.1:5432/kefu_never_created")
    )
    with pytest.raises(ValidationFailed, match="database"):
        await backup.restore_backup(made.path, other, data_dir=workdir / "t")


async def test_backup_taken_during_writes_is_consistent(
    db: Database, database_url: str, scratch_url: str, workdir: Path
) -> None:
    """The manifest counts the dumped snapshot, not the live tables that kept growing."""
    async with unit_of_work(db) as s:
        customer = await registry.register(s, SYSTEM, registry.CustomerInput(name="并发客户"))
    await demo_fill_small(db)
    written = 0
    target = 3
    reached = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while written < target:
            async with unit_of_work(db) as s:
                await commands.create(
                    s,
                    SYSTEM,
                    commands.TicketInput(
                        customer_id=customer.id,
                        description=f"写入中 {written}",
                        channel=Channel.API,
                    ),
                )
            written += 1
            await asyncio.sleep(0)
        reached.set()

    task = asyncio.create_task(writer())
    try:
        await asyncio.sleep(0)
        target = 10**6  # keep writing while the backup runs
        made = await backup.create_backup(database_url, output_dir=workdir, data_dir=workdir / "d")
        target = written + 3  # and a few more after it finished
        await reached.wait()
    finally:
        target = 0
        await task
    final = await _counts(database_url)
    assert made.manifest.tables["tickets"] < final["tickets"]
    restored = await backup.restore_backup(made.path, scratch_url, data_dir=workdir / "t")
    assert restored.tables == made.manifest.tables  # restore_backup also checks this itself


async def demo_fill_small(db: Database) -> None:
    async with unit_of_work(db) as s:
        await demo.fill(s, tickets=20, seed=5, days=10)


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_cli_backup_then_restore(
    db: Database, scratch_url: str, workdir: Path, redis: Any
) -> None:
    numbers = await _make_history(db)
    days_key = report_days_key(get_settings().event_channel)
    every_day = int(await redis.hget(days_key, "all") or 0)
    code, out = await _cli("backup", "--output", str(workdir / "out"), env={})
    assert code == 0, out
    folder = next((workdir / "out").iterdir())
    assert f"backup written to {folder}" in out

    target_env = {"KEFU_DATABASE_URL": scratch_url, "KEFU_DATA_DIR": str(workdir / "data")}
    code, out = await _cli("restore", str(folder), env=target_env)
    assert code == 0, out
    assert "every count matches the manifest" in out
    assert await _counts(scratch_url) == backup.Manifest.read(folder).tables
    # Cached report figures described the database before: every day is read again.
    assert int(await redis.hget(days_key, "all") or 0) == every_day + 1

    code, out = await _cli("restore", str(folder), env=target_env)
    assert code == 1 and "not empty" in out and "--force" in out

    copy = Database(scratch_url)
    try:
        async with copy.sessionmaker() as s:
            found = await registry.find_by_contact(s, email="emma@example.com")
            assert found is not None and found.number == numbers["Emma Stone"]
    finally:
        await copy.dispose()


async def test_backup_of_a_missing_sqlite_file_is_a_clear_error(workdir: Path) -> None:
    with pytest.raises(backup.BackupFailed, match="does not exist"):
        await backup.create_backup(
            f"sqlite+aiosqlite:///{workdir / 'nothing.db'}",
            output_dir=workdir / "o",
            data_dir=workdir,
        )
    # Nothing half-written is left behind.
    assert list((workdir / "o").iterdir()) == []
