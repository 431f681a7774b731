"""The nightly attachment sweep: stored files that no row references are removed.

An upload that fails after writing its file removes it at once; this catches what a crash
between the two left behind. Blobs younger than the grace period are kept, since their upload
transaction may still be committing. Running twice removes nothing the first run kept.
"""

from __future__ import annotations

import logging
from typing import Any

from models.services.tickets import attachments
from workers.jobs.backup import local_cron

log = logging.getLogger(__name__)


async def sweep_attachments(ctx: dict[str, Any]) -> int:
    """Remove unreferenced attachment files; returns how many went."""
    async with ctx["db"].sessionmaker() as session:
        removed = await attachments.sweep_orphans(session)
    if removed:
        log.info("removed %d unreferenced attachment file(s)", len(removed))
    return len(removed)


FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = [
    local_cron(sweep_attachments, hour=4, minute=30, second=0, microsecond=0, max_tries=1),
]
