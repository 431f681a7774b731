"""Every arq job the services ask for: its function name, arguments and unique id, in one place.

A service records a job on the session (:func:`models.db.record_job`); it is enqueued once the
transaction commits. The worker registers its functions under the same names
(``workers/jobs``). A job id makes asking twice harmless: arq ignores an id it already holds,
and every job re-checks the database anyway (jobs may run twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from models.base import utcnow
from models.db import Job

# The worker's function names.
TRIAGE_TICKET = "triage_ticket"
SUGGEST_TICKET = "suggest_ticket"
RETRAIN_CLASSIFIER = "retrain_classifier"
EMBED_ARTICLES = "embed_articles"
SEND_MAIL = "send_mail"
WECOM_SYNC = "wecom_sync"
WECOM_SEND = "wecom_send"
DELIVER_NOTIFICATION = "deliver_notification"
DRAIN_ASSIGNMENTS = "drain_assignments"
# Asked of the worker with the caller waiting for the answer (``models.services.common.asks``;
# also the name of the arq job that answered it in the previous release).
SUGGEST = "suggest"


def triage_job(ticket_id: int) -> Job:
    """Classify one ticket (unique per ticket while queued or running)."""
    return Job(TRIAGE_TICKET, {"ticket_id": ticket_id}, job_id=f"triage:{ticket_id}")


def triage_sweep_job(ticket_id: int, now: datetime) -> Job:
    """Triage again for a ticket still untriaged: a fresh id per ten-minute window.

    The first job may be stranded behind a killed worker's in-progress lock for as long as
    arq's job timeout, and arq ignores a job id it still holds. A duplicate run is harmless:
    applying triage re-checks the ticket under FOR UPDATE.
    """
    window = f"{now:%Y%m%dT%H}{now.minute // 10}"
    return Job(TRIAGE_TICKET, {"ticket_id": ticket_id}, job_id=f"triage:{ticket_id}:sweep:{window}")


def retrain_job(version_id: int) -> Job:
    """Train a queued classifier version (unique per version: never trained twice)."""
    return Job(RETRAIN_CLASSIFIER, {"version_id": version_id}, job_id=f"retrain:{version_id}")


def embed_job(article_ids: Sequence[int] | None = None, now: datetime | None = None) -> Job:
    """Embed knowledge-base articles (all missing ones when no ids are given); one job per
    set of articles per second."""
    ids = sorted(set(article_ids or []))
    key = ",".join(map(str, ids[:20])) if ids else "all"
    stamp = (now or utcnow()).timestamp()
    return Job(EMBED_ARTICLES, {"article_ids": ids or None}, job_id=f"embed:{key}:{stamp:.0f}")


#: A suggest-ticket job waits this long, so that inquiries registered meanwhile are triaged
#: first (the queue runs jobs in the order they are due).
SUGGEST_TICKET_DEFER = 1.0


def suggest_ticket_job(ticket_id: int) -> Job:
    """Rank knowledge-base articles for one triaged ticket with the retrieval embedder
    (unique per ticket while queued or running), after :data:`SUGGEST_TICKET_DEFER`."""
    return Job(
        SUGGEST_TICKET,
        {"ticket_id": ticket_id},
        job_id=f"suggest-ticket:{ticket_id}",
        defer_seconds=SUGGEST_TICKET_DEFER,
    )


def send_mail_job(mail_id: int, *, again: str | None = None) -> Job:
    """Send one queued outgoing mail (unique per message; ``again`` names a person's retry,
    which must not be swallowed by the first job's kept result)."""
    job_id = f"mail:{mail_id}" if again is None else f"mail:{mail_id}:again:{again}"
    return Job(SEND_MAIL, {"mail_id": mail_id}, job_id=job_id)


def delivery_job(delivery_id: int) -> Job:
    """Deliver one logged notification delivery (unique per delivery)."""
    return Job(DELIVER_NOTIFICATION, {"delivery_id": delivery_id}, job_id=f"notify:{delivery_id}")


def drain_assignments_job(department_id: int | None = None, now: datetime | None = None) -> Job:
    """Hand a department's waiting tickets to agents with room (all enabled departments when
    None); one job per department per second (the cron job drains every minute anyway)."""
    stamp = (now or utcnow()).timestamp()
    key = department_id if department_id is not None else "all"
    return Job(
        DRAIN_ASSIGNMENTS, {"department_id": department_id}, job_id=f"drain:{key}:{stamp:.0f}"
    )


def wecom_sync_job(account_id: int, callback_token: str) -> Job:
    """Fetch a WeCom account's new messages (one job per callback: its token names it)."""
    key = callback_token[:64] or "poll"
    return Job(
        WECOM_SYNC,
        {"account_id": account_id, "callback_token": callback_token},
        job_id=f"wecom-sync:{account_id}:{key}",
    )


def wecom_send_job(message_id: int) -> Job:
    """Deliver an agent's reply to a WeCom customer (the message row says whether it went)."""
    return Job(WECOM_SEND, {"message_id": message_id}, job_id=f"wecom-send:{message_id}")
