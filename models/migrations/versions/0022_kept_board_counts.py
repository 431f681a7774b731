"""kept board counts: tickets per department, state, priority, type and "finished late"

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 04:00:00.000000

``ticket_counts`` holds the folded counts, ``ticket_count_changes`` the differences appended
by each write since the last fold (see ``models.ticket_count``). The upgrade counts every
ticket once (one grouped read of the board index: seconds at a million tickets).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def downgrade() -> None:
    op.drop_table("ticket_count_changes")
    op.drop_table("ticket_counts")
