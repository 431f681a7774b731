"""``fold_board_counts``: fold the board-count changes appended by writes, every minute.

Reading the counts is exact without it (the reader sums both tables); folding keeps the
appended changes few, so a read stays a sum over a few hundred rows. Two folds at once fold
each change once (see :func:`models.services.tickets.counts.fold`).
"""

from __future__ import annotations

from typing import Any

from arq.cron import cron

from models.db import unit_of_work
from models.services.tickets import counts


async def fold_board_counts(ctx: dict[str, Any]) -> int:
    """Fold the appended changes; returns how many were folded."""
    async with unit_of_work(ctx["db"]) as session:
        return await counts.fold(session)


FUNCTIONS: list[Any] = [fold_board_counts]
CRON_JOBS: list[Any] = [cron(fold_board_counts, second=30, timeout=55, max_tries=1, unique=True)]
