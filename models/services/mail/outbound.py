"""Outgoing mail: an agent's reply, the acknowledgement of a new email inquiry, the survey
invitation. One path for all three: the message is built once (its own Message-ID, the
thread's In-Reply-To/References, the ticket number in the subject), stored as a queued
``MailMessage`` with its exact bytes, and sent by the worker's ``send_mail`` job — which
re-checks the row's status (a job that runs twice sends once) and retries with exponential
backoff. Failures stay on the row, visible on /admin/mail and in the ticket's mail panel.

Automatic mail (acknowledgement, survey) carries ``Auto-Submitted: auto-replied`` (RFC 3834)
so well-behaved responders never answer it, and the acknowledgement is rate-limited per
recipient (:data:`ACK_LIMIT_PER_HOUR`) so two robots can never ping-pong through us.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import record_job
from models.enums import FollowUpMethod
from models.followup import FollowUp
from models.mail_message import MailDirection, MailMessage, MailStatus
from models.mailbox import Mailbox
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import normalize_email
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import send_mail_job
from models.services.customers import registry
from models.services.mail import mailboxes
from models.services.mail.parse import guess_locale
from models.services.notify import notifications
from models.services.notify.channels import backoff
from models.services.tickets import commands, surveys
from models.settings import REPO_ROOT, get_settings
from models.survey import Survey
from models.ticket import Ticket

log = logging.getLogger(__name__)

ACK_LIMIT_PER_HOUR = 3
REFERENCES_MAX = 20
REPLY_MAX = 10000
# A queued message whose job got lost is sent again by the sweeper after this long.
LOST_AFTER = timedelta(minutes=2)
SURVEY_WINDOW = timedelta(days=2)
SWEEP_LIMIT = 50
# Stored as the row's reason and translated where it is shown.
NOT_CONFIGURED = N_("SMTP is not configured")


@dataclass(frozen=True)
class Outcome:
    status: MailStatus
    retry_in: float | None = None


@dataclass(frozen=True)
class OutgoingRow:
    id: int
    created_at: datetime
    kind: str
    status: MailStatus
    subject: str
    reason: str | None
    attempts: int


@dataclass(frozen=True)
class TicketMailPanel:
    """The mail panel of the ticket drawer."""

    ticket_id: int
    can_reply: bool
    has_email: bool
    outgoing: list[OutgoingRow]
    # No mailbox with an SMTP server and no KEFU_SMTP_* server: a reply could not leave.
    mail_configured: bool = True
    can_configure: bool = False  # an administrator, who is shown the way to /admin/mail


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """Plain-text templates: nothing is HTML, so autoescape stays off for .txt."""
    return Environment(
        loader=FileSystemLoader(REPO_ROOT / "templates" / "mail"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, locale: str, **context: object) -> tuple[str, str]:
    """(subject, body) of ``templates/mail/<name>.<zh_CN|en>.txt``; its first line is
    ``Subject: …``, then a blank line, then the body."""
    lang = "zh_CN" if locale.startswith("zh") else "en"
    text = _environment().get_template(f"{name}.{lang}.txt").render(**context)
    head, _, body = text.partition("\n\n")
    subject = head.removeprefix("Subject:").strip()
    return subject, body.strip() + "\n"


def tagged_subject(subject: str, number: str) -> str:
    """The subject with the ticket number tag ``[#TASK…]`` (once)."""
    subject = " ".join((subject or "").split())
    return subject if number in subject else f"{subject} [#{number}]".strip()


def reply_subject(subject: str) -> str:
    base = (subject or "").strip()
    while base[:3].lower() in ("re:", "回复:", "答复:") or base[:3] in ("回复：", "答复："):
        base = base[3:].strip()
    return f"Re: {base}" if base else ""


def _dedupe(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def customer_email(session: AsyncSession, ticket: Ticket) -> str | None:
    """The customer's email address in clear, if they have a readable one."""
    customer = await registry.get(session, ticket.customer_id)
    value = registry.decrypt(customer.email_enc)
    if not value or value == registry.UNREADABLE:
        return None
    return value


async def thread_ids(session: AsyncSession, ticket_id: int) -> list[str]:
    """Message-IDs of the ticket's mail, oldest first."""
    stmt = (
        select(MailMessage.message_id)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.message_id.is_not(None))
        .order_by(MailMessage.id)
    )
    return [m for m in (await session.scalars(stmt)).all() if m]


async def _last_inbound(session: AsyncSession, ticket_id: int) -> MailMessage | None:
    stmt = (
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.direction == MailDirection.IN)
        .order_by(MailMessage.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def mailbox_for(session: AsyncSession, ticket_id: int) -> Mailbox | None:
    """The mailbox the ticket's mail went through (else the first enabled one, if any)."""
    stmt = (
        select(Mailbox)
        .join(MailMessage, MailMessage.mailbox_id == Mailbox.id)
        .where(MailMessage.ticket_id == ticket_id)
        .order_by(MailMessage.id.desc())
        .limit(1)
    )
    found = await session.scalar(stmt)
    if found is None:
        found = await session.scalar(
            select(Mailbox).where(Mailbox.enabled.is_(True)).order_by(Mailbox.id).limit(1)
        )
    return found


def mailbox_can_send(mailbox: Mailbox | None) -> bool:
    """Whether mail through ``mailbox`` (or the fallback) has an SMTP server to leave by."""
    if mailbox is not None and mailboxes.connection(mailbox).smtp is not None:
        return True
    return mailboxes.fallback_smtp() is not None


async def can_send(session: AsyncSession, ticket_id: int) -> bool:
    """Whether a reply on this ticket has an SMTP server to leave through (the same choice
    :func:`deliver` makes: the ticket's mailbox's server, else ``KEFU_SMTP_*``)."""
    if mailboxes.fallback_smtp() is not None:
        return True
    return mailbox_can_send(await mailbox_for(session, ticket_id))


async def _queue(
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str,
    to: str,
    subject: str,
    body: str,
    mailbox: Mailbox | None,
    dedupe: str | None = None,
    follow_up_id: int | None = None,
    automatic: bool = False,
) -> MailMessage:
    """Build the message once, store it queued with its bytes, and ask the worker to send."""
    sender = mailbox.address if mailbox else get_settings().mail_from
    domain = sender.rpartition("@")[2] or "kefu.localhost"
    message_id = make_msgid(domain=domain)
    thread = await thread_ids(session, ticket.id)
    inbound = await _last_inbound(session, ticket.id)
    email = EmailMessage()
    email["From"] = formataddr((mailbox.name, sender)) if mailbox else sender
    email["To"] = to
    email["Subject"] = tagged_subject(subject, ticket.number)
    email["Date"] = formatdate(utcnow().timestamp(), localtime=True)
    email["Message-ID"] = message_id
    if inbound is not None and inbound.message_id:
        email["In-Reply-To"] = f"<{inbound.message_id}>"
    elif thread:
        email["In-Reply-To"] = f"<{thread[-1]}>"
    if thread:
        email["References"] = " ".join(f"<{m}>" for m in thread[-REFERENCES_MAX:])
    if automatic:
        email["Auto-Submitted"] = "auto-replied"
        email["X-Auto-Response-Suppress"] = "All"
    email["X-Kefu-Ticket"] = ticket.number
    email.set_content(body, charset="utf-8")
    raw = email.as_bytes(policy=policy.SMTP)
    address = normalize_email(to)
    row = MailMessage(
        dedupe_key=_dedupe(dedupe or f"out:{message_id}"),
        mailbox_id=mailbox.id if mailbox else None,
        message_id=message_id.strip("<>"),
        direction=MailDirection.OUT,
        kind=kind,
        ticket_id=ticket.id,
        follow_up_id=follow_up_id,
        subject=str(email["Subject"])[:500],
        party_enc=registry.current_cipher().encrypt(address),
        party_hash=registry.current_cipher().blind_index("email", address),
        status=MailStatus.QUEUED,
        raw_size=len(raw),
        raw=registry.current_cipher().encrypt_bytes(raw),  # it names the customer
        attempts=0,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    record_job(session, send_mail_job(row.id))
    return row


# --- the three kinds of mail ----------------------------------------------------------------


async def queue_reply(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    text: str,
    *,
    record: commands.FollowUpInput | None = None,
) -> MailMessage:
    """An agent's answer written in the drawer: recorded as an email follow-up visible to the
    customer and sent in the ticket's thread. ``record``: the follow-up fields written with it
    (feedback, next step, done), from the drawer's composer."""
    ticket = await commands.get(session, ticket_id)
    commands.ensure_can_work(actor, ticket)
    body = commands.clean_text(text, "text", limit=REPLY_MAX)
    to = await customer_email(session, ticket)
    if to is None:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"text": N_("This customer has no email address.")},
        )
    if not await can_send(session, ticket.id):
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"text": N_("Email is not configured: a reply cannot be sent by email.")},
        )
    fields = record or commands.FollowUpInput(method=FollowUpMethod.EMAIL, discussed="", done=True)
    follow_up = await commands.add_follow_up(
        session,
        actor,
        ticket.id,
        replace(fields, method=FollowUpMethod.EMAIL, discussed=body, visible_to_customer=True),
    )
    inbound = await _last_inbound(session, ticket.id)
    subject = reply_subject(inbound.subject) if inbound and inbound.subject else ticket.title
    mailbox = await mailbox_for(session, ticket.id)
    _, rendered = render(
        "reply",
        guess_locale(ticket.description),
        text=body,
        number=ticket.number,
        team=mailbox.name if mailbox else "",
    )
    return await _queue(
        session,
        ticket,
        kind="reply",
        to=to,
        subject=subject,
        body=rendered,
        mailbox=mailbox,
        follow_up_id=follow_up.id,
    )


async def recent_acknowledgements(session: AsyncSession, address: str) -> int:
    """Acknowledgements sent to this address in the last hour (the loop guard)."""
    hashes = registry.current_cipher().blind_indexes("email", normalize_email(address))
    stmt = select(func.count()).where(
        MailMessage.direction == MailDirection.OUT,
        MailMessage.kind == "ack",
        MailMessage.party_hash.in_(hashes),
        MailMessage.created_at > utcnow() - timedelta(hours=1),
    )
    return int(await session.scalar(stmt) or 0)


async def queue_acknowledgement(
    session: AsyncSession, ticket: Ticket, mailbox: Mailbox | None, to: str, subject: str
) -> MailMessage | None:
    """The "we received your inquiry TASK…" mail: once per ticket, at most
    :data:`ACK_LIMIT_PER_HOUR` per sender and hour."""
    if await recent_acknowledgements(session, to) >= ACK_LIMIT_PER_HOUR:
        log.info("acknowledgement for %s skipped: loop guard", ticket.number)
        return None
    dedupe = f"out:ack:{ticket.id}"
    if await session.scalar(
        select(MailMessage.id).where(MailMessage.dedupe_key == _dedupe(dedupe))
    ):
        return None
    locale = guess_locale(subject, ticket.description)
    title, body = render(
        "ack", locale, number=ticket.number, subject=subject, team=mailbox.name if mailbox else ""
    )
    return await _queue(
        session,
        ticket,
        kind="ack",
        to=to,
        subject=f"{title} {reply_subject(subject)}".strip(),
        body=body,
        mailbox=mailbox,
        dedupe=dedupe,
        automatic=True,
    )


async def invite_surveys(session: AsyncSession, now: datetime | None = None) -> int:
    """Email the survey link of recently completed tickets whose customer has an email
    address (once per survey; the DB is the truth, so this sweep is the trigger).

    Only where mail can leave — a mailbox with an SMTP server, or the ``KEFU_SMTP_*``
    fallback: without one nothing is queued to fail, and the survey stays offered on the
    tracking page and by the link staff copy from the drawer. A server configured later still
    gets the invitations the sweep's window holds."""
    now = now or utcnow()
    already = exists().where(
        MailMessage.ticket_id == Survey.ticket_id, MailMessage.kind == "survey"
    )
    stmt = (
        select(Survey)
        .where(
            Survey.submitted_at.is_(None),
            Survey.expires_at > now,
            Survey.created_at > now - SURVEY_WINDOW,
            ~already,
        )
        .order_by(Survey.id)
        .limit(SWEEP_LIMIT)
    )
    count = 0
    for survey in (await session.scalars(stmt)).all():
        token = surveys.token_for(survey)
        ticket = await session.get(Ticket, survey.ticket_id)
        if token is None or ticket is None:
            continue
        to = await customer_email(session, ticket)
        if to is None:
            continue
        mailbox = await mailbox_for(session, ticket.id)
        if not mailbox_can_send(mailbox):
            continue
        locale = guess_locale(ticket.description)
        subject, body = render(
            "survey",
            locale,
            number=ticket.number,
            title=ticket.title,
            url=surveys.url_for(token),
            team=mailbox.name if mailbox else "",
        )
        await _queue(
            session,
            ticket,
            kind="survey",
            to=to,
            subject=subject,
            body=body,
            mailbox=mailbox,
            dedupe=f"out:survey:{survey.id}",
            automatic=True,
        )
        count += 1
    return count


# --- sending --------------------------------------------------------------------------------


def _send(endpoint: mailboxes.Endpoint, sender: str, to: str, raw: bytes) -> None:
    smtp = mailboxes.open_smtp(endpoint)
    try:
        smtp.sendmail(sender, [to], raw)
    finally:
        try:
            smtp.quit()
        except smtplib.SMTPException:
            smtp.close()


async def deliver(session: AsyncSession, mail_id: int, *, now: datetime | None = None) -> Outcome:
    """One attempt at sending a queued message; a sent or failed one is left alone."""
    now = now or utcnow()
    row = await session.scalar(
        select(MailMessage).where(MailMessage.id == mail_id).with_for_update()
    )
    if row is None or row.status != MailStatus.QUEUED or row.raw is None:
        return Outcome(MailStatus(row.status) if row else MailStatus.FAILED)
    mailbox = await session.get(Mailbox, row.mailbox_id) if row.mailbox_id else None
    endpoint = mailboxes.connection(mailbox).smtp if mailbox else None
    endpoint = endpoint or mailboxes.fallback_smtp()
    to = registry.decrypt(row.party_enc) or ""
    raw = registry.current_cipher().decrypt_bytes(row.raw)
    sender = parseaddr(str(message_from_bytes(raw).get("From", "")))[1]
    row.attempts = (row.attempts or 0) + 1
    if endpoint is None:
        row.status, row.reason = MailStatus.FAILED, NOT_CONFIGURED
        await _tell_author(session, row)
        return Outcome(row.status)
    retry = True
    try:
        await asyncio.to_thread(_send, endpoint, sender, to, raw)
    except smtplib.SMTPResponseException as exc:
        retry = exc.smtp_code < 500
        row.reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500]
    except smtplib.SMTPRecipientsRefused as exc:
        retry = False
        row.reason = f"recipient refused: {list(exc.recipients)}"[:500]
    except mailboxes.NETWORK_ERRORS as exc:
        row.reason = mailboxes.describe_error(exc)
    else:
        row.status, row.reason, row.sent_at, row.next_attempt_at = MailStatus.SENT, None, now, None
        return Outcome(row.status)
    retries = get_settings().delivery
    if retry and row.attempts < retries.max_attempts:
        wait = backoff(row.attempts, retries)
        row.next_attempt_at = now + timedelta(seconds=wait)
        return Outcome(MailStatus.QUEUED, retry_in=wait)
    row.status = MailStatus.FAILED
    log.warning("mail %s to ticket %s failed: %s", row.id, row.ticket_id, row.reason)
    await _tell_author(session, row)
    return Outcome(row.status)


FAILURE_MESSAGES: dict[str, str] = {
    "not_configured": N_(
        "Your email reply on %(number)s was not delivered: no mail server is configured for "
        "sending."
    ),
    "connection_refused": N_(
        "Your email reply on %(number)s was not delivered: the mail server refused the connection."
    ),
    "authentication": N_(
        "Your email reply on %(number)s was not delivered: the mail server did not accept "
        "Kefu's sign-in."
    ),
    "recipient_refused": N_(
        "Your email reply on %(number)s was not delivered: the mail server refused the "
        "recipient's address."
    ),
    "timeout": N_(
        "Your email reply on %(number)s was not delivered: the mail server did not answer in time."
    ),
}
"""The bell's text for each known reason a reply failed (the raw reason stays in params)."""


def failure_kind(reason: str | None) -> str | None:
    """Which known failure a reply's recorded reason is, if any (see :data:`FAILURE_MESSAGES`)."""
    text = (reason or "").lower()
    if reason == NOT_CONFIGURED:
        return "not_configured"
    if "connectionrefused" in text or "connection refused" in text:
        return "connection_refused"
    if "authentication" in text or text.startswith(("smtp 535", "smtp 534", "smtp 530")):
        return "authentication"
    if text.startswith(("recipient refused", "smtp 550", "smtp 553")):
        return "recipient_refused"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    return None


async def _tell_author(session: AsyncSession, row: MailMessage) -> None:
    """A reply that was given up on: its author hears it in the bell (automatic mail has no
    author to tell; /admin/mail lists it)."""
    if row.kind != "reply" or row.follow_up_id is None:
        return
    author = await session.scalar(select(FollowUp.user_id).where(FollowUp.id == row.follow_up_id))
    number = await session.scalar(select(Ticket.number).where(Ticket.id == row.ticket_id))
    await notifications.notify(
        session,
        kind=notifications.KIND_REPLY_FAILED,
        message=FAILURE_MESSAGES.get(
            failure_kind(row.reason) or "",
            N_("Your email reply on %(number)s was not delivered: %(reason)s"),
        ),
        params={"number": number or "", "reason": row.reason or ""},
        user_ids=[author],
        ticket_id=row.ticket_id,
        key=f"reply_failed:{row.id}:{row.attempts}",
    )


async def retry(session: AsyncSession, actor: Actor, ticket_id: int, mail_id: int) -> MailMessage:
    """Send a failed reply again — the very same message — for its author or anyone who may
    work the ticket; audited on the ticket."""
    row = await session.scalar(
        select(MailMessage).where(MailMessage.id == mail_id).with_for_update()
    )
    if (
        row is None
        or row.direction != MailDirection.OUT
        or row.kind != "reply"
        or row.ticket_id != ticket_id
    ):
        raise NotFound(N_("No such reply."))
    ticket = await commands.get(session, ticket_id)
    author = (
        await session.scalar(select(FollowUp.user_id).where(FollowUp.id == row.follow_up_id))
        if row.follow_up_id is not None
        else None
    )
    if not commands.can_work(actor, ticket) and (author is None or author != actor.user_id):
        raise Forbidden(N_("You may not send this reply again."))
    if row.status != MailStatus.FAILED:
        raise Conflict(N_("This reply has not failed; it is not sent again."))
    if not await can_send(session, ticket.id):
        raise ValidationFailed(N_("Email is not configured: a reply cannot be sent by email."))
    before = row.reason
    row.status, row.attempts, row.next_attempt_at = MailStatus.QUEUED, 0, None
    audit.record(
        session,
        actor,
        entity_type="mail_message",
        entity_id=row.id,
        action="mail_retry",
        before=before,
        after=str(MailStatus.QUEUED),
        ticket_id=ticket.id,
    )
    await session.flush()
    record_job(session, send_mail_job(row.id, again=utcnow().strftime("%Y%m%d%H%M%S%f")))
    return row


async def requeue_lost(session: AsyncSession, now: datetime | None = None) -> int:
    """Ask again for queued messages whose job was lost (Redis down, worker killed)."""
    now = now or utcnow()
    stmt = (
        select(MailMessage.id, MailMessage.next_attempt_at, MailMessage.created_at)
        .where(MailMessage.direction == MailDirection.OUT, MailMessage.status == MailStatus.QUEUED)
        .order_by(MailMessage.id)
        .limit(SWEEP_LIMIT)
    )
    count = 0
    for mail_id, next_at, created in (await session.execute(stmt)).all():
        if (next_at or created) <= now - LOST_AFTER:
            record_job(session, send_mail_job(mail_id))
            count += 1
    return count


async def ticket_panel(session: AsyncSession, actor: Actor, ticket_id: int) -> TicketMailPanel:
    """The drawer's mail panel: whether a reply can be written, and the mail sent so far."""
    ticket = await commands.get(session, ticket_id)
    stmt = (
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket.id, MailMessage.direction == MailDirection.OUT)
        .order_by(MailMessage.id.desc())
        .limit(20)
    )
    rows = (await session.scalars(stmt)).all()
    return TicketMailPanel(
        ticket_id=ticket.id,
        mail_configured=await can_send(session, ticket.id),
        can_configure=actor.is_admin,
        can_reply=commands.can_work(actor, ticket),
        has_email=await customer_email(session, ticket) is not None,
        outgoing=[
            OutgoingRow(
                r.id, r.created_at, r.kind, MailStatus(r.status), r.subject, r.reason, r.attempts
            )
            for r in rows
        ],
    )
