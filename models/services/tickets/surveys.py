"""Record 4: the satisfaction survey a customer answers once their ticket is completed.

A survey is created when a ticket moves to *completed* (``tickets.move`` calls
:func:`create_for_ticket`). Its link ``/survey/<token>`` carries an unguessable token of which
only the SHA-256 hash is stored. The token is an HMAC of the survey's identity under the
server's secret key, so the server can show the same link again later (portal tracking page,
email) without ever storing it; a database dump alone reveals no link.

One submission per ticket: the answer is written by a conditional UPDATE (``submitted_at IS
NULL AND expires_at > now``), so two racing submissions cannot both win. Low scores (any
dimension ≤ :data:`LOW_SCORE`) are recorded here; the SLA tick turns them into the
supervisor's follow-up (see :func:`low_score_clause`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.db import ALL_DAYS, mark_report_days, record_event
from models.enums import RequestType
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.crypto import new_token, token_hash
from models.services.common.errors import N_, Conflict, DomainError, NotFound, ValidationFailed
from models.services.customers import registry
from models.settings import get_settings
from models.survey import Survey
from models.ticket import Ticket
from models.ticket_count import utc_day

log = logging.getLogger(__name__)

SCORES = (1, 2, 3, 4, 5)
# A score at or below this is a complaint about the service: the supervisor follows up.
LOW_SCORE = 3
# All three scores at or above this make a "satisfied" customer (the KPI).
SATISFIED_SCORE = 4
TEXT_MAX = 2000
CONTACT_MAX = 200
DIMENSIONS = ("speed", "solution", "attitude")


class SurveyExpired(DomainError):
    """The survey link is past its expiry date."""

    status_code = 410


def _token_for(ticket_id: int, issued_at: datetime) -> str | None:
    """The link token of a survey: HMAC of its identity under the secret key (None if unset)."""
    secret = get_settings().secret_key
    if not secret:
        return None
    stamp = issued_at.astimezone(UTC).isoformat(timespec="microseconds")
    message = f"kefu-survey:v1:{ticket_id}:{stamp}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_for(survey: Survey) -> str | None:
    """The raw token of ``survey``'s link, or None when it cannot be recomputed.

    Rows made before the secret key changed (or by the demo filler) have a hash that no
    recomputed token matches; they get no link rather than a wrong one.
    """
    token = _token_for(survey.ticket_id, survey.created_at)
    if token is None or not hmac.compare_digest(token_hash(token), survey.token_hash):
        return None
    return token


def path_for(token: str) -> str:
    return f"/survey/{token}"


def url_for(token: str) -> str:
    """The absolute link, for emails."""
    return get_settings().base_url + path_for(token)


async def create_for_ticket(
    session: AsyncSession, ticket: Ticket, *, now: datetime | None = None
) -> Survey | None:
    """Create the survey of a just-completed ticket (or renew the link of an unanswered one).

    Idempotent: a ticket has at most one survey. Completing a reopened ticket again extends
    an unanswered survey's expiry; an answered one stays answered (one submission per ticket).
    Returns the survey, or None when the ticket's survey was already answered.
    """
    now = now or utcnow()
    expires = now + timedelta(days=get_settings().survey_expiry_days)
    existing = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
    if existing is not None:
        if existing.submitted_at is not None:
            return None
        existing.expires_at = max(existing.expires_at, expires)
        existing.service_type = ticket.request_type
        return existing
    token = _token_for(ticket.id, now)
    if token is None:  # no secret key: a random link that can be sent once, never re-shown
        log.warning(
            "no secret key configured; survey link of ticket %s cannot be re-shown", ticket.id
        )
        token = new_token()
    survey = Survey(
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        service_type=ticket.request_type,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=expires,
    )
    session.add(survey)
    await session.flush()
    return survey


async def link_for_ticket(
    session: AsyncSession, ticket_id: int, *, now: datetime | None = None
) -> str | None:
    """The path of the ticket's survey while it can still be answered, else None.

    For the portal's tracking page and the completion email.
    """
    now = now or utcnow()
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    if survey is None or survey.submitted_at is not None or survey.expires_at <= now:
        return None
    token = token_for(survey)
    return path_for(token) if token else None


@dataclass(frozen=True)
class SurveyState:
    """Where a ticket's survey stands, for the tracking page and the drawer."""

    exists: bool = False
    answered: bool = False
    # The link while it can still be answered (None: answered, expired or not re-showable).
    path: str | None = None
    recorded_by_id: int | None = None  # answered by phone, recorded by this staff member


async def for_customer(
    session: AsyncSession, ticket_id: int, *, now: datetime | None = None
) -> SurveyState:
    """The ticket's survey as the tracking page and the drawer offer it."""
    now = now or utcnow()
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    if survey is None:
        return SurveyState()
    answered = survey.submitted_at is not None
    token = None if answered or survey.expires_at <= now else token_for(survey)
    return SurveyState(
        exists=True,
        answered=answered,
        path=path_for(token) if token else None,
        recorded_by_id=survey.recorded_by_id,
    )


@dataclass(frozen=True)
class AnswerInput:
    """What the survey form sends, unparsed (every field is text)."""

    speed: str = ""
    solution: str = ""
    attitude: str = ""
    comment: str = ""
    suggestion: str = ""
    contact: str = ""


@dataclass(frozen=True)
class Answer:
    speed: int
    solution: int
    attitude: int
    comment: str | None
    suggestion: str | None
    contact: str | None

    @property
    def lowest(self) -> int:
        return min(self.speed, self.solution, self.attitude)


def _score(raw: str) -> int | None:
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value in SCORES else None


def parse_answer(raw: AnswerInput) -> Answer:
    """Check a submission; every problem is reported at once, per field, nothing stored."""
    errors: dict[str, str] = {}
    scores: dict[str, int] = {}
    for name in DIMENSIONS:
        value = _score(getattr(raw, name))
        if value is None:
            errors[name] = N_("Choose a score from 1 to 5.")
        else:
            scores[name] = value
    texts: dict[str, str | None] = {}
    for name, limit in (("comment", TEXT_MAX), ("suggestion", TEXT_MAX), ("contact", CONTACT_MAX)):
        text = (getattr(raw, name) or "").strip()
        if len(text) > limit:
            errors[name] = N_("Too long.")
        texts[name] = text or None
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    return Answer(
        speed=scores["speed"],
        solution=scores["solution"],
        attitude=scores["attitude"],
        comment=texts["comment"],
        suggestion=texts["suggestion"],
        contact=texts["contact"],
    )


@dataclass(frozen=True)
class SurveyView:
    """What the public survey page shows about the ticket being rated."""

    ticket_number: str
    ticket_title: str
    request_type: RequestType | None
    resolved_at: datetime | None
    expires_at: datetime


async def _by_token(session: AsyncSession, token: str) -> Survey:
    if not token or len(token) > 100:
        raise NotFound(N_("This survey link is not valid."))
    survey = await session.scalar(select(Survey).where(Survey.token_hash == token_hash(token)))
    if survey is None:
        raise NotFound(N_("This survey link is not valid."))
    return survey


def _ensure_open(survey: Survey, now: datetime) -> None:
    if survey.submitted_at is not None:
        raise Conflict(N_("This survey has already been answered. Thank you!"))
    if survey.expires_at <= now:
        raise SurveyExpired(N_("This survey link has expired."))


async def open_survey(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> SurveyView:
    """The survey behind a link, if it can still be answered (404 / 409 / 410 otherwise)."""
    survey = await _by_token(session, token)
    _ensure_open(survey, now or utcnow())
    ticket = await session.get(Ticket, survey.ticket_id)
    assert ticket is not None  # foreign key
    return SurveyView(
        ticket_number=ticket.number,
        ticket_title=ticket.title,
        request_type=survey.service_type,
        resolved_at=ticket.resolved_at,
        expires_at=survey.expires_at,
    )


async def submit(
    session: AsyncSession, token: str, answer: Answer, *, now: datetime | None = None
) -> Survey:
    """Record the customer's answer, once; the contact they leave is stored encrypted."""
    now = now or utcnow()
    survey = await _by_token(session, token)
    _ensure_open(survey, now)
    return await _record(session, Actor.system("customer"), survey, answer, now)


async def record_by_phone(
    session: AsyncSession, actor: Actor, survey: Survey, answer: Answer, *, now: datetime
) -> Survey:
    """A survey the customer answered on the phone, recorded by ``actor`` (kept on the row
    and audited). The link's expiry does not apply: the customer was asked, and answered."""
    if survey.submitted_at is not None:
        raise Conflict(N_("This survey has already been answered."))
    return await _record(session, actor, survey, answer, now, recorded_by_id=actor.user_id)


async def _record(
    session: AsyncSession,
    actor: Actor,
    survey: Survey,
    answer: Answer,
    now: datetime,
    *,
    recorded_by_id: int | None = None,
) -> Survey:
    """Write the answer, once: a conditional UPDATE, so two racing answers cannot both win
    (a link's answer must also come before its expiry)."""
    contact = registry.current_cipher().encrypt(answer.contact) if answer.contact else None
    open_now: ColumnElement[bool] = Survey.submitted_at.is_(None)
    if recorded_by_id is None:
        open_now = open_now & (Survey.expires_at > now)
    result = await session.execute(
        update(Survey)
        .where(Survey.id == survey.id, open_now)
        .values(
            speed_score=answer.speed,
            solution_score=answer.solution,
            attitude_score=answer.attitude,
            comment=answer.comment,
            suggestion=answer.suggestion,
            contact=contact,
            submitted_at=now,
            recorded_by_id=recorded_by_id,
        )
        .execution_options(synchronize_session=False, report_days=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        # Someone else submitted (or the link expired) between our read and our write.
        raise Conflict(N_("This survey has already been answered. Thank you!"))
    # The reports count the answer on the day its ticket was registered.
    registered = await session.scalar(
        select(Ticket.created_at).where(Ticket.id == survey.ticket_id)
    )
    mark_report_days(session, [utc_day(registered)] if registered else [ALL_DAYS])
    await session.refresh(survey)
    scores = {"speed": answer.speed, "solution": answer.solution, "attitude": answer.attitude}
    audit.record(
        session,
        actor,
        entity_type="survey",
        entity_id=survey.id,
        ticket_id=survey.ticket_id,
        action="survey_recorded" if recorded_by_id is not None else "survey_submitted",
        after=scores,
    )
    record_event(
        session,
        "survey.submitted",
        survey_id=survey.id,
        ticket_id=survey.ticket_id,
        lowest_score=answer.lowest,
        low_score=answer.lowest <= LOW_SCORE,
    )
    return survey


def decrypt_contact(survey: Survey) -> str | None:
    """The contact a customer left on the survey (for the supervisor's follow-up)."""
    return registry.decrypt(survey.contact)


def is_low(survey: Survey) -> bool:
    """True when any submitted score is at or below :data:`LOW_SCORE`."""
    scores = (survey.speed_score, survey.solution_score, survey.attitude_score)
    return survey.submitted_at is not None and any(s is not None and s <= LOW_SCORE for s in scores)


def low_score_clause() -> ColumnElement[bool]:
    """SQL condition of a submitted survey with a low score (for the SLA tick's sweep)."""
    return Survey.submitted_at.is_not(None) & or_(
        Survey.speed_score <= LOW_SCORE,
        Survey.solution_score <= LOW_SCORE,
        Survey.attitude_score <= LOW_SCORE,
    )
