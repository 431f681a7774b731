"""quick replies (快捷回复) and macros

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPE = sa.Enum("team", "personal", name="replyscope", native_enum=False, length=24)
LANGUAGE = sa.Enum("zh_CN", "en", "any", name="replylanguage", native_enum=False, length=24)


def upgrade() -> None:
    op.create_table(
        "quick_replies",
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", LANGUAGE, nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("shortcut", sa.String(length=32), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_quick_replies_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_quick_replies_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_quick_replies_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_replies")),
    )
    op.create_index("ix_quick_replies_scope", "quick_replies", ["scope"], unique=False)
    op.create_index("ix_quick_replies_owner_id", "quick_replies", ["owner_id"], unique=False)
    op.create_table(
        "macros",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("scope", SCOPE, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_macros_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_macros_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
    )
    op.create_index("ix_macros_scope", "macros", ["scope"], unique=False)
    op.create_index("ix_macros_owner_id", "macros", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_macros_owner_id", table_name="macros")
    op.drop_index("ix_macros_scope", table_name="macros")
    op.drop_table("macros")
    op.drop_index("ix_quick_replies_owner_id", table_name="quick_replies")
    op.drop_index("ix_quick_replies_scope", table_name="quick_replies")
    op.drop_table("quick_replies")
