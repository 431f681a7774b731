"""Attachments through the service: sniffing, cleaning, limits, all-or-nothing, the orphan sweep."""

from __future__ import annotations

import io
import os
import time
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from models.audit import AuditEvent
from models.base import utcnow
from models.db import unit_of_work
from models.followup import FollowUp
from models.services.common.errors import Forbidden, NotFound, ValidationFailed
from models.services.common.storage import LocalStorage
from models.services.tickets import attachments, commands
from models.services.tickets.attachments import FileTooLarge, FileTypeRefused, Upload
from models.settings import get_settings
from tests.integration.attachments_support import (
    HTML,
    SVG,
    SYSTEM,
    blob_files,
    blob_path,
    jpeg_with_gps,
    make_ticket,
    noise,
    png,
    row_count,
    rows_for,
    small_limits,  # noqa: F401  (fixture)
)
from tests.integration.tickets.test_board_helpers import actor

pytestmark = pytest.mark.usefixtures("reference")


async def attach(
    db: Any, ticket_id: int, *uploads: Upload, who: Any = SYSTEM, **kw: Any
) -> list[Any]:
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        rows = await attachments.add_attachments(
            session, who, ticket, list(uploads), source=kw.pop("source", "api"), **kw
        )
        return [(r.id, r.filename, r.content_type, r.sha256, r.inline_safe, r.size) for r in rows]


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def test_types_come_from_the_bytes_not_the_name_or_the_claim(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    for data, name in (
        (HTML, "screenshot.png"),
        (SVG, "logo.png"),
        (SVG, "logo.svg"),
        (b"MZ\x90\x00\x03\x00\x00\x00" * 8, "setup.pdf"),
        (b'<?xml version="1.0"?><a/>', "data.txt"),
        (b"#!/bin/sh\nrm -rf /\n", "notes.txt"),
    ):
        with pytest.raises(FileTypeRefused) as refused:
            await attach(db, ticket_id, Upload(name, data, "image/png"))
        assert refused.value.status_code == 415
        assert refused.value.params["name"] == name
    assert await row_count(db) == 0

    stored = await attach(
        db,
        ticket_id,
        Upload("photo.txt", png(), "text/plain"),
        Upload("合同.docx", docx(), "application/octet-stream"),
        Upload("订单.csv", "编号,金额\n1,99\n".encode(), None),
        Upload("说明.txt", "中文说明，GBK 编码".encode("gbk"), "text/plain"),
        Upload("scan.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n%%EOF\n", "application/pdf"),
    )
    kinds = [(name, kind, inline) for _, name, kind, _, inline, _ in stored]
    assert kinds == [
        ("photo.png", "image/png", True),
        ("合同.docx", attachments.DOCX, False),
        ("订单.csv", "text/csv", False),
        ("说明.txt", "text/plain", False),
        ("scan.pdf", "application/pdf", True),
    ]


def test_filenames_are_cleaned_but_keep_chinese() -> None:
    clean = attachments.clean_filename
    assert clean("../../etc/passwd", attachments.TEXT) == "passwd.txt"
    assert clean("C:\\Users\\王\\发票 2026.pdf", attachments.PDF) == "发票 2026.pdf"
    assert clean("报告\u202egnp.exe", attachments.PNG) == "报告gnp.png"  # no RTL trick
    assert clean('a\x00b\x1fc<>:"|?*.txt', attachments.TEXT) == "abc_______.txt"
    assert clean("CON.txt", attachments.TEXT) == "_CON.txt"
    assert clean("   ", attachments.PDF) == "file.pdf"
    long = clean("长" * 300 + ".pdf", attachments.PDF)
    assert len(long) == attachments.FILENAME_MAX and long.endswith(".pdf")


async def test_images_are_re_encoded_upright_without_exif_or_gps(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)  # the GPS IFD is there
    [(_, name, kind, sha, inline, size)] = await attach(
        db, ticket_id, Upload("IMG_0001.JPG", original, "image/jpeg")
    )
    assert (name, kind, inline) == ("IMG_0001.jpg", "image/jpeg", True)
    stored = blob_path(sha).read_bytes()
    assert size == len(stored) and stored != original
    image = Image.open(io.BytesIO(stored))
    assert image.size == (20, 40)  # orientation 6 applied, then dropped
    assert dict(image.getexif()) == {}
    assert b"KefuTestCam" not in stored and b"Exif" not in stored


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_decompression_bombs_and_broken_images_are_refused(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    bombs = []
    for width, height in ((10_000, 5_000), (10_000, 9_000)):  # 50 and 90 Mpx, a few KB each
        buffer = io.BytesIO()
        Image.new("1", (width, height)).save(buffer, "PNG")
        bombs.append(buffer.getvalue())
    truncated = png(64, 64)[:60]
    for data in (*bombs, truncated):
        with pytest.raises(FileTypeRefused) as refused:
            await attach(db, ticket_id, Upload("big.png", data))
        assert "could not be read as an image" in refused.value.message
    assert await row_count(db) == 0


async def test_the_same_file_twice_is_one_blob_and_two_rows(db: Any) -> None:
    first_id, _ = await make_ticket(db)
    second_id, _ = await make_ticket(db)
    data = png(12, 12, "green")
    before = blob_files()
    [(_, _, _, sha_a, _, _)] = await attach(db, first_id, Upload("a.png", data))
    [(_, _, _, sha_b, _, _)] = await attach(db, second_id, Upload("b.png", data))
    [(_, _, _, sha_c, _, _), (_, _, _, sha_d, _, _)] = await attach(
        db, first_id, Upload("c.png", data), Upload("d.png", data)
    )
    assert sha_a == sha_b == sha_c == sha_d
    assert blob_files() - before == {blob_path(sha_a)}
    assert len(await rows_for(db, first_id)) == 3 and len(await rows_for(db, second_id)) == 1


async def test_one_refused_file_stores_nothing_of_the_batch(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    good = png(9, 9, "yellow")
    before = blob_files()
    with pytest.raises(FileTypeRefused):
        await attach(db, ticket_id, Upload("ok.png", good), Upload("evil.png", HTML))
    assert await rows_for(db, ticket_id) == []
    assert blob_files() == before
    assert not blob_path(attachments.prepare(Upload("ok.png", good)).sha256).exists()


async def test_a_database_error_half_way_leaves_no_row_and_no_blob(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    before = blob_files()
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        ghost = FollowUp(id=987654)  # not in the database: the foreign key fails at flush
        with pytest.raises(Exception) as failed:
            await attachments.add_attachments(
                session,
                SYSTEM,
                ticket,
                [Upload("x.png", png(7, 7, "purple"))],
                source="api",
                follow_up=ghost,
            )
        assert not isinstance(failed.value, ValidationFailed)
        await session.rollback()
    assert await row_count(db) == 0
    assert blob_files() == before


async def test_a_rolled_back_transaction_removes_the_blobs_it_created(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    kept = png(5, 5, "white")
    await attach(db, ticket_id, Upload("kept.png", kept))  # committed: must survive
    before = blob_files()
    with pytest.raises(RuntimeError):
        async with unit_of_work(db) as session:
            ticket = await commands.get(session, ticket_id)
            await attachments.add_attachments(
                session,
                SYSTEM,
                ticket,
                [Upload("new.png", png(6, 6, "black")), Upload("again.png", kept)],
                source="api",
            )
            raise RuntimeError("the request failed after the upload")
    assert len(await rows_for(db, ticket_id)) == 1
    assert blob_files() == before


@pytest.mark.usefixtures("small_limits")
async def test_limits_per_file_and_per_ticket(db: Any) -> None:
    assert get_settings().attachment_max_bytes == 200 * 1024
    ticket_id, _ = await make_ticket(db)
    with pytest.raises(FileTooLarge) as too_big:
        await attach(db, ticket_id, Upload("huge.txt", noise(200 * 1024 + 1)))
    assert too_big.value.status_code == 413
    assert str(too_big.value) == "huge.txt is too large (the limit is 200 KB per file)."
    await attach(db, ticket_id, Upload("one.txt", noise(150 * 1024)))
    with pytest.raises(FileTooLarge) as over_total:
        await attach(
            db,
            ticket_id,
            Upload("two.txt", noise(100 * 1024)),
            Upload("three.txt", noise(100 * 1024)),
        )
    assert "over 300 KB in total" in str(over_total.value)
    assert over_total.value.params["name"] == "three.txt"  # 150 + 100 + 100 KB
    assert [r.filename for r in await rows_for(db, ticket_id)] == ["one.txt"]
    with pytest.raises(ValidationFailed, match="is empty"):
        await attach(db, ticket_id, Upload("empty.txt", b""))
    with pytest.raises(ValidationFailed, match="At most 20 files"):
        await attach(db, ticket_id, *[Upload(f"{i}.txt", b"x") for i in range(21)])


async def test_staff_upload_needs_the_right_to_work_the_ticket_and_is_audited(
    db: Any, reference: dict[str, int]
) -> None:
    ticket_id, _ = await make_ticket(db, department_id=reference["SUPPORT"])
    with pytest.raises(Forbidden):
        await attach(db, ticket_id, Upload("a.txt", b"hello"), who=await actor(db, "agent.tech"))
    agent = await actor(db, "agent")
    [(row_id, *_)] = await attach(
        db, ticket_id, Upload("a.txt", b"hello"), who=agent, source="drawer"
    )
    [row] = await rows_for(db, ticket_id)
    assert (row.uploaded_by_user_id, row.uploaded_by_customer, row.source) == (
        agent.user_id,
        False,
        "drawer",
    )
    async with db.sessionmaker() as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_id == row_id, AuditEvent.entity_type == "attachment"
            )
        )
    assert event is not None and (event.action, event.after, event.ticket_id) == (
        "attachment_add",
        "a.txt",
        ticket_id,
    )


async def test_downloads_need_staff_or_the_tickets_own_token(db: Any) -> None:
    ticket_id, token = await make_ticket(db)
    other_id, other_token = await make_ticket(db)
    [(row_id, *_)] = await attach(
        db, ticket_id, Upload("a.txt", b"secret"), source="tracking", uploaded_by_customer=True
    )
    async with db.sessionmaker() as session:
        agent = await actor(db, "agent.tech")  # another department may still read it
        assert (await attachments.get_for_download(session, agent, row_id, None)).data == b"secret"
        customer = await attachments.get_for_download(session, None, row_id, token)
        assert customer.data == b"secret" and customer.inline is False
        with pytest.raises(NotFound):
            await attachments.get_for_download(session, None, row_id, other_token)
        with pytest.raises(NotFound):
            await attachments.get_for_download(session, None, row_id, "x" * 43)
        with pytest.raises(Forbidden):
            await attachments.get_for_download(session, None, row_id, None)
        with pytest.raises(Forbidden):
            await attachments.get_for_download(session, SYSTEM, row_id, None)
        with pytest.raises(NotFound):
            await attachments.get_for_download(session, agent, row_id + 1000, None)
    assert other_id != ticket_id


async def test_sweep_removes_only_old_blobs_no_row_references(db: Any, tmp_path: Any) -> None:
    store = LocalStorage(tmp_path / "blobs")
    ticket_id, _ = await make_ticket(db)
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        [row] = await attachments.add_attachments(
            session,
            SYSTEM,
            ticket,
            [Upload("kept.txt", b"referenced")],
            source="api",
            storage=store,
        )
        kept = row.sha256
    orphan = "ab" * 32
    fresh = "cd" * 32
    await store.put(orphan, b"left by a crashed process")
    await store.put(fresh, b"a transaction still in flight")
    stale_temp = store.root / "ef" / "ef" / ".tmp-efefefef-000000"
    stale_temp.parent.mkdir(parents=True)
    stale_temp.write_bytes(b"half")
    old = time.time() - 7200
    for path in (store.path(orphan), store.path(kept), stale_temp):
        os.utime(path, (old, old))
    async with db.sessionmaker() as session:
        removed = await attachments.sweep_orphans(session, storage=store)
    assert sorted(removed) == sorted([orphan, stale_temp.name])
    assert await store.exists(kept) and await store.exists(fresh)
    assert not await store.exists(orphan) and not stale_temp.exists()
    async with db.sessionmaker() as session:
        later = await attachments.sweep_orphans(
            session, storage=store, now=utcnow() + timedelta(hours=2)
        )
    assert later == [fresh]


async def test_animations_keep_their_frames_but_lose_their_metadata(db: Any) -> None:
    ticket_id, _ = await make_ticket(db)
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=80,
        loop=0,
        comment=b"SecretComment",
    )
    assert b"SecretComment" in buffer.getvalue()
    [(_, name, kind, sha, inline, _)] = await attach(
        db, ticket_id, Upload("动图.gif", buffer.getvalue())
    )
    stored = blob_path(sha).read_bytes()
    assert (name, kind, inline) == ("动图.gif", "image/gif", True)
    assert b"SecretComment" not in stored
    assert Image.open(io.BytesIO(stored)).n_frames == 3
