"""drop the (department_id, status) index the matrix index already covers

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 10:30:00.000000

``ix_tickets_matrix`` starts with the same two columns and covers every column the department
matrix and the column counts read, for every ticket on a board (not merged). With the narrower
index beside it, SQLite's planner read the matrix through the narrow one and looked every row up
in the table: 155 ms at 100,000 tickets instead of 30 ms through the covering one. Every query
filtering tickets by department also says "not merged", so it reads the partial index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_tickets_dept_status", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_dept_status", "tickets", ["department_id", "status"])
