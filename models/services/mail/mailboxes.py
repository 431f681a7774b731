"""Mailboxes: the admin's settings (passwords encrypted like contacts) and the status page.

A mailbox is polled over IMAP for new inquiries and answers over SMTP (its own server, or the
``KEFU_SMTP_*`` one when it has none). Connection problems back off exponentially; the status
page shows them, the counts per outcome, the quarantine and the outgoing mail that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.department import Department
from models.mail_message import MailDirection, MailMessage, MailStatus
from models.mailbox import Mailbox, MailSecurity
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import mask_email, normalize_email
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.customers import registry
from models.settings import get_settings

NETWORK_TIMEOUT = 30.0
BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
NAME_MAX = 100
HOST_MAX = 255
LIST_LIMIT = 100


@dataclass(frozen=True)
class MailboxInput:
    """The admin form, unparsed; a blank password keeps the stored one."""

    name: str = ""
    address: str = ""
    imap_host: str = ""
    imap_port: str = "993"
    imap_security: str = MailSecurity.SSL.value
    imap_user: str = ""
    imap_password: str = ""
    folder: str = "INBOX"
    smtp_host: str = ""
    smtp_port: str = "465"
    smtp_security: str = MailSecurity.SSL.value
    smtp_user: str = ""
    smtp_password: str = ""
    enabled: bool = True
    department_id: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """One server to talk to, password decrypted (lives only in memory)."""

    host: str
    port: int
    security: MailSecurity
    user: str
    password: str


@dataclass(frozen=True)
class Connection:
    """What the poller and the sender need of a mailbox, read in one transaction."""

    mailbox_id: int
    address: str
    name: str
    imap: Endpoint
    folder: str
    smtp: Endpoint | None
    uid_validity: int | None
    last_uid: int
    department_id: int | None
    failures: int


@dataclass(frozen=True)
class MailboxRow:
    id: int
    name: str
    address: str
    imap: str
    smtp: str
    enabled: bool
    department_id: int | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    last_error: str | None
    failures: int
    counts: dict[str, int]
    has_error: bool


@dataclass(frozen=True)
class MessageRow:
    id: int
    mailbox: str | None
    created_at: datetime
    direction: MailDirection
    kind: str
    status: MailStatus
    subject: str
    party: str | None
    reason: str | None
    raw_size: int
    ticket_id: int | None
    attempts: int


@dataclass(frozen=True)
class MailAdminView:
    mailboxes: list[MailboxRow]
    quarantine: list[MessageRow]
    outgoing_problems: list[MessageRow]
    recent: list[MessageRow]
    departments: list[Department]
    securities: list[MailSecurity]
    # Some enabled mailbox has an SMTP server, or KEFU_SMTP_* is set: replies can leave.
    sending_configured: bool = True


@dataclass(frozen=True)
class TestResult:
    imap_error: str | None
    smtp_error: str | None

    @property
    def ok(self) -> bool:
        return self.imap_error is None and self.smtp_error is None


# --- secrets --------------------------------------------------------------------------------


def encrypt_secret(value: str) -> str:
    """A password sealed with the contacts' keyring (rotation re-encrypts nothing here: the
    ring keeps old keys until every row is rewritten)."""
    return registry.current_cipher().encrypt(value)


def decrypt_secret(token: str | None) -> str:
    return registry.decrypt(token) or "" if token else ""


# --- validation and editing -----------------------------------------------------------------


def _ensure_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(N_("Only an administrator may do that."))


def _port(raw: str, field: str, errors: dict[str, str]) -> int:
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        errors[field] = N_("Enter a port number from 1 to 65535.")
        return 0
    return int(text)


def _host(raw: str, field: str, errors: dict[str, str], *, required: bool) -> str:
    text = (raw or "").strip()
    if not text:
        if required:
            errors[field] = N_("Required.")
        return ""
    if len(text) > HOST_MAX or any(ch.isspace() for ch in text) or "/" in text:
        errors[field] = N_("Enter a host name or an IP address.")
    return text


def _security(raw: str, field: str, errors: dict[str, str]) -> MailSecurity:
    try:
        return MailSecurity((raw or "").strip())
    except ValueError:
        errors[field] = N_("Choose a connection security from the list.")
        return MailSecurity.SSL


@dataclass(frozen=True)
class _Checked:
    name: str
    address: str
    imap_host: str
    imap_port: int
    imap_security: MailSecurity
    imap_user: str
    folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: MailSecurity
    smtp_user: str


def _check(data: MailboxInput, *, needs_password: bool) -> _Checked:
    """Every field at once; raises ValidationFailed before anything is written."""
    errors: dict[str, str] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = N_("Required.")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("Too long.")
    address = ""
    try:
        address = normalize_email(data.address or "")
    except ValidationFailed:
        errors["address"] = N_("Enter a valid email address.")
    imap_host = _host(data.imap_host, "imap_host", errors, required=True)
    imap_port = _port(data.imap_port, "imap_port", errors)
    imap_security = _security(data.imap_security, "imap_security", errors)
    imap_user = (data.imap_user or "").strip()
    if not imap_user:
        errors["imap_user"] = N_("Required.")
    if needs_password and not data.imap_password:
        errors["imap_password"] = N_("Required.")
    folder = (data.folder or "").strip() or "INBOX"
    if len(folder) > HOST_MAX:
        errors["folder"] = N_("Too long.")
    smtp_host = _host(data.smtp_host, "smtp_host", errors, required=False)
    smtp_port = _port(data.smtp_port or "465", "smtp_port", errors)
    smtp_security = _security(data.smtp_security, "smtp_security", errors)
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return _Checked(
        name,
        address,
        imap_host,
        imap_port,
        imap_security,
        imap_user[:255],
        folder,
        smtp_host,
        smtp_port,
        smtp_security,
        (data.smtp_user or "").strip()[:255],
    )


async def _check_department(session: AsyncSession, department_id: int | None) -> None:
    if department_id is not None and await session.get(Department, department_id) is None:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={"department_id": N_("Unknown.")}
        )


async def _address_taken(session: AsyncSession, address: str, mailbox_id: int | None) -> None:
    other = await session.scalar(select(Mailbox).where(Mailbox.address == address))
    if other is not None and other.id != mailbox_id:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"address": N_("Another mailbox already uses this address.")},
        )


def _apply(mailbox: Mailbox, checked: _Checked, data: MailboxInput) -> None:
    mailbox.name = checked.name
    mailbox.address = checked.address
    mailbox.imap_host = checked.imap_host
    mailbox.imap_port = checked.imap_port
    mailbox.imap_security = checked.imap_security
    mailbox.imap_user = checked.imap_user
    mailbox.folder = checked.folder
    mailbox.smtp_host = checked.smtp_host or None
    mailbox.smtp_port = checked.smtp_port
    mailbox.smtp_security = checked.smtp_security
    mailbox.smtp_user = checked.smtp_user or None
    mailbox.enabled = data.enabled
    mailbox.department_id = data.department_id
    if data.imap_password:
        mailbox.imap_password_enc = encrypt_secret(data.imap_password)
    if data.smtp_password:
        mailbox.smtp_password_enc = encrypt_secret(data.smtp_password)
    # New settings deserve a prompt try, not the backoff the old ones earned.
    mailbox.failures = 0
    mailbox.next_poll_at = None


async def create(session: AsyncSession, actor: Actor, data: MailboxInput) -> Mailbox:
    """Add a mailbox; it is polled on the next minute."""
    _ensure_admin(actor)
    checked = _check(data, needs_password=True)
    await _check_department(session, data.department_id)
    await _address_taken(session, checked.address, None)
    mailbox = Mailbox(last_uid=0, failures=0, created_at=utcnow())
    _apply(mailbox, checked, data)
    session.add(mailbox)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="mailbox",
        entity_id=mailbox.id,
        action="create",
        after={"address": mailbox.address},
    )
    return mailbox


async def update(
    session: AsyncSession, actor: Actor, mailbox_id: int, data: MailboxInput
) -> Mailbox:
    """Change a mailbox's settings (blank passwords keep the stored ones)."""
    _ensure_admin(actor)
    mailbox = await get(session, mailbox_id)
    checked = _check(data, needs_password=mailbox.imap_password_enc is None)
    await _check_department(session, data.department_id)
    await _address_taken(session, checked.address, mailbox.id)
    if (checked.imap_host, checked.imap_user, checked.folder) != (
        mailbox.imap_host,
        mailbox.imap_user,
        mailbox.folder,
    ):
        # Another mailbox on the server: its UIDs mean nothing here (dedupe still holds).
        mailbox.uid_validity = None
        mailbox.last_uid = 0
    _apply(mailbox, checked, data)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="mailbox",
        entity_id=mailbox.id,
        action="update",
        after={"address": mailbox.address, "enabled": mailbox.enabled},
    )
    return mailbox


async def get(session: AsyncSession, mailbox_id: int) -> Mailbox:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(N_("Mailbox not found."))
    return mailbox


def form_for(mailbox: Mailbox | None) -> MailboxInput:
    """The edit form's values (never the passwords)."""
    if mailbox is None:
        return MailboxInput()
    return MailboxInput(
        name=mailbox.name,
        address=mailbox.address,
        imap_host=mailbox.imap_host,
        imap_port=str(mailbox.imap_port),
        imap_security=str(mailbox.imap_security),
        imap_user=mailbox.imap_user,
        folder=mailbox.folder,
        smtp_host=mailbox.smtp_host or "",
        smtp_port=str(mailbox.smtp_port),
        smtp_security=str(mailbox.smtp_security),
        smtp_user=mailbox.smtp_user or "",
        enabled=mailbox.enabled,
        department_id=mailbox.department_id,
    )


# --- connections ----------------------------------------------------------------------------


def connection(mailbox: Mailbox) -> Connection:
    """The decrypted connection settings of a mailbox."""
    smtp = None
    if mailbox.smtp_host:
        smtp = Endpoint(
            mailbox.smtp_host,
            mailbox.smtp_port,
            MailSecurity(mailbox.smtp_security),
            mailbox.smtp_user or "",
            decrypt_secret(mailbox.smtp_password_enc),
        )
    return Connection(
        mailbox_id=mailbox.id,
        address=mailbox.address,
        name=mailbox.name,
        imap=Endpoint(
            mailbox.imap_host,
            mailbox.imap_port,
            MailSecurity(mailbox.imap_security),
            mailbox.imap_user,
            decrypt_secret(mailbox.imap_password_enc),
        ),
        folder=mailbox.folder,
        smtp=smtp,
        uid_validity=mailbox.uid_validity,
        last_uid=mailbox.last_uid or 0,
        department_id=mailbox.department_id,
        failures=mailbox.failures or 0,
    )


def fallback_smtp() -> Endpoint | None:
    """The ``KEFU_SMTP_*`` server, when configured."""
    cfg = get_settings().smtp
    if not cfg.host:
        return None
    security = (
        MailSecurity.SSL
        if cfg.ssl
        else MailSecurity.STARTTLS
        if cfg.starttls
        else MailSecurity.NONE
    )
    return Endpoint(cfg.host, cfg.port, security, cfg.user, cfg.password)


def open_imap(endpoint: Endpoint) -> Any:
    """A logged-in IMAPClient (blocking: call from a thread)."""
    from imapclient import IMAPClient

    context = ssl.create_default_context()
    client = IMAPClient(
        endpoint.host,
        port=endpoint.port,
        ssl=endpoint.security is MailSecurity.SSL,
        ssl_context=context,
        timeout=NETWORK_TIMEOUT,
    )
    try:
        if endpoint.security is MailSecurity.STARTTLS:
            client.starttls(context)
        client.login(endpoint.user, endpoint.password)
    except BaseException:
        _quietly_close(client)
        raise
    return client


def _quietly_close(client: Any) -> None:
    with contextlib.suppress(Exception):  # already gone
        client.shutdown()


def close_imap(client: Any) -> None:
    """Log out politely; a server that went away is simply dropped."""
    try:
        client.logout()
    except Exception:  # the connection is gone already
        _quietly_close(client)


def open_smtp(endpoint: Endpoint) -> smtplib.SMTP:
    """A connected (and logged-in, when a user is set) SMTP client (blocking)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if endpoint.security is MailSecurity.SSL:
        smtp = smtplib.SMTP_SSL(
            endpoint.host, endpoint.port, timeout=NETWORK_TIMEOUT, context=context
        )
    else:
        smtp = smtplib.SMTP(endpoint.host, endpoint.port, timeout=NETWORK_TIMEOUT)
    try:
        if endpoint.security is MailSecurity.STARTTLS:
            smtp.starttls(context=context)
        if endpoint.user:
            smtp.login(endpoint.user, endpoint.password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def describe_error(exc: BaseException) -> str:
    """A short, credential-free description of a connection problem (for the status page)."""
    text = str(exc).replace("\n", " ").strip()
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.timeout,
    ssl.SSLError,
    imaplib.IMAP4.error,
    smtplib.SMTPException,
)


def network_errors() -> tuple[type[BaseException], ...]:
    """Every error a mail server or the network can cause (retried, never a crash)."""
    from imapclient.exceptions import IMAPClientError

    return (*NETWORK_ERRORS, IMAPClientError)


def _test(conn: Connection) -> TestResult:
    imap_error = smtp_error = None
    errors = network_errors()
    try:
        client = open_imap(conn.imap)
        try:
            client.select_folder(conn.folder, readonly=True)
        finally:
            close_imap(client)
    except errors as exc:
        imap_error = describe_error(exc)
    endpoint = conn.smtp or fallback_smtp()
    if endpoint is None:
        smtp_error = "SMTP is not configured"
    else:
        try:
            open_smtp(endpoint).quit()
        except errors as exc:
            smtp_error = describe_error(exc)
    return TestResult(imap_error, smtp_error)


async def test_connection(session: AsyncSession, actor: Actor, mailbox_id: int) -> TestResult:
    """Log in to the IMAP and SMTP servers now and say what went wrong, if anything."""
    _ensure_admin(actor)
    conn = connection(await get(session, mailbox_id))
    return await asyncio.to_thread(_test, conn)


# --- backoff --------------------------------------------------------------------------------


def backoff_seconds(failures: int) -> int:
    """Wait after the ``failures``-th failed poll in a row: 1, 2, 4 … minutes, at most an hour."""
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_MAX_SECONDS))


async def record_failure(session: AsyncSession, mailbox_id: int, error: str) -> Mailbox:
    mailbox = await get(session, mailbox_id)
    now = utcnow()
    mailbox.failures = (mailbox.failures or 0) + 1
    mailbox.last_error = error[:1000]
    mailbox.last_polled_at = now
    mailbox.next_poll_at = now + timedelta(seconds=backoff_seconds(mailbox.failures))
    return mailbox


async def record_poll(
    session: AsyncSession,
    mailbox_id: int,
    uid_validity: int | None,
    last_uid: int,
    *,
    error: str | None = None,
) -> Mailbox:
    """Remember how far a poll got; an error part-way keeps the progress and backs off."""
    mailbox = await get(session, mailbox_id)
    if uid_validity != mailbox.uid_validity:
        mailbox.uid_validity = uid_validity
        mailbox.last_uid = last_uid
    else:
        mailbox.last_uid = max(mailbox.last_uid or 0, last_uid)
    if error is not None:
        return await record_failure(session, mailbox_id, error)
    now = utcnow()
    mailbox.failures = 0
    mailbox.last_error = None
    mailbox.last_polled_at = now
    mailbox.next_poll_at = now + timedelta(seconds=get_settings().mail_poll_seconds)
    return mailbox


async def due_ids(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Enabled mailboxes whose next poll is due."""
    now = now or utcnow()
    stmt = (
        select(Mailbox.id)
        .where(Mailbox.enabled.is_(True))
        .where(or_(Mailbox.next_poll_at.is_(None), Mailbox.next_poll_at <= now))
        .order_by(Mailbox.id)
    )
    return list((await session.scalars(stmt)).all())


# --- the status page ------------------------------------------------------------------------


def _endpoint_label(host: str | None, port: int, security: Any, user: str | None) -> str:
    if not host:
        return ""
    return f"{user}@{host}:{port} ({security})" if user else f"{host}:{port} ({security})"


def message_row(message: MailMessage, mailbox_names: dict[int, str]) -> MessageRow:
    party = registry.decrypt(message.party_enc) if message.party_enc else None
    return MessageRow(
        id=message.id,
        mailbox=mailbox_names.get(message.mailbox_id) if message.mailbox_id else None,
        created_at=message.created_at,
        direction=MailDirection(message.direction),
        kind=message.kind,
        status=MailStatus(message.status),
        subject=message.subject,
        party=mask_email(party) if party and "@" in party else party,
        reason=message.reason,
        raw_size=message.raw_size,
        ticket_id=message.ticket_id,
        attempts=message.attempts,
    )


async def admin_view(session: AsyncSession, actor: Actor) -> MailAdminView:
    """The /admin/mail page: every mailbox with its health and counts, the quarantine, the
    outgoing mail that failed or waits for a retry, and the latest messages."""
    _ensure_admin(actor)
    boxes = list((await session.scalars(select(Mailbox).order_by(Mailbox.id))).all())
    names = {b.id: b.name for b in boxes}
    counts: dict[int, dict[str, int]] = {b.id: {} for b in boxes}
    rows = await session.execute(
        select(MailMessage.mailbox_id, MailMessage.status, func.count())
        .where(MailMessage.mailbox_id.is_not(None))
        .group_by(MailMessage.mailbox_id, MailMessage.status)
    )
    for mailbox_id, status, count in rows.all():
        if mailbox_id is not None:
            counts.setdefault(mailbox_id, {})[str(status)] = int(count)

    async def listed(*conditions: Any) -> list[MessageRow]:
        stmt = select(MailMessage).where(*conditions).order_by(MailMessage.id.desc())
        found = (await session.scalars(stmt.limit(LIST_LIMIT))).all()
        return [message_row(m, names) for m in found]

    return MailAdminView(
        mailboxes=[
            MailboxRow(
                id=b.id,
                name=b.name,
                address=b.address,
                imap=_endpoint_label(b.imap_host, b.imap_port, b.imap_security, b.imap_user),
                smtp=_endpoint_label(b.smtp_host, b.smtp_port, b.smtp_security, b.smtp_user),
                enabled=b.enabled,
                department_id=b.department_id,
                last_polled_at=b.last_polled_at,
                next_poll_at=b.next_poll_at,
                last_error=b.last_error,
                failures=b.failures or 0,
                counts=counts.get(b.id, {}),
                has_error=bool(b.last_error),
            )
            for b in boxes
        ],
        quarantine=await listed(MailMessage.status == MailStatus.QUARANTINED),
        outgoing_problems=await listed(
            MailMessage.direction == MailDirection.OUT,
            MailMessage.status.in_((MailStatus.FAILED, MailStatus.QUEUED)),
            MailMessage.attempts > 0,
        ),
        recent=await listed(MailMessage.status != MailStatus.QUARANTINED),
        departments=list((await session.scalars(select(Department).order_by(Department.id))).all()),
        securities=list(MailSecurity),
        sending_configured=fallback_smtp() is not None
        or any(b.enabled and b.smtp_host for b in boxes),
    )


def ensure_admin(actor: Actor) -> None:
    """Refuse anyone but an administrator (quarantine actions check this too)."""
    _ensure_admin(actor)
