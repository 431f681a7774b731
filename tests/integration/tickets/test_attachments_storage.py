"""Blob stores: S3Storage against a real S3 implementation (moto's server) on loopback, the
local store's atomic writes, and attachments surviving a backup and restore."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from models.db import Database, unit_of_work
from models.services.admin import backup
from models.services.common.storage import (
    BlobMissing,
    LocalStorage,
    S3Storage,
    parse_s3_url,
    storage_for,
)
from models.services.tickets import attachments, commands
from models.services.tickets.attachments import Upload
from models.settings import get_settings
from tests.conftest import _TMP
from tests.integration.admin.test_backup_roundtrip import _scratch_url
from tests.integration.attachments_support import SYSTEM, make_ticket, moto_s3, png

pytestmark = pytest.mark.usefixtures("reference")


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_s3(monkeypatch) as url:
        yield url


async def test_s3_storage_round_trip(s3_url: str) -> None:
    location = parse_s3_url(s3_url)
    assert (location.bucket, location.prefix, location.region) == (
        "kefu-attachments",
        "tickets",
        "us-east-1",
    )
    store = storage_for(replace(get_settings(), attachment_storage_url=s3_url))
    assert isinstance(store, S3Storage)
    sha = "0123456789abcdef" * 4
    assert not await store.exists(sha)
    await store.put(sha, "发票 #42".encode())
    assert await store.exists(sha)
    assert await store.get(sha) == "发票 #42".encode()
    listed = store.client.list_objects_v2(Bucket="kefu-attachments")["Contents"]
    assert [item["Key"] for item in listed] == [f"tickets/01/23/{sha}"]
    assert [b.sha256 for b in await store.blobs()] == [sha]
    await store.delete(sha)
    assert not await store.exists(sha)
    with pytest.raises(BlobMissing):
        await store.get(sha)
    with pytest.raises(ValueError):
        await store.put("../../escape", b"x")


async def test_attachments_work_end_to_end_on_s3(db: Any, s3_url: str) -> None:
    store = S3Storage(parse_s3_url(s3_url))
    ticket_id, token = await make_ticket(db)
    data = png(10, 10, "orange")
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        [row] = await attachments.add_attachments(
            session, SYSTEM, ticket, [Upload("s3.png", data)], source="api", storage=store
        )
        row_id, sha = row.id, row.sha256
    async with db.sessionmaker() as session:
        found = await attachments.get_for_download(session, None, row_id, token, storage=store)
    assert found.data.startswith(b"\x89PNG") and found.inline
    with pytest.raises(RuntimeError):  # a rolled-back upload leaves no object behind
        async with unit_of_work(db) as session:
            ticket = await commands.get(session, ticket_id)
            await attachments.add_attachments(
                session,
                SYSTEM,
                ticket,
                [Upload("gone.png", png(4, 4, "pink"))],
                source="api",
                storage=store,
            )
            raise RuntimeError("failed after the upload")
    assert [b.sha256 for b in await store.blobs()] == [sha]


async def test_local_store_writes_atomically_and_refuses_odd_names(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    sha = "ab" * 32
    await store.put(sha, b"one")
    await store.put(sha, b"one")  # rewriting the same blob is harmless
    assert store.path(sha) == tmp_path / "ab" / "ab" / sha
    assert [b.sha256 for b in await store.blobs()] == [sha]  # no temp file left behind
    assert await store.get(sha) == b"one"
    for bad in ("../" + "a" * 61, "AB" * 32, "ab" * 31):
        with pytest.raises(ValueError):
            await store.put(bad, b"x")


@pytest.fixture
def scratch_url(backend: str) -> Iterator[str]:
    """An empty database of the run's backend (as the backup round-trip test uses)."""
    yield from _scratch_url(backend)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = _TMP / f"att-backup-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_backup_and_restore_bring_attachments_back(
    db: Any,
    database_url: str,
    scratch_url: str,
    workdir: Path,
) -> None:
    source_data = workdir / "source"
    store = LocalStorage(source_data / "attachments")  # the layout storage_for uses
    ticket_id, token = await make_ticket(db)
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        rows = await attachments.add_attachments(
            session,
            SYSTEM,
            ticket,
            [Upload("截图.png", png(11, 11, "teal")), Upload("说明.txt", "备份测试".encode())],
            source="api",
            storage=store,
        )
        ids = [r.id for r in rows]
    made = await backup.create_backup(
        database_url, output_dir=workdir / "backups", data_dir=source_data
    )
    assert made.manifest.attachments == 2
    target_data = workdir / "target"
    restored = await backup.restore_backup(made.path, scratch_url, data_dir=target_data)
    assert restored.attachments == 2 and restored.tables["attachments"] == 2

    copy = Database(scratch_url)
    try:
        async with copy.sessionmaker() as session:
            restored_store = LocalStorage(target_data / "attachments")
            image = await attachments.get_for_download(
                session, None, ids[0], token, storage=restored_store
            )
            text = await attachments.get_for_download(
                session, None, ids[1], token, storage=restored_store
            )
    finally:
        await copy.dispose()
    assert image.filename == "截图.png" and image.data.startswith(b"\x89PNG")
    assert text.data == "备份测试".encode()


async def test_cli_sweep_removes_an_orphaned_blob(db: Any) -> None:
    from web.cli import main

    store = storage_for(get_settings())
    assert isinstance(store, LocalStorage)
    orphan = "fe" * 32
    await store.put(orphan, b"no row points here")
    old = time.time() - 3 * 3600
    os.utime(store.path(orphan), (old, old))
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["attachments", "sweep", "--grace-hours", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "unreferenced file(s)" in result.output
    assert not await store.exists(orphan)


async def test_nightly_sweep_keeps_referenced_and_young_blobs(db: Any) -> None:
    from workers.jobs import CRON_JOBS
    from workers.jobs.attachments import sweep_attachments

    assert any(job.name.endswith("sweep_attachments") for job in CRON_JOBS)
    store = storage_for(get_settings())
    assert isinstance(store, LocalStorage)
    ticket_id, _ = await make_ticket(db)
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        [kept] = await attachments.add_attachments(
            session, SYSTEM, ticket, [Upload("a.png", png())], source="drawer"
        )
    old_orphan, young_orphan = "ab" * 32, "cd" * 32
    await store.put(old_orphan, b"left by a crash")
    await store.put(young_orphan, b"an upload still committing")
    old = time.time() - 2 * 3600
    for name in (old_orphan, kept.sha256):
        os.utime(store.path(name), (old, old))

    assert await sweep_attachments({"db": db}) == 1
    assert not await store.exists(old_orphan)
    assert await store.exists(young_orphan) and await store.exists(kept.sha256)
    assert await sweep_attachments({"db": db}) == 0
