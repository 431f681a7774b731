"""auto-assignment: per-department settings and the agents' on-duty switch

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:30:00.000000

Every account starts off duty (``on_duty`` false), existing ones included: auto-assignment
never hands work to someone who has not said they are at their desk. It is off in every
department until a lead or admin turns it on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assignment_settings",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("strategy", sa.String(length=16), server_default="round_robin", nullable=False),
        sa.Column("cap", sa.Integer(), server_default="10", nullable=False),
        sa.Column("senior_ids", sa.JSON(), nullable=False),
        sa.Column("return_to_previous", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cursor_user_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["cursor_user_id"],
            ["users.id"],
            name=op.f("fk_assignment_settings_cursor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_assignment_settings_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_settings")),
        sa.UniqueConstraint("department_id", name=op.f("uq_assignment_settings_department_id")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("on_duty", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("on_duty")
    op.drop_table("assignment_settings")
