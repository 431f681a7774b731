"""the merged-duplicates index covers merged rows only

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 06:40:00.000000

A full index on ``merged_into_id`` made SQLite (which keeps no statistics unless ANALYZE runs)
read the reports' period cohorts ("registered in the period and not merged") through it — that
is, through nearly every row — instead of through ``created_at``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MERGED = sa.text("merged_into_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_merged_into_id")
        batch_op.create_index(
            "ix_tickets_merged_into_id",
            ["merged_into_id"],
            sqlite_where=_MERGED,
            postgresql_where=_MERGED,
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_merged_into_id")
        batch_op.create_index("ix_tickets_merged_into_id", ["merged_into_id"])
