"""live chat: widgets, WeCom accounts, conversations, messages, agents' chat availability

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 07:04:51.549229
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_widgets",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("greeting_zh", sa.Text(), nullable=False),
        sa.Column("greeting_en", sa.Text(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=True),
        sa.Column("allowed_origins", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_chat_widgets_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_widgets")),
        sa.UniqueConstraint("key", name=op.f("uq_chat_widgets_key")),
    )
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_widgets_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "wecom_accounts",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("open_kfid", sa.String(length=64), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("token_enc", sa.Text(), nullable=False),
        sa.Column("aes_key_enc", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("base_url", sa.String(length=200), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_wecom_accounts_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_accounts")),
        sa.UniqueConstraint("corp_id", "open_kfid", name="uq_wecom_accounts_corp_kf"),
    )
    op.create_table(
        "chat_conversations",
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("widget_id", sa.Integer(), nullable=True),
        sa.Column("visitor_hash", sa.String(length=64), nullable=True),
        sa.Column("external_userid", sa.String(length=64), nullable=True),
        sa.Column("open_kfid", sa.String(length=64), nullable=True),
        sa.Column("wecom_account_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "active",
                "ended",
                "left_message",
                name="chatstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("started_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_customer_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("deflected_article_id", sa.Integer(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("customer_read_seq", sa.Integer(), nullable=False),
        sa.Column("agent_read_seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_chat_conversations_agent_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_chat_conversations_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["deflected_article_id"],
            ["articles.id"],
            name=op.f("fk_chat_conversations_deflected_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_chat_conversations_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_chat_conversations_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["wecom_account_id"],
            ["wecom_accounts.id"],
            name=op.f("fk_chat_conversations_wecom_account_id_wecom_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["widget_id"],
            ["chat_widgets.id"],
            name=op.f("fk_chat_conversations_widget_id_chat_widgets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_conversations_public_id")),
    )
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_agent_id"), ["agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_external_userid"), ["external_userid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_started_at"), ["started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chat_conversations_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_ticket_id"), ["ticket_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_visitor_hash"), ["visitor_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_wecom_account_id"), ["wecom_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_widget_id"), ["widget_id"], unique=False
        )

    op.create_table(
        "chat_messages",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=True),
        sa.Column("external_msgid", sa.String(length=64), nullable=True),
        sa.Column(
            "author",
            sa.Enum("customer", "agent", "system", name="chatauthor", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivery", sa.String(length=12), nullable=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_chat_messages_attachment_id_attachments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_messages_conversation_id_chat_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chat_messages_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "conversation_id", "client_id", name="uq_chat_messages_conversation_client"
        ),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_chat_messages_conversation_seq"),
        sa.UniqueConstraint("external_msgid", name=op.f("uq_chat_messages_external_msgid")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("chat_available", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("chat_capacity", sa.Integer(), server_default="3", nullable=False)
        )
        batch_op.add_column(
            sa.Column("chat_seen_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("chat_seen_at")
        batch_op.drop_column("chat_capacity")
        batch_op.drop_column("chat_available")

    op.drop_table("chat_messages")
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_conversations_widget_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_wecom_account_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_visitor_hash"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_status"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_started_at"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_external_userid"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_department_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_customer_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_agent_id"))

    op.drop_table("chat_conversations")
    op.drop_table("wecom_accounts")
    with op.batch_alter_table("chat_widgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_widgets_department_id"))

    op.drop_table("chat_widgets")
