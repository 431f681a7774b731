"""Notifications: the in-app bell, per-user and per-department channels, and deliveries.

:func:`notify` is the one entry point for every rule that tells people something. It writes
one in-app :class:`Notification` per recipient (message = English msgid + params, rendered in
the reader's language when read), records a ``notification`` event per recipient for the live
board stream, and — for each matching channel preference — a :class:`NotificationDelivery`
plus a ``deliver_notification`` job. The delivery job (:func:`deliver`) makes one attempt,
logs it on the row and tells the worker when to retry (exponential backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import uuid4

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import record_event, record_job
from models.department import Department
from models.i18n import render
from models.notification import Notification
from models.notification_delivery import DeliveryStatus, NotificationDelivery
from models.notification_preference import DeliveryChannel, NotificationPreference
from models.services.common import ids
from models.services.common.actor import Actor
from models.services.common.crypto import cipher_for, mask_email, normalize_email
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import delivery_job
from models.services.notify import channels
from models.settings import get_settings
from models.user import User

log = logging.getLogger(__name__)

KIND_REMINDER = "urgent_reminder"
KIND_ESCALATION = "escalation"
KIND_OVERDUE = "overdue"
KIND_LOW_CSAT = "low_csat"
KIND_DIGEST = "daily_digest"
KIND_EXTENSION = "extension"
KIND_CUSTOMER_REPLY = "customer_reply"
KIND_REPLY_FAILED = "reply_failed"
KIND_ASSIGNED = "assigned"
KIND_MENTIONED = "mentioned"
KIND_COLLABORATOR_ADDED = "collaborator_added"
KIND_TEST = "test"

KINDS: dict[str, str] = {
    KIND_REMINDER: N_("Urgent ticket not started"),
    KIND_ESCALATION: N_("Escalation"),
    KIND_OVERDUE: N_("Ticket overdue"),
    KIND_LOW_CSAT: N_("Low satisfaction follow-up"),
    KIND_DIGEST: N_("End-of-day list without follow-up"),
    KIND_EXTENSION: N_("Extension requests"),
    KIND_CUSTOMER_REPLY: N_("Customer replied"),
    KIND_REPLY_FAILED: N_("Reply not delivered"),
    KIND_ASSIGNED: N_("Ticket assigned to me"),
    KIND_MENTIONED: N_("Mentioned in a note"),
    KIND_COLLABORATOR_ADDED: N_("Added as a collaborator"),
    KIND_TEST: N_("Test notification"),
}
"""Every kind, with the msgid of its title (shown in preferences, used as email subject)."""

PERSONAL_KINDS = [k for k in KINDS if k != KIND_TEST]
"""The kinds a person chooses a destination for (bell and each channel) on their settings."""

CHANNEL_LABELS: dict[DeliveryChannel, str] = {
    DeliveryChannel.EMAIL: N_("Email"),
    DeliveryChannel.WECOM: N_("WeCom group robot"),
    DeliveryChannel.DINGTALK: N_("DingTalk robot"),
    DeliveryChannel.FEISHU: N_("Feishu bot"),
    DeliveryChannel.SLACK: N_("Slack incoming webhook"),
    DeliveryChannel.WEBHOOK: N_("Generic JSON webhook"),
}
DELIVERY_STATUS_LABELS: dict[DeliveryStatus, str] = {
    DeliveryStatus.PENDING: N_("Queued"),
    DeliveryStatus.RETRYING: N_("Retrying"),
    DeliveryStatus.SENT: N_("Delivered"),
    DeliveryStatus.FAILED: N_("Failed"),
}
RECENT_LIMIT = 30
URL_MAX = 2000


def ticket_url(number: str | None) -> str | None:
    """Where a notification about a ticket points: the board filtered to that number."""
    if not number:
        return None
    return f"{get_settings().base_url}/board?q={quote(number)}"


# --- in-app notifications -------------------------------------------------------------------


async def active_users(session: AsyncSession, user_ids: Iterable[int | None]) -> list[User]:
    """The active accounts among these ids, in id order, each once."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return []
    stmt = select(User).where(User.id.in_(ids), User.is_active.is_(True)).order_by(User.id)
    return list((await session.scalars(stmt)).all())


async def notify(
    session: AsyncSession,
    *,
    kind: str,
    message: str,
    params: dict[str, Any] | None = None,
    user_ids: Iterable[int | None] = (),
    ticket_id: int | None = None,
    department_id: int | None = None,
    key: str | None = None,
) -> list[Notification]:
    """Tell these users (and this department's channels) something; see the module doc.

    ``key`` names the event for department deliveries (a group robot hears an event once,
    however many members are told); it defaults to the first notification's id.
    """
    params = dict(params or {})
    recipients = await active_users(session, user_ids)
    now = utcnow()
    # Each person chooses per kind whether it rings their bell; their channels still hear it.
    notes = [
        Notification(
            user_id=u.id,
            kind=kind,
            ticket_id=ticket_id,
            message=message,
            params=params,
            created_at=now,
        )
        for u in recipients
        if kind not in (u.bell_muted_kinds or [])
    ]
    session.add_all(notes)
    await session.flush()
    for note in notes:
        record_event(
            session,
            "notification",
            user_id=note.user_id,
            notification_id=note.id,
            notification_kind=kind,
            ticket_id=ticket_id,
        )
    if not recipients and department_id is None:
        return notes
    default_locale = get_settings().default_locale
    owners: list[ColumnElement[bool]] = [
        NotificationPreference.user_id.in_([u.id for u in recipients])
    ]
    if department_id is not None:
        owners.append(NotificationPreference.department_id == department_id)
    prefs = (
        await session.scalars(
            select(NotificationPreference)
            .where(NotificationPreference.is_active.is_(True), or_(*owners))
            .order_by(NotificationPreference.id)
        )
    ).all()
    by_user = {n.user_id: n for n in notes}
    locales = {u.id: u.locale or default_locale for u in recipients}
    event_key = key or (f"n{notes[0].id}" if notes else f"{kind}:{ticket_id}:{uuid4().hex}")
    deliveries = []
    for pref in prefs:
        if pref.kinds and kind not in pref.kinds:
            continue
        owner: Notification | None = by_user.get(pref.user_id) if pref.user_id is not None else None
        if owner is not None:
            dedupe = f"n{owner.id}:p{pref.id}"
        elif pref.user_id is not None:  # the bell is muted for this kind, the channel is not
            dedupe = f"{event_key}:u{pref.user_id}:p{pref.id}"[:120]
        else:
            dedupe = f"{event_key}:d{pref.id}"[:120]
        deliveries.append(
            NotificationDelivery(
                dedupe_key=dedupe,
                notification_id=owner.id if owner else None,
                preference_id=pref.id,
                ticket_id=ticket_id,
                channel=pref.channel,
                target=pref.target_hint,
                kind=kind,
                message=message,
                params=params,
                locale=locales.get(pref.user_id or -1, default_locale),
                status=DeliveryStatus.PENDING,
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.add_all(deliveries)
    await session.flush()
    for delivery in deliveries:
        record_job(session, delivery_job(delivery.id))
    return notes


@dataclass(frozen=True)
class NotificationItem:
    """A notification as the bell's list shows it (the template renders message + params)."""

    id: int
    kind: str
    message: str
    params: dict[str, Any]
    url: str | None
    created_at: datetime
    unread: bool


@dataclass(frozen=True)
class Inbox:
    unread: int
    items: list[NotificationItem] = field(default_factory=list)


async def unread_count(session: AsyncSession, user_id: int) -> int:
    """Unread notifications of one user (indexed: user_id, read_at)."""
    stmt = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(await session.scalar(stmt) or 0)


async def inbox(session: AsyncSession, actor: Actor, *, limit: int = RECENT_LIMIT) -> Inbox:
    """The signed-in user's latest notifications, unread first, and the unread count."""
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    rows = (
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == actor.user_id)
            .order_by(Notification.read_at.is_not(None), Notification.id.desc())
            .limit(limit)
        )
    ).all()
    items = [
        NotificationItem(
            n.id,
            n.kind,
            n.message,
            dict(n.params or {}),
            ticket_url(n.params.get("number") if n.params else None),
            n.created_at,
            n.read_at is None,
        )
        for n in rows
    ]
    return Inbox(await unread_count(session, actor.user_id), items)


async def mark_read(session: AsyncSession, actor: Actor, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) notification of the actor read; returns how many."""
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    stmt = update(Notification).where(
        Notification.user_id == actor.user_id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        note = await session.get(Notification, notification_id)
        if note is None or note.user_id != actor.user_id:
            raise NotFound(N_("Notification not found."))
        stmt = stmt.where(Notification.id == notification_id)
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


# --- channel preferences --------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelInput:
    """A new channel from the form: ``scope`` is ``"me"`` or a department id."""

    channel: str
    target: str = ""
    secret: str = ""
    kinds: Sequence[str] = ()
    scope: str = "me"


@dataclass(frozen=True)
class ChannelItem:
    id: int
    channel: DeliveryChannel
    channel_label: str
    target_hint: str
    kinds: list[str]
    has_secret: bool
    department_id: int | None
    department_name: str | None
    can_edit: bool


@dataclass(frozen=True)
class ChannelsView:
    mine: list[ChannelItem]
    departments: list[ChannelItem]
    manageable_departments: list[Department]
    channel_choices: list[tuple[DeliveryChannel, str]]
    kind_choices: list[tuple[str, str]]
    recent: list[NotificationDelivery]
    status_labels: dict[DeliveryStatus, str] = field(
        default_factory=lambda: dict(DELIVERY_STATUS_LABELS)
    )
    channel_labels: dict[DeliveryChannel, str] = field(default_factory=lambda: dict(CHANNEL_LABELS))
    # Delivery details (response codes, connection errors) only for admins: for anyone else
    # they would tell what answers at an address.
    show_details: bool = False


def _can_manage_department(actor: Actor, department_id: int) -> bool:
    return actor.is_admin or (actor.is_lead and actor.department_id == department_id)


async def _manageable_departments(session: AsyncSession, actor: Actor) -> list[Department]:
    stmt = select(Department).order_by(Department.code)
    if not actor.is_admin:
        if not actor.is_lead or actor.department_id is None:
            return []
        stmt = stmt.where(Department.id == actor.department_id)
    return list((await session.scalars(stmt)).all())


def _item(
    pref: NotificationPreference, dept: Department | None, can_edit: bool, locale: str
) -> ChannelItem:
    name = None
    if dept is not None:
        name = dept.name_zh if locale == "zh_CN" else dept.name_en
    return ChannelItem(
        pref.id,
        DeliveryChannel(pref.channel),
        CHANNEL_LABELS[DeliveryChannel(pref.channel)],
        pref.target_hint,
        list(pref.kinds or []),
        pref.secret_enc is not None,
        pref.department_id,
        name,
        can_edit,
    )


async def channels_view(
    session: AsyncSession, actor: Actor, *, locale: str = "zh_CN"
) -> ChannelsView:
    """The actor's own channels, the department channels they may see, recent deliveries."""
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    manageable = await _manageable_departments(session, actor)
    visible_depts = {d.id for d in manageable}
    if actor.department_id is not None:
        visible_depts.add(actor.department_id)
    prefs = (
        await session.scalars(
            select(NotificationPreference)
            .where(
                or_(
                    NotificationPreference.user_id == actor.user_id,
                    NotificationPreference.department_id.in_(visible_depts or {-1}),
                )
            )
            .order_by(NotificationPreference.id)
        )
    ).all()
    depts = {
        d.id: d
        for d in (
            await session.scalars(
                select(Department).where(Department.id.in_(visible_depts or {-1}))
            )
        ).all()
    }
    mine = [_item(p, None, True, locale) for p in prefs if p.user_id == actor.user_id]
    shared = [
        _item(
            p,
            depts.get(p.department_id or -1),
            _can_manage_department(actor, p.department_id or -1),
            locale,
        )
        for p in prefs
        if p.department_id is not None
    ]
    pref_ids = [p.id for p in prefs]
    recent = list(
        (
            await session.scalars(
                select(NotificationDelivery)
                .where(NotificationDelivery.preference_id.in_(pref_ids or [-1]))
                .order_by(NotificationDelivery.id.desc())
                .limit(20)
            )
        ).all()
    )
    return ChannelsView(
        mine,
        shared,
        manageable,
        list(CHANNEL_LABELS.items()),
        list(KINDS.items()),
        recent,
        show_details=actor.is_admin,
    )


@dataclass(frozen=True)
class KindChoice:
    """One kind on the personal settings: does it ring the bell, which channels hear it."""

    kind: str
    label: str
    bell: bool
    channels: dict[int, bool]


@dataclass(frozen=True)
class KindSettings:
    """The personal settings grid: a row per kind, a column for the bell and each channel."""

    channels: list[ChannelItem]
    rows: list[KindChoice]


def _hears(pref: NotificationPreference, kind: str) -> bool:
    return not pref.kinds or kind in pref.kinds


async def _own_channels(session: AsyncSession, user_id: int) -> list[NotificationPreference]:
    stmt = (
        select(NotificationPreference)
        .where(NotificationPreference.user_id == user_id)
        .order_by(NotificationPreference.id)
    )
    return list((await session.scalars(stmt)).all())


async def kind_settings(
    session: AsyncSession, actor: Actor, *, locale: str = "zh_CN"
) -> KindSettings:
    """Where each kind goes for the signed-in person (default: everything to the bell)."""
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    user = await session.get(User, actor.user_id)
    if user is None:
        raise Forbidden(N_("Please sign in."))
    prefs = await _own_channels(session, actor.user_id)
    muted = set(user.bell_muted_kinds or [])
    rows = [
        KindChoice(kind, KINDS[kind], kind not in muted, {p.id: _hears(p, kind) for p in prefs})
        for kind in PERSONAL_KINDS
    ]
    return KindSettings([_item(p, None, True, locale) for p in prefs], rows)


async def save_kind_settings(
    session: AsyncSession,
    actor: Actor,
    *,
    bell: Iterable[str],
    channels: Mapping[int, Iterable[str]],
) -> None:
    """Save the grid: the kinds that ring the bell, and per own channel the kinds it hears.

    A channel with every kind ticked hears all kinds (also those added later); one with none
    ticked only hears its test messages.
    """
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    user = await session.get(User, actor.user_id)
    if user is None:
        raise Forbidden(N_("Please sign in."))
    rung = set(bell)
    chosen = {pref_id: set(kinds) for pref_id, kinds in channels.items()}
    if any(k not in PERSONAL_KINDS for k in rung.union(*chosen.values())):
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"kinds": N_("Unknown notification kind.")},
        )
    prefs = {p.id: p for p in await _own_channels(session, actor.user_id)}
    if any(pref_id not in prefs for pref_id in chosen):
        raise NotFound(N_("Channel not found."))
    user.bell_muted_kinds = [k for k in PERSONAL_KINDS if k not in rung]
    for pref_id, pref in prefs.items():
        kinds = chosen.get(pref_id, set())
        if kinds >= set(PERSONAL_KINDS):
            pref.kinds = []
        else:
            pref.kinds = [k for k in PERSONAL_KINDS if k in kinds] or [KIND_TEST]
    await session.flush()


async def _check_url(url: str) -> str:
    """A webhook address as typed, if Kefu may ever post to it (https; http only for a host
    an admin allow-listed; never a loopback, private, link-local or metadata address)."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > URL_MAX or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={"target": N_("Enter the webhook address (https://).")},
        )
    try:
        await channels.check_target(url, get_settings().delivery)
    except channels.UnsafeTarget as exc:
        log.info("webhook address refused: %s", exc)
        raise ValidationFailed(
            N_("Please correct the highlighted fields."),
            fields={
                "target": N_("This address cannot be used: it must be https:// on a public host.")
            },
        ) from None
    return url


async def add_channel(
    session: AsyncSession, actor: Actor, data: ChannelInput
) -> NotificationPreference:
    """Add a channel for the actor or (leads for theirs, admins for any) a department."""
    if actor.user_id is None:
        raise Forbidden(N_("Please sign in."))
    errors: dict[str, str] = {}
    try:
        channel = DeliveryChannel(data.channel)
    except ValueError:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={"channel": N_("Unknown channel.")}
        ) from None
    kinds = [k for k in dict.fromkeys(data.kinds) if k]
    if any(k not in KINDS for k in kinds):
        errors["kinds"] = N_("Unknown notification kind.")
    department_id: int | None = None
    if data.scope != "me":
        if (scope_id := ids.digits(data.scope)) is None:
            errors["scope"] = N_("Unknown department.")
        else:
            department_id = scope_id
            if await session.get(Department, department_id) is None:
                raise NotFound(N_("Department not found."))
            if not _can_manage_department(actor, department_id):
                raise Forbidden(N_("You do not have permission to do that."))
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    target = data.target.strip()
    if channel is DeliveryChannel.EMAIL:
        if not target and department_id is None:
            user = await session.get(User, actor.user_id)
            target = (user.email or "") if user else ""
        if not target:
            raise ValidationFailed(
                N_("Please correct the highlighted fields."),
                fields={"target": N_("Enter an email address.")},
            )
        try:
            target = normalize_email(target)
        except ValidationFailed:
            raise ValidationFailed(
                N_("Please correct the highlighted fields."),
                fields={"target": N_("Enter a valid email address.")},
            ) from None
        hint = mask_email(target)
    else:
        target = await _check_url(target)
        hint = channels.mask_url(target)
    secret = data.secret.strip()
    if len(secret) > 500:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={"secret": N_("Too long.")}
        )
    cipher = cipher_for(get_settings().encryption_keys)
    pref = NotificationPreference(
        user_id=None if department_id else actor.user_id,
        department_id=department_id,
        channel=channel,
        kinds=kinds,
        target_enc=cipher.encrypt(target),
        target_hint=hint,
        secret_enc=cipher.encrypt(secret) if secret else None,
        is_active=True,
    )
    session.add(pref)
    await session.flush()
    return pref


async def _editable_pref(
    session: AsyncSession, actor: Actor, pref_id: int
) -> NotificationPreference:
    pref = await session.get(NotificationPreference, pref_id)
    if pref is None:
        raise NotFound(N_("Channel not found."))
    if pref.user_id is not None and pref.user_id != actor.user_id:
        raise NotFound(N_("Channel not found."))
    if pref.department_id is not None and not _can_manage_department(actor, pref.department_id):
        raise Forbidden(N_("You do not have permission to do that."))
    return pref


async def remove_channel(session: AsyncSession, actor: Actor, pref_id: int) -> None:
    """Delete a channel the actor may manage; its delivery log stays."""
    pref = await _editable_pref(session, actor, pref_id)
    await session.delete(pref)
    await session.flush()


async def send_test(session: AsyncSession, actor: Actor, pref_id: int) -> NotificationDelivery:
    """Queue a test message to one channel (to check a robot's address and signing)."""
    pref = await _editable_pref(session, actor, pref_id)
    now = utcnow()
    delivery = NotificationDelivery(
        dedupe_key=f"test:{pref.id}:{now.timestamp()}",
        preference_id=pref.id,
        channel=pref.channel,
        target=pref.target_hint,
        kind=KIND_TEST,
        message=N_("This is a test message from Kefu."),
        params={},
        locale=get_settings().default_locale,
        status=DeliveryStatus.PENDING,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(delivery)
    await session.flush()
    record_job(session, delivery_job(delivery.id))
    return delivery


# --- delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    """What the job should do next: nothing (``retry_in`` None) or retry after a wait."""

    status: DeliveryStatus
    retry_in: float | None = None


async def _resolve_target(
    session: AsyncSession, pref: NotificationPreference
) -> tuple[str, str | None]:
    """The channel's decrypted address (a personal email channel without one: the
    account's email) and signing secret."""
    cipher = cipher_for(get_settings().encryption_keys)
    target = cipher.decrypt(pref.target_enc) if pref.target_enc else ""
    if not target and pref.user_id is not None:
        user = await session.get(User, pref.user_id)
        target = (user.email or "") if user else ""
    secret = cipher.decrypt(pref.secret_enc) if pref.secret_enc else None
    return target, secret


def message_for(delivery: NotificationDelivery) -> channels.Message:
    """The delivery's message rendered in its locale, with a link to the ticket."""
    number = (delivery.params or {}).get("number")
    title = render(KINDS.get(delivery.kind, N_("Notification")), {}, delivery.locale)
    return channels.Message(
        title=f"{render(N_('Kefu'), {}, delivery.locale)} · {title}",
        text=render(delivery.message, dict(delivery.params or {}), delivery.locale),
        url=ticket_url(number),
        kind=delivery.kind,
        ticket_number=number,
        params=dict(delivery.params or {}),
        created_at=delivery.created_at.isoformat(),
    )


async def deliver(
    session: AsyncSession, delivery_id: int, *, now: datetime | None = None
) -> DeliveryOutcome:
    """Make one attempt at a delivery and log it on the row (idempotent once sent or failed).

    A failure that may clear up is retried after :func:`channels.backoff` until
    ``max_attempts`` attempts have failed; a permanent one (4xx, no address) fails at once.
    """
    settings = get_settings()
    delivery = await session.get(NotificationDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
        return DeliveryOutcome(delivery.status if delivery else DeliveryStatus.FAILED)
    pref = (
        await session.get(NotificationPreference, delivery.preference_id)
        if delivery.preference_id is not None
        else None
    )
    if pref is None:
        attempt = channels.Attempt(False, None, "channel removed", retry=False)
    else:
        target, secret = await _resolve_target(session, pref)
        if not target:
            attempt = channels.Attempt(False, None, "no address", retry=False)
        else:
            attempt = await channels.send(
                DeliveryChannel(delivery.channel),
                target,
                message_for(delivery),
                secret,
                settings.smtp,
                settings.delivery,
            )
    now = now or utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = attempt.status_code
    if attempt.ok:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.last_error = None
        delivery.next_attempt_at = None
        return DeliveryOutcome(DeliveryStatus.SENT)
    delivery.last_error = attempt.error
    # The detail (status, connection error, refusal) is for admins: the log and the admin's
    # view; the person who added the channel only sees that it could not be delivered.
    log.warning(
        "notification delivery %s (%s) failed: %s", delivery.id, delivery.channel, attempt.error
    )
    if attempt.retry and delivery.attempts < settings.delivery.max_attempts:
        wait = channels.backoff(delivery.attempts, settings.delivery)
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        return DeliveryOutcome(DeliveryStatus.RETRYING, wait)
    delivery.status = DeliveryStatus.FAILED
    delivery.next_attempt_at = None
    return DeliveryOutcome(DeliveryStatus.FAILED)


SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 500


async def requeue_lost_deliveries(session: AsyncSession, now: datetime) -> int:
    """Enqueue again deliveries whose attempt is overdue by more than the grace period
    (their job was lost); the job id is the same, so a live job is not duplicated."""
    stmt = (
        select(NotificationDelivery.id)
        .where(
            NotificationDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
            NotificationDelivery.next_attempt_at <= now - SWEEP_GRACE,
        )
        .order_by(NotificationDelivery.next_attempt_at)
        .limit(SWEEP_BATCH)
    )
    ids = list((await session.scalars(stmt)).all())
    for delivery_id in ids:
        record_job(session, delivery_job(delivery_id))
    return len(ids)
