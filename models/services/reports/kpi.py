"""The KPI dashboard: the service process's targets (editable) against two periods' figures.

KPIs and their default targets (leads edit them; rows of :class:`models.KpiTarget` override):

* **Satisfied customers** ≥ 90 %: answered surveys with all three scores ≥ 4, of all answered
  surveys about the period's tickets.
* **First response time** ≤ 24 h: average wall-clock hours from registration to the first
  response, over the period's tickets that have one.
* **Resolution rate** ≥ 95 %: the period's tickets that are completed or closed now.
* **Repeat inquiries** ≤ 5 %: the period's tickets marked as a repeat of an earlier one.
* **Tickets per agent-hour** ≥ 10: tickets resolved in the period ÷ (people who resolved them ×
  open hours of the business calendar in the period) — see :class:`reports.Throughput`.

A value is "ok" (green) when it meets its target, "bad" (red) when not, and has no colour when
there is nothing to measure (no surveys, no tickets).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.kpi_target import KpiTarget
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, ValidationFailed
from models.services.reports import days, summary


class Unit(StrEnum):
    PERCENT = "percent"  # stored as a fraction, edited and shown as %
    HOURS = "hours"
    RATE = "rate"  # tickets per agent-hour


class Direction(StrEnum):
    AT_LEAST = "at_least"
    AT_MOST = "at_most"


@dataclass(frozen=True)
class KpiDef:
    key: str
    label: str  # msgid
    unit: Unit
    direction: Direction
    default: float
    maximum: float  # largest target a lead may set, in the stored unit


KPIS: tuple[KpiDef, ...] = (
    KpiDef(
        "satisfied_share",
        N_("Satisfied customers (all scores ≥ 4)"),
        Unit.PERCENT,
        Direction.AT_LEAST,
        0.90,
        1.0,
    ),
    KpiDef(
        "first_response_hours",
        N_("Average first response time"),
        Unit.HOURS,
        Direction.AT_MOST,
        24.0,
        24.0 * 30,
    ),
    KpiDef("resolution_rate", N_("Resolution rate"), Unit.PERCENT, Direction.AT_LEAST, 0.95, 1.0),
    KpiDef("repeat_rate", N_("Repeat inquiries"), Unit.PERCENT, Direction.AT_MOST, 0.05, 1.0),
    KpiDef(
        "tickets_per_agent_hour",
        N_("Tickets per agent-hour"),
        Unit.RATE,
        Direction.AT_LEAST,
        10.0,
        1000.0,
    ),
)
BY_KEY = {k.key: k for k in KPIS}
# Changes smaller than what the dashboard shows (0.1 pts, 0.1 h, 0.01) count as none.
NEGLIGIBLE = {Unit.PERCENT: 0.0005, Unit.HOURS: 0.05, Unit.RATE: 0.005}


class State(StrEnum):
    OK = "ok"
    BAD = "bad"
    NONE = "none"


def meets(value: float | None, target: float, direction: Direction) -> State:
    """Green, red, or nothing to judge."""
    if value is None:
        return State.NONE
    ok = value >= target if direction is Direction.AT_LEAST else value <= target
    return State.OK if ok else State.BAD


async def targets(session: AsyncSession) -> dict[str, float]:
    """Every KPI's current target (the default unless a lead changed it)."""
    stored = dict((await session.execute(select(KpiTarget.key, KpiTarget.value))).all())
    return {k.key: float(stored.get(k.key, k.default)) for k in KPIS}


def display_target(definition: KpiDef, value: float) -> str:
    """A target as the form shows it: 90 for 90 %, 24 for 24 h."""
    shown = value * 100 if definition.unit is Unit.PERCENT else value
    return f"{shown:.2f}".rstrip("0").rstrip(".")


def parse_targets(raw: Mapping[str, str]) -> dict[str, float]:
    """Form values (percent as 0–100) to stored targets; every problem reported per field."""
    errors: dict[str, str] = {}
    parsed: dict[str, float] = {}
    for definition in KPIS:
        text = (raw.get(definition.key) or "").strip().replace(",", ".").rstrip("%").strip()
        if not text:
            errors[definition.key] = N_("Required.")
            continue
        try:
            value = float(text)
        except ValueError:
            errors[definition.key] = N_("Enter a number.")
            continue
        if definition.unit is Unit.PERCENT:
            value /= 100
        if math.isnan(value) or value < 0 or value > definition.maximum:  # NaN, range
            errors[definition.key] = N_("Out of range.")
            continue
        if definition.unit is not Unit.PERCENT and value <= 0:
            errors[definition.key] = N_("Must be greater than zero.")
            continue
        parsed[definition.key] = value
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return parsed


async def set_targets(
    session: AsyncSession, actor: Actor, raw: Mapping[str, str]
) -> dict[str, float]:
    """A lead changes the targets (all at once, or none when any value is wrong)."""
    if not actor.is_lead:
        raise Forbidden(N_("Only leads may change KPI targets."))
    values = parse_targets(raw)
    rows = {row.key: row for row in (await session.scalars(select(KpiTarget))).all()}
    current = await targets(session)
    for key, value in values.items():
        if abs(current[key] - value) < 1e-12:
            continue
        row = rows.get(key)
        if row is None:
            row = KpiTarget(key=key, value=value, updated_by_id=actor.user_id)
            session.add(row)
            await session.flush()
        else:
            row.value = value
            row.updated_by_id = actor.user_id
        audit.record(
            session,
            actor,
            entity_type="kpi_target",
            entity_id=row.id,
            action="change",
            field=key,
            before=current[key],
            after=value,
        )
    await session.flush()
    return await targets(session)


@dataclass(frozen=True)
class KpiValue:
    definition: KpiDef
    target: float
    value: float | None
    state: State


@dataclass(frozen=True)
class PeriodKpis:
    period: summary.Period
    figures: summary.Figures
    throughput: summary.Throughput
    values: dict[str, KpiValue]


@dataclass(frozen=True)
class Comparison:
    """One KPI's row on the dashboard: both periods, and the change from B to A."""

    definition: KpiDef
    target: float
    a: KpiValue
    b: KpiValue

    @property
    def change(self) -> float | None:
        if self.a.value is None or self.b.value is None:
            return None
        return self.a.value - self.b.value

    @property
    def improved(self) -> bool | None:
        """Did A move in the good direction compared with B? (None: no visible change)"""
        change = self.change
        if change is None or abs(change) < NEGLIGIBLE[self.definition.unit]:
            return None
        return change > 0 if self.definition.direction is Direction.AT_LEAST else change < 0


@dataclass(frozen=True)
class Dashboard:
    a: PeriodKpis
    b: PeriodKpis
    rows: list[Comparison]
    targets: dict[str, float]
    department_id: int | None = None


def values_of(
    figures: summary.Figures, throughput: summary.Throughput, goals: Mapping[str, float]
) -> dict[str, KpiValue]:
    """The five KPI values of one period, judged against the targets."""
    raw = {
        "satisfied_share": figures.satisfaction.satisfied_share,
        "first_response_hours": figures.avg_first_response_hours,
        "resolution_rate": figures.resolution_rate,
        "repeat_rate": figures.repeat_rate,
        "tickets_per_agent_hour": throughput.per_agent_hour,
    }
    return {
        k.key: KpiValue(k, goals[k.key], raw[k.key], meets(raw[k.key], goals[k.key], k.direction))
        for k in KPIS
    }


async def period_kpis(
    session: AsyncSession,
    period: summary.Period,
    goals: Mapping[str, float],
    *,
    department_id: int | None = None,
    now: datetime | None = None,
    store: days.Store | None = None,
) -> PeriodKpis:
    figures = await summary.period_figures(session, period, department_id, store=store)
    flow = await summary.throughput(session, period, department_id, now=now, store=store)
    return PeriodKpis(period, figures, flow, values_of(figures, flow, goals))


async def dashboard(
    session: AsyncSession,
    a: summary.Period,
    b: summary.Period,
    *,
    department_id: int | None = None,
    now: datetime | None = None,
    store: days.Store | None = None,
) -> Dashboard:
    """Period A against period B (e.g. after and before a process change), KPI by KPI."""
    now = now or utcnow()
    goals = await targets(session)
    first = await period_kpis(session, a, goals, department_id=department_id, now=now, store=store)
    second = await period_kpis(session, b, goals, department_id=department_id, now=now, store=store)
    rows = [Comparison(k, goals[k.key], first.values[k.key], second.values[k.key]) for k in KPIS]
    return Dashboard(first, second, rows, goals, department_id)
