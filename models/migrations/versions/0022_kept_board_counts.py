"""kept board counts: tickets per department, state, priority, type and "finished late"

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 04:00:00.000000

``ticket_counts`` holds the folded counts, ``ticket_count_changes`` the differences appended
by each write since the last fold (see ``models.ticket_count``). The upgrade counts every
ticket once (one grouped read of the board index: seconds at a million tickets).

``ix_tickets_matrix`` now starts with the state: the matrix reads only the open states' part
of it for the work past its deadline (the rest comes from the counts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ON_BOARDS = sa.text("merged_into_id IS NULL")
MATRIX_TAIL = [
    "priority",
    "paused_since",
    "first_responded_at",
    "first_response_due",
    "resolution_due",
    "resolved_at",
    "closed_at",
    "created_at",
]


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("department_key", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("priority", sa.String(length=24), nullable=False),
        sa.Column("request_type", sa.String(length=24), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    from models.services.tickets import counts

    op.create_table(
        "ticket_counts",
        *_key_columns(),
        sa.PrimaryKeyConstraint(
            "department_key",
            "status",
            "priority",
            "request_type",
            "late",
            name=op.f("pk_ticket_counts"),
        ),
    )
    op.create_table(
        "ticket_count_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        *_key_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_count_changes")),
    )
    op.get_bind().execute(counts.recount())
    _matrix_index(["status", "department_id"])


def _matrix_index(leading: list[str]) -> None:
    op.drop_index("ix_tickets_matrix", table_name="tickets")
    op.create_index(
        "ix_tickets_matrix",
        "tickets",
        [*leading, *MATRIX_TAIL],
        sqlite_where=ON_BOARDS,
        postgresql_where=ON_BOARDS,
    )


def downgrade() -> None:
    _matrix_index(["department_id", "status"])
    op.drop_table("ticket_count_changes")
    op.drop_table("ticket_counts")
