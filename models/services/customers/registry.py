"""Record 1: registering, finding, de-duplicating and protecting customers.

Contact details never reach the database in clear: phone and email are stored as AES-GCM
ciphertexts naming their key, beside a keyed hash of the normalized value that finds and
de-duplicates them. Screens show masks; leads and admins may reveal, agents as the admin's
contact policy allows (by default the customers their department is serving), and every
reveal is audited. Key rotation re-encrypts the rows in batches while the app keeps running, because
decryption accepts any key of the ring and lookups try every key's hash.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.base import utcnow
from models.customer import Customer
from models.enums import (
    Channel,
    ContactReveal,
    CustomerLevel,
    CustomerType,
    FollowUpMethod,
    Industry,
    Priority,
    RequestType,
    TicketStatus,
)
from models.followup import FollowUp
from models.services.admin import site
from models.services.common import audit, delivery
from models.services.common import search as search_index
from models.services.common.actor import Actor
from models.services.common.crypto import (
    Cipher,
    _decode_key,
    cipher_for,
    mask_email,
    mask_phone,
    normalize_email,
    normalize_phone,
)
from models.services.common.delivery import ReplyDelivery
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.common.numbering import next_number
from models.services.sla import policy
from models.settings import encryption_keys_in_env, get_settings, reset_settings
from models.survey import Survey
from models.ticket import Ticket
from models.user import User

log = logging.getLogger(__name__)

NAME_MAX = 200
CONTACT_PERSON_MAX = 100
NOTES_MAX = 2000
PAGE_SIZE = 50
HISTORY_LIMIT = 200
UNREADABLE = "⚠"
OPEN_STATES = policy.OPEN_STATES
# An agent may still reveal a customer's contacts this long after their ticket was completed
# or closed: the call-back after a fix, a question about the survey.
REVEAL_AFTER_DONE = timedelta(days=30)


@dataclass(frozen=True)
class CustomerInput:
    name: str
    phone: str | None = None
    email: str | None = None
    type: CustomerType = CustomerType.INDIVIDUAL
    contact_person: str | None = None
    industry: Industry | None = None
    level: CustomerLevel = CustomerLevel.NORMAL
    source_channel: Channel = Channel.PHONE
    notes: str | None = None


@dataclass(frozen=True)
class CustomerEdit:
    """Changes to a customer's record; a contact left as None (or blank) is kept as it is."""

    name: str
    type: CustomerType = CustomerType.INDIVIDUAL
    contact_person: str | None = None
    industry: Industry | None = None
    notes: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Contacts:
    phone: str | None
    email: str | None
    # Set only once revealed: click-to-call and click-to-mail.
    phone_href: str | None = None
    email_href: str | None = None


@dataclass(frozen=True)
class CustomerFilters:
    query: str = ""
    level: CustomerLevel | None = None
    industry: Industry | None = None
    type: CustomerType | None = None


@dataclass(frozen=True)
class CustomerRow:
    """One line of the registry list, contacts already masked."""

    id: int
    number: str
    name: str
    type: CustomerType
    level: CustomerLevel
    industry: Industry | None
    phone: str | None
    email: str | None
    registered_at: datetime
    is_key_customer: bool


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    offset: int
    next_offset: int | None
    prev_offset: int | None


@dataclass(frozen=True)
class FollowUpEntry:
    at: datetime
    method: FollowUpMethod
    discussed: str
    customer_feedback: str | None
    next_step: str | None
    by_customer: bool
    author: str | None
    visible_to_customer: bool
    is_resolution: bool
    id: int = 0
    delivery: ReplyDelivery | None = None  # an emailed reply: queued, sent or failed


@dataclass(frozen=True)
class SurveyEntry:
    ticket_number: str
    submitted_at: datetime | None
    speed_score: int | None
    solution_score: int | None
    attitude_score: int | None
    average: float | None
    comment: str | None
    suggestion: str | None


@dataclass(frozen=True)
class TicketEntry:
    id: int
    number: str
    title: str
    status: TicketStatus
    is_open: bool
    request_type: RequestType | None
    priority: Priority
    channel: Channel
    created_at: datetime
    done_at: datetime | None
    follow_ups: list[FollowUpEntry] = field(default_factory=list)
    survey: SurveyEntry | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """The customer page: the record, masked contacts, and the whole service history."""

    id: int
    number: str
    name: str
    type: CustomerType
    level: CustomerLevel
    industry: Industry | None
    contact_person: str | None
    source_channel: Channel
    registered_at: datetime
    notes: str | None
    contacts: Contacts
    can_reveal: bool
    can_change_level: bool
    tickets: list[TicketEntry]
    surveys: list[SurveyEntry]
    ticket_count: int
    open_count: int
    history_truncated: bool
    average_score: float | None
    duplicate: DuplicateMark | None = None  # "possible duplicate" of another customer
    can_merge: bool = False  # leads and admins merge records


# --- the keyring ------------------------------------------------------------------------

_key_file_mtime: int | None = None


def current_cipher() -> Cipher:
    """The keyring's cipher, re-read when ``kefu keys rotate`` has rewritten the key file.

    With keys in ``KEFU_ENCRYPTION_KEY`` a process keeps its ring until restarted (the
    rotation procedure in README/report covers that case).
    """
    global _key_file_mtime
    settings = get_settings()
    if not encryption_keys_in_env():
        try:
            mtime = settings.encryption_key_file.stat().st_mtime_ns
        except OSError:
            mtime = None
        if _key_file_mtime is not None and mtime != _key_file_mtime:
            reset_settings()
            settings = get_settings()
        _key_file_mtime = mtime
    return cipher_for(settings.encryption_keys)


def ring_ids() -> tuple[str, ...]:
    """The key ids of the current keyring, primary first (as ciphertexts name them)."""
    return tuple(
        hashlib.sha256(_decode_key(text)).hexdigest()[:8] for text in get_settings().encryption_keys
    )


def _cipher() -> Cipher:
    return current_cipher()


def decrypt(token: str | None) -> str | None:
    """Plaintext of a stored ciphertext; a key missing from this process's ring is re-read
    once (another process may just have rotated), and an unreadable value is logged, not
    raised, so one damaged row never takes a page down."""
    if not token:
        return None
    try:
        return _cipher().decrypt(token)
    except ValueError:
        reset_settings()
        try:
            return _cipher().decrypt(token)
        except (ValueError, InvalidTag):
            log.error("a contact is encrypted with a key not in the keyring")
            return UNREADABLE
    except InvalidTag:
        log.error("a contact ciphertext failed authentication")
        return UNREADABLE


# --- validation and registration --------------------------------------------------------


def validate(data: CustomerInput) -> tuple[str, str | None, str | None]:
    """Check and normalize; every problem is reported at once, per field."""
    errors = field_errors(data)
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return normalized(data)


def field_errors(data: CustomerInput | CustomerEdit) -> dict[str, str]:
    """The per-field problems of a customer's details (empty when all is well)."""
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = N_("Required.")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("Too long.")
    if data.phone and data.phone.strip():
        try:
            normalize_phone(data.phone)
        except ValidationFailed:
            errors["phone"] = N_("Enter a valid phone number.")
    if data.email and data.email.strip():
        try:
            normalize_email(data.email)
        except ValidationFailed:
            errors["email"] = N_("Enter a valid email address.")
    if data.contact_person and len(data.contact_person.strip()) > CONTACT_PERSON_MAX:
        errors["contact_person"] = N_("Too long.")
    if data.notes and len(data.notes.strip()) > NOTES_MAX:
        errors["notes"] = N_("Too long.")
    return errors


def normalized(data: CustomerInput | CustomerEdit) -> tuple[str, str | None, str | None]:
    """(name, phone, email) normalized; call after :func:`field_errors` found nothing."""
    phone = normalize_phone(data.phone) if data.phone and data.phone.strip() else None
    email = normalize_email(data.email) if data.email and data.email.strip() else None
    return data.name.strip(), phone, email


async def find_by_contact(
    session: AsyncSession, *, phone: str | None = None, email: str | None = None
) -> Customer | None:
    """The customer whose normalized phone or email matches (under any key of the ring)."""
    clause = contact_clause(phone, email)
    if clause is None:
        return None
    stmt = (
        select(Customer)
        .where(clause, Customer.merged_into_id.is_(None))
        .order_by(Customer.id)
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


def contact_clause(phone: str | None, email: str | None) -> ColumnElement[bool] | None:
    """Customers whose normalized phone or email is one of these (None: no contact given)."""
    cipher = _cipher()
    clauses = []
    if phone:
        clauses.append(Customer.phone_hash.in_(cipher.blind_indexes("phone", phone)))
    if email:
        clauses.append(Customer.email_hash.in_(cipher.blind_indexes("email", email)))
    return or_(*clauses) if clauses else None


async def register(session: AsyncSession, actor: Actor, data: CustomerInput) -> Customer:
    """Create a customer record with a CS number; contact details encrypted."""
    name, phone, email = validate(data)
    cipher = _cipher()
    settings = get_settings()
    now = utcnow()
    customer = Customer(
        number=await next_number(session, "CS", 3, now, settings.timezone),
        type=data.type,
        name=name,
        contact_person=(data.contact_person or "").strip() or None,
        phone_enc=cipher.encrypt(phone) if phone else None,
        phone_hash=cipher.blind_index("phone", phone) if phone else None,
        email_enc=cipher.encrypt(email) if email else None,
        email_hash=cipher.blind_index("email", email) if email else None,
        industry=data.industry,
        level=data.level,
        source_channel=data.source_channel,
        registered_by_id=actor.user_id,
        registered_at=now,
        notes=(data.notes or "").strip() or None,
    )
    session.add(customer)
    await session.flush()
    await search_index.bulk_index_customers(
        session, cipher, [(customer.id, search_index.customer_fields(customer), phone)]
    )
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=customer.id,
        action="create",
        after={"number": customer.number},
    )
    return customer


def name_key(name: str | None) -> str:
    """A name as compared for identity: Unicode NFKC (full-width letters and digits become
    half-width), case folded, all whitespace removed ("Wang  Xiaoming", "ｗａｎｇ xiaoming"
    and "王 晓明" / "王晓明" compare equal). Traditional and simplified characters are not
    folded onto each other."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(folded.split())


def same_name(typed: str | None, recorded: str) -> bool:
    """Whether a typed name names the recorded customer; an empty typed name says nothing
    against it (the contact alone identifies the customer)."""
    key = name_key(typed)
    return not key or key == name_key(recorded)


async def find_or_register(
    session: AsyncSession, actor: Actor, data: CustomerInput, *, match_names: bool = False
) -> tuple[Customer, bool]:
    """De-duplicate on normalized phone/email; returns (customer, created).

    With ``match_names`` (the portal and the API, where anyone may type anyone's number) a
    contact match under another name (:func:`same_name`) is not that customer: the inquiry's
    own customer is registered and marked a possible duplicate of the matched one, for staff
    to look at. The matched customer's record and tickets are left as they are.
    """
    _, phone, email = validate(data)
    existing = await find_by_contact(session, phone=phone, email=email)
    if existing is None:
        return await register(session, actor, data), True
    if not match_names or same_name(data.name, existing.name):
        return existing, False
    customer = await register(session, actor, data)
    customer.duplicate_of_id = existing.id
    cipher = _cipher()
    on_phone = bool(phone) and existing.phone_hash in cipher.blind_indexes("phone", phone or "")
    customer.duplicate_match = "phone" if on_phone else "email"
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=customer.id,
        action="possible_duplicate",
        after={"duplicate_of": existing.number, "match": customer.duplicate_match},
    )
    await session.flush()
    return customer, True


@dataclass(frozen=True)
class DuplicateMark:
    """'Possible duplicate': the customer this one shares a phone or email with."""

    customer_id: int
    number: str
    match: str  # "phone" or "email"

    @property
    def label(self) -> str:
        """msgid of the mark's explanation (takes ``number``)."""
        if self.match == "phone":
            return N_("Same phone as %(number)s")
        return N_("Same email as %(number)s")


async def duplicate_mark(session: AsyncSession, customer: Customer) -> DuplicateMark | None:
    if customer.duplicate_of_id is None:
        return None
    other = await session.get(Customer, customer.duplicate_of_id)
    if other is None:
        return None
    return DuplicateMark(other.id, other.number, customer.duplicate_match or "phone")


async def dismiss_duplicate(session: AsyncSession, actor: Actor, customer_id: int) -> Customer:
    """'Not the same person': clear the possible-duplicate mark (audited; any member of staff,
    the same people who see the mark). Clearing a mark that is not there changes nothing."""
    if not actor.is_staff:
        raise Forbidden(N_("Only staff may do this."))
    customer = await get(session, customer_id)
    if customer.duplicate_of_id is None:
        return customer
    other = await session.get(Customer, customer.duplicate_of_id)
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=customer.id,
        action="not_duplicate",
        field="duplicate_of",
        before=other.number if other else None,
        after=None,
    )
    customer.duplicate_of_id = None
    customer.duplicate_match = None
    await session.flush()
    return customer


async def get(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(N_("Customer not found."))
    return customer


async def update(
    session: AsyncSession, actor: Actor, customer_id: int, data: CustomerEdit
) -> Customer:
    """Edit a customer's details; each changed field is audited (contacts only as masks).

    A new phone or email that already belongs to another customer is refused, so the
    registry stays de-duplicated.
    """
    if not actor.is_staff:
        raise Forbidden(N_("You do not have permission to do that."))
    customer = await get(session, customer_id)
    if customer.merged_into_id is not None:
        raise ValidationFailed(
            N_("%(number)s has already been merged into another record."), number=customer.number
        )
    errors = field_errors(data)
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    name, phone, email = normalized(data)
    for kind, value in (("phone", phone), ("email", email)):
        if value is None:
            continue
        other = await find_by_contact(session, **{kind: value})
        if other is not None and other.id != customer.id:
            errors[kind] = N_("Already registered for another customer.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)

    def change(field_name: str, after: object) -> None:
        before = getattr(customer, field_name)
        if before != after:
            audit.record(
                session,
                actor,
                entity_type="customer",
                entity_id=customer.id,
                action="change",
                field=field_name,
                before=before,
                after=after,
            )
            setattr(customer, field_name, after)

    searched = (search_index.customer_fields(customer), customer.phone_hash)
    change("name", name)
    change("type", data.type)
    change("contact_person", (data.contact_person or "").strip() or None)
    change("industry", data.industry)
    change("notes", (data.notes or "").strip() or None)
    cipher = _cipher()
    if phone is not None and customer.phone_hash not in cipher.blind_indexes("phone", phone):
        before = masked_contacts(customer).phone
        customer.phone_enc = cipher.encrypt(phone)
        customer.phone_hash = cipher.blind_index("phone", phone)
        audit.record(
            session,
            actor,
            entity_type="customer",
            entity_id=customer.id,
            action="change",
            field="phone",
            before=before,
            after=mask_phone(phone),
        )
    if email is not None and customer.email_hash not in cipher.blind_indexes("email", email):
        before = masked_contacts(customer).email
        customer.email_enc = cipher.encrypt(email)
        customer.email_hash = cipher.blind_index("email", email)
        audit.record(
            session,
            actor,
            entity_type="customer",
            entity_id=customer.id,
            action="change",
            field="email",
            before=before,
            after=mask_email(email),
        )
    if (search_index.customer_fields(customer), customer.phone_hash) != searched:
        await reindex(session, customer)
    await session.flush()
    return customer


async def reindex(session: AsyncSession, customer: Customer) -> None:
    """Rewrite the customer's search index rows (name, number, phone fragments) from the
    record as it is now; in the caller's transaction."""
    phone = decrypt(customer.phone_enc)
    await search_index.index_customer(
        session, _cipher(), customer, phone if phone and phone != UNREADABLE else None
    )


# --- finding ----------------------------------------------------------------------------


def _search_stmt(filters: CustomerFilters):  # type: ignore[no-untyped-def]
    stmt = select(Customer).where(Customer.merged_into_id.is_(None))
    q = filters.query.strip()
    if q:
        clauses = [Customer.name.contains(q, autoescape=True), Customer.number == q.upper()]
        cipher = _cipher()
        with suppress(ValidationFailed):
            clauses.append(
                Customer.phone_hash.in_(cipher.blind_indexes("phone", normalize_phone(q)))
            )
        if "@" in q:
            with suppress(ValidationFailed):
                clauses.append(
                    Customer.email_hash.in_(cipher.blind_indexes("email", normalize_email(q)))
                )
        stmt = stmt.where(or_(*clauses))
    if filters.level:
        stmt = stmt.where(Customer.level == filters.level)
    if filters.industry:
        stmt = stmt.where(Customer.industry == filters.industry)
    if filters.type:
        stmt = stmt.where(Customer.type == filters.type)
    return stmt.order_by(Customer.registered_at.desc(), Customer.id.desc())


async def search(
    session: AsyncSession,
    *,
    query: str = "",
    level: CustomerLevel | None = None,
    industry: Industry | None = None,
    type: CustomerType | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Customer]:
    """By name, customer number, or exact phone/email (through the lookup hash)."""
    stmt = _search_stmt(CustomerFilters(query, level, industry, type))
    return (await session.scalars(stmt.limit(limit).offset(offset))).all()


def row_for(customer: Customer) -> CustomerRow:
    contacts = masked_contacts(customer)
    level = CustomerLevel(customer.level)
    return CustomerRow(
        id=customer.id,
        number=customer.number,
        name=customer.name,
        type=CustomerType(customer.type),
        level=level,
        industry=Industry(customer.industry) if customer.industry else None,
        phone=contacts.phone,
        email=contacts.email,
        registered_at=customer.registered_at,
        is_key_customer=level is not CustomerLevel.NORMAL,
    )


async def list_page(
    session: AsyncSession,
    filters: CustomerFilters,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> CustomerPage:
    """One page of the registry, newest first, contacts masked."""
    offset = max(offset, 0)
    rows = (await session.scalars(_search_stmt(filters).offset(offset).limit(limit + 1))).all()
    return CustomerPage(
        rows=[row_for(c) for c in rows[:limit]],
        offset=offset,
        next_offset=offset + limit if len(rows) > limit else None,
        prev_offset=max(offset - limit, 0) if offset > 0 else None,
    )


# --- masking and revealing --------------------------------------------------------------


def masked_contacts(customer: Customer) -> Contacts:
    """What every screen shows: 138****5678, a***@example.com."""
    phone = decrypt(customer.phone_enc)
    email = decrypt(customer.email_enc)
    return Contacts(
        phone=mask_phone(phone) if phone and phone != UNREADABLE else phone,
        email=mask_email(email) if email and email != UNREADABLE else email,
    )


_REFUSALS = {
    ContactReveal.NEVER: N_("You may not reveal contact details."),
    ContactReveal.OWN: N_(
        "You may reveal contact details only of customers with a ticket assigned to you."
    ),
    ContactReveal.DEPARTMENT: N_(
        "You may reveal contact details only of customers with a ticket assigned to you"
        " or to your department."
    ),
}


async def _reveal_refusal(session: AsyncSession, actor: Actor, customer_id: int) -> str | None:
    """None when this person may reveal the customer's contacts, else why not (a msgid).

    Leads and admins always may. An agent may, as the site's contact policy says, when the
    customer has a ticket assigned to them (assignee or owner) — or, under the default
    policy, to their department — that is open, or was completed or closed within
    :data:`REVEAL_AFTER_DONE`. Unrouted tickets count only through their assignee.
    """
    if actor.is_lead:
        return None
    if not actor.is_staff or actor.user_id is None:
        return _REFUSALS[ContactReveal.NEVER]
    rule = await site.read_contact_reveal(session)
    if rule is ContactReveal.NEVER:
        return _REFUSALS[rule]
    mine = or_(Ticket.assignee_id == actor.user_id, Ticket.owner_id == actor.user_id)
    if rule is ContactReveal.DEPARTMENT and actor.department_id is not None:
        mine = or_(mine, Ticket.department_id == actor.department_id)
    since = utcnow() - REVEAL_AFTER_DONE
    current = or_(
        Ticket.status.in_(OPEN_STATES),
        func.coalesce(Ticket.closed_at, Ticket.resolved_at) >= since,
    )
    found = await session.scalar(
        select(Ticket.id).where(Ticket.customer_id == customer_id, mine, current).limit(1)
    )
    return None if found is not None else _REFUSALS[rule]


async def may_reveal(session: AsyncSession, actor: Actor, customer_id: int) -> bool:
    """Whether this person may reveal the customer's contacts (the Reveal button shows)."""
    return await _reveal_refusal(session, actor, customer_id) is None


def _disclose(session: AsyncSession, actor: Actor, customer: Customer) -> Contacts:
    """The plaintext contacts with their tel:/mailto: links; the reveal is audited."""
    audit.record(
        session, actor, entity_type="customer", entity_id=customer.id, action="reveal_contacts"
    )
    phone = decrypt(customer.phone_enc)
    email = decrypt(customer.email_enc)
    return Contacts(
        phone=phone,
        email=email,
        phone_href=f"tel:{phone}" if phone and phone != UNREADABLE else None,
        email_href=f"mailto:{email}" if email and email != UNREADABLE else None,
    )


def reveal_contacts(session: AsyncSession, actor: Actor, customer: Customer) -> Contacts:
    """The plaintext contacts for a lead or admin (no ticket needed); audited."""
    if not actor.is_lead:
        raise Forbidden(_REFUSALS[ContactReveal.NEVER])
    return _disclose(session, actor, customer)


async def reveal(session: AsyncSession, actor: Actor, customer_id: int) -> Contacts:
    """Load a customer and reveal their contacts (audited) to whoever the contact policy
    allows (:func:`may_reveal`); anyone else is refused and nothing is recorded."""
    refusal = await _reveal_refusal(session, actor, customer_id)
    if refusal is not None:
        raise Forbidden(refusal)
    return _disclose(session, actor, await get(session, customer_id))


# --- level ------------------------------------------------------------------------------


async def set_level(
    session: AsyncSession, actor: Actor, customer_id: int, level: CustomerLevel
) -> tuple[Customer, CustomerLevel | None]:
    """Change a customer's level (audited); returns the customer and the level it had (None:
    unchanged). Their open tickets follow through the ticket write path
    (:func:`models.services.tickets.commands.change_customer_level`, which calls this)."""
    if not actor.is_lead:
        raise Forbidden(N_("Only leads may change a customer's level."))
    customer = await get(session, customer_id)
    old = CustomerLevel(customer.level)
    if old == level:
        return customer, None
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=customer.id,
        action="change",
        field="level",
        before=str(old),
        after=str(level),
    )
    customer.level = level
    return customer, old


# --- the customer page ------------------------------------------------------------------


def _survey_entry(survey: Survey, number: str) -> SurveyEntry:
    scores = [
        s
        for s in (survey.speed_score, survey.solution_score, survey.attitude_score)
        if s is not None
    ]
    return SurveyEntry(
        ticket_number=number,
        submitted_at=survey.submitted_at,
        speed_score=survey.speed_score,
        solution_score=survey.solution_score,
        attitude_score=survey.attitude_score,
        average=round(sum(scores) / len(scores), 1) if scores else None,
        comment=survey.comment,
        suggestion=survey.suggestion,
    )


async def profile(session: AsyncSession, actor: Actor, customer_id: int) -> CustomerProfile:
    """Everything the customer page shows: record, masked contacts, tickets with their
    follow-ups and surveys (the latest :data:`HISTORY_LIMIT` tickets)."""
    customer = await get(session, customer_id)
    ticket_count, open_count = (
        await session.execute(
            select(func.count(), func.count().filter(Ticket.status.in_(OPEN_STATES))).where(
                Ticket.customer_id == customer.id
            )
        )
    ).one()
    tickets = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer.id)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(HISTORY_LIMIT)
        )
    ).all()
    ids = [t.id for t in tickets]
    numbers = {t.id: t.number for t in tickets}
    follow_ups: dict[int, list[FollowUpEntry]] = {i: [] for i in ids}
    if ids:
        rows = (
            await session.execute(
                select(FollowUp, User.display_name)
                .outerjoin(User, User.id == FollowUp.user_id)
                .where(FollowUp.ticket_id.in_(ids))
                .order_by(FollowUp.at, FollowUp.id)
            )
        ).all()
        for fu, author in rows:
            follow_ups[fu.ticket_id].append(
                FollowUpEntry(
                    at=fu.at,
                    method=FollowUpMethod(fu.method),
                    discussed=fu.discussed,
                    customer_feedback=fu.customer_feedback,
                    next_step=fu.next_step,
                    by_customer=fu.by_customer,
                    author=author,
                    visible_to_customer=fu.visible_to_customer,
                    is_resolution=fu.is_resolution,
                    id=fu.id,
                )
            )
        sent = await delivery.reply_deliveries(
            session, [f.id for items in follow_ups.values() for f in items]
        )
        for ticket_id, items in follow_ups.items():
            follow_ups[ticket_id] = [replace(f, delivery=sent.get(f.id)) for f in items]
    surveys = (
        await session.execute(
            select(Survey, Ticket.number)
            .join(Ticket, Ticket.id == Survey.ticket_id)
            .where(Survey.customer_id == customer.id)
            .order_by(Survey.created_at.desc())
        )
    ).all()
    survey_entries = [_survey_entry(s, number) for s, number in surveys]
    by_ticket = {s.ticket_id: entry for (s, _), entry in zip(surveys, survey_entries, strict=True)}
    averages = [e.average for e in survey_entries if e.average is not None]
    entries = [
        TicketEntry(
            id=t.id,
            number=numbers[t.id],
            title=t.title,
            status=TicketStatus(t.status),
            is_open=t.status in OPEN_STATES,
            request_type=RequestType(t.request_type) if t.request_type else None,
            priority=Priority(t.priority),
            channel=Channel(t.channel),
            created_at=t.created_at,
            done_at=t.resolved_at or t.closed_at,
            follow_ups=follow_ups[t.id],
            survey=by_ticket.get(t.id),
        )
        for t in tickets
    ]
    return CustomerProfile(
        id=customer.id,
        number=customer.number,
        name=customer.name,
        type=CustomerType(customer.type),
        level=CustomerLevel(customer.level),
        industry=Industry(customer.industry) if customer.industry else None,
        contact_person=customer.contact_person,
        source_channel=Channel(customer.source_channel),
        registered_at=customer.registered_at,
        notes=customer.notes,
        contacts=masked_contacts(customer),
        can_reveal=await may_reveal(session, actor, customer.id),
        can_change_level=actor.is_lead,
        tickets=entries,
        surveys=survey_entries,
        ticket_count=int(ticket_count),
        open_count=int(open_count),
        history_truncated=int(ticket_count) > len(entries),
        average_score=round(sum(averages) / len(averages), 1) if averages else None,
        duplicate=await duplicate_mark(session, customer),
        can_merge=actor.is_lead,
    )


# --- key rotation -----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsage:
    """How many stored ciphertexts each key id protects (customers and survey contacts)."""

    primary: str
    ring: tuple[str, ...]
    counts: dict[str, int]

    @property
    def stale(self) -> int:
        return sum(n for key_id, n in self.counts.items() if key_id != self.primary)


async def key_usage(session: AsyncSession) -> KeyUsage:
    """Count ciphertexts per key id (``v1:<key id>:…``): what still needs re-encrypting."""
    cipher = _cipher()
    counts: dict[str, int] = {}
    for column in (Customer.phone_enc, Customer.email_enc, Survey.contact, User.totp_secret_enc):
        # Literal positions: PostgreSQL must see the same expression in SELECT and GROUP BY.
        key_id = func.substr(column, literal_column("4"), literal_column("8"))
        stmt = select(key_id, func.count()).where(column.like("v1:%")).group_by(key_id)
        for kid, n in (await session.execute(stmt)).all():
            counts[str(kid)] = counts.get(str(kid), 0) + int(n)
    return KeyUsage(primary=cipher.primary_id, ring=ring_ids(), counts=counts)


async def reencrypt_batch(
    session: AsyncSession, *, after_id: int = 0, limit: int = 500
) -> tuple[int, int | None]:
    """Re-encrypt and re-hash one batch of customers under the primary key.

    Returns (rows rewritten, last id seen) — None when there is nothing after this batch.
    Rows are locked while rewritten (PostgreSQL), so a concurrent edit is never lost.
    """
    cipher = _cipher()
    primary = cipher.primary_id
    customers = (
        await session.scalars(
            select(Customer)
            .where(Customer.id > after_id)
            .order_by(Customer.id)
            .limit(limit)
            .with_for_update()
        )
    ).all()
    changed = 0
    for customer in customers:
        touched = False
        for kind in ("phone", "email"):
            token = getattr(customer, f"{kind}_enc")
            if not token:
                continue
            plain = cipher.decrypt(token)  # raises on a key missing from the ring: stop
            new_hash = cipher.blind_index(kind, plain)
            if cipher.key_id_of(token) != primary or getattr(customer, f"{kind}_hash") != new_hash:
                setattr(customer, f"{kind}_enc", cipher.encrypt(plain))
                setattr(customer, f"{kind}_hash", new_hash)
                touched = True
        if touched:
            await reindex(session, customer)  # phone fragments are hashed under the new key
        changed += touched
    await session.flush()
    last = customers[-1].id if customers else None
    return changed, (last if len(customers) == limit else None)


async def reencrypt_survey_contacts(session: AsyncSession, *, limit: int = 500) -> int:
    """Re-encrypt one batch of survey contacts made with an older key; returns how many."""
    cipher = _cipher()
    prefix = f"v1:{cipher.primary_id}:"
    surveys = (
        await session.scalars(
            select(Survey)
            .where(Survey.contact.like("v1:%"), ~Survey.contact.like(prefix + "%"))
            .order_by(Survey.id)
            .limit(limit)
            .with_for_update()
        )
    ).all()
    for survey in surveys:
        survey.contact = cipher.encrypt(cipher.decrypt(survey.contact or ""))
    await session.flush()
    return len(surveys)


async def create(session: AsyncSession, actor: Actor, data: CustomerInput) -> Customer:
    """Register a customer from the registry form: refused when the phone or email already
    belongs to someone (the registry stays de-duplicated); only leads set a higher level."""
    if data.level is not CustomerLevel.NORMAL and not actor.is_lead:
        raise Forbidden(N_("Only leads may change a customer's level."))
    errors = field_errors(data)
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    _, phone, email = normalized(data)
    for kind, value in (("phone", phone), ("email", email)):
        other = await find_by_contact(session, **{kind: value}) if value else None
        if other is not None:
            errors[kind] = N_("Already registered for another customer.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return await register(session, actor, data)


# --- merging two records ------------------------------------------------------------------

LEVEL_ORDER = (CustomerLevel.NORMAL, CustomerLevel.VIP, CustomerLevel.STRATEGIC)


def higher_level(a: CustomerLevel, b: CustomerLevel) -> CustomerLevel:
    return max(CustomerLevel(a), CustomerLevel(b), key=LEVEL_ORDER.index)


async def merge_pair(
    session: AsyncSession, actor: Actor, duplicate_id: int, primary_id: int
) -> tuple[Customer, Customer]:
    """The two records of a merge, checked: leads and admins only; not into itself, not from
    or into a record already merged (each refusal a localized error, nothing written)."""
    if not actor.is_lead:
        raise Forbidden(N_("Only leads and admins may merge customers."))
    if duplicate_id == primary_id:
        raise ValidationFailed(
            N_("A customer cannot be merged into itself."),
            fields={"primary": N_("Choose another customer.")},
        )
    duplicate = await get(session, duplicate_id)
    primary = await get(session, primary_id)
    for record in (duplicate, primary):
        if record.merged_into_id is not None:
            raise ValidationFailed(
                N_("%(number)s has already been merged into another record."),
                fields={"primary": N_("Choose another customer.")},
                number=record.number,
            )
    return duplicate, primary


def absorb(session: AsyncSession, actor: Actor, duplicate: Customer, primary: Customer) -> None:
    """The customer half of a merge (the tickets were moved by the caller): contacts the
    primary lacks move over, the primary's are kept where both exist (the discarded ones are
    recorded masked), notes are joined, possible-duplicate marks follow the primary, and the
    duplicate stays as a tombstone pointing at it. Audited on both records."""
    moved: list[str] = []
    discarded: dict[str, str | None] = {}
    masks = masked_contacts(duplicate)
    for kind, mask in (("phone", masks.phone), ("email", masks.email)):
        token = getattr(duplicate, f"{kind}_enc")
        if not token:
            continue
        if getattr(primary, f"{kind}_enc"):
            if getattr(primary, f"{kind}_hash") != getattr(duplicate, f"{kind}_hash"):
                discarded[kind] = mask
        else:
            setattr(primary, f"{kind}_enc", token)
            setattr(primary, f"{kind}_hash", getattr(duplicate, f"{kind}_hash"))
            moved.append(kind)
        setattr(duplicate, f"{kind}_enc", None)
        setattr(duplicate, f"{kind}_hash", None)
    if duplicate.notes:
        joined = "\n".join(
            n for n in (primary.notes, f"[{duplicate.number}] {duplicate.notes}") if n
        )
        primary.notes = joined[:NOTES_MAX]
    for record in (primary, duplicate):
        if record.duplicate_of_id in (primary.id, duplicate.id):
            record.duplicate_of_id = None
            record.duplicate_match = None
    duplicate.merged_into_id = primary.id
    duplicate.merged_at = utcnow()
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=primary.id,
        action="merge",
        field="merged_from",
        before=None,
        after={
            "merged_from": duplicate.number,
            "name": duplicate.name,
            "contacts_moved": moved,
            "contacts_discarded": discarded,
        },
    )
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=duplicate.id,
        action="merge",
        field="merged_into",
        before=None,
        after=primary.number,
    )


async def repoint_marks(session: AsyncSession, duplicate: Customer, primary: Customer) -> None:
    """Others marked "possible duplicate" of the merged record now point at the primary."""
    marked = (
        await session.scalars(select(Customer).where(Customer.duplicate_of_id == duplicate.id))
    ).all()
    for other in marked:
        other.duplicate_of_id = None if other.id == primary.id else primary.id
        if other.duplicate_of_id is None:
            other.duplicate_match = None


async def merged_target(session: AsyncSession, customer_id: int) -> int | None:
    """Where a merged record's page goes: the record it ended up in (following a chain of
    merges), or None for a record that was never merged."""
    seen: set[int] = set()
    current = await get(session, customer_id)
    while current.merged_into_id is not None and current.id not in seen:
        seen.add(current.id)
        current = await get(session, current.merged_into_id)
    return current.id if current.id != customer_id else None


@dataclass(frozen=True)
class MergeView:
    """The merge page: the record being merged, the candidates found, the one chosen."""

    duplicate: CustomerRow
    query: str
    candidates: list[CustomerRow]
    primary: CustomerRow | None


async def merge_view(
    session: AsyncSession, actor: Actor, customer_id: int, *, query: str = "", into: int | None
) -> MergeView:
    """What the merge page shows; the chosen record is checked as the merge itself would."""
    if not actor.is_lead:
        raise Forbidden(N_("Only leads and admins may merge customers."))
    duplicate = await get(session, customer_id)
    primary = None
    if into is not None:
        duplicate, chosen = await merge_pair(session, actor, customer_id, into)
        primary = row_for(chosen)
    found = await search(session, query=query, limit=10) if query.strip() else []
    return MergeView(
        duplicate=row_for(duplicate),
        query=query,
        candidates=[row_for(c) for c in found if c.id != customer_id],
        primary=primary,
    )
