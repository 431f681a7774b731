"""Priority from urgency × customer level × request type, and the board's sort rank."""

from __future__ import annotations

from models.enums import CustomerLevel, Priority, RequestType, Urgency

PRIORITY_ORDER: tuple[Priority, ...] = (
    Priority.URGENT,
    Priority.HIGH,
    Priority.MEDIUM,
    Priority.LOW,
)
LEVEL_ORDER: dict[CustomerLevel, int] = {
    CustomerLevel.STRATEGIC: 0,
    CustomerLevel.VIP: 1,
    CustomerLevel.NORMAL: 2,
}
_BASE: dict[Urgency, Priority] = {
    Urgency.URGENT: Priority.URGENT,
    Urgency.NORMAL: Priority.MEDIUM,
    Urgency.LOW: Priority.LOW,
}


def _raise(priority: Priority, steps: int = 1) -> Priority:
    index = max(PRIORITY_ORDER.index(priority) - steps, 0)
    return PRIORITY_ORDER[index]


def compute_priority(
    urgency: Urgency, level: CustomerLevel, request_type: RequestType | None = None
) -> Priority:
    """Urgency sets the base; VIP/strategic customers and complaints each raise it a step."""
    priority = _BASE[urgency]
    if level is not CustomerLevel.NORMAL:
        priority = _raise(priority)
    if request_type is RequestType.COMPLAINT:
        priority = _raise(priority)
    return priority


def priority_rank(priority: Priority, level: CustomerLevel) -> int:
    """One sortable number: priority first, then strategic > VIP > normal inside it."""
    return PRIORITY_ORDER.index(priority) * 10 + LEVEL_ORDER[level]
