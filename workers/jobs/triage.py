"""Triage and retraining jobs.

``triage_ticket`` (job id ``triage:<id>``) classifies one inquiry and writes the result
through :func:`models.services.tickets.triage.apply_triage`, which re-checks the ticket inside
its transaction: a second run changes nothing. ``suggest_ticket`` (``suggest-ticket:<id>``)
ranks its knowledge-base suggestions again with the retrieval embedder when the triage had
to rank them lexically (the text's vector was not ready yet; it is made when that embedder
has nothing else to do).
``retrain_classifier`` (job id ``retrain:<version id>``) trains a queued model version.
``classifier_sweep`` (cron) is the safety net for lost or stuck trainings.
"""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry
from arq.cron import cron
from arq.worker import func

from models.base import utcnow
from models.db import unit_of_work
from models.enums import RequestType
from models.services.common import jobs
from models.services.common.errors import Conflict, NotFound
from models.services.knowledge import lifecycle
from models.services.tickets import triage
from workers.context import TriageRuntime

log = logging.getLogger(__name__)
SUGGESTIONS = 3


async def triage_ticket(ctx: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """Classify, prioritise, route, schedule, suggest and flag repeats for one ticket."""
    runtime: TriageRuntime = ctx["triage"]
    db, settings = ctx["db"], ctx["settings"]
    async with db.sessionmaker() as session:
        pending = await triage.pending_ticket(session, ticket_id)
    if pending is None:
        return {"ticket_id": ticket_id, "applied": False}
    runtime.prefetch(pending.text)  # its retrieval vector, made while it is classified
    analysis = await runtime.analyze(db, pending.text)
    # With a retrieval embedder of its own (the default), the suggestions are ranked by meaning
    # now if the text's vector is ready, else lexically, and ``suggest_ticket`` ranks them again
    # once it is: in a burst, classifying every inquiry comes before the second embedding.
    hits, deferred = await runtime.triage_suggestions(db, pending.text, SUGGESTIONS, analysis)
    verdict = triage.Classification(
        RequestType(analysis.prediction.category),
        analysis.prediction.confidence,
        analysis.model_version,
    )
    try:
        async with unit_of_work(db, ctx.get("redis"), settings.event_channel) as session:
            result = await triage.apply_triage(
                session,
                ticket_id,
                verdict,
                hits,
                utcnow(),
                embedding=analysis.embedding,
                embedding_model=analysis.embedder_name,
                refine_suggestions=deferred,
            )
    except Conflict as exc:  # someone changed the ticket meanwhile: try again shortly
        raise Retry(defer=2) from exc
    return result.as_dict()


async def suggest_ticket(ctx: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """Rank knowledge-base articles for a triaged ticket with the retrieval embedder."""
    runtime: TriageRuntime = ctx["triage"]
    db, settings = ctx["db"], ctx["settings"]
    async with db.sessionmaker() as session:
        text = await triage.ticket_text(session, ticket_id)
    if text is None:
        return {"ticket_id": ticket_id, "suggestions": None}
    hits = await runtime.search(db, text, SUGGESTIONS)
    try:
        async with unit_of_work(db, ctx.get("redis"), settings.event_channel) as session:
            stored = await triage.refine_suggestions(session, ticket_id, hits)
    except NotFound:  # deleted meanwhile
        return {"ticket_id": ticket_id, "suggestions": None}
    return {"ticket_id": ticket_id, "suggestions": stored}


async def retrain_classifier(ctx: dict[str, Any], version_id: int) -> dict[str, Any]:
    """Train the queued model version; promote it only if it is not worse."""
    runtime: TriageRuntime = ctx["triage"]
    outcome = await runtime.retrain(ctx["db"], version_id=version_id)
    log.info("retraining %s: %s", outcome.version, outcome.status)
    return {"version": outcome.version, "status": str(outcome.status), "error": outcome.error}


async def classifier_sweep(ctx: dict[str, Any]) -> dict[str, int]:
    """Fail stuck trainings, re-enqueue lost ones, notice labels nobody counted."""
    settings = ctx["settings"]
    async with unit_of_work(ctx["db"], ctx.get("redis"), settings.event_channel) as session:
        return await lifecycle.sweep(session)


# Default timeouts on purpose: arq locks every job for the longest function timeout, so one
# long timeout would keep a killed worker's triage jobs locked that long. The slow parts fit:
# the bootstrap (first triage job) embeds ~2,700 rows; a worker retraining embeds only the
# labels added since the last one (large imports are trained by the CLI, synchronously).
FUNCTIONS: list[Any] = [
    func(triage_ticket, name=jobs.TRIAGE_TICKET),
    func(suggest_ticket, name=jobs.SUGGEST_TICKET),
    func(retrain_classifier, name=jobs.RETRAIN_CLASSIFIER, max_tries=1),
    classifier_sweep,
]
CRON_JOBS: list[Any] = [
    cron(
        classifier_sweep,
        minute=set(range(3, 60, 10)),
        second=30,
        timeout=60,
        max_tries=1,
        unique=True,
    ),
]
