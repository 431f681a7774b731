"""Every job function and cron job the worker runs."""

from __future__ import annotations

from typing import Any

from workers.jobs import assignment, attachments, backup, kb, mail, notify, sla, triage

FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = []

CRON_JOBS += backup.CRON_JOBS  # weekly backup, Sunday 03:00 local time
FUNCTIONS += sla.FUNCTIONS + notify.FUNCTIONS
CRON_JOBS += sla.CRON_JOBS  # the SLA tick, every minute
FUNCTIONS += triage.FUNCTIONS + kb.FUNCTIONS  # triage_ticket, retrain_classifier, suggest …
CRON_JOBS += triage.CRON_JOBS  # classifier sweep, every 10 minutes
FUNCTIONS += mail.FUNCTIONS  # poll_mailboxes, send_mail
CRON_JOBS += mail.CRON_JOBS  # mailbox polling, every minute
CRON_JOBS += attachments.CRON_JOBS  # orphaned files, nightly 04:30 local time
FUNCTIONS += assignment.FUNCTIONS
CRON_JOBS += assignment.CRON_JOBS  # drain waiting tickets to agents with room, every minute
