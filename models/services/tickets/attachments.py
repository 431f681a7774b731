"""Files attached to tickets: checked, cleaned and stored safely, all or nothing.

What a file *is* comes from its bytes (a small magic-number sniffer over an allow-list), never
from its name or from what the browser or mail claimed. Images are decoded and re-encoded
(EXIF orientation applied, then every metadata block — GPS included — dropped), so what we
serve inline is pixels we wrote ourselves; PDFs are shown inline too, everything else is
download-only. Blobs are content-addressed: the same bytes are stored once.

All or nothing: every file of a batch is checked before anything is written. Blobs are then
written before their rows; if the service fails after writing, or the transaction rolls back,
the blobs this request created are removed unless a committed row references them.
``sweep_orphans`` removes whatever a crashed process left behind (blobs without a row, older
than a grace period that covers transactions still in flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_only

from models.attachment import Attachment
from models.base import utcnow
from models.db import record_event
from models.followup import FollowUp
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.common.storage import BlobMissing, Storage, storage_for
from models.services.tickets import commands, intake
from models.settings import get_settings
from models.ticket import Ticket

log = logging.getLogger(__name__)

SOURCES = ("portal", "tracking", "intake", "drawer", "email", "api", "chat")
MAX_FILES = 20
FILENAME_MAX = 120
# Decompression bombs: refuse images whose header promises more pixels than this.
MAX_PIXELS = 40_000_000
ORPHAN_GRACE = timedelta(hours=1)
PENDING_KEY = "kefu_new_blobs"
FIELD = "files"

PNG, JPEG, GIF, WEBP = "image/png", "image/jpeg", "image/gif", "image/webp"
PDF, TEXT, CSV, ZIP = "application/pdf", "text/plain", "text/csv", "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
IMAGE_FORMATS = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}
# Extensions a stored name may keep for each type; the first one replaces any other.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    GIF: (".gif",),
    WEBP: (".webp",),
    PDF: (".pdf",),
    TEXT: (".txt", ".log", ".md"),
    CSV: (".csv",),
    ZIP: (".zip",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
}
# Text that a browser or an OS would treat as markup or a program is not "plain text".
_ACTIVE_TEXT = re.compile(
    r"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|link|style)"
    r"|^\s*#!|^\s*<",
    re.IGNORECASE,
)
_RESERVED = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_NAMES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


class FileTooLarge(ValidationFailed):
    """A file, or the ticket's files together, over the configured limit."""

    status_code = 413


class FileTypeRefused(ValidationFailed):
    """Bytes that are not one of the allowed types (whatever the name says)."""

    status_code = 415


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    declared_type: str | None = None  # the browser's or mail's claim; never trusted


@dataclass(frozen=True)
class Prepared:
    """A checked file, ready to store: cleaned bytes, name and sniffed type."""

    filename: str
    data: bytes
    content_type: str
    sha256: str
    inline_safe: bool


@dataclass(frozen=True)
class AttachmentView:
    """An attachment as the drawer and the tracking page show it."""

    id: int
    filename: str
    size: int
    content_type: str
    is_image: bool
    is_pdf: bool
    uploaded_by_customer: bool
    follow_up_id: int | None
    created_at: datetime

    @property
    def size_label(self) -> str:
        return human_size(self.size)


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    data: bytes
    inline: bool


# --- checking -------------------------------------------------------------------------------


def human_size(n: int) -> str:
    """``10 MB``-style sizes for messages (binary units, written the common way)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 10 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text[:4096]):
            return False
        return not _ACTIVE_TEXT.search(text[:2048])
    return False


def _ooxml_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return ""
    if "[Content_Types].xml" in names:
        for marker, kind in (
            ("word/document.xml", DOCX),
            ("xl/workbook.xml", XLSX),
            ("ppt/presentation.xml", PPTX),
        ):
            if marker in names:
                return kind
    return ZIP


def sniff(data: bytes, filename: str = "") -> str | None:
    """The allowed type these bytes are, or None. The name only tells CSV from plain text."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _ooxml_type(data) or None
    if _is_text(data):
        return CSV if filename.lower().endswith(".csv") else TEXT
    return None


def clean_filename(raw: str, content_type: str | None) -> str:
    """A name safe on every OS and in a header: no path, control or reserved characters.

    CJK and other letters are kept; the extension is made to match the sniffed type, so a
    PNG named ``photo.txt`` is stored as ``photo.png`` (``None``: keep it, for messages).
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    # Cc: control characters; Cf: invisible format marks such as the right-to-left override.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    name = _RESERVED.sub("_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    allowed = EXTENSIONS.get(content_type or "", ())
    extension = f".{ext.lower()}" if ext else ""
    if content_type is None:
        stem, extension = (stem, f".{ext}") if ext and len(ext) <= 8 else (name, "")
    elif extension not in allowed:
        stem = name if ext and len(ext) > 8 else stem  # "a.b.c-long" keeps its text
        extension = allowed[0] if allowed else ""
    stem = stem.strip(" .") or "file"
    if stem.lower() in _WINDOWS_NAMES:
        stem = f"_{stem}"
    return stem[: FILENAME_MAX - len(extension)] + extension


def _reencode(data: bytes, content_type: str) -> bytes:
    """Decode and write the image again: orientation applied, metadata (EXIF, GPS) gone."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb check, on top of ours below
    with Image.open(io.BytesIO(data)) as opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise ValueError("too many pixels")
        if IMAGE_FORMATS[content_type] != opened.format:
            raise ValueError("format differs from the magic bytes")
        frames = getattr(opened, "n_frames", 1)
        out = io.BytesIO()
        if frames > 1 and content_type in (GIF, WEBP):
            # Animations keep their frames and timing; no metadata is carried over.
            timing = {
                "duration": opened.info.get("duration", 100),
                "loop": opened.info.get("loop", 0),
            }
            opened.info = {}
            extra = {"comment": b""} if content_type == GIF else {"exif": b"", "xmp": b""}
            opened.save(out, format=opened.format, save_all=True, **timing, **extra)
            return out.getvalue()
        image = ImageOps.exif_transpose(opened)
        image.info = {}
        if content_type == JPEG:
            if image.mode not in ("RGB", "L", "CMYK"):
                image = image.convert("RGB")
            image.save(out, format="JPEG", quality=90)
        elif content_type == PNG:
            image.save(out, format="PNG")
        elif content_type == GIF:
            image.save(out, format="GIF")
        else:
            image.save(out, format="WEBP", quality=90)
        return out.getvalue()


def prepare(upload: Upload) -> Prepared:
    """Check one file and produce what will be stored; raises with the file's name."""
    shown = clean_filename(upload.filename, None)
    content_type = sniff(upload.data, upload.filename or "")
    if content_type is None:
        raise FileTypeRefused(
            N_("%(name)s: this type of file is not allowed."),
            fields={FIELD: N_("Not allowed.")},
            name=shown,
        )
    data = upload.data
    if content_type in IMAGE_FORMATS:
        try:
            data = _reencode(data, content_type)
        except (
            OSError,
            ValueError,
            UnidentifiedImageError,
            Image.DecompressionBombError,
            SyntaxError,
            EOFError,
        ):
            raise FileTypeRefused(
                N_("%(name)s could not be read as an image."),
                fields={FIELD: N_("Not allowed.")},
                name=shown,
            ) from None
    return Prepared(
        filename=clean_filename(upload.filename, content_type),
        data=data,
        content_type=content_type,
        sha256=hashlib.sha256(data).hexdigest(),
        inline_safe=content_type in IMAGE_FORMATS or content_type == PDF,
    )


def _check_sizes(uploads: Sequence[Upload], max_bytes: int) -> None:
    if len(uploads) > MAX_FILES:
        raise ValidationFailed(
            N_("At most %(n)s files at a time."), fields={FIELD: N_("Too many files.")}, n=MAX_FILES
        )
    for upload in uploads:
        shown = clean_filename(upload.filename, None)
        if not upload.data:
            raise ValidationFailed(
                N_("%(name)s is empty."), fields={FIELD: N_("Empty file.")}, name=shown
            )
        if len(upload.data) > max_bytes:
            raise FileTooLarge(
                N_("%(name)s is too large (the limit is %(limit)s per file)."),
                fields={FIELD: N_("Too large.")},
                name=shown,
                limit=human_size(max_bytes),
            )


async def ticket_total(session: AsyncSession, ticket_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.ticket_id == ticket_id)
    )
    return int(total or 0)


# --- storing --------------------------------------------------------------------------------


async def _referenced(engine: AsyncEngine, sha256: str) -> bool:
    """Whether a committed row names this blob (read on a connection of its own)."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(Attachment.id).where(Attachment.sha256 == sha256).limit(1))
    return found is not None


async def discard_unreferenced(engine: AsyncEngine, storage: Storage, shas: Sequence[str]) -> None:
    """Remove blobs a failed request created, unless a committed row references them."""
    for sha in dict.fromkeys(shas):
        try:
            if not await _referenced(engine, sha):
                await storage.delete(sha)
        except Exception:  # the sweep finds it later; never hide the original error
            log.warning("could not discard blob %s", sha, exc_info=True)


def _on_rollback(session: Session, previous: SessionTransaction) -> None:
    """The transaction that wrote these blobs' rows rolled back: remove what it created."""
    if previous.parent is not None:
        return  # a savepoint; the outer transaction decides
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    engine, storage, shas = pending
    try:
        await_only(discard_unreferenced(engine, storage, shas))
    except Exception:
        log.warning("blobs of a rolled-back upload left for the sweep", exc_info=True)


def _on_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING_KEY, None)


def _remember_new_blobs(
    session: AsyncSession, engine: AsyncEngine, storage: Storage, shas: list[str]
) -> None:
    sync = session.sync_session
    if PENDING_KEY in sync.info:
        sync.info[PENDING_KEY][2].extend(shas)
        return
    sync.info[PENDING_KEY] = (engine, storage, list(shas))
    if not event.contains(sync, "after_soft_rollback", _on_rollback):
        event.listen(sync, "after_soft_rollback", _on_rollback)
        event.listen(sync, "after_commit", _on_commit)


def _engine_of(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise RuntimeError("attachments need a session bound to an AsyncEngine")
    return bind


async def check_uploads(uploads: Sequence[Upload], *, already_stored: int = 0) -> list[Prepared]:
    """Check a batch (count, sizes, types, the ticket's total) and clean it; stores nothing.

    Callers that create the ticket in the same request check first, so a refused file never
    leaves a ticket behind without its files.
    """
    settings = get_settings()
    _check_sizes(uploads, settings.attachment_max_bytes)
    prepared = [await asyncio.to_thread(prepare, upload) for upload in uploads]
    total = already_stored
    for item in prepared:
        total += len(item.data)
        if total > settings.attachment_ticket_max_bytes:
            raise FileTooLarge(
                N_("%(name)s would take this inquiry's attachments over %(limit)s in total."),
                fields={FIELD: N_("Too large.")},
                name=item.filename,
                limit=human_size(settings.attachment_ticket_max_bytes),
            )
    return prepared


async def add_attachments(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    uploads: Sequence[Upload],
    *,
    source: str,
    uploaded_by_customer: bool = False,
    follow_up: FollowUp | None = None,
    storage: Storage | None = None,
) -> list[Attachment]:
    """Attach files to a ticket, all or nothing; raises before storing anything if one fails.

    Staff must be allowed to work the ticket; customers' files arrive through the portal,
    the tracking page or email, whose callers have already identified the ticket.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown attachment source {source!r}")
    if not uploads:
        return []
    if actor.is_staff and not uploaded_by_customer:
        commands.ensure_can_work(actor, ticket)
    prepared = await check_uploads(uploads, already_stored=await ticket_total(session, ticket.id))
    return await store_prepared(
        session,
        actor,
        ticket,
        prepared,
        source=source,
        uploaded_by_customer=uploaded_by_customer,
        follow_up=follow_up,
        storage=storage,
    )


async def store_prepared(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    prepared: Sequence[Prepared],
    *,
    source: str,
    uploaded_by_customer: bool = False,
    follow_up: FollowUp | None = None,
    storage: Storage | None = None,
) -> list[Attachment]:
    """Write checked files: blobs first, then rows; a failure removes the blobs it created."""
    if source not in SOURCES:
        raise ValueError(f"unknown attachment source {source!r}")
    if not prepared:
        return []
    store = storage or storage_for(get_settings())
    engine = _engine_of(session)
    created: list[str] = []
    try:
        for item in {p.sha256: p for p in prepared}.values():
            existed = await store.exists(item.sha256)
            # Written even when present: a concurrent failed upload may be removing it.
            await store.put(item.sha256, item.data)
            if not existed:
                created.append(item.sha256)
        rows = [
            Attachment(
                ticket_id=ticket.id,
                follow_up_id=follow_up.id if follow_up is not None else None,
                filename=item.filename,
                size=len(item.data),
                content_type=item.content_type,
                sha256=item.sha256,
                uploaded_by_user_id=None if uploaded_by_customer else actor.user_id,
                uploaded_by_customer=uploaded_by_customer,
                source=source,
                inline_safe=item.inline_safe,
                created_at=utcnow(),
            )
            for item in prepared
        ]
        session.add_all(rows)
        await session.flush()
    except BaseException:
        await discard_unreferenced(engine, store, created)
        raise
    if created:
        _remember_new_blobs(session, engine, store, created)
    for row in rows:
        audit.record(
            session,
            actor,
            entity_type="attachment",
            entity_id=row.id,
            ticket_id=ticket.id,
            action="attachment_add",
            field="attachment",
            after=row.filename,
        )
    record_event(
        session,
        "ticket.updated",
        ticket_id=ticket.id,
        status=str(ticket.status),
        version=ticket.version,
        by_customer=uploaded_by_customer,
    )
    return rows


async def register_with_files(
    session: AsyncSession, actor: Actor, data: Any, uploads: Sequence[Upload], *, source: str
) -> Any:
    """Register an inquiry (``intake.register_once``) with its files, checked beforehand.

    A repeated submission (same form key) returns the first ticket and attaches nothing again.
    """
    prepared = await check_uploads(uploads)
    result = await intake.register_once(session, actor, data)
    if prepared and not result.repeated:
        await store_prepared(session, actor, result.ticket, prepared, source=source)
    return result


async def add_from_drawer(
    session: AsyncSession, actor: Actor, ticket_id: int, uploads: Sequence[Upload]
) -> list[Attachment]:
    """An agent attaches files in the ticket drawer."""
    ticket = await commands.get(session, ticket_id)
    if not uploads:
        raise ValidationFailed(
            N_("Please choose a file first."), fields={FIELD: N_("Please choose a file first.")}
        )
    return await add_attachments(session, actor, ticket, uploads, source="drawer")


# --- reading --------------------------------------------------------------------------------


def _view(row: Attachment) -> AttachmentView:
    return AttachmentView(
        id=row.id,
        filename=row.filename,
        size=row.size,
        content_type=row.content_type,
        is_image=row.inline_safe and row.content_type in IMAGE_FORMATS,
        is_pdf=row.inline_safe and row.content_type == PDF,
        uploaded_by_customer=row.uploaded_by_customer,
        follow_up_id=row.follow_up_id,
        created_at=row.created_at,
    )


async def list_for_ticket(session: AsyncSession, ticket_id: int) -> list[AttachmentView]:
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.ticket_id == ticket_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return [_view(row) for row in rows.all()]


async def get_for_download(
    session: AsyncSession,
    actor: Actor | None,
    attachment_id: int,
    tracking_token: str | None,
    *,
    storage: Storage | None = None,
) -> Download:
    """The file, if this person may have it.

    Staff read every ticket (as in the drawer); a customer only the files of the ticket their
    tracking link opens. Anything else is refused without saying whether the file exists.
    """
    row = await session.get(Attachment, attachment_id)
    if tracking_token is not None:
        ticket = await commands.by_tracking_token(session, tracking_token)
        if row is None or row.ticket_id != ticket.id:
            raise NotFound(N_("File not found."))
    elif actor is None or not actor.is_staff:
        raise Forbidden(N_("You do not have permission to do that."))
    elif row is None:
        raise NotFound(N_("File not found."))
    store = storage or storage_for(get_settings())
    try:
        data = await store.get(row.sha256)
    except BlobMissing:
        log.error("attachment %s: blob %s is missing", row.id, row.sha256)
        raise NotFound(N_("File not found.")) from None
    return Download(
        filename=row.filename, content_type=row.content_type, data=data, inline=row.inline_safe
    )


async def sweep_orphans(
    session: AsyncSession,
    *,
    storage: Storage | None = None,
    grace: timedelta = ORPHAN_GRACE,
    now: datetime | None = None,
) -> list[str]:
    """Remove blobs no row references (older than ``grace``); returns what was removed.

    The grace period keeps blobs whose upload transaction may still be about to commit.
    """
    store = storage or storage_for(get_settings())
    cutoff = (now or utcnow()) - grace
    candidates = [b for b in await store.blobs() if b.modified_at <= cutoff]
    if not candidates:
        return []
    names = [b.sha256 for b in candidates]
    used: set[str] = set()
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        used.update(
            (
                await session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(chunk)))
            ).all()
        )
    removed = [name for name in names if name not in used]
    for name in removed:
        await store.delete(name)
    return removed
