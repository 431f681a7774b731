"""The board's search index: normalized text and hashed terms per ticket and per customer.

Maintained by the services in the same transaction as the rows they describe (see
:mod:`models.services.common.search`); a query looks terms up here instead of scanning every
ticket. Customers carry their own terms (name, number, phone digit fragments) so a changed
name or phone rewrites one customer's rows, not every ticket of theirs.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

ticket_search_terms = Table(
    "ticket_search_terms",
    Base.metadata,
    # 64-bit hash of a term: fixed-size keys, one covering B-tree (term, ticket) on both DBs.
    Column("term", BigInteger, primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_ticket_search_terms_ticket_id", "ticket_id"),
)

customer_search_terms = Table(
    "customer_search_terms",
    Base.metadata,
    # Phone fragments are keyed hashes (HMAC): never plaintext digits.
    Column("term", BigInteger, primary_key=True),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_search_terms_customer_id", "customer_id"),
)


class TicketSearchText(Base):
    """A ticket's searchable fields, normalized (title, description, number, order number):
    the exact check behind an index hit."""

    __tablename__ = "ticket_search_texts"

    ticket_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)


class CustomerSearchText(Base):
    """A customer's searchable name and number, normalized (contacts are never here)."""

    __tablename__ = "customer_search_texts"

    customer_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text)
