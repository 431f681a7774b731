"""Applying the worker's triage to a ticket, repeat-inquiry detection, and the review queue.

The worker computes (embedding, classification, knowledge-base hits) outside any transaction,
then calls :func:`apply_triage` once, which re-checks the ticket inside the transaction: a
ticket already triaged is left exactly as it is (no second audit entry, no second event), so
the job may run any number of times.

**Repeat inquiries.** A ticket repeats an earlier one when the same customer registered it at
most :data:`REPEAT_WINDOW` (7 days) before, and the two texts are similar: the Jaccard overlap
of their retrieval terms (stemmed words, Chinese character unigrams and bigrams) is at least
:data:`REPEAT_LEXICAL`, or — for mostly-Latin texts, because the default embedder does not
understand Chinese — the cosine of their embeddings is at least :data:`REPEAT_COSINE`. The most
similar earlier ticket becomes ``repeat_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.customer import Customer
from models.db import record_job
from models.enums import CustomerLevel, Priority, RequestType, TicketStatus, TypeSource
from models.label import Label
from models.model_version import ModelVersion
from models.services.common import jobs
from models.services.common.actor import Actor
from models.services.common.errors import N_, NotFound
from models.services.common.priority import PRIORITY_ORDER, compute_priority
from models.services.knowledge import kb, lifecycle
from models.services.knowledge.lifecycle import IN_FLIGHT, Trigger
from models.services.tickets import assignment, commands, routing
from models.ticket import Ticket
from models.ticket_embedding import TicketEmbedding
from triage.vectors import cosine, from_bytes, to_bytes

if TYPE_CHECKING:
    import numpy as np

TRIAGE = Actor.system("triage")
REPEAT_WINDOW = timedelta(days=7)
REPEAT_CANDIDATES = 20
REPEAT_LEXICAL = 0.5
REPEAT_COSINE = 0.85
REPEAT_MIN_LATIN = 0.5


@dataclass(frozen=True)
class Classification:
    """The model's verdict for one ticket."""

    request_type: RequestType
    confidence: float
    model_version: str


@dataclass(frozen=True)
class PendingTicket:
    """What the worker needs to triage a ticket."""

    id: int
    text: str


async def pending_ticket(session: AsyncSession, ticket_id: int) -> PendingTicket | None:
    """The ticket's text if it still needs triage (None: unknown or already triaged)."""
    row = (
        await session.execute(
            select(Ticket.id, Ticket.title, Ticket.description, Ticket.triaged_at).where(
                Ticket.id == ticket_id
            )
        )
    ).one_or_none()
    if row is None or row.triaged_at is not None:
        return None
    return PendingTicket(row.id, row.description or row.title)


async def ticket_text(session: AsyncSession, ticket_id: int) -> str | None:
    """The text a ticket is triaged and searched by (None: no such ticket)."""
    row = (
        await session.execute(
            select(Ticket.title, Ticket.description).where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    return None if row is None else row.description or row.title


async def refine_suggestions(
    session: AsyncSession, ticket_id: int, suggestions: Sequence[kb.Hit]
) -> int:
    """Replace a triaged ticket's suggestions with a better ranking; how many are stored."""
    if await session.get(Ticket, ticket_id) is None:
        raise NotFound(N_("Ticket not found."))
    await kb.replace_ticket_suggestions(session, ticket_id, suggestions)
    return len(suggestions)


def _term_set(text: str) -> set[str]:
    from triage.retrieval import terms

    return set(terms(text))


def similarity(
    text_a: str, text_b: str, emb_a: np.ndarray | None = None, emb_b: np.ndarray | None = None
) -> tuple[float, float | None]:
    """(lexical Jaccard, embedding cosine or None) of two inquiry texts."""
    from triage.text import latin_share

    a, b = _term_set(text_a), _term_set(text_b)
    lexical = len(a & b) / len(a | b) if a and b else 0.0
    dense = None
    if (
        emb_a is not None
        and emb_b is not None
        and min(latin_share(text_a), latin_share(text_b)) >= REPEAT_MIN_LATIN
    ):
        dense = cosine(emb_a, emb_b)
    return lexical, dense


def is_similar(lexical: float, dense: float | None) -> bool:
    """The repeat rule (see the module docstring)."""
    return lexical >= REPEAT_LEXICAL or (dense is not None and dense >= REPEAT_COSINE)


async def _find_repeat(
    session: AsyncSession, ticket: Ticket, embedding: np.ndarray | None, model: str | None
) -> int | None:
    rows = (
        await session.execute(
            select(
                Ticket.id,
                Ticket.description,
                TicketEmbedding.embedding,
                TicketEmbedding.embedding_model,
            )
            .outerjoin(TicketEmbedding, TicketEmbedding.ticket_id == Ticket.id)
            .where(
                Ticket.customer_id == ticket.customer_id,
                Ticket.id != ticket.id,
                Ticket.created_at >= ticket.created_at - REPEAT_WINDOW,
                Ticket.created_at <= ticket.created_at,
            )
            .order_by(Ticket.created_at.desc())
            .limit(REPEAT_CANDIDATES)
        )
    ).all()
    best: tuple[float, int] | None = None
    for row in rows:
        other = from_bytes(row.embedding) if model and row.embedding_model == model else None
        lexical, dense = similarity(ticket.description, row.description, embedding, other)
        if is_similar(lexical, dense):
            score = max(lexical, dense or 0.0)
            if best is None or score > best[0]:
                best = (score, row.id)
    return best[1] if best else None


@dataclass(frozen=True)
class TriageResult:
    """What :func:`apply_triage` did (``applied`` False: the ticket was already triaged)."""

    ticket_id: int
    applied: bool
    request_type: RequestType | None = None
    department_id: int | None = None
    priority: Priority | None = None
    repeat_of_id: int | None = None
    suggestions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "applied": self.applied,
            "request_type": str(self.request_type) if self.request_type else None,
            "department_id": self.department_id,
            "priority": str(self.priority) if self.priority else None,
            "repeat_of_id": self.repeat_of_id,
            "suggestions": self.suggestions,
        }


async def apply_triage(
    session: AsyncSession,
    ticket_id: int,
    prediction: Classification,
    suggestions: Sequence[kb.Hit],
    now: datetime,
    *,
    embedding: np.ndarray | None = None,
    embedding_model: str | None = None,
    refine_suggestions: bool = False,
) -> TriageResult:
    """Write one ticket's triage: type, priority, department, deadlines, suggestions, repeat.

    ``refine_suggestions``: ``suggestions`` are a first, lexical ranking; a job ranks again
    with the retrieval embedder (:func:`refine_suggestions`) once the worker gets to it, so
    a burst of inquiries is classified and routed first.

    A type a person already set is kept (the model never overrides a person); the priority
    only rises (urgency × customer level × complaint); the department is set only if none was
    chosen. Every change is audited and the board hears ``ticket.triaged`` once.
    """
    ticket = await session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(selectinload(Ticket.customer))
        .with_for_update(of=Ticket)
    )
    if ticket is None:
        raise NotFound(N_("Ticket not found."))
    if ticket.triaged_at is not None:
        return TriageResult(ticket_id, applied=False)
    level = CustomerLevel(ticket.customer.level)
    repeat_of = await _find_repeat(session, ticket, embedding, embedding_model)
    source = TypeSource(ticket.type_source) if ticket.type_source else None
    classified = source in (None, TypeSource.MODEL)
    if classified:
        request_type: RequestType | None = prediction.request_type
    else:
        request_type = RequestType(ticket.request_type) if ticket.request_type else None
    current = Priority(ticket.priority)
    computed = compute_priority(ticket.urgency, level, request_type)
    higher = PRIORITY_ORDER.index(computed) < PRIORITY_ORDER.index(current)
    department_id = None
    if ticket.department_id is None and request_type is not None:
        department_id = await routing.department_for(session, request_type)
    await commands.record_triage(
        session,
        TRIAGE,
        ticket,
        commands.Triaged(
            priority=computed if higher else current,
            request_type=prediction.request_type if classified else None,
            confidence=round(float(prediction.confidence), 4) if classified else None,
            model_version=prediction.model_version if classified else None,
            department_id=department_id,
            repeat_of_id=repeat_of,
        ),
        now,
    )
    await kb.replace_ticket_suggestions(session, ticket.id, suggestions)
    if refine_suggestions:
        record_job(session, jobs.suggest_ticket_job(ticket.id))
    if embedding is not None and embedding_model:
        stored = await session.get(TicketEmbedding, ticket.id)
        if stored is None:
            session.add(
                TicketEmbedding(
                    ticket_id=ticket.id,
                    embedding=to_bytes(embedding),
                    embedding_model=embedding_model,
                )
            )
        else:
            stored.embedding, stored.embedding_model = to_bytes(embedding), embedding_model
    if ticket.department_id is not None and ticket.assignee_id is None:
        await assignment.auto_assign(session, ticket.id, now=now)
    return TriageResult(
        ticket.id,
        True,
        request_type,
        ticket.department_id,
        Priority(ticket.priority),
        repeat_of,
        len(suggestions),
    )


# --- the review queue --------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """A model-typed ticket awaiting a lead's look, least confident first."""

    id: int
    number: str
    version: int
    title: str
    excerpt: str
    customer_name: str
    status: TicketStatus
    request_type: RequestType
    confidence_pct: int
    created_at: datetime
    model_version: str | None
    is_repeat: bool


@dataclass(frozen=True)
class ReviewPage:
    items: list[ReviewItem]
    total: int
    next_offset: int | None
    types: tuple[RequestType, ...] = tuple(RequestType)


EXCERPT_CHARS = 220


def _excerpt(text: str) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


REVIEW_POOL = 400  # the newest model-typed tickets the informative order is computed over
TEACH_TARGET = 40  # labels from leads below which the "teach Kefu" step is offered

_REVIEW_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.version,
    Ticket.title,
    Ticket.description,
    Customer.name,
    Ticket.status,
    Ticket.request_type,
    Ticket.type_confidence,
    Ticket.created_at,
    Ticket.model_version,
    Ticket.is_repeat,
)


def _review_item(r: Any) -> ReviewItem:
    return ReviewItem(
        r.id,
        r.number,
        r.version,
        r.title,
        _excerpt(r.description),
        r.name,
        TicketStatus(r.status),
        RequestType(r.request_type),
        round((r.type_confidence or 0.0) * 100),
        r.created_at,
        r.model_version,
        r.is_repeat,
    )


def _candidate_vectors(rows: Sequence[Any]) -> np.ndarray:
    """Stored embeddings when every candidate has one of the same model, otherwise hashed
    retrieval terms (the near-duplicate check must compare like with like)."""
    import numpy as np

    from triage.active import hashed_vectors
    from triage.retrieval import terms

    models = {r.embedding_model for r in rows}
    if len(models) == 1 and None not in models:
        vectors = [v for r in rows if (v := from_bytes(r.embedding)) is not None]
        if len(vectors) == len(rows) and len({v.shape for v in vectors}) == 1:
            return np.vstack(vectors).astype(np.float64)
    return hashed_vectors([terms(f"{r.title} {r.description or ''}") for r in rows])


async def review_queue(session: AsyncSession, *, limit: int = 50, offset: int = 0) -> ReviewPage:
    """Tickets whose type only the model decided, the most informative to correct first.

    The newest :data:`REVIEW_POOL` of them are ordered by :func:`triage.active.select`
    (uncertainty from the stored confidence, near-duplicates and runs of one predicted type
    pushed back); older ones follow, least confident first.
    """
    from triage.active import select as informative
    from triage.active import uncertainty

    where = (Ticket.type_source == TypeSource.MODEL, Ticket.request_type.is_not(None))
    total = int(await session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0)
    pool = (
        await session.execute(
            select(*_REVIEW_COLUMNS, TicketEmbedding.embedding, TicketEmbedding.embedding_model)
            .join(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(TicketEmbedding, TicketEmbedding.ticket_id == Ticket.id)
            .where(*where)
            .order_by(Ticket.id.desc())
            .limit(REVIEW_POOL)
        )
    ).all()
    rows: list[Any] = []
    if offset < len(pool):
        order = informative(
            uncertainty([r.type_confidence or 0.0 for r in pool]),
            _candidate_vectors(pool),
            [str(r.request_type) for r in pool],
            min(offset + limit, len(pool)),
        )
        rows = [pool[i] for i in order[offset:]]
    if len(rows) < limit and len(pool) == REVIEW_POOL:
        rest_offset = max(0, offset - len(pool))
        rows += (
            await session.execute(
                select(*_REVIEW_COLUMNS)
                .join(Customer, Customer.id == Ticket.customer_id)
                .where(*where, Ticket.id < pool[-1].id)
                .order_by(Ticket.type_confidence.asc().nulls_first(), Ticket.id.desc())
                .offset(rest_offset)
                .limit(limit - len(rows))
            )
        ).all()
    items = [_review_item(r) for r in rows]
    next_offset = offset + limit if offset + limit < total else None
    return ReviewPage(items, total, next_offset)


async def review_item(session: AsyncSession, ticket_id: int) -> ReviewItem | None:
    """One ticket as its review-queue row (None once a person has decided its type)."""
    r = (
        await session.execute(
            select(*_REVIEW_COLUMNS, Ticket.type_source)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    if r is None:
        raise NotFound(N_("Ticket not found."))
    if r.type_source != TypeSource.MODEL or r.request_type is None:
        return None
    return _review_item(r)


# --- "Teach Kefu your tickets": the first-run step ---------------------------------------


@dataclass(frozen=True)
class TeachRun:
    """The newest retraining since install, as the teach step shows it."""

    version: str
    status: str
    progress: int
    in_flight: bool


@dataclass(frozen=True)
class TeachStep:
    """Labels given by leads so far (a confirmation counts), the target, the most informative
    tickets to look at next, and the newest retraining's progress or outcome."""

    labels: int
    target: int
    page: ReviewPage
    run: TeachRun | None

    @property
    def active(self) -> bool:
        return self.labels < self.target

    @property
    def done_pct(self) -> int:
        return min(100, round(100 * self.labels / self.target)) if self.target else 100


async def teach_step(
    session: AsyncSession, *, target: int = TEACH_TARGET, with_items: bool = True
) -> TeachStep:
    """What the "teach Kefu your tickets" step shows (see :data:`TEACH_TARGET`)."""
    labels = int(
        await session.scalar(select(func.count()).select_from(Label).where(Label.source == "lead"))
        or 0
    )
    latest = await session.scalar(
        select(ModelVersion)
        .where(ModelVersion.trigger != Trigger.BOOTSTRAP)
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    run = None
    if latest is not None:
        run = TeachRun(
            latest.version,
            str(latest.status),
            int(latest.progress or 0),
            str(latest.status) in {str(s) for s in IN_FLIGHT},
        )
    page = ReviewPage([], 0, None)
    if with_items and labels < target:
        page = await review_queue(session, limit=target - labels)
    return TeachStep(labels, target, page, run)


@dataclass(frozen=True)
class Reviewed:
    """A confirmed or corrected ticket and, while the teach step runs, its progress."""

    ticket: Ticket
    teach: TeachStep | None


async def review_type(
    session: AsyncSession,
    actor: Actor,
    ticket_id: int,
    request_type: RequestType,
    *,
    expected_version: int | None,
) -> Reviewed:
    """A lead confirms (same type) or corrects a type from the review page, through the
    tickets' write path; the label that completes the teach step requests a retraining."""
    ticket = await commands.change_type(
        session, actor, ticket_id, request_type, expected_version=expected_version
    )
    step = await teach_step(session, with_items=False)
    if step.labels == step.target and actor.is_lead:
        await lifecycle.request_retrain(session, actor, trigger=lifecycle.Trigger.LABELS)
        step = await teach_step(session, with_items=False)
    return Reviewed(ticket, step if step.labels <= step.target else None)


async def teach_retrain(session: AsyncSession, actor: Actor) -> tuple[TeachStep, bool]:
    """ "Retrain now" from the teach step: the existing retraining request, and the step."""
    _, queued = await lifecycle.request_retrain(session, actor)
    return await teach_step(session, with_items=False), queued
