"""Shared arrangements for the attachment tests (no tests here): files, tickets, limits."""

from __future__ import annotations

import io
import itertools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from models.attachment import Attachment
from models.db import unit_of_work
from models.enums import Channel
from models.services.common.actor import Actor
from models.services.customers import registry
from models.services.tickets import commands
from models.settings import get_settings, reset_settings

_phones = itertools.count(13900000000)
SYSTEM = Actor.system("test")
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'
S3_BUCKET = "kefu-attachments"


@contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's standalone S3 server on a loopback port with one empty bucket; yields the
    ``s3://`` storage URL (credentials in this process's environment, which subprocesses
    inherit)."""
    from moto.server import ThreadedMotoServer

    from models.services.common.storage import S3Storage, parse_s3_url

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "kefu-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kefu-test-secret")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        url = f"s3://{S3_BUCKET}/tickets?endpoint={endpoint}&region=us-east-1"
        S3Storage(parse_s3_url(url)).client.create_bucket(Bucket=S3_BUCKET)
        yield url
    finally:
        server.stop()


def png(width: int = 8, height: int = 8, colour: str = "blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    """A 40×20 JPEG whose EXIF says: rotate 90° (orientation 6), camera, GPS position."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "KefuTestCam"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    )
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


async def make_ticket(db: Any, *, department_id: int | None = None) -> tuple[int, str]:
    """A portal-style ticket with a tracking token; returns (id, token)."""
    async with unit_of_work(db) as session:
        customer = await registry.register(
            session, SYSTEM, registry.CustomerInput(name="附件客户", phone=str(next(_phones)))
        )
        ticket, token = await commands.create(
            session,
            SYSTEM,
            commands.TicketInput(
                customer_id=customer.id,
                description="截图见附件，请帮忙看看。",
                channel=Channel.PORTAL,
                department_id=department_id,
                with_tracking_token=True,
            ),
        )
        assert token is not None
        return ticket.id, token


async def rows_for(db: Any, ticket_id: int) -> list[Attachment]:
    async with db.sessionmaker() as session:
        found = await session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
        )
        return list(found.all())


async def row_count(db: Any) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Attachment)) or 0)


def blob_path(sha256: str) -> Path:
    return get_settings().attachments_dir / sha256[:2] / sha256[2:4] / sha256


def blob_files() -> set[Path]:
    """Every file in the local store, temp files included."""
    root = get_settings().attachments_dir
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture
def small_limits() -> Iterator[None]:
    """200 KB per file, 300 KB per ticket (request this before ``app``/``client``)."""
    saved = {
        k: os.environ.get(k)
        for k in ("KEFU_ATTACHMENT_MAX_BYTES", "KEFU_ATTACHMENT_TICKET_MAX_BYTES")
    }
    os.environ["KEFU_ATTACHMENT_MAX_BYTES"] = str(200 * 1024)
    os.environ["KEFU_ATTACHMENT_TICKET_MAX_BYTES"] = str(300 * 1024)
    reset_settings()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()


def noise(size: int) -> bytes:
    """Plain text of exactly ``size`` bytes."""
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz\n"
    return (line * (size // len(line) + 1))[:size]
