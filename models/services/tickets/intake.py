"""Registering an inquiry from any channel: agent form, customer portal, API.

One path for all of them: validate everything first (so nothing is written half-way), find or
register the customer (de-duplicated on the normalized phone/email), then create the pending
ticket — which enqueues triage and puts the card on every open board once committed.

Idempotency: a caller-supplied key (the portal form's hidden key, the API's
``Idempotency-Key`` header, namespaced per source) makes a repeated submission return the
ticket the first one created. The tracking token of such a ticket is derived from the key
with the server secret, so a repeat can show the very same tracking link although only the
token's hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.customer import Customer
from models.db import discard_side_effects
from models.enums import Channel, CustomerLevel, CustomerType, TicketStatus, Urgency
from models.services.common.actor import Actor
from models.services.common.crypto import new_token, token_hash
from models.services.common.errors import N_, Conflict, NotFound, ValidationFailed
from models.services.customers import registry
from models.services.tickets import commands
from models.settings import get_settings
from models.ticket import Ticket

log = logging.getLogger(__name__)

AGENT_CHANNELS: tuple[Channel, ...] = (
    Channel.PHONE,
    Channel.VISIT,
    Channel.ONLINE_CHAT,
    Channel.EMAIL,
    Channel.SOCIAL_MEDIA,
    Channel.REFERRAL,
)
API_CHANNELS: tuple[Channel, ...] = (
    Channel.API,
    Channel.SOCIAL_MEDIA,
    Channel.ONLINE_CHAT,
    Channel.EMAIL,
    Channel.REFERRAL,
)
ORDER_NUMBER_MAX = 64
DEDUP_WINDOW = timedelta(minutes=10)
FORM_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class InquiryInput:
    """An inquiry as a channel hands it over; enum fields arrive as strings and are checked
    here, so every problem comes back as one localized, per-field error."""

    description: str
    channel: str
    name: str = ""
    phone: str | None = None
    email: str | None = None
    customer_id: int | None = None
    customer_type: str = CustomerType.INDIVIDUAL.value
    urgency: str = Urgency.NORMAL.value
    order_number: str | None = None
    # Already namespaced and hashed (see :func:`idempotency_key`).
    idempotency_key: str | None = None
    allowed_channels: tuple[Channel, ...] = AGENT_CHANNELS
    require_contact: bool = False
    with_tracking_link: bool = False
    api_key_id: int | None = None
    # The portal and the API: a contact match under another name is filed as a new customer
    # marked "possible duplicate" (see registry.find_or_register); staff channels and mail
    # (the sender's address identifies them) keep the plain contact match.
    match_names: bool = False
    # A key seen again with a different description: refuse (API) or treat as new (portal).
    key_reuse_conflicts: bool = False
    # Forms a person fills (portal, staff intake): the same description for the same contact
    # (or customer) within DEDUP_WINDOW is the ticket already registered, whatever its key —
    # Back re-renders the form with a fresh key, so the key alone misses that repeat.
    dedupe_recent: bool = False


@dataclass(frozen=True)
class InquiryResult:
    ticket: Ticket
    customer_id: int
    customer_number: str
    customer_name: str
    customer_created: bool
    tracking_token: str | None
    repeated: bool


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found while an agent types, contacts masked."""

    id: int
    number: str
    name: str
    level: CustomerLevel
    is_key_customer: bool
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class InquiryStatus:
    """What another channel may read about an inquiry it created."""

    number: str
    status: TicketStatus
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


# --- keys and tokens --------------------------------------------------------------------


def idempotency_key(namespace: str, raw: str | None) -> str | None:
    """The stored key for a caller's raw key: sha256 of ``namespace:raw`` (64 hex chars)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    return hashlib.sha256(f"{namespace}:{raw}".encode()).hexdigest()


def form_key(raw: str | None) -> str | None:
    """A form's hidden idempotency key if well-formed (else the submission has none)."""
    raw = (raw or "").strip()
    return raw if FORM_KEY_RE.match(raw) else None


def new_form_key() -> str:
    return new_token()


def tracking_token_for(stored_key: str) -> str:
    """The tracking token of the ticket created under ``stored_key`` (unguessable: HMAC with
    the server secret)."""
    digest = hmac.new(
        get_settings().secret_key.encode(), f"kefu-tracking:{stored_key}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    channel: Channel
    urgency: Urgency
    customer_type: CustomerType
    description: str
    order_number: str | None


def _check(data: InquiryInput) -> _Checked:
    """Every field at once; raises ValidationFailed before anything is written."""
    errors: dict[str, str] = {}
    limit = get_settings().description_max_length
    description = (data.description or "").strip()
    if not description:
        errors["description"] = N_("Please describe your request.")
    elif len(description) > limit:
        errors["description"] = N_("Too long.")
    channel = _enum(Channel, data.channel)
    if channel is None or channel not in data.allowed_channels:
        errors["channel"] = N_("Choose a channel from the list.")
    urgency = _enum(Urgency, data.urgency)
    if urgency is None:
        errors["urgency"] = N_("Choose an urgency from the list.")
    customer_type = _enum(CustomerType, data.customer_type)
    if customer_type is None:
        errors["customer_type"] = N_("Choose a customer type from the list.")
    order_number = (data.order_number or "").strip() or None
    if order_number and len(order_number) > ORDER_NUMBER_MAX:
        errors["order_number"] = N_("Too long.")
    if data.customer_id is None:
        errors.update(
            registry.field_errors(
                registry.CustomerInput(name=data.name, phone=data.phone, email=data.email)
            )
        )
        has_contact = bool((data.phone or "").strip() or (data.email or "").strip())
        if data.require_contact and not has_contact:
            errors.setdefault("phone", N_("Enter a phone number or an email address."))
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    assert channel and urgency and customer_type
    return _Checked(channel, urgency, customer_type, description, order_number)


def _enum(kind: type, value: str | None):  # type: ignore[no-untyped-def]
    try:
        return kind(value)
    except ValueError:
        return None


# --- registration -----------------------------------------------------------------------


class _LostRace(Exception):
    """An identical submission (same idempotency key) committed while we were writing."""


async def _by_key(session: AsyncSession, key: str) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.idempotency_key == key))


async def _repeat(session: AsyncSession, ticket: Ticket, data: InquiryInput) -> InquiryResult:
    token = None
    if data.with_tracking_link and ticket.idempotency_key:
        candidate = tracking_token_for(ticket.idempotency_key)
        if ticket.tracking_token_hash == token_hash(candidate):
            token = candidate
    customer = await registry.get(session, ticket.customer_id)
    return InquiryResult(
        ticket, customer.id, customer.number, customer.name, False, token, repeated=True
    )


async def _recent_same(
    session: AsyncSession, data: InquiryInput, checked: _Checked
) -> Ticket | None:
    """The ticket the same form content registered moments ago for the same customer (by
    id, or by contact under the same name), if any (see ``dedupe_recent``)."""
    stmt = (
        select(Ticket)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(
            Ticket.description == checked.description,
            Ticket.channel == checked.channel,
            Ticket.created_at >= utcnow() - DEDUP_WINDOW,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.id.desc())
    )
    if data.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == data.customer_id)
    else:
        _, phone, email = registry.normalized(
            registry.CustomerInput(name=data.name, phone=data.phone, email=data.email)
        )
        clause = registry.contact_clause(phone, email)
        if clause is None:
            return None
        stmt = stmt.where(clause)
    for ticket in (await session.scalars(stmt.limit(5))).all():
        customer = await registry.get(session, ticket.customer_id)
        if data.customer_id is not None or registry.same_name(data.name, customer.name):
            return ticket
    return None


async def register_inquiry(
    session: AsyncSession, actor: Actor, data: InquiryInput
) -> InquiryResult:
    """Find or register the customer and create the pending ticket (or return the ticket a
    submission with the same idempotency key — or, ``dedupe_recent``, the same content
    moments ago — already created)."""
    checked = _check(data)
    key = data.idempotency_key
    if data.dedupe_recent:
        recent = await _recent_same(session, data, checked)
        if recent is not None and (not key or recent.idempotency_key != key):
            log.info("the same inquiry was submitted again; returning %s", recent.number)
            return await _repeat(session, recent, data)
    if key:
        existing = await _by_key(session, key)
        if existing is not None:
            if existing.description == checked.description:
                return await _repeat(session, existing, data)
            if data.key_reuse_conflicts:
                raise Conflict(N_("This idempotency key was already used for another inquiry."))
            key = None  # the portal's back button: a new inquiry from an old form
    created = False
    if data.customer_id is not None:
        customer: Customer = await registry.get(session, data.customer_id)
    else:
        customer, created = await registry.find_or_register(
            session,
            actor,
            registry.CustomerInput(
                name=data.name,
                phone=data.phone,
                email=data.email,
                type=checked.customer_type,
                source_channel=checked.channel,
            ),
            match_names=data.match_names,
        )
    # Asking for a token tells a new ticket (token) from one another submission with the
    # same key committed since our check above (None): that one is a lost race.
    ticket, fresh = await commands.create(
        session,
        actor,
        commands.TicketInput(
            customer_id=customer.id,
            description=checked.description,
            channel=checked.channel,
            urgency=checked.urgency,
            order_number=checked.order_number,
            idempotency_key=key,
            with_tracking_token=True,
        ),
    )
    if fresh is None:
        raise _LostRace
    token = None
    if data.with_tracking_link:
        token = tracking_token_for(key) if key else fresh
    await commands.set_tracking(session, actor, ticket, token, api_key_id=data.api_key_id)
    return InquiryResult(
        ticket, customer.id, customer.number, customer.name, created, token, repeated=False
    )


async def register_once(session: AsyncSession, actor: Actor, data: InquiryInput) -> InquiryResult:
    """:func:`register_inquiry`, safe against two identical submissions racing each other:
    the loser (its insert hits the unique idempotency key, or it finds the winner's ticket
    only once writing) rolls back everything it wrote — a duplicate customer included — and
    returns the winner's ticket."""
    try:
        return await register_inquiry(session, actor, data)
    except (IntegrityError, _LostRace):
        if not data.idempotency_key:
            raise
        log.info("two submissions with one idempotency key raced; returning the first")
        await session.rollback()
        discard_side_effects(session)
        existing = await _by_key(session, data.idempotency_key)
        if existing is None:
            raise
        return await _repeat(session, existing, data)


# --- agent helpers ----------------------------------------------------------------------


async def find_customers(session: AsyncSession, query: str, limit: int = 8) -> list[CustomerMatch]:
    """Customers matching an agent's search (name, number, phone or email), masked."""
    query = query.strip()[:100]
    if len(query) < 2:
        return []
    found = await registry.search(session, query=query, limit=limit)
    matches = []
    for customer in found:
        row = registry.row_for(customer)
        matches.append(
            CustomerMatch(
                id=row.id,
                number=row.number,
                name=row.name,
                level=row.level,
                is_key_customer=row.is_key_customer,
                phone=row.phone,
                email=row.email,
            )
        )
    return matches


async def ticket_for_api(session: AsyncSession, api_key_id: int, number: str) -> Ticket:
    """The inquiry with this number, for the API key that created it (others get 404, not
    403, so numbers cannot be probed)."""
    ticket = await session.scalar(
        select(Ticket).where(Ticket.number == number.strip().upper()[:24])
    )
    if ticket is None or ticket.api_key_id != api_key_id:
        raise NotFound(N_("No inquiry with this number."))
    return ticket


async def status_for_api(session: AsyncSession, api_key_id: int, number: str) -> InquiryStatus:
    """An inquiry's status for the API key that created it (a merged duplicate answers with
    the primary it was merged into: its number, its status)."""
    ticket = await commands.resolve_merged(
        session, await ticket_for_api(session, api_key_id, number)
    )
    return InquiryStatus(
        number=ticket.number,
        status=TicketStatus(ticket.status),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
    )
