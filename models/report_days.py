"""Which days' report figures a flush changed.

The problem summary and the KPI dashboard add up per-day figures (:mod:`models.services.
reports.days`): a ticket counts on the local day it was registered, and, for throughput, on the
day it was resolved. So a flush that changes what the reports read of a ticket — or a survey
about it — notes the UTC day the ticket was registered on and the days it was resolved on
before and after (:func:`models.db.mark_report_days`); once the transaction commits, those days'
counters move on in Redis and only their figures are computed again.

Bulk statements are noted in :mod:`models.db` (every day, unless the caller says otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.state import InstanceState

from models.db import ALL_DAYS, mark_report_days
from models.department import Department
from models.survey import Survey
from models.ticket import Ticket
from models.ticket_count import utc_day
from models.user import User

# What the reports read of a ticket: for the figures (summary.cohort, throughput) ...
FIGURES = (
    "created_at",
    "merged_into_id",
    "department_id",
    "request_type",
    "assignee_id",
    "resolved_at",
    "first_responded_at",
    "is_repeat",
)
# ... and for the topics.
TEXTS = ("created_at", "merged_into_id", "department_id", "request_type", "description")
_UNKNOWN = object()


def _values(state: InstanceState[Any], name: str, *, new: bool) -> Any:
    """Every value the attribute had in this flush (before and after), or _UNKNOWN."""
    added, unchanged, deleted = state.attrs[name].history
    values = [*added, *unchanged, *deleted]
    if values:
        return values
    if new or name in state.dict:
        return [state.dict.get(name)]
    return _UNKNOWN  # expired, never loaded: the flush cannot tell


def ticket_days(state: InstanceState[Any], *, new: bool) -> set[int]:
    """The UTC days a ticket's report figures are counted on, before and after the flush."""
    days: set[int] = set()
    for name in ("created_at", "resolved_at"):
        values = _values(state, name, new=new)
        if values is _UNKNOWN:
            return {ALL_DAYS}
        days.update(utc_day(v) for v in values if isinstance(v, datetime))
    if not days:  # registered but no instant known (cannot happen after an insert)
        return {ALL_DAYS}
    return days


@event.listens_for(Session, "after_flush")
def _note_report_days(session: Session, _flush: UOWTransaction) -> None:
    days: set[int] = set()
    texts: set[int] = set()
    surveyed: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Ticket):
            state = inspect(obj)
            new = obj in session.new
            whole = new or obj in session.deleted
            figures = whole or any(state.attrs[n].history.has_changes() for n in FIGURES)
            text = whole or any(state.attrs[n].history.has_changes() for n in TEXTS)
            counted = ticket_days(state, new=new) if figures or text else set()
            if figures:
                days |= counted
            if text:
                texts |= counted
        elif isinstance(obj, Survey):
            state = inspect(obj)
            ids = _values(state, "ticket_id", new=obj in session.new)
            if ids is _UNKNOWN:
                days.add(ALL_DAYS)
            else:
                surveyed.update(i for i in ids if i is not None)
        elif isinstance(obj, User | Department) and obj in session.deleted:
            days.add(ALL_DAYS)  # its tickets lose the reference
    if surveyed and ALL_DAYS not in days:
        found = session.connection().execute(
            select(Ticket.id, Ticket.created_at).where(Ticket.id.in_(sorted(surveyed)))
        )
        registered: dict[int, datetime] = {row[0]: row[1] for row in found}
        days.update(utc_day(registered[i]) if i in registered else ALL_DAYS for i in surveyed)
    if days:
        mark_report_days(session, days)
    if texts:
        mark_report_days(session, texts, texts=True)
