"""board search: long-prefix terms for words longer than six characters (ticket, order and
customer numbers find their rows through one rare term)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 17:30:00.000000

The backfill adds only the new terms (prefixes at ``search.LONG_PREFIXES``), computed from the
normalized text the index already keeps, in batches of :data:`BATCH`; nothing is rewritten,
and terms already there are skipped (an install upgrading from before 0016 indexed them with
today's code in 0016). The downgrade leaves them: the older lookup never asks for them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    from models.services.common import search

    bind = op.get_bind()
    for texts, terms, key in (
        ("ticket_search_texts", "ticket_search_terms", "ticket_id"),
        ("customer_search_texts", "customer_search_terms", "customer_id"),
    ):
        source = sa.table(texts, sa.column(key, sa.Integer), sa.column("body", sa.Text))
        target = sa.table(terms, sa.column("term", sa.BigInteger), sa.column(key, sa.Integer))
        after = 0
        while True:
            rows = bind.execute(
                sa.select(source.c[key], source.c.body)
                .where(source.c[key] > after)
                .order_by(source.c[key])
                .limit(BATCH)
            ).all()
            if not rows:
                break
            new = [
                {"term": term, key: row_id}
                for row_id, body in rows
                for term in search.text_terms(body.split("\n"), long_only=True)
            ]
            if new:
                bind.execute(_insert_new(bind, target), new)
            after = rows[-1][0]


def _insert_new(bind: sa.Connection, target: sa.TableClause) -> sa.Executable:
    """An insert that skips rows already present (both dialects say ON CONFLICT DO NOTHING)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    return insert(target).on_conflict_do_nothing()


def downgrade() -> None:
    pass
