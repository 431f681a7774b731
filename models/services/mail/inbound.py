"""Inbound mail: poll each mailbox over IMAP, and turn every new message into a ticket, a
follow-up on the ticket it answers, an ignored robot message, or a quarantined one.

Exactly once: each message first claims a ``mail_messages`` row whose ``dedupe_key`` is
unique per (mailbox, Message-ID) — or per raw bytes when it has no Message-ID — in the same
transaction that creates the ticket. A second poller importing the same message at the same
time fails on that constraint and skips it; never a second ticket. ``last_uid`` only saves
work: losing it (or a UIDVALIDITY change) re-reads messages that the claim then skips.

Threading: a reply is matched by In-Reply-To/References against every Message-ID we saw or
sent for a ticket, else by the ticket number (``[#TASK…]``) in the subject when the sender is
that ticket's customer. The reply goes through :func:`messages.receive`, the service every
channel uses for a customer's message: a customer follow-up that reopens a ticket awaiting
confirmation or completed, tells the assignee and marks the card. A reply to a *closed*
ticket opens a new ticket marked as a repeat of the old one: closed means the case is over
(survey done, KPIs counted), and the team sees the history through the link instead of a
silently revived case.

Nothing is dropped: robots (auto-replies, bounces, lists, our own mail) are recorded as
ignored; oversized, malformed or unimportable messages are quarantined with their raw bytes
under ``<data_dir>/mail-quarantine`` for an admin to release or delete.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import Database, unit_of_work
from models.enums import Channel, FollowUpMethod, Role, TicketStatus
from models.followup import FollowUp
from models.mail_message import MailDirection, MailMessage, MailStatus
from models.mailbox import Mailbox
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import mask_email, normalize_email
from models.services.common.errors import N_, Conflict, DomainError, NotFound, ValidationFailed
from models.services.customers import registry
from models.services.mail import mailboxes, outbound
from models.services.mail.parse import ParsedMail, parse
from models.services.tickets import attachments, commands, intake, messages
from models.settings import get_settings
from models.ticket import Ticket

log = logging.getLogger(__name__)

# The mail system acts as a lead: a customer's reply may reopen a completed ticket, which the
# state machine reserves to leads.
MAIL = Actor(user_id=None, label="mail", role=Role.LEAD)
BATCH = 50
TICKET_NUMBER_RE = re.compile(r"\[#\s*(TASK\d{12,16})\s*\]|\b(TASK\d{12,16})\b")


@dataclass
class PollReport:
    mailbox_id: int
    fetched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Fetched:
    uid_validity: int
    messages: list[tuple[int, bytes]]


# --- keys and the quarantine store ----------------------------------------------------------


def dedupe_key(mailbox_id: int | None, message_id: str | None, raw_hash: str) -> str:
    """The unique key of an inbound message in a mailbox."""
    ident = f"id:{message_id}" if message_id else f"raw:{raw_hash}"
    return hashlib.sha256(f"in:{mailbox_id}:{ident}".encode()).hexdigest()


def quarantine_dir() -> Path:
    return get_settings().mail_quarantine_dir


def _raw_path(row: MailMessage) -> Path:
    return quarantine_dir() / f"{row.dedupe_key}.eml"  # the key is hex: a safe file name


def _quarantine(row: MailMessage, raw: bytes, reason: str) -> None:
    """Keep the raw message for an admin, encrypted like contacts (it carries addresses and
    personal text); the row lists it on /admin/mail."""
    path = _raw_path(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(registry.current_cipher().encrypt_bytes(raw))
    tmp.replace(path)
    row.status = MailStatus.QUARANTINED
    row.reason = reason[:1000]


def raw_of(row: MailMessage) -> bytes | None:
    """The kept raw bytes of a quarantined message (None when they are gone)."""
    try:
        sealed = _raw_path(row).read_bytes()
    except OSError:
        return None
    return registry.current_cipher().decrypt_bytes(sealed)


async def own_addresses(session: AsyncSession) -> tuple[str, ...]:
    """Every address we send from: mail from these is our own coming back."""
    found = {a.lower() for a in (await session.scalars(select(Mailbox.address))).all()}
    settings = get_settings()
    found.add(settings.mail_from.lower())
    found.add(settings.smtp.sender.lower())
    return tuple(sorted(found))


# --- processing one message -----------------------------------------------------------------


async def _thread_target(session: AsyncSession, parsed: ParsedMail) -> Ticket | None:
    """The ticket this message answers, if any: found by the Message-IDs it references, else
    by the ticket number in the subject; either way only when the real sender address (the
    From header's, never its display name) is that ticket's customer's."""
    ticket: Ticket | None = None
    ids = [*reversed(parsed.references), *parsed.in_reply_to]
    if ids:
        ticket_id = await session.scalar(
            select(MailMessage.ticket_id)
            .where(MailMessage.message_id.in_(ids), MailMessage.ticket_id.is_not(None))
            .order_by(MailMessage.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        match = TICKET_NUMBER_RE.search(parsed.subject)
        if match is None:
            return None
        number = match.group(1) or match.group(2)
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            return None
    # References and numbers are guessable or forwardable; only the customer adds to it.
    sender = await registry.find_by_contact(session, email=parsed.sender)
    if sender is None or sender.id != ticket.customer_id:
        return None
    return await commands.get(session, ticket.id)


def _sender_warning(parsed: ParsedMail) -> dict[str, str]:
    """What the drawer warns about: the display name shows another address than the real
    sender's (the classic spoof)."""
    if not parsed.display_address:
        return {}
    # Masked like every contact shown outside the customer record (contacts are not stored
    # in plain text).
    return {
        "display_address": mask_email(parsed.display_address),
        "sender": mask_email(parsed.sender),
    }


def _limit(text: str) -> str:
    limit = get_settings().description_max_length
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _add_reply(
    session: AsyncSession, ticket: Ticket, parsed: ParsedMail, mailbox: Mailbox | None
) -> messages.Landed:
    """The customer's reply, through the service every channel uses: a follow-up on the
    ticket (reopening one waiting for them), or — the ticket closed — a repeat inquiry."""
    text = parsed.body or parsed.subject
    if ticket.status == TicketStatus.CLOSED:
        subject, body = parsed.subject.strip(), parsed.body.strip()
        text = f"{subject}\n\n{body}" if subject and body else (subject or body)
    landed = await messages.receive(
        session,
        MAIL,
        ticket,
        messages.CustomerMessage(
            text=_limit(text),
            method=FollowUpMethod.EMAIL,
            channel=Channel.EMAIL,
            details=_sender_warning(parsed),
            department_id=mailbox.department_id if mailbox is not None else None,
        ),
    )
    if landed.repeat_of is not None:
        _audit_sender(session, landed.ticket, parsed)
    return landed


async def _new_ticket(session: AsyncSession, parsed: ParsedMail, mailbox: Mailbox | None) -> Ticket:
    """A new ticket through the intake every channel uses (customer found or registered)."""
    subject = parsed.subject.strip()
    body = parsed.body.strip()
    description = f"{subject}\n\n{body}" if subject and body else (subject or body)
    name = parsed.sender_name or parsed.sender.partition("@")[0]
    result = await intake.register_inquiry(
        session,
        MAIL,
        intake.InquiryInput(
            description=_limit(description),
            channel=Channel.EMAIL.value,
            name=name[:200],
            email=parsed.sender,
            allowed_channels=(Channel.EMAIL,),
            require_contact=True,
        ),
    )
    ticket = await commands.route_new(
        session,
        MAIL,
        result.ticket,
        department_id=mailbox.department_id if mailbox is not None else None,
    )
    _audit_sender(session, ticket, parsed)
    return ticket


def _audit_sender(session: AsyncSession, ticket: Ticket, parsed: ParsedMail) -> None:
    if warning := _sender_warning(parsed):
        audit.record(
            session,
            MAIL,
            entity_type="ticket",
            entity_id=ticket.id,
            ticket_id=ticket.id,
            action="sender_mismatch",
            before=warning["display_address"],
            after=warning["sender"],
        )


async def _attach(
    session: AsyncSession,
    row: MailMessage,
    ticket: Ticket,
    follow_up: FollowUp | None,
    parsed: ParsedMail,
    raw: bytes,
) -> None:
    """Store the mail's attachments on the ticket; refused files are named in a follow-up and
    the raw message is kept in quarantine, so nothing of the mail is lost."""
    if not parsed.attachments:
        return
    refused: list[str] = []
    for item in parsed.attachments:
        upload = attachments.Upload(
            filename=item.filename, data=item.data, declared_type=item.content_type
        )
        try:
            async with session.begin_nested():
                await attachments.add_attachments(
                    session,
                    MAIL,
                    ticket,
                    [upload],
                    source="email",
                    uploaded_by_customer=True,
                    follow_up=follow_up,
                )
        except ValidationFailed:
            refused.append(item.filename)
    if not refused:
        return
    names = ", ".join(refused)
    session.add(
        FollowUp(
            ticket_id=ticket.id,
            at=utcnow(),
            user_id=None,
            by_customer=False,
            method=FollowUpMethod.EMAIL,
            discussed=f"附件未接收 / Attachments not accepted: {names}",
            visible_to_customer=False,
        )
    )
    await session.flush()
    _quarantine(row, raw, f"attachments not accepted: {names}")


async def _process(
    session: AsyncSession,
    row: MailMessage,
    parsed: ParsedMail,
    raw: bytes,
    mailbox: Mailbox | None,
    *,
    force: bool = False,
) -> None:
    """Decide what one claimed message becomes; sets the row's status."""
    settings = get_settings()
    if not force and len(raw) > settings.mail_max_bytes:
        _quarantine(row, raw, f"too large: {len(raw)} bytes (limit {settings.mail_max_bytes})")
        return
    if parsed.problem:
        _quarantine(row, raw, parsed.problem)
        return
    if parsed.auto_reason:
        row.status, row.reason = MailStatus.IGNORED, parsed.auto_reason
        return
    target = await _thread_target(session, parsed)
    follow_up = None
    if target is None:
        ticket = await _new_ticket(session, parsed, mailbox)
        row.status = MailStatus.IMPORTED
    else:
        landed = await _add_reply(session, target, parsed, mailbox)
        ticket, follow_up = landed.ticket, landed.follow_up
        if landed.repeat_of is not None:
            row.status = MailStatus.IMPORTED
            row.reason = f"reply to closed ticket {target.number}"
        else:
            assert follow_up is not None
            row.status, row.follow_up_id = MailStatus.THREADED, follow_up.id
    row.ticket_id = ticket.id
    await session.flush()
    if row.status == MailStatus.IMPORTED:
        await outbound.queue_acknowledgement(
            session, ticket, mailbox, parsed.sender, parsed.subject
        )
    await _attach(session, row, ticket, follow_up, parsed, raw)


def _claim(mailbox_id: int | None, uid: int | None, parsed: ParsedMail, raw: bytes) -> MailMessage:
    party = None
    try:
        party = normalize_email(parsed.sender) if parsed.sender else None
    except ValidationFailed:
        party = None
    cipher = registry.current_cipher()
    return MailMessage(
        dedupe_key=dedupe_key(mailbox_id, parsed.message_id, parsed.raw_hash),
        mailbox_id=mailbox_id,
        message_id=parsed.message_id,
        direction=MailDirection.IN,
        kind="inbound",
        subject=parsed.subject[:500],
        party_enc=cipher.encrypt(party) if party else None,
        party_hash=cipher.blind_index("email", party) if party else None,
        status=MailStatus.QUARANTINED,  # until decided
        raw_size=len(raw),
        uid=uid,
        attempts=0,
        created_at=utcnow(),
    )


class _Duplicate(Exception):
    """Another poller already claimed this message."""


async def import_message(
    db: Database,
    redis: Any,
    channel: str,
    mailbox_id: int | None,
    uid: int | None,
    raw: bytes,
) -> MailStatus | None:
    """Import one raw message in its own transaction; None when it was already imported.

    An unexpected failure while importing quarantines the message with the reason (in a
    fresh transaction), so a bug or a refused value never loses mail.
    """
    try:
        async with unit_of_work(db, redis, channel) as session:
            own = await own_addresses(session)
            parsed = parse(raw, own)
            row = _claim(mailbox_id, uid, parsed, raw)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _Duplicate from exc
            mailbox = await session.get(Mailbox, mailbox_id) if mailbox_id else None
            await _process(session, row, parsed, raw, mailbox)
            return MailStatus(row.status)
    except _Duplicate:
        return None
    except Exception as exc:
        log.warning(
            "mail uid %s of mailbox %s could not be imported", uid, mailbox_id, exc_info=True
        )
        reason = exc.message if isinstance(exc, DomainError) else type(exc).__name__
        try:
            async with unit_of_work(db, redis, channel) as session:
                parsed = parse(raw)
                row = _claim(mailbox_id, uid, parsed, raw)
                session.add(row)
                await session.flush()
                _quarantine(row, raw, f"import failed: {reason}")
            return MailStatus.QUARANTINED
        except IntegrityError:
            return None


# --- polling --------------------------------------------------------------------------------


def _fetch(conn: mailboxes.Connection) -> _Fetched:
    """New messages (UID above the last one seen, or all after a UIDVALIDITY change), read
    without marking them seen. Blocking: runs in a thread."""
    client = mailboxes.open_imap(conn.imap)
    try:
        info = client.select_folder(conn.folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        last = conn.last_uid if validity == conn.uid_validity else 0
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)[:BATCH]
        messages = []
        for uid in uids:
            data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
            messages.append((uid, bytes(data.get(b"BODY[]") or b"")))
        return _Fetched(validity, messages)
    finally:
        mailboxes.close_imap(client)


async def poll_mailbox(db: Database, redis: Any, channel: str, mailbox_id: int) -> PollReport:
    """Fetch and import a mailbox's new messages; a connection failure backs off."""
    report = PollReport(mailbox_id)
    async with unit_of_work(db) as session:
        mailbox = await mailboxes.get(session, mailbox_id)
        conn = mailboxes.connection(mailbox)
    try:
        fetched = await asyncio.to_thread(_fetch, conn)
    except mailboxes.network_errors() as exc:
        report.error = mailboxes.describe_error(exc)
        async with unit_of_work(db, redis, channel) as session:
            await mailboxes.record_failure(session, mailbox_id, report.error)
        log.warning("mailbox %s: %s", conn.address, report.error)
        return report
    highest = conn.last_uid if fetched.uid_validity == conn.uid_validity else 0
    for uid, raw in fetched.messages:
        try:
            status = await import_message(db, redis, channel, mailbox_id, uid, raw)
        except Exception as exc:  # the database itself failed: retry from here next time
            report.error = mailboxes.describe_error(exc)
            break
        report.fetched += 1
        if status is None:
            report.duplicates += 1
        else:
            report.outcomes[str(status)] = report.outcomes.get(str(status), 0) + 1
        highest = uid
    async with unit_of_work(db, redis, channel) as session:
        await mailboxes.record_poll(
            session, mailbox_id, fetched.uid_validity, highest, error=report.error
        )
    return report


async def poll_due(db: Database, redis: Any, channel: str) -> list[PollReport]:
    """The cron's work: poll every mailbox that is due, invite surveys, resend lost mail."""
    async with unit_of_work(db) as session:
        due = await mailboxes.due_ids(session)
    reports = [await poll_mailbox(db, redis, channel, mailbox_id) for mailbox_id in due]
    async with unit_of_work(db, redis, channel) as session:
        await outbound.invite_surveys(session)
        await outbound.requeue_lost(session)
    return reports


# --- the quarantine, for admins -------------------------------------------------------------


async def _quarantined(session: AsyncSession, actor: Actor, message_id: int) -> MailMessage:
    mailboxes.ensure_admin(actor)
    row = await session.get(MailMessage, message_id)
    if row is None:
        raise NotFound(N_("Message not found."))
    if row.status != MailStatus.QUARANTINED:
        raise Conflict(N_("This message is no longer in quarantine."))
    return row


async def release(session: AsyncSession, actor: Actor, message_id: int) -> MailMessage:
    """Import a quarantined message after all (the size limit no longer applies)."""
    row = await _quarantined(session, actor, message_id)
    raw = raw_of(row)
    if raw is None:
        raise NotFound(N_("The raw message is no longer stored; delete it instead."))
    if row.ticket_id is not None:  # imported already; only an attachment was refused
        row.status = MailStatus.IMPORTED
    else:
        parsed = parse(raw, await own_addresses(session))
        if parsed.problem:
            raise ValidationFailed(N_("This message cannot be imported; delete it instead."))
        mailbox = await session.get(Mailbox, row.mailbox_id) if row.mailbox_id else None
        row.reason = None
        await _process(session, row, parsed, raw, mailbox, force=True)
    audit.record(
        session,
        actor,
        entity_type="mail_message",
        entity_id=row.id,
        action="release",
        after={"status": str(row.status)},
    )
    await session.flush()
    if row.status != MailStatus.QUARANTINED:
        _raw_path(row).unlink(missing_ok=True)
    return row


async def delete(session: AsyncSession, actor: Actor, message_id: int) -> MailMessage:
    """Discard a quarantined message: its bytes go, its row stays (so it is never
    re-imported) marked ignored."""
    row = await _quarantined(session, actor, message_id)
    row.status = MailStatus.IGNORED
    row.reason = f"deleted by an admin ({row.reason or ''})"[:1000]
    audit.record(session, actor, entity_type="mail_message", entity_id=row.id, action="delete")
    await session.flush()
    _raw_path(row).unlink(missing_ok=True)
    return row
