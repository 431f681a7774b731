"""board indexes: drop (department_id, status), which the matrix index covers; the board index
covers only tickets on boards

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 10:30:00.000000

``ix_tickets_matrix`` starts with the same two columns and covers every column the department
matrix and the column counts read, for every ticket on a board (not merged). With the narrower
index beside it, SQLite's planner read the matrix through the narrow one and looked every row up
in the table: 155 ms at 100,000 tickets instead of 30 ms through the covering one. Every query
filtering tickets by department also says "not merged", so it reads the partial index.

``ix_tickets_board`` (status, priority rank, deadline) becomes partial the same way: every
board query says "not merged", and a column count read through the full index looked each
row's ``merged_into_id`` up in the table (26–50 ms for a move's two counts at 100,000 tickets,
1.3 ms through the partial one). Which index SQLite's planner picked between it and the
partial done-column indexes depended on the order they were created in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_BOARD = ["status", "priority_rank", "resolution_due"]
_ON_BOARDS = sa.text("merged_into_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_tickets_dept_status", table_name="tickets")
    op.drop_index("ix_tickets_board", table_name="tickets")
    op.create_index(
        "ix_tickets_board",
        "tickets",
        _BOARD,
        sqlite_where=_ON_BOARDS,
        postgresql_where=_ON_BOARDS,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_board", table_name="tickets")
    op.create_index("ix_tickets_board", "tickets", _BOARD)
    op.create_index("ix_tickets_dept_status", "tickets", ["department_id", "status"])
