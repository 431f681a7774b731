"""Kefu triage: pure text-in, predictions-out machine learning for customer inquiries.

This package classifies an inquiry into one of four request types and retrieves knowledge-base
articles for it. It is pure: it imports neither ``web/`` nor ``workers/`` nor ``models/`` and
never touches a database, the network or a queue.

Importing ``triage`` (or any of its modules) is cheap: torch and sentence-transformers are only
imported inside :func:`triage.embedder.load_embedder`, which callers invoke explicitly, once
per process.
"""

from typing import Final, Literal

__all__ = ["CATEGORIES", "Category"]

Category = Literal["consultation", "problem", "complaint", "after_sales"]

#: The four request types, in the fixed order used for probability vectors, per-class
#: metrics and confusion-matrix rows/columns everywhere in Kefu.
CATEGORIES: Final[tuple[Category, ...]] = ("consultation", "problem", "complaint", "after_sales")
