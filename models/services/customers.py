"""Record 1: registering, finding, de-duplicating and protecting customers."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.customer import Customer
from models.enums import Channel, CustomerLevel, CustomerType, Industry
from models.services import audit
from models.services.actor import Actor
from models.services.crypto import (
    cipher_for,
    mask_email,
    mask_phone,
    normalize_email,
    normalize_phone,
)
from models.services.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.numbering import next_number
from models.settings import get_settings

NAME_MAX = 200


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


@dataclass(frozen=True)
class Contacts:
    phone: str | None
    email: str | None


def _cipher():  # type: ignore[no-untyped-def]
    return cipher_for(get_settings().encryption_keys)


def validate(data: CustomerInput) -> tuple[str, str | None, str | None]:
    """Check and normalize; every problem is reported at once, per field."""
    errors: dict[str, str] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = N_("Required.")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("At most %(n)s characters.") % {"n": NAME_MAX}
    phone = email = None
    if data.phone and data.phone.strip():
        try:
            phone = normalize_phone(data.phone)
        except ValidationFailed:
            errors["phone"] = N_("Enter a valid phone number.")
    if data.email and data.email.strip():
        try:
            email = normalize_email(data.email)
        except ValidationFailed:
            errors["email"] = N_("Enter a valid email address.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return name, phone, email


async def find_by_contact(
    session: AsyncSession, *, phone: str | None = None, email: str | None = None
) -> Customer | None:
    """The customer whose normalized phone or email matches (under any key of the ring)."""
    cipher = _cipher()
    clauses = []
    if phone:
        clauses.append(Customer.phone_hash.in_(cipher.blind_indexes("phone", phone)))
    if email:
        clauses.append(Customer.email_hash.in_(cipher.blind_indexes("email", email)))
    if not clauses:
        return None
    stmt = select(Customer).where(or_(*clauses)).order_by(Customer.id).limit(1)
    return (await session.scalars(stmt)).first()


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
    )
    session.add(customer)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="customer",
        entity_id=customer.id,
        action="create",
        after={"number": customer.number},
    )
    return customer


async def find_or_register(
    session: AsyncSession, actor: Actor, data: CustomerInput
) -> tuple[Customer, bool]:
    """De-duplicate on normalized phone/email; returns (customer, created)."""
    _, phone, email = validate(data)
    existing = await find_by_contact(session, phone=phone, email=email)
    if existing is not None:
        return existing, False
    return await register(session, actor, data), True


async def get(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(N_("Customer not found."))
    return customer


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
    stmt = select(Customer)
    q = query.strip()
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
    if level:
        stmt = stmt.where(Customer.level == level)
    if industry:
        stmt = stmt.where(Customer.industry == industry)
    if type:
        stmt = stmt.where(Customer.type == type)
    stmt = stmt.order_by(Customer.registered_at.desc(), Customer.id.desc())
    return (await session.scalars(stmt.limit(limit).offset(offset))).all()


def masked_contacts(customer: Customer) -> Contacts:
    """What every screen shows: 138****5678, a***@example.com."""
    cipher = _cipher()
    phone = cipher.decrypt(customer.phone_enc) if customer.phone_enc else None
    email = cipher.decrypt(customer.email_enc) if customer.email_enc else None
    return Contacts(
        phone=mask_phone(phone) if phone else None,
        email=mask_email(email) if email else None,
    )


def can_reveal(actor: Actor) -> bool:
    return actor.is_lead


def reveal_contacts(session: AsyncSession, actor: Actor, customer: Customer) -> Contacts:
    """The plaintext contacts, for roles allowed to see them; every reveal is audited."""
    if not can_reveal(actor):
        raise Forbidden(N_("You may not reveal contact details."))
    cipher = _cipher()
    audit.record(
        session, actor, entity_type="customer", entity_id=customer.id, action="reveal_contacts"
    )
    return Contacts(
        phone=cipher.decrypt(customer.phone_enc) if customer.phone_enc else None,
        email=cipher.decrypt(customer.email_enc) if customer.email_enc else None,
    )


async def change_level(
    session: AsyncSession, actor: Actor, customer_id: int, level: CustomerLevel
) -> Customer:
    if not actor.is_lead:
        raise Forbidden(N_("Only leads may change a customer's level."))
    customer = await get(session, customer_id)
    if customer.level != level:
        audit.record(
            session,
            actor,
            entity_type="customer",
            entity_id=customer.id,
            action="change",
            field="level",
            before=str(customer.level),
            after=str(level),
        )
        customer.level = level
    return customer
