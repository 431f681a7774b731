"""kept counts of open work by the UTC day it falls due

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 08:00:00.000000

The department matrix's open work past its deadline becomes a sum of kept counts (work due
before today) plus today's part read off the deadline indexes (see ``models.ticket_count``).
``ticket_due_counts`` holds the open work whose clock runs per department, state, priority,
type and UTC day of its deadline; each appended difference carries that day too. The upgrade
counts the open tickets once. Differences appended by processes of the previous release during
a rolling upgrade carry no day (0, "no running clock"): every count stays right, and
``kefu db recount`` once every process runs this release puts their deadlines back in the
matrix's overdue figure.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from models.services.tickets import counts

    with op.batch_alter_table("ticket_count_changes") as batch:
        batch.add_column(sa.Column("due_day", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "ticket_due_counts",
        sa.Column("department_key", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("priority", sa.String(length=24), nullable=False),
        sa.Column("request_type", sa.String(length=24), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "department_key",
            "status",
            "priority",
            "request_type",
            "due_day",
            name=op.f("pk_ticket_due_counts"),
        ),
    )
    op.get_bind().execute(counts.recount_due())


def downgrade() -> None:
    op.drop_table("ticket_due_counts")
    with op.batch_alter_table("ticket_count_changes") as batch:
        batch.drop_column("due_day")
