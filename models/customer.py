"""Record 1: the customer registry. Contact details are stored encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, utcnow
from models.enums import Channel, CustomerLevel, CustomerType, Industry


class Customer(IdMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_level", "level"),
        Index("ix_customers_name", "name"),
    )

    number: Mapped[str] = mapped_column(String(24), unique=True)
    type: Mapped[CustomerType] = mapped_column(default=CustomerType.INDIVIDUAL)
    name: Mapped[str] = mapped_column(String(200))
    contact_person: Mapped[str | None] = mapped_column(String(100))
    # Authenticated ciphertext ("v1:<key id>:<base64>") and a keyed hash of the normalized
    # value: the hash finds and de-duplicates without ever storing the plaintext.
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    email_enc: Mapped[str | None] = mapped_column(Text)
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    industry: Mapped[Industry | None] = mapped_column()
    level: Mapped[CustomerLevel] = mapped_column(default=CustomerLevel.NORMAL)
    source_channel: Mapped[Channel] = mapped_column()
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str | None] = mapped_column(Text)
    # "Possible duplicate": a portal or API inquiry gave this customer's phone or email under
    # another name, so it was filed here rather than on that customer's record. Set until a
    # member of staff dismisses it ("not the same person").
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    duplicate_match: Mapped[str | None] = mapped_column(String(8))  # "phone" or "email"
    # Merged into another record (leads and admins): kept as a tombstone so the audit trail
    # and old links stay explainable; hidden from lists and search, its page redirects.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    merged_at: Mapped[datetime | None] = mapped_column()
