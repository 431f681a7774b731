"""Record 2: the ticket ("task") — one inquiry from registration to closure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdMixin, utcnow
from models.enums import Channel, Priority, RequestType, TicketStatus, TypeSource, Urgency

if TYPE_CHECKING:
    from models.customer import Customer
    from models.department import Department
    from models.user import User

ticket_collaborators = Table(
    "ticket_collaborators",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


_ON_BOARDS = text("merged_into_id IS NULL")  # a merged duplicate is on no board


class Ticket(IdMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The board: columns by status ordered by priority rank then deadline (by department:
        # ix_tickets_matrix below), and the column counts. Partial, as every board query says
        # "not merged": it covers the counts, which otherwise looked up each row's merged_into_id.
        Index(
            "ix_tickets_board",
            "status",
            "priority_rank",
            "resolution_due",
            sqlite_where=_ON_BOARDS,
            postgresql_where=_ON_BOARDS,
        ),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # The SLA tick scans only what is due.
        Index("ix_tickets_first_response_due", "first_response_due"),
        Index("ix_tickets_acknowledge_due", "acknowledge_due"),
        Index("ix_tickets_resolution_due", "resolution_due"),
        Index("ix_tickets_reminder_due", "reminder_due"),
        Index("ix_tickets_untriaged", "triaged_at", "created_at"),
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        # The SLA tick wakes each ticket at its next SLA instant; the end-of-day digest
        # reads the day's registrations.
        Index("ix_tickets_sla_next_at", "sla_next_at"),
        Index("ix_tickets_created_at", "created_at"),
        # Duplicates merged into a ticket. Partial: "not merged" is nearly every row, and a
        # full index tempted SQLite (without statistics) to scan by it instead of by date.
        Index(
            "ix_tickets_merged_into_id",
            "merged_into_id",
            sqlite_where=text("merged_into_id IS NOT NULL"),
            postgresql_where=text("merged_into_id IS NOT NULL"),
        ),
    )

    number: Mapped[str] = mapped_column(String(24), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    order_number: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column()

    request_type: Mapped[RequestType | None] = mapped_column(index=True, active_history=True)
    type_source: Mapped[TypeSource | None] = mapped_column()
    type_confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(40))
    triaged_at: Mapped[datetime | None]

    urgency: Mapped[Urgency] = mapped_column(default=Urgency.NORMAL)
    priority: Mapped[Priority] = mapped_column(default=Priority.MEDIUM, active_history=True)
    # 0 = urgent … 3 = low; customer level breaks ties inside a priority (VIP first).
    priority_rank: Mapped[int] = mapped_column(Integer, default=2)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), active_history=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    status: Mapped[TicketStatus] = mapped_column(default=TicketStatus.PENDING, active_history=True)
    first_response_due: Mapped[datetime | None] = mapped_column(active_history=True)
    acknowledge_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None] = mapped_column(active_history=True)
    reminder_due: Mapped[datetime | None]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    assigned_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None] = mapped_column(active_history=True)
    resolved_at: Mapped[datetime | None] = mapped_column(active_history=True)
    closed_at: Mapped[datetime | None] = mapped_column(active_history=True)
    # SLA clock pauses while awaiting the customer's confirmation.
    paused_since: Mapped[datetime | None] = mapped_column(active_history=True)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    paused_business_seconds: Mapped[int] = mapped_column(Integer, default=0)
    overdue_since: Mapped[datetime | None]
    overdue_reason: Mapped[str | None] = mapped_column(Text)
    # When the SLA tick next has something to check on this ticket (NULL: nothing left);
    # set by every deadline refresh, advanced by the tick.
    sla_next_at: Mapped[datetime | None]
    # Wall-clock time added to the resolution deadline by approved extension requests.
    extension_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The customer's latest message nobody working the ticket has opened yet (NULL: none);
    # set by every channel's customer message, cleared when a staff member opens the drawer.
    customer_replied_at: Mapped[datetime | None]

    remarks: Mapped[str | None] = mapped_column(Text)
    is_repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # A duplicate merged into another ticket (closed; its number and links lead there).
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), active_history=True
    )
    # Portal tracking: only a hash of the unguessable token is kept.
    tracking_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The API key whose client created the ticket: only it may read the status via /api/v1.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}
    # (active_history on the columns the kept board counts are keyed on: models.ticket_count
    # reads each one's value before a change, loaded or not.)

    customer: Mapped[Customer] = relationship(lazy="raise")
    department: Mapped[Department | None] = relationship(lazy="raise")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="raise")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="raise")
    collaborators: Mapped[list[User]] = relationship(secondary=ticket_collaborators, lazy="raise")


# When a done ticket was finished: the newest first in the 已关闭 and 已完成 columns.
CLOSED_RECENCY = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.created_at)
COMPLETED_RECENCY = func.coalesce(Ticket.resolved_at, Ticket.created_at)

# The done columns' pages are read in order off these (the closed column holds most tickets).
Index(
    "ix_tickets_closed_order",
    Ticket.status,
    CLOSED_RECENCY.desc(),
    Ticket.priority_rank,
    Ticket.resolution_due,
    Ticket.id,
    sqlite_where=_ON_BOARDS,
    postgresql_where=_ON_BOARDS,
)
Index(
    "ix_tickets_completed_order",
    Ticket.status,
    COMPLETED_RECENCY.desc(),
    Ticket.priority_rank,
    Ticket.resolution_due,
    Ticket.id,
    sqlite_where=_ON_BOARDS,
    postgresql_where=_ON_BOARDS,
)
# The KPI throughput: tickets resolved in a period.
Index("ix_tickets_resolved_at", Ticket.resolved_at)
# The department matrix and the column counts, when they count tickets rather than read the
# kept counts, read every ticket on the boards: this covers every column they look at (the
# SLA state's included), so they never touch the table. (Not state first: SQLite then chose
# it over ix_tickets_board for a column's page and sorted the column, 0.9 s at 1M tickets.)
Index(
    "ix_tickets_matrix",
    Ticket.department_id,
    Ticket.status,
    Ticket.priority,
    Ticket.paused_since,
    Ticket.first_responded_at,
    Ticket.first_response_due,
    Ticket.resolution_due,
    Ticket.resolved_at,
    Ticket.closed_at,
    Ticket.created_at,
    sqlite_where=_ON_BOARDS,
    postgresql_where=_ON_BOARDS,
)
