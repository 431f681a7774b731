"""CSV and XLSX exports of the five service records, streamed.

Each record is read with ``session.stream(...)`` in batches (``yield_per``), and each batch is
written out before the next is fetched, so 100,000 rows never sit in memory at once: CSV
chunks go straight to the client, and so do XLSX ones: the workbook is zipped as it is written
(:mod:`models.services.reports.xlsx_stream`), with no temporary file.

The exports honour the same filters as the pages: customers those of the customer list
(``q``, ``level``, ``type``, ``industry``); tickets, follow-ups and surveys the report's period
(tickets *registered* in it — the same cohort the problem summary counts), department,
request type and status; the problem summary its period and department.

Contacts are exported masked (138****5678). Text that a spreadsheet would run as a formula
(``=…``, ``+…``, ``-…``, ``@…``) is neutralized: CSV prefixes an apostrophe, XLSX stores it as
plain text. CSV starts with a UTF-8 byte-order mark so Excel reads Chinese correctly.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.customer import Customer
from models.db import Database
from models.department import Department
from models.enums import CustomerLevel, CustomerType, Industry, RequestType, TicketStatus
from models.followup import FollowUp
from models.services.common.crypto import (
    EMAIL_RE,
    mask_email,
    mask_phone,
    normalize_email,
    normalize_phone,
)
from models.services.common.errors import N_, NotFound, ValidationFailed
from models.services.customers import registry
from models.services.reports import summary as reports
from models.services.reports.xlsx_stream import XlsxStream
from models.services.tickets import surveys
from models.settings import get_settings
from models.survey import Survey
from models.ticket import Ticket
from models.user import User

RECORDS = ("customers", "tickets", "follow_ups", "surveys", "summary")
FORMATS = ("csv", "xlsx")
BATCH = 1000
CHUNK = 64 * 1024
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")

Rows = list[list[Any]]  # one batch of rows, raw values

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Localizer:
    """How the caller's language renders headers, enum values and yes/no."""

    gettext: Callable[[str], str]
    label: Callable[[Any], str]


@dataclass(frozen=True)
class ExportFilters:
    period: reports.Period | None = None
    department_id: int | None = None
    request_type: RequestType | None = None
    status: TicketStatus | None = None
    q: str = ""
    level: CustomerLevel | None = None
    customer_type: CustomerType | None = None
    industry: Industry | None = None


def _enum(kind: Any, params: Mapping[str, str], key: str) -> Any:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValidationFailed(
            N_("Please correct the highlighted fields."), fields={key: N_("Invalid value.")}
        ) from None


def parse_filters(
    params: Mapping[str, str], *, record: str = "tickets", now: datetime | None = None
) -> ExportFilters:
    """URL parameters (as on the report and customer pages) to the filters of ``record``.

    Customers take the customer list's parameters (``q``, ``level``, ``type`` = customer
    type, ``industry``). The other records take the report's: without a ``period`` every
    ticket is exported, except the problem summary, which defaults to the current month like
    its page; ``type`` is the request type. Bad values are a localized 422.
    """
    if record == "customers":
        return ExportFilters(
            q=(params.get("q") or "").strip()[:100],
            level=_enum(CustomerLevel, params, "level"),
            customer_type=_enum(CustomerType, params, "type"),
            industry=_enum(Industry, params, "industry"),
        )
    period = None
    if params.get("period") or record == "summary":
        period = reports.period_from_params(params, now=now)
    return ExportFilters(
        period=period,
        department_id=reports.department_from_params(params),
        request_type=_enum(RequestType, params, "type"),
        status=_enum(TicketStatus, params, "status"),
    )


def filename(record: str, fmt: str, filters: ExportFilters) -> str:
    """kefu-tickets-2024-03.csv (ASCII only, safe in a Content-Disposition header)."""
    scope = filters.period.key if filters.period else "all"
    return f"kefu-{record.replace('_', '-')}-{_SAFE_NAME.sub('_', scope)}.{fmt}"


def check(record: str, fmt: str) -> None:
    if record not in RECORDS or fmt not in FORMATS:
        raise NotFound(N_("No such export."))


# --- the records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """One table of an export: a title, column headers (msgids) and rows in batches."""

    title: str
    headers: Sequence[str]
    batches: Callable[[AsyncSession], AsyncIterator[Rows]]
    widths: Sequence[int] = field(default_factory=tuple)


def _ticket_scope(stmt: Any, filters: ExportFilters) -> Any:
    """``stmt`` (a select joined to tickets) narrowed to the filtered tickets (a merged
    duplicate is left out: its primary carries its follow-ups and is counted once)."""
    stmt = stmt.where(Ticket.merged_into_id.is_(None))
    if filters.period is not None:
        stmt = stmt.where(reports.cohort(filters.period, filters.department_id))
    elif filters.department_id:
        stmt = stmt.where(Ticket.department_id == filters.department_id)
    if filters.request_type is not None:
        stmt = stmt.where(Ticket.request_type == filters.request_type)
    if filters.status is not None:
        stmt = stmt.where(Ticket.status == filters.status)
    return stmt


async def _stream(session: AsyncSession, stmt: Any, size: int) -> AsyncIterator[Sequence[Any]]:
    result = await session.stream(stmt.execution_options(yield_per=size))
    async for partition in result.partitions(size):
        yield partition


def _dept_name(row_zh: str | None, row_en: str | None, locale_en: bool) -> str | None:
    return (row_en if locale_en else row_zh) or row_zh or row_en


def _mask_free_text(token: str | None) -> str | None:
    """A contact a customer typed (phone, email or anything): masked for export."""
    text = registry.decrypt(token)
    if not text or text == registry.UNREADABLE:
        return text
    with suppress(ValidationFailed):
        return mask_phone(normalize_phone(text))
    if EMAIL_RE.match(text.strip().lower()):
        with suppress(ValidationFailed):
            return mask_email(normalize_email(text))
    return text[:1] + "***" if text else None


def customers_sheet(filters: ExportFilters, size: int) -> Sheet:
    """Record 1, with masked contacts, filtered (and ordered) like the customer list."""
    # The customer list's own query, so the export always shows what the page shows.
    stmt = registry._search_stmt(
        registry.CustomerFilters(
            query=filters.q,
            level=filters.level,
            industry=filters.industry,
            type=filters.customer_type,
        )
    )

    async def batches(session: AsyncSession) -> AsyncIterator[Rows]:
        result = await session.stream_scalars(stmt.execution_options(yield_per=size))
        async for partition in result.partitions(size):
            rows = []
            for c in partition:
                contacts = registry.masked_contacts(c)
                rows.append(
                    [
                        c.number,
                        c.name,
                        c.type,
                        c.contact_person,
                        contacts.phone,
                        contacts.email,
                        c.industry,
                        c.level,
                        c.source_channel,
                        c.registered_at,
                        c.notes,
                    ]
                )
            yield rows

    return Sheet(
        title=N_("Customers"),
        headers=[
            N_("Customer number"),
            N_("Name"),
            N_("Type"),
            N_("Contact person"),
            N_("Phone"),
            N_("Email"),
            N_("Industry"),
            N_("Level"),
            N_("Source channel"),
            N_("Registered"),
            N_("Notes"),
        ],
        batches=batches,
        widths=(16, 24, 10, 14, 14, 22, 18, 10, 12, 17, 30),
    )


def tickets_sheet(filters: ExportFilters, size: int, *, english: bool) -> Sheet:
    """Record 2."""
    assignee = aliased(User)
    stmt = _ticket_scope(
        select(
            Ticket.number,
            Ticket.created_at,
            Customer.number,
            Customer.name,
            Ticket.title,
            Ticket.description,
            Ticket.order_number,
            Ticket.channel,
            Ticket.request_type,
            Ticket.urgency,
            Ticket.priority,
            Ticket.status,
            Department.name_zh,
            Department.name_en,
            assignee.display_name,
            Ticket.first_responded_at,
            Ticket.resolved_at,
            Ticket.closed_at,
            Ticket.is_repeat,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Department, Department.id == Ticket.department_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id),
        filters,
    ).order_by(Ticket.created_at, Ticket.id)

    async def batches(session: AsyncSession) -> AsyncIterator[Rows]:
        async for partition in _stream(session, stmt, size):
            rows = []
            for r in partition:
                *head, dept_zh, dept_en, assignee_name, responded, resolved, closed, repeat = r
                created = head[1]
                hours = round((resolved - created).total_seconds() / 3600, 2) if resolved else None
                dept = _dept_name(dept_zh, dept_en, english)
                rows.append(
                    [*head, dept, assignee_name, responded, resolved, closed, hours, bool(repeat)]
                )
            yield rows

    return Sheet(
        title=N_("Tickets"),
        headers=[
            N_("Ticket number"),
            N_("Registered"),
            N_("Customer number"),
            N_("Customer"),
            N_("Title"),
            N_("Description"),
            N_("Order number"),
            N_("Channel"),
            N_("Request type"),
            N_("Urgency"),
            N_("Priority"),
            N_("Status"),
            N_("Department"),
            N_("Assignee"),
            N_("First response at"),
            N_("Resolved at"),
            N_("Closed"),
            N_("Handling time (h)"),
            N_("Repeat inquiry"),
        ],
        batches=batches,
        widths=(18, 17, 16, 20, 30, 40, 16, 12, 12, 9, 9, 12, 14, 16, 17, 17, 17, 10, 8),
    )


def follow_ups_sheet(filters: ExportFilters, size: int) -> Sheet:
    """Record 3: every follow-up of the filtered tickets."""
    staff = aliased(User)
    next_owner = aliased(User)
    stmt = _ticket_scope(
        select(
            Ticket.number,
            FollowUp.at,
            staff.display_name,
            FollowUp.by_customer,
            FollowUp.method,
            FollowUp.discussed,
            FollowUp.customer_feedback,
            FollowUp.next_step,
            next_owner.display_name,
            FollowUp.next_due_at,
            FollowUp.done,
            FollowUp.is_resolution,
        )
        .join(Ticket, Ticket.id == FollowUp.ticket_id)
        .outerjoin(staff, staff.id == FollowUp.user_id)
        .outerjoin(next_owner, next_owner.id == FollowUp.next_owner_id),
        filters,
    ).order_by(Ticket.created_at, Ticket.id, FollowUp.at, FollowUp.id)

    async def batches(session: AsyncSession) -> AsyncIterator[Rows]:
        async for partition in _stream(session, stmt, size):
            yield [[*r[:3], bool(r[3]), *r[4:10], bool(r[10]), bool(r[11])] for r in partition]

    return Sheet(
        title=N_("Follow-ups"),
        headers=[
            N_("Ticket number"),
            N_("Follow-up time"),
            N_("Staff"),
            N_("By the customer"),
            N_("Method"),
            N_("Discussed"),
            N_("Customer feedback"),
            N_("Next step"),
            N_("Next owner"),
            N_("Next due"),
            N_("Done"),
            N_("Resolution"),
        ],
        batches=batches,
        widths=(18, 17, 16, 8, 10, 40, 30, 24, 16, 17, 6, 8),
    )


def surveys_sheet(filters: ExportFilters, size: int) -> Sheet:
    """Record 4: the surveys of the filtered tickets, answered or not."""
    stmt = _ticket_scope(
        select(
            Ticket.number,
            Customer.number,
            Ticket.request_type,
            Survey.created_at,
            Survey.expires_at,
            Survey.submitted_at,
            Survey.speed_score,
            Survey.solution_score,
            Survey.attitude_score,
            Survey.comment,
            Survey.suggestion,
            Survey.contact,
        )
        .join(Ticket, Ticket.id == Survey.ticket_id)
        .join(Customer, Customer.id == Survey.customer_id),
        filters,
    ).order_by(Ticket.created_at, Ticket.id)

    async def batches(session: AsyncSession) -> AsyncIterator[Rows]:
        async for partition in _stream(session, stmt, size):
            rows = []
            for r in partition:
                scores = [s for s in r[6:9] if s is not None]
                low = bool(r[5]) and any(s <= surveys.LOW_SCORE for s in scores)
                rows.append([*r[:11], _mask_free_text(r[11]), low])
            yield rows

    return Sheet(
        title=N_("Surveys"),
        headers=[
            N_("Ticket number"),
            N_("Customer number"),
            N_("Request type"),
            N_("Sent"),
            N_("Expires"),
            N_("Answered"),
            N_("Response speed"),
            N_("Solution"),
            N_("Attitude"),
            N_("Overall comment"),
            N_("Suggestions"),
            N_("Contact (masked)"),
            N_("Low score"),
        ],
        batches=batches,
        widths=(18, 16, 12, 17, 17, 17, 8, 8, 8, 30, 30, 16, 8),
    )


def _pct(value: float | None) -> float | None:
    return round(value * 100, 1) if value is not None else None


def _num(value: float | None, digits: int = 2) -> float | None:
    return round(value, digits) if value is not None else None


def summary_sheets(summary: reports.ProblemSummary, loc: Localizer) -> list[Sheet]:
    """Record 5: the problem summary as three tables (by type, top problems, by agent)."""

    def static(rows: Rows) -> Callable[[AsyncSession], AsyncIterator[Rows]]:
        async def batches(_: AsyncSession) -> AsyncIterator[Rows]:
            yield rows

        return batches

    unclassified = loc.gettext(N_("Unclassified"))
    by_type: Rows = []
    for row in [*summary.rows, None]:
        f = row.figures if row else summary.total
        name = (
            (loc.label(row.request_type) if row.request_type else unclassified)
            if row
            else loc.gettext(N_("Total"))
        )
        s = f.satisfaction
        by_type.append(
            [
                summary.period.key,
                name,
                f.count,
                _pct(row.share) if row else (100.0 if f.count else None),
                _num(f.avg_handling_hours),
                _num(s.avg_speed),
                _num(s.avg_solution),
                _num(s.avg_attitude),
                _pct(f.resolution_rate),
                s.answered,
                _pct(s.satisfied_share),
            ]
        )
    problems: Rows = []
    for request_type, found in summary.topics.items():
        for rank, topic in enumerate(found, start=1):
            problems.append(
                [
                    summary.period.key,
                    loc.label(request_type),
                    rank,
                    topic.label,
                    topic.current,
                    topic.previous,
                    topic.change,
                    " | ".join(topic.examples),
                ]
            )
    agents: Rows = [
        [
            summary.period.key,
            a.name,
            a.assigned,
            a.figures.resolved,
            _num(a.figures.avg_handling_hours),
            _num(a.figures.satisfaction.overall),
            _pct(a.figures.satisfaction.satisfied_share),
            a.figures.satisfaction.answered,
        ]
        for a in summary.agents
    ]
    return [
        Sheet(
            N_("By request type"),
            [
                N_("Report period"),
                N_("Request type"),
                N_("Count"),
                N_("Share (%)"),
                N_("Avg. handling time (h)"),
                N_("Response speed"),
                N_("Solution"),
                N_("Attitude"),
                N_("Resolution rate (%)"),
                N_("Surveys answered"),
                N_("Satisfied (%)"),
            ],
            static(by_type),
            (12, 14, 8, 9, 12, 10, 10, 10, 12, 10, 10),
        ),
        Sheet(
            N_("Top problems"),
            [
                N_("Report period"),
                N_("Request type"),
                N_("Rank"),
                N_("Problem"),
                N_("Tickets"),
                N_("Previous period"),
                N_("Change vs previous"),
                N_("Examples"),
            ],
            static(problems),
            (12, 14, 6, 24, 8, 10, 8, 80),
        ),
        Sheet(
            N_("By agent"),
            [
                N_("Report period"),
                N_("Agent"),
                N_("Assigned"),
                N_("Handled"),
                N_("Avg. handling time (h)"),
                N_("Avg. satisfaction (1–5)"),
                N_("Satisfied (%)"),
                N_("Surveys answered"),
            ],
            static(agents),
            (12, 20, 9, 9, 12, 12, 10, 10),
        ),
    ]


def sheets_for(
    record: str,
    filters: ExportFilters,
    loc: Localizer,
    *,
    english: bool,
    summary: reports.ProblemSummary | None = None,
    batch_size: int = BATCH,
) -> list[Sheet]:
    """The tables of one export (the summary must be computed beforehand)."""
    if record == "customers":
        return [customers_sheet(filters, batch_size)]
    if record == "tickets":
        return [tickets_sheet(filters, batch_size, english=english)]
    if record == "follow_ups":
        return [follow_ups_sheet(filters, batch_size)]
    if record == "surveys":
        return [surveys_sheet(filters, batch_size)]
    assert summary is not None
    return summary_sheets(summary, loc)


# --- writers ---------------------------------------------------------------------------------


class _Cells:
    """Cell values of one export: enums translated, booleans yes/no, local times to the second.

    Built once per export, so the time zone, yes/no and each enum member's label are looked up
    once, not for each of the ~2 million cells of a 100,000-row export.
    """

    def __init__(self, loc: Localizer) -> None:
        self._loc = loc
        self._tz = ZoneInfo(get_settings().timezone)
        self._no_yes = (loc.gettext(N_("No")), loc.gettext(N_("Yes")))
        self._labels: dict[Enum, str] = {}

    def plain(self, value: Any) -> Any:
        """The value both writers share (spreadsheets have no time zones: naive local times)."""
        kind = type(value)
        if value is None or kind is str or kind is int or kind is float:
            return value
        if kind is bool:
            return self._no_yes[value]
        if isinstance(value, datetime):
            return value.astimezone(self._tz).replace(tzinfo=None, microsecond=0)
        if isinstance(value, Enum):
            text = self._labels.get(value)
            if text is None:
                text = self._labels[value] = self._loc.label(value)
            return text
        return value

    def csv(self, value: Any) -> str:
        value = self.plain(value)
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, float):
            return f"{value:g}"
        text = str(value)
        return "'" + text if text.startswith(_FORMULA_START) else text


async def stream_csv(db: Database, sheets: Sequence[Sheet], loc: Localizer) -> AsyncIterator[bytes]:
    """UTF-8 CSV with a byte-order mark; several tables are separated by a blank line."""
    yield BOM.encode()
    cell = _Cells(loc).csv
    async with db.sessionmaker() as session:
        for index, sheet in enumerate(sheets):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            if len(sheets) > 1:
                if index:
                    writer.writerow([])
                writer.writerow([loc.gettext(sheet.title)])
            writer.writerow([loc.gettext(h) for h in sheet.headers])
            yield buffer.getvalue().encode()
            async for batch in sheet.batches(session):
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\r\n")
                writer.writerows([cell(v) for v in row] for row in batch)
                yield buffer.getvalue().encode()


def _xlsx_rows(book: XlsxStream, rows: Sequence[Sequence[Any]], cells: _Cells) -> bytes:
    return book.rows([[cells.plain(v) for v in row] for row in rows])


def _sheet_title(text: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", text)[:31] or "Sheet"
    base, n = title, 2
    while title in used:
        title = f"{base[:28]} {n}"
        n += 1
    used.add(title)
    return title


async def stream_xlsx(
    db: Database, sheets: Sequence[Sheet], loc: Localizer
) -> AsyncIterator[bytes]:
    """An .xlsx whose bytes leave batch by batch (see :mod:`.xlsx_stream`): no temporary file."""
    used: set[str] = set()
    book = XlsxStream([_sheet_title(loc.gettext(sheet.title), used) for sheet in sheets])
    cells = _Cells(loc)
    async with db.sessionmaker() as session:
        for sheet in sheets:
            yield book.begin_sheet([loc.gettext(h) for h in sheet.headers], sheet.widths)
            async for batch in sheet.batches(session):
                if chunk := await asyncio.to_thread(_xlsx_rows, book, batch, cells):
                    yield chunk
    yield book.close()


def stream(db: Database, fmt: str, sheets: Sequence[Sheet], loc: Localizer) -> AsyncIterator[bytes]:
    return stream_csv(db, sheets, loc) if fmt == "csv" else stream_xlsx(db, sheets, loc)
