"""Which SLA actions a ticket's facts call for, and when — pure, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from models.enums import TicketStatus
from models.services.admin.org import Org
from models.services.escalation.engine import last_close, previous_close
from models.services.sla import policy as sla
from models.services.sla.deadlines import DEFAULT_CALENDAR, DEFAULT_POLICY, BusinessCalendar

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
H = timedelta(hours=1)


def facts(**changes: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "status": TicketStatus.PENDING,
        "paused_since": None,
        "assignee_id": 7,
        "reminder_due": None,
        "acknowledge_due": T0 + H,
        "acknowledged_at": None,
        "first_response_due": T0 + 24 * H,
        "first_responded_at": None,
        "resolution_due": T0 + 48 * H,
    }
    base.update(changes)
    return SimpleNamespace(**base)


def rules_of(triggers: list[sla.Trigger]) -> list[tuple[str, int]]:
    return [(t.rule, t.level) for t in triggers]


def test_pending_assigned_ticket_calls_for_ladder_and_overdue_in_time_order() -> None:
    found = sla.ticket_triggers(facts(reminder_due=T0 + 0.5 * H), [60, 120])
    assert rules_of(found) == [
        (sla.RULE_REMINDER, 0),
        (sla.RULE_ESCALATION, 1),
        (sla.RULE_ESCALATION, 2),
        (sla.RULE_ESCALATION, 3),
        (sla.RULE_FIRST_RESPONSE, 0),
        (sla.RULE_RESOLUTION, 0),
    ]
    assert [t.at for t in found][:4] == [T0 + 0.5 * H, T0 + H, T0 + 2 * H, T0 + 4 * H]


def test_ladder_instants_accumulate_each_wait() -> None:
    assert sla.escalation_instants(T0, [30, 30, 60]) == [T0, T0 + 0.5 * H, T0 + H, T0 + 2 * H]
    assert sla.escalation_instants(T0, []) == [T0]


@pytest.mark.parametrize("status", [TicketStatus.COMPLETED, TicketStatus.CLOSED])
def test_finished_tickets_call_for_nothing(status: TicketStatus) -> None:
    assert sla.ticket_triggers(facts(status=status), [60]) == []


def test_paused_tickets_call_for_nothing() -> None:
    paused = facts(status=TicketStatus.AWAITING_CONFIRMATION, paused_since=T0)
    assert sla.ticket_triggers(paused, [60]) == []


def test_awaiting_confirmation_calls_only_for_the_silence_rule() -> None:
    paused = facts(status=TicketStatus.AWAITING_CONFIRMATION, paused_since=T0)
    ends = T0 + 200 * H
    level = sla.confirmation_level(T0)
    assert sla.ticket_triggers(paused, [60], silence_ends=ends) == [
        sla.Trigger(ends, sla.RULE_CONFIRMATION, level)
    ]
    # A later wait is another level: each wait for a confirmation fires once.
    assert sla.confirmation_level(T0 + H) != level


def test_the_silence_counts_72_business_hours_on_the_calendar() -> None:
    rules = sla.Rules(DEFAULT_POLICY, DEFAULT_CALENDAR, sla.DEFAULT_LADDER)
    paused = facts(status=TicketStatus.AWAITING_CONFIRMATION, paused_since=T0)
    # Monday 10:00, 9 business hours a day: 72 hours are 8 working days → Thursday next
    # week, 10:00 (weekends skipped).
    assert sla.confirmation_due(paused, rules) == T0 + timedelta(days=10)
    assert sla.next_check_at(paused, rules) == T0 + timedelta(days=10)
    working = facts(status=TicketStatus.IN_PROGRESS, paused_since=None)
    assert sla.confirmation_due(working, rules) is None


def test_done_steps_drop_out() -> None:
    started = facts(
        status=TicketStatus.IN_PROGRESS,
        reminder_due=T0 + 0.5 * H,
        acknowledged_at=T0,
        first_responded_at=T0,
    )
    # Not pending: no reminder; acknowledged: no ladder; answered: no first-response rule.
    assert rules_of(sla.ticket_triggers(started, [60])) == [(sla.RULE_RESOLUTION, 0)]
    unassigned = facts(assignee_id=None, acknowledge_due=None)
    assert (sla.RULE_ESCALATION, 1) not in rules_of(sla.ticket_triggers(unassigned, [60]))


def test_resolution_level_counts_extensions() -> None:
    found = sla.ticket_triggers(facts(), [], resolution_level=2)
    assert found[-1] == sla.Trigger(T0 + 48 * H, sla.RULE_RESOLUTION, 2)


def test_next_after_is_strictly_later() -> None:
    found = sla.ticket_triggers(facts(), [60])
    assert sla.next_after(found, T0 + H) == T0 + 2 * H  # level 1 at T0+1h is done
    assert sla.next_after(found, T0 + 48 * H) is None
    rules = sla.Rules(policy=None, calendar=DEFAULT_CALENDAR, escalation_ladder=(60,))  # type: ignore[arg-type]
    assert sla.next_check_at(facts(), rules) == T0 + H
    assert sla.next_check_at(facts(status=TicketStatus.CLOSED), rules) is None


# --- the end of the working day ---------------------------------------------------------------


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


CN = BusinessCalendar(
    holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
    workdays=frozenset({date(2026, 10, 10)}),
)


def test_closing_time_is_the_end_of_the_last_interval() -> None:
    lunch = BusinessCalendar.from_config(
        timezone="Asia/Shanghai",
        work_intervals=[["09:00", "12:00"], ["13:30", "17:30"]],
        weekdays=range(5),
    )
    assert lunch.closing_time(date(2026, 3, 2)) == sh(2026, 3, 2, 17, 30)
    assert lunch.closing_time(date(2026, 3, 7)) is None  # Saturday
    assert BusinessCalendar(wall_clock=True).closing_time(date(2026, 3, 2)) is None


def test_last_close_is_today_after_hours_and_none_before() -> None:
    assert last_close(CN, sh(2026, 3, 2, 18, 1)) == sh(2026, 3, 2, 18)
    # Before today's close: yesterday's (Sunday: none) … Friday's is older than a day.
    assert last_close(CN, sh(2026, 3, 2, 17)) is None
    assert last_close(CN, sh(2026, 3, 3, 9)) == sh(2026, 3, 2, 18)


def test_digest_window_spans_days_off() -> None:
    # Monday's list covers everything since Friday's close (the weekend included).
    assert previous_close(CN, sh(2026, 3, 9, 18)) == sh(2026, 3, 6, 18)
    # After the holiday: back to the last working day before it.
    assert previous_close(CN, sh(2026, 10, 5, 18)) == sh(2026, 9, 30, 18)
    # A make-up Saturday is a working day with a close of its own.
    assert last_close(CN, sh(2026, 10, 10, 18, 5)) == sh(2026, 10, 10, 18)


# --- who hears about it ------------------------------------------------------------------------


def test_ladder_climbs_supervisors_then_admins_without_repeating() -> None:
    org = Org({1: (10, None), 2: (20, 1), 3: (None, 2), 4: (10, 1)}, admins=[99, 10])
    assert org.ladder(3) == [[20], [10], [99]]  # no supervisor of its own: the next rung
    assert org.ladder(4) == [[10], [99]]  # same person twice is told once
    assert org.ladder(None) == [[99, 10]]
    assert org.first_rung(2) == [20]


def test_ladder_survives_a_parent_cycle() -> None:
    org = Org({1: (10, 2), 2: (20, 1)}, admins=[99])
    assert org.ladder(1) == [[10], [20], [99]]
