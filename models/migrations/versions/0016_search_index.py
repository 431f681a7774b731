"""board search index: normalized text and hashed terms per ticket and per customer

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 10:00:00.000000

The backfill indexes existing rows in batches of :data:`BATCH` through the same functions the
services use. Phone fragments need the contact keyring (they are keyed hashes); a phone the
ring cannot decrypt is left out of the index, as an unreadable contact is everywhere else.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "ticket_search_terms",
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_search_terms_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "ticket_id", name=op.f("pk_ticket_search_terms")),
    )
    op.create_index(
        "ix_ticket_search_terms_ticket_id", "ticket_search_terms", ["ticket_id"], unique=False
    )
    op.create_table(
        "customer_search_terms",
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_search_terms_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "customer_id", name=op.f("pk_customer_search_terms")),
    )
    op.create_index(
        "ix_customer_search_terms_customer_id",
        "customer_search_terms",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "ticket_search_texts",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_search_texts_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_search_texts")),
    )
    op.create_table(
        "customer_search_texts",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_search_texts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_search_texts")),
    )
    _backfill()


def _backfill() -> None:
    from models.services.common import search

    bind = op.get_bind()
    tickets = sa.table(
        "tickets",
        sa.column("id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("description", sa.Text),
        sa.column("number", sa.String),
        sa.column("order_number", sa.String),
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(tickets).where(tickets.c.id > after).order_by(tickets.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        texts: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        for row in rows:
            fields = search.ticket_fields(row)
            texts.append({"ticket_id": row.id, "body": search.body(fields)})
            terms.extend({"term": t, "ticket_id": row.id} for t in search.text_terms(fields))
        bind.execute(sa.insert(_table("ticket_search_texts", "ticket_id", text=True)), texts)
        if terms:
            bind.execute(sa.insert(_table("ticket_search_terms", "ticket_id")), terms)
        after = rows[-1].id

    customers = sa.table(
        "customers",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("number", sa.String),
        sa.column("phone_enc", sa.Text),
    )
    cipher = _cipher()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(customers)
            .where(customers.c.id > after)
            .order_by(customers.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        texts, terms = [], []
        for row in rows:
            fields = search.customer_fields(row)
            texts.append({"customer_id": row.id, "body": search.body(fields)})
            found = search.text_terms(fields)
            if cipher is not None and row.phone_enc:
                try:
                    found |= search.phone_terms(cipher, cipher.decrypt(row.phone_enc))
                except Exception:  # noqa: BLE001 - an unreadable contact is skipped, as elsewhere
                    pass
            terms.extend({"term": t, "customer_id": row.id} for t in found)
        bind.execute(sa.insert(_table("customer_search_texts", "customer_id", text=True)), texts)
        if terms:
            bind.execute(sa.insert(_table("customer_search_terms", "customer_id")), terms)
        after = rows[-1].id


def _table(name: str, key: str, *, text: bool = False) -> sa.TableClause:
    second = sa.column("body", sa.Text) if text else sa.column("term", sa.BigInteger)
    return sa.table(name, sa.column(key, sa.Integer), second)


def _cipher() -> Any:
    """The contact keyring's cipher, or None when this install has no key yet (no phones)."""
    from models.services.common.crypto import cipher_for
    from models.settings import get_settings

    try:
        return cipher_for(get_settings().encryption_keys)
    except Exception:  # noqa: BLE001 - no keyring: nothing was encrypted with one either
        return None


def downgrade() -> None:
    op.drop_table("customer_search_texts")
    op.drop_table("ticket_search_texts")
    op.drop_index("ix_customer_search_terms_customer_id", table_name="customer_search_terms")
    op.drop_table("customer_search_terms")
    op.drop_index("ix_ticket_search_terms_ticket_id", table_name="ticket_search_terms")
    op.drop_table("ticket_search_terms")
