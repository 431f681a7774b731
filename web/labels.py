"""Display names of the closed vocabularies, as msgids translated per request."""

from __future__ import annotations

from enum import Enum
from typing import Any

from models.enums import (
    ArticleStatus,
    Channel,
    ContactReveal,
    CustomerLevel,
    CustomerType,
    ExtensionStatus,
    FollowUpMethod,
    Industry,
    Priority,
    RequestType,
    Role,
    TicketStatus,
    TypeSource,
    Urgency,
)
from models.services.common.errors import N_
from web.i18n import gettext

_LABELS: list[tuple[Enum, str]] = [
    (TicketStatus.PENDING, N_("Pending")),
    (TicketStatus.IN_PROGRESS, N_("In progress")),
    (TicketStatus.AWAITING_CONFIRMATION, N_("Awaiting confirmation")),
    (TicketStatus.COMPLETED, N_("Completed")),
    (TicketStatus.CLOSED, N_("Closed")),
    (RequestType.CONSULTATION, N_("Consultation")),
    (RequestType.PROBLEM, N_("Problem")),
    (RequestType.COMPLAINT, N_("Complaint")),
    (RequestType.AFTER_SALES, N_("After-sales")),
    (TypeSource.MODEL, N_("Auto-classified")),
    (TypeSource.LEAD, N_("Confirmed by a lead")),
    (TypeSource.AGENT, N_("Set by an agent")),
    (Urgency.URGENT, N_("Urgent")),
    (Urgency.NORMAL, N_("Normal")),
    (Urgency.LOW, N_("Low")),
    (Priority.URGENT, N_("Urgent")),
    (Priority.HIGH, N_("High")),
    (Priority.MEDIUM, N_("Medium")),
    (Priority.LOW, N_("Low")),
    (CustomerType.INDIVIDUAL, N_("Individual")),
    (CustomerType.ENTERPRISE, N_("Enterprise")),
    (CustomerLevel.NORMAL, N_("Normal")),
    (CustomerLevel.VIP, N_("VIP")),
    (CustomerLevel.STRATEGIC, N_("Strategic")),
    (Channel.PHONE, N_("Phone")),
    (Channel.ONLINE_CHAT, N_("Online chat")),
    (Channel.EMAIL, N_("Email")),
    (Channel.SOCIAL_MEDIA, N_("Social media")),
    (Channel.REFERRAL, N_("Referral")),
    (Channel.PORTAL, N_("Portal")),
    (Channel.API, N_("API")),
    (Channel.VISIT, N_("Visit")),
    (FollowUpMethod.PHONE, N_("Phone")),
    (FollowUpMethod.ONLINE_CHAT, N_("Online chat")),
    (FollowUpMethod.EMAIL, N_("Email")),
    (FollowUpMethod.VISIT, N_("Visit")),
    (ContactReveal.NEVER, N_("Never (leads and admins only)")),
    (ContactReveal.OWN, N_("Customers of the tickets assigned to them")),
    (ContactReveal.DEPARTMENT, N_("Customers of their own or their department's tickets")),
    (Role.ADMIN, N_("Administrator")),
    (Role.LEAD, N_("Lead")),
    (Role.AGENT, N_("Agent")),
    (ExtensionStatus.PENDING, N_("Pending approval")),
    (ExtensionStatus.APPROVED, N_("Approved")),
    (ExtensionStatus.REJECTED, N_("Rejected")),
    (ArticleStatus.DRAFT, N_("Draft")),
    (ArticleStatus.PUBLISHED, N_("Published")),
    (ArticleStatus.ARCHIVED, N_("Archived")),
    (Industry.A, N_("Agriculture, forestry, animal husbandry and fishery")),
    (Industry.B, N_("Mining")),
    (Industry.C, N_("Manufacturing")),
    (Industry.D, N_("Electricity, heat, gas and water supply")),
    (Industry.E, N_("Construction")),
    (Industry.F, N_("Wholesale and retail")),
    (Industry.G, N_("Transport, storage and postal services")),
    (Industry.H, N_("Accommodation and catering")),
    (Industry.I, N_("Information transmission, software and IT services")),
    (Industry.J, N_("Finance")),
    (Industry.K, N_("Real estate")),
    (Industry.L, N_("Leasing and business services")),
    (Industry.M, N_("Scientific research and technical services")),
    (Industry.N, N_("Water conservancy, environment and public facilities")),
    (Industry.O, N_("Resident services, repair and other services")),
    (Industry.P, N_("Education")),
    (Industry.Q, N_("Health and social work")),
    (Industry.R, N_("Culture, sports and entertainment")),
    (Industry.S, N_("Public administration, social security and social organizations")),
    (Industry.T, N_("International organizations")),
]


# Keyed by (enum class, value): StrEnum members of different enums with the same value
# ("pending", "normal", "low") compare equal, so the class must be part of the key.
LABELS: dict[tuple[type[Enum], str], str] = {
    (type(member), member.value): msgid for member, msgid in _LABELS
}


def label(value: Any) -> str:
    """The translated display name of an enum member (or its string value)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        msgid = LABELS.get((type(value), value.value))
        return gettext(msgid) if msgid else str(value.value)
    return str(value)


def choices(enum: type[Enum]) -> list[tuple[str, str]]:
    """(value, translated label) pairs for a <select>."""
    return [(str(member.value), label(member)) for member in enum]
