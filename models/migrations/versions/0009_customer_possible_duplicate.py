"""a customer filed as a possible duplicate of another (same phone or email, other name)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_match", sa.String(length=8), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_duplicate_of_id_customers"),
            "customers",
            ["duplicate_of_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_duplicate_of_id_customers"), type_="foreignkey"
        )
        batch_op.drop_column("duplicate_match")
        batch_op.drop_column("duplicate_of_id")
