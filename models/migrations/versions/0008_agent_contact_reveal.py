"""whose contact details agents may reveal

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('site_settings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'agent_contact_reveal',
                sa.Enum(
                    'never',
                    'own',
                    'department',
                    name='contactreveal',
                    native_enum=False,
                    length=24,
                ),
                server_default='department',
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('site_settings', schema=None) as batch_op:
        batch_op.drop_column('agent_contact_reveal')
