"""saved board views and each person's remembered board filters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("board_prefs", sa.JSON(), nullable=True))
    op.create_table(
        "board_views",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_board_views_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_board_views_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_views")),
        sa.UniqueConstraint("owner_id", "name", name="uq_board_views_owner_name"),
    )
    with op.batch_alter_table("board_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_board_views_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_board_views_department_id"), ["department_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("board_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_board_views_department_id"))
        batch_op.drop_index(batch_op.f("ix_board_views_owner_id"))
    op.drop_table("board_views")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("board_prefs")
