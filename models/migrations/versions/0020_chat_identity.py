"""chat identity: a widget's key for signed visitor identities; conversations started by one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 17:20:00.000000

Existing widgets get no key (an admin generates one at /admin/chat when the site is ready to
sign its customers); existing conversations were all anonymous.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chat_widgets", sa.Column("identity_secret_enc", sa.Text(), nullable=True))
    op.add_column(
        "chat_conversations",
        sa.Column("identity_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("chat_conversations", "identity_verified")
    op.drop_column("chat_widgets", "identity_secret_enc")
