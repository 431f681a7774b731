"""indexes for the board and the reports at 100k+ tickets

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 06:40:00.000000

- ``merged_into_id`` covers merged rows only: the full index made SQLite (which keeps no
  statistics unless ANALYZE runs) read the reports' period cohorts ("registered in the period
  and not merged") through it — through nearly every row — instead of through ``created_at``.
- The done columns (closed holds most tickets) are read in order, newest first, not sorted.
- The department matrix and the column counts are read off a covering index.
- The KPI throughput (resolved in the period) is a range on ``resolved_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MERGED = sa.text("merged_into_id IS NOT NULL")
_ON_BOARDS = sa.text("merged_into_id IS NULL")
_ORDER_TAIL = ["priority_rank", "resolution_due", "id"]
_DONE_ORDERS = {
    "ix_tickets_closed_order": "coalesce(closed_at, resolved_at, created_at) DESC",
    "ix_tickets_completed_order": "coalesce(resolved_at, created_at) DESC",
}
_MATRIX = [
    "department_id",
    "status",
    "priority",
    "paused_since",
    "first_responded_at",
    "first_response_due",
    "resolution_due",
    "resolved_at",
    "closed_at",
    "created_at",
]


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_merged_into_id")
        batch_op.create_index(
            "ix_tickets_merged_into_id",
            ["merged_into_id"],
            sqlite_where=_MERGED,
            postgresql_where=_MERGED,
        )
    for name, recency in _DONE_ORDERS.items():
        op.create_index(
            name,
            "tickets",
            [sa.text("status"), sa.text(recency), *(sa.text(c) for c in _ORDER_TAIL)],
            sqlite_where=_ON_BOARDS,
            postgresql_where=_ON_BOARDS,
        )
    op.create_index("ix_tickets_resolved_at", "tickets", ["resolved_at"])
    op.create_index(
        "ix_tickets_matrix",
        "tickets",
        _MATRIX,
        sqlite_where=_ON_BOARDS,
        postgresql_where=_ON_BOARDS,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_matrix", table_name="tickets")
    op.drop_index("ix_tickets_resolved_at", table_name="tickets")
    for name in _DONE_ORDERS:
        op.drop_index(name, table_name="tickets")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_merged_into_id")
        batch_op.create_index("ix_tickets_merged_into_id", ["merged_into_id"])
