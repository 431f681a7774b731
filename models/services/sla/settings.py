"""The admin side of the SLA: reading and saving the default policy, the escalation ladder and
the business calendar from their forms.

Form values arrive as strings; they are parsed here, field by field, into the stored shapes
and then validated by the pure classes' ``from_config`` — so what an admin saves is exactly
what :func:`models.services.sla.policy.load_rules` will be able to load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import CustomerLevel, Priority, RequestType, Urgency
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, ValidationFailed
from models.services.sla import policy as sla
from models.services.sla.deadlines import (
    DEFAULT_CALENDAR,
    DEFAULT_CHAT_FIRST_RESPONSE_SECONDS,
    DEFAULT_SILENCE,
    BusinessCalendar,
    SlaPolicy,
    Target,
)
from models.sla_policy import BusinessCalendar as CalendarRow
from models.sla_policy import SlaPolicy as PolicyRow

MAX_TARGET_MINUTES = 366 * 24 * 60
MAX_LADDER_RUNGS = 10
MAX_RUNG_MINUTES = 7 * 24 * 60
MAX_DATES = 400
MAX_CHAT_SECONDS = 3600
# A customer gets at least an hour to answer "solved / not solved".
MIN_SILENCE_MINUTES = 60
_SPLIT = re.compile(r"[\s,，;；]+")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.|~|至)(\d{4}-\d{2}-\d{2})$")

INVALID = N_("Please correct the highlighted fields.")


def _policy_fields() -> tuple[str, ...]:
    names: list[str] = []
    targets = [f"fr_{u}" for u in Urgency] + ["ack", "rem", "confirm"]
    targets += [f"res_{q}" for q in Priority]
    targets += [f"type_{t}" for t in RequestType]
    for name in targets:
        names += [name, f"{name}_b"]
    names += [f"level_{lv}" for lv in CustomerLevel]
    names += ["ladder", "chat"]
    return tuple(names)


POLICY_FIELDS = _policy_fields()
"""Every field of the policy form (a target's ``<name>_b`` box means business hours)."""


@dataclass(frozen=True)
class TargetField:
    """One target row of the policy form: its field name, label and current value."""

    name: str
    label: Any  # an enum member (shown with |t) or a msgid
    minutes: str
    business: bool
    optional: bool = False


@dataclass(frozen=True)
class PolicyForm:
    """The policy form's view-model, grouped as the form shows it."""

    first_response: list[TargetField]
    acknowledgement: TargetField
    reminder: TargetField
    confirmation: TargetField
    resolution: list[TargetField]
    by_type: list[TargetField]
    levels: list[tuple[str, CustomerLevel, str]]  # field, level, percent
    ladder: str
    chat_seconds: str
    updated_at: Any


@dataclass(frozen=True)
class CalendarForm:
    """The calendar form's view-model."""

    timezone: str
    intervals: str
    weekdays: list[tuple[str, int, bool]]  # field, weekday, checked
    holidays: str
    workdays: str


def _field(name: str, label: Any, target: Target | None, optional: bool = False) -> TargetField:
    if target is None:
        return TargetField(name, label, "", False, optional)
    return TargetField(name, label, str(target.minutes), target.business, optional)


async def _policy_row(session: AsyncSession) -> PolicyRow | None:
    return await session.scalar(select(PolicyRow).where(PolicyRow.is_default.is_(True)))


async def _calendar_row(session: AsyncSession) -> CalendarRow | None:
    return await session.scalar(select(CalendarRow).where(CalendarRow.is_default.is_(True)))


async def policy_form(session: AsyncSession) -> PolicyForm:
    """The current default policy as the admin form shows it."""
    rules = await sla.load_rules(session)
    row = await _policy_row(session)
    p = rules.policy
    return PolicyForm(
        first_response=[_field(f"fr_{u}", u, p.first_response[u]) for u in Urgency],
        acknowledgement=_field("ack", N_("Acknowledgement after assignment"), p.acknowledgement),
        reminder=_field(
            "rem", N_("Reminder for urgent tickets not started"), p.urgent_reminder, optional=True
        ),
        confirmation=_field(
            "confirm",
            N_("Completed automatically when the customer does not confirm within"),
            p.confirmation_silence,
        ),
        resolution=[_field(f"res_{q}", q, p.resolution[q]) for q in Priority],
        by_type=[
            _field(f"type_{t}", t, p.resolution_by_type.get(t), optional=True) for t in RequestType
        ],
        levels=[
            (f"level_{lv}", lv, str(p.level_percent[lv]) if lv in p.level_percent else "")
            for lv in CustomerLevel
        ],
        ladder=", ".join(str(m) for m in rules.escalation_ladder),
        chat_seconds=str(p.chat_first_response_seconds),
        updated_at=row.updated_at if row else None,
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "on", "true", "yes"}


def _minutes(
    values: Mapping[str, str], name: str, errors: dict[str, str], *, optional: bool = False
) -> Target | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        if not optional:
            errors[name] = N_("Required.")
        return None
    if not raw.isdigit() or int(raw) > MAX_TARGET_MINUTES:
        errors[name] = N_("Enter whole minutes, from 0 to one year.")
        return None
    return Target(int(raw), business=_truthy(values.get(f"{name}_b")))


def parse_ladder(raw: str) -> list[int]:
    """``"60, 120, 240"`` → ``[60, 120, 240]``; raises ValueError when malformed."""
    parts = [p for p in _SPLIT.split(raw.strip()) if p]
    if len(parts) > MAX_LADDER_RUNGS:
        raise ValueError("too many rungs")
    rungs = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= MAX_RUNG_MINUTES:
            raise ValueError(part)
        rungs.append(int(part))
    return rungs


def parse_policy(values: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The stored config and ladder for these form values, or ValidationFailed per field."""
    errors: dict[str, str] = {}
    first = {str(u): _minutes(values, f"fr_{u}", errors) for u in Urgency}
    ack = _minutes(values, "ack", errors)
    reminder = _minutes(values, "rem", errors, optional=True)
    # Left out (a form from before the rule existed): the shipped 72 business hours.
    silence = _minutes(values, "confirm", errors, optional=True) or DEFAULT_SILENCE
    if silence.minutes < MIN_SILENCE_MINUTES:
        errors["confirm"] = N_("Enter at least 60 minutes.")
    resolution = {str(q): _minutes(values, f"res_{q}", errors) for q in Priority}
    by_type = {str(t): _minutes(values, f"type_{t}", errors, optional=True) for t in RequestType}
    levels: dict[str, int] = {}
    for level in CustomerLevel:
        raw = (values.get(f"level_{level}") or "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            errors[f"level_{level}"] = N_("Enter a percentage from 1 to 1000.")
        else:
            levels[str(level)] = int(raw)
    chat = DEFAULT_CHAT_FIRST_RESPONSE_SECONDS  # left out: a form from before the field
    raw_chat = (values.get("chat") or "").strip()
    if raw_chat:
        if raw_chat.isdigit() and 1 <= int(raw_chat) <= MAX_CHAT_SECONDS:
            chat = int(raw_chat)
        else:
            errors["chat"] = N_("Enter whole seconds, from 1 to 3600.")
    try:
        ladder = parse_ladder(values.get("ladder") or "")
    except ValueError:
        ladder = []
        errors["ladder"] = N_("Enter up to 10 waits in minutes (1 to 10080), separated by commas.")
    if errors:
        raise ValidationFailed(INVALID, fields=errors)
    config = {
        "first_response": {k: t.to_config() for k, t in first.items() if t},
        "acknowledgement": ack.to_config() if ack else None,
        "urgent_reminder": reminder.to_config() if reminder else None,
        "resolution": {k: t.to_config() for k, t in resolution.items() if t},
        "resolution_by_type": {k: t.to_config() for k, t in by_type.items() if t},
        "level_percent": levels,
        "confirmation_silence": silence.to_config(),
        "chat_first_response_seconds": chat,
    }
    try:
        policy = SlaPolicy.from_config(config)
    except (ValueError, TypeError, KeyError) as exc:  # pragma: no cover - fields checked above
        raise ValidationFailed(INVALID, fields={"form": N_("Invalid value.")}) from exc
    return policy.to_config(), ladder


async def save_policy(session: AsyncSession, actor: Actor, values: Mapping[str, str]) -> None:
    """Validate and store the default policy; audited. Tickets pick it up on their next
    deadline refresh (creation, assignment, type, priority or state change)."""
    if not actor.is_admin:
        raise Forbidden(N_("You do not have permission to do that."))
    config, ladder = parse_policy(values)
    row = await _policy_row(session)
    if row is None:
        row = PolicyRow(name="default", is_default=True, config={}, escalation_ladder=[])
        session.add(row)
        await session.flush()
    before = {"config": row.config, "escalation_ladder": row.escalation_ladder}
    row.config = config
    row.escalation_ladder = ladder
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="sla_policy",
        entity_id=row.id,
        action="update",
        before=before,
        after={"config": config, "escalation_ladder": ladder},
    )
    sla.forget_rules(session)


# --- the business calendar -----------------------------------------------------------------


def _format_dates(days: list[str]) -> str:
    return "\n".join(days)


async def calendar_form(session: AsyncSession) -> CalendarForm:
    """The default calendar as the admin form shows it."""
    row = await _calendar_row(session)
    config: dict[str, Any] = (
        DEFAULT_CALENDAR.to_config()
        if row is None
        else {
            "timezone": row.timezone,
            "work_intervals": row.work_intervals,
            "weekdays": row.weekdays,
            "holidays": row.holidays,
            "workdays": row.workdays,
        }
    )
    weekdays = set(config["weekdays"])
    return CalendarForm(
        timezone=config["timezone"],
        intervals=", ".join(f"{s}-{e}" for s, e in config["work_intervals"]),
        weekdays=[(f"wd{d}", d, d in weekdays) for d in range(7)],
        holidays=_format_dates(config["holidays"]),
        workdays=_format_dates(config["workdays"]),
    )


def parse_intervals(raw: str) -> list[list[str]]:
    """``"09:00-12:00, 13:30-18:00"`` → ``[["09:00", "12:00"], ["13:30", "18:00"]]``."""
    pairs = []
    for part in (p for p in _SPLIT.split(raw.strip()) if p):
        start, sep, end = part.replace("–", "-").replace("~", "-").partition("-")
        if (
            not sep
            or not re.fullmatch(r"\d{1,2}:\d{2}", start)
            or not re.fullmatch(r"\d{1,2}:\d{2}", end)
        ):
            raise ValueError(part)
        pairs.append([start.zfill(5), end.zfill(5)])
    if not pairs:
        raise ValueError("empty")
    return pairs


def parse_dates(raw: str) -> list[str]:
    """ISO dates and ranges (``2026-10-01..2026-10-07``), sorted and de-duplicated."""
    days: set[date] = set()
    for part in (p for p in _SPLIT.split(raw.strip()) if p):
        match = _RANGE.match(part)
        if match:
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
            if last < first or (last - first).days > 366:
                raise ValueError(part)
            days.update(first + timedelta(n) for n in range((last - first).days + 1))
        else:
            days.add(date.fromisoformat(part))
        if len(days) > MAX_DATES:
            raise ValueError("too many dates")
    return [d.isoformat() for d in sorted(days)]


def parse_calendar(values: Mapping[str, str]) -> dict[str, Any]:
    """The stored calendar shape for these form values, or ValidationFailed per field."""
    errors: dict[str, str] = {}
    timezone = (values.get("timezone") or "").strip()
    if timezone not in available_timezones():
        errors["timezone"] = N_("Unknown timezone (use a name like Asia/Shanghai).")
    intervals: list[list[str]] = []
    try:
        intervals = parse_intervals(values.get("intervals") or "")
    except ValueError:
        errors["intervals"] = N_("Enter working hours like 09:00-12:00, 13:30-18:00.")
    weekdays = [d for d in range(7) if _truthy(values.get(f"wd{d}"))]
    dates: dict[str, list[str]] = {}
    for name in ("holidays", "workdays"):
        try:
            dates[name] = parse_dates(values.get(name) or "")
        except ValueError:
            errors[name] = N_("Enter dates as 2026-10-01 or ranges as 2026-10-01..2026-10-07.")
    if errors:
        raise ValidationFailed(INVALID, fields=errors)
    config: dict[str, Any] = {
        "timezone": timezone,
        "work_intervals": intervals,
        "weekdays": weekdays,
        "holidays": dates["holidays"],
        "workdays": dates["workdays"],
    }
    try:
        calendar = BusinessCalendar.from_config(**config)
    except ValueError as exc:
        message = str(exc)
        if "holiday and workday" in message:
            field, text = "workdays", N_("A date cannot be both a holiday and a make-up workday.")
        elif "working weekday" in message:
            field, text = "weekdays", N_("Choose at least one working weekday.")
        else:
            field, text = (
                "intervals",
                N_("Working hours must be in order, each start before its end, without overlaps."),
            )
        raise ValidationFailed(INVALID, fields={field: text}) from exc
    stored = calendar.to_config()
    stored.pop("wall_clock", None)
    return stored


async def save_calendar(session: AsyncSession, actor: Actor, values: Mapping[str, str]) -> None:
    """Validate and store the default business calendar; audited."""
    if not actor.is_admin:
        raise Forbidden(N_("You do not have permission to do that."))
    config = parse_calendar(values)
    row = await _calendar_row(session)
    if row is None:
        row = CalendarRow(name="default", is_default=True)
        session.add(row)
        await session.flush()
    before = {
        "timezone": row.timezone,
        "work_intervals": row.work_intervals,
        "weekdays": row.weekdays,
        "holidays": row.holidays,
        "workdays": row.workdays,
    }
    row.timezone = config["timezone"]
    row.work_intervals = config["work_intervals"]
    row.weekdays = config["weekdays"]
    row.holidays = config["holidays"]
    row.workdays = config["workdays"]
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="business_calendar",
        entity_id=row.id,
        action="update",
        before=before,
        after=config,
    )
    sla.forget_rules(session)
