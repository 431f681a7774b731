"""One write path for a ticket: every service that changes a ticket goes through the tickets
command layer, which checks the version, recomputes rank and deadlines, audits each field that
changed (nothing when nothing changed) and records the board event.

Two halves. The source scan holds the services to it: no module outside the command layer
assigns a ticket's columns or issues an UPDATE on the tickets table, and every public service
function that reaches a ticket command is listed in :data:`ENTRY_POINTS` — a new one fails
here until it is listed and exercised. The scenarios then run each entry point against the
real database after the SLA policy changed under the ticket (so any recompute moves its
deadlines): the version moves once, each moved deadline has exactly one audit entry, and the
same call repeated writes nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import models
from models.audit import AuditEvent
from models.base import Base, utcnow
from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, FollowUpMethod, Priority, RequestType, TicketStatus
from models.followup import FollowUp
from models.services.common.crypto import token_hash
from models.services.common.errors import Conflict
from models.services.common.priority import priority_rank
from models.services.composer import compose
from models.services.customers import registry
from models.services.escalation import engine, extensions
from models.services.mail import inbound, outbound
from models.services.replies import macros
from models.services.sla import settings as sla_settings
from models.services.tickets import (
    assignment,
    board,
    bulk,
    commands,
    customer_merge,
    intake,
    merge,
    messages,
    portal,
    triage,
    write,
)
from models.ticket import Ticket
from tests.integration.mail_support import mail, make_smtp_mailbox
from tests.integration.sla.test_sla_helpers import actor, make_ticket, move, run_tick, ticket
from tests.mailservers import free_port

SERVICES = Path(models.__file__).parent / "services"
COMMAND_LAYER = {"tickets/commands.py", "tickets/write.py"}
# The deadline arithmetic the write path applies (only write.change may call it).
ARITHMETIC = {("sla/policy.py", "refresh_deadlines")}

COMMANDS = {
    "move",
    "assign",
    "change_priority",
    "change_type",
    "add_collaborator",
    "remove_collaborator",
    "add_follow_up",
    "add_customer_reply",
    "route_new",
    "set_tracking",
    "record_triage",
    "change_customer_level",
    "acknowledge",
    "record_overdue_reason",
    "extend_resolution",
    "mark_overdue",
    "reschedule_sla",
    "clear_customer_reply",
    "confirm_solved",
    "complete_unconfirmed",
    "merge",
    "reassign_customer",
    "record_chat_reply",
}
"""The command layer's public writes (tickets/commands.py, tickets/write.py)."""

ENTRY_POINTS = {
    "models.services.escalation.engine.tick": "sla_tick",
    "models.services.escalation.engine.schedule_unscheduled": "schedule_unscheduled",
    "models.services.escalation.extensions.acknowledge": "acknowledge",
    "models.services.escalation.extensions.record_overdue_reason": "overdue_reason",
    "models.services.escalation.extensions.decide": "extension_approved",
    "models.services.mail.inbound.import_message": "mail_reply",
    # The pollers and the quarantine release hand each message to the same _process as
    # import_message (their IMAP side is tests/integration/mail).
    "models.services.mail.inbound.poll_mailbox": "mail_reply",
    "models.services.mail.inbound.poll_due": "mail_reply",
    "models.services.mail.inbound.release": "mail_reply",
    "models.services.mail.outbound.queue_reply": "mail_queue_reply",
    "models.services.composer.compose.send": "composer_send",
    "models.services.tickets.board.move": "board_move",
    "models.services.tickets.customer_merge.merge": "customer_merge",
    "models.services.tickets.bulk.apply": "bulk_action",
    "models.services.tickets.board.open_ticket": "drawer_opened",
    "models.services.tickets.messages.receive": "customer_message",
    "models.services.tickets.messages.receive_for_api": "customer_message",
    "models.services.tickets.portal.confirm": "customer_confirmation",
    "models.services.tickets.portal.find_inquiry": "portal_lookup",
    "models.services.tickets.intake.register_inquiry": "intake_tracking",
    "models.services.tickets.intake.register_once": "intake_tracking",
    "models.services.tickets.triage.apply_triage": "triage",
    "models.services.tickets.merge.merge_by_number": "merge",
    "models.services.tickets.assignment.auto_assign": "auto_assign",
    "models.services.tickets.assignment.drain": "auto_assign",
    "models.services.replies.macros.apply_macro": "macro",
    "models.services.tickets.triage.review_type": "review",
    # Live chat: the widget's side, the agent's side, the queue, and WeCom's sync.
    "models.services.chat.conversations.visitor_post": "chat",
    "models.services.chat.conversations.dispatch": "chat",
    "models.services.chat.conversations.set_available": "chat",
    "models.services.chat.conversations.heartbeat": "chat",
    "models.services.chat.conversations.accept": "chat",
    "models.services.chat.conversations.agent_post": "chat",
    "models.services.chat.conversations.transfer": "chat",
    "models.services.chat.conversations.agent_end": "chat",
    "models.services.chat.conversations.visitor_end": "chat",
    "models.services.chat.conversations.solved_by_article": "chat",
    "models.services.chat.conversations.leave_message": "chat",
    "models.services.chat.wecom_channel.sync": "chat",
}
"""Every public service function outside the command layer that changes a ticket, and the
scenario below that exercises it."""


# --- the source scan ----------------------------------------------------------------------


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SERVICES).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SERVICES.rglob("*.py"))
    ]


def _ticket_attributes() -> tuple[set[str], set[str]]:
    """(every mapped attribute of Ticket, those no other row has)."""
    attrs = set(Ticket.__mapper__.attrs.keys())
    others: set[str] = set()
    for mapper in Base.registry.mappers:
        if mapper.class_ is not Ticket:
            others |= set(mapper.attrs.keys())
    return attrs, attrs - others


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _owner(tree: ast.Module) -> dict[ast.AST, str]:
    """Each node → the name of the (outermost) function it is in."""
    owners: dict[ast.AST, str] = {}
    for top in tree.body:
        if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(top):
                owners[node] = top.name
    return owners


def _ticket_writes(rel: str, tree: ast.Module) -> list[str]:
    attrs, ticket_only = _ticket_attributes()
    owners = _owner(tree)
    found: list[str] = []

    def looks_like_ticket(target: ast.Attribute) -> bool:
        base = ast.unparse(target.value).lower()
        return target.attr in attrs and ("ticket" in base or target.attr in ticket_only)

    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')} ({owners.get(node, 'module')})"
        if (rel, owners.get(node)) in ARITHMETIC:
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(item, ast.Attribute) and looks_like_ticket(item):
                    found.append(f"{where}: assigns {ast.unparse(item)}")
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            first = ast.unparse(node.args[0]) if node.args else ""
            if func == "setattr" and "ticket" in first.lower():
                found.append(f"{where}: setattr({first}, …)")
            if func.split(".")[-1] == "update" and first.startswith("Ticket"):
                found.append(f"{where}: {func}({first})")
            if func.endswith("refresh_deadlines"):
                found.append(f"{where}: calls {func} (only the write path recomputes)")
        if isinstance(node, ast.Attribute) and ast.unparse(node) == "Ticket.__table__":
            found.append(f"{where}: uses Ticket.__table__")
    return found


def test_no_service_writes_a_ticket_outside_the_command_layer() -> None:
    found = [
        hit
        for rel, tree in _modules()
        if rel not in COMMAND_LAYER
        for hit in _ticket_writes(rel, tree)
    ]
    assert found == []


def test_the_scan_sees_a_direct_write() -> None:
    """The scan itself can fail: a service assigning a ticket column is caught."""
    tree = ast.parse(
        "async def sneaky(session, ticket_id):\n"
        "    row = await commands.get(session, ticket_id)\n"
        "    row.overdue_since = None\n"
        "    ticket = row\n"
        "    ticket.priority = 'urgent'\n"
        "    await session.execute(update(Ticket).values(status='closed'))\n"
    )
    hits = _ticket_writes("somewhere/new.py", tree)
    assert len(hits) == 3, hits


def _reach(tree: ast.Module, targets: set[str], *, via: str | None) -> dict[str, set[str]]:
    """For each function of a module: the ``targets`` it calls, itself or through functions
    of the same module (``via``: the module name the targets are called on, e.g. commands)."""
    functions = _functions(tree)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("tickets.commands")
        for alias in node.names
    }
    direct: dict[str, set[str]] = {}
    local: dict[str, set[str]] = {}
    for name, fn in functions.items():
        direct[name], local[name] = set(), set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if (
                via
                and isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name)
                and f.value.id == via
                and f.attr in targets
            ):
                direct[name].add(f.attr)
            elif isinstance(f, ast.Name) and f.id in targets and (via is None or f.id in imported):
                direct[name].add(f.id)
            elif isinstance(f, ast.Name) and f.id in functions:
                local[name].add(f.id)
    reach = {name: set(found) for name, found in direct.items()}
    changed = True
    while changed:
        changed = False
        for name in functions:
            for callee in local[name]:
                if not reach[callee] <= reach[name]:
                    reach[name] |= reach[callee]
                    changed = True
    return reach


def test_every_entry_point_that_changes_a_ticket_is_listed() -> None:
    found: set[str] = set()
    for rel, tree in _modules():
        if rel in COMMAND_LAYER:
            continue
        module = "models.services." + rel.removesuffix(".py").replace("/", ".")
        for name, reached in _reach(tree, COMMANDS, via="commands").items():
            if reached and not name.startswith("_"):
                found.add(f"{module}.{name}")
    assert found == set(ENTRY_POINTS)


def test_every_command_goes_through_the_write_path() -> None:
    """The command layer's public functions that write are exactly :data:`COMMANDS`, and each
    one writes through ``change`` (or, the SLA tick's bulk flags, one UPDATE)."""
    writes: set[str] = set()
    for rel, tree in _modules():
        if rel not in COMMAND_LAYER:
            continue
        for name, reached in _reach(tree, {"change", "update"}, via=None).items():
            if reached and not name.startswith("_") and name != "change":
                writes.add(name)
    assert writes == COMMANDS


# --- observing a ticket -------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    version: int
    deadlines: dict[str, datetime | None]
    audits: list[tuple[int, str, str | None, Any, Any]]  # id, action, field, before, after


async def seen(db: Any, ticket_id: int) -> Seen:
    async with db.sessionmaker() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        audits = (
            await session.execute(
                select(
                    AuditEvent.id,
                    AuditEvent.action,
                    AuditEvent.field,
                    AuditEvent.before,
                    AuditEvent.after,
                )
                .where(AuditEvent.ticket_id == ticket_id, AuditEvent.entity_type == "ticket")
                .order_by(AuditEvent.id)
            )
        ).all()
    return Seen(
        row.version,
        {name: getattr(row, name) for name in write.DEADLINE_FIELDS},
        [tuple(a) for a in audits],  # type: ignore[misc]
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def assert_one_write(
    db: Any, ticket_id: int, call: Callable[[], Awaitable[Any]], *, bumps: bool = True
) -> list[tuple[int, str, str | None, Any, Any]]:
    """Run ``call``; the version moved once (``bumps``) and every deadline that moved has
    exactly one audit entry with its old and new instant, and no other deadline has one."""
    before = await seen(db, ticket_id)
    await call()
    after = await seen(db, ticket_id)
    assert after.version == before.version + (1 if bumps else 0)
    new = [a for a in after.audits if a not in before.audits]
    moved = {
        (name, _iso(before.deadlines[name]), _iso(after.deadlines[name]))
        for name in write.DEADLINE_FIELDS
        if before.deadlines[name] != after.deadlines[name]
    }
    deadline_audits = [(f, b, a) for _, action, f, b, a in new if action == "deadline"]
    assert sorted(deadline_audits) == sorted(moved)  # type: ignore[type-var]
    fields = [(action, f) for _, action, f, _, _ in new if f]
    assert len(fields) == len(set(fields)), new  # one entry per changed field
    return new


async def assert_no_write(db: Any, ticket_id: int, call: Callable[[], Awaitable[Any]]) -> None:
    before = await seen(db, ticket_id)
    await call()
    after = await seen(db, ticket_id)
    assert after.version == before.version
    assert after.audits == before.audits


async def slower_policy(db: Any) -> None:
    """Double every SLA target: the next recompute moves every ticket's deadlines."""
    admin = await actor(db, "admin")
    async with unit_of_work(db) as session:
        form = await sla_settings.policy_form(session)
        values: dict[str, str] = {"ladder": form.ladder}
        targets = [
            *form.first_response,
            form.acknowledgement,
            form.reminder,
            *form.resolution,
            *form.by_type,
        ]
        for target in targets:
            values[target.name] = str(int(target.minutes) * 2) if target.minutes else ""
            values[f"{target.name}_b"] = "on" if target.business else ""
        for name, _, percent in form.levels:
            values[name] = percent
        await sla_settings.save_policy(session, admin, values)


async def in_uow(db: Any, work: Callable[[Any], Awaitable[Any]]) -> Any:
    async with unit_of_work(db) as session:
        return await work(session)


async def version(db: Any, ticket_id: int) -> int:
    return (await ticket(db, ticket_id)).version


# --- the commands, one by one -------------------------------------------------------------


async def test_a_move_audits_each_moved_deadline_once_and_none_unchanged(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    agent = await actor(db, "agent")

    async def to(target: TicketStatus) -> Any:
        expected = await version(db, tid)
        return await in_uow(
            db,
            lambda s: commands.move(
                s, agent, tid, target, expected_version=expected, resolution="已处理完毕。"
            ),
        )

    # Taking it assigns it: the acknowledgement deadline appears, nothing else moves.
    new = await assert_one_write(db, tid, lambda: to(TicketStatus.IN_PROGRESS))
    assert [f for _, action, f, _, _ in new if action == "deadline"] == ["acknowledge_due"]
    # Pausing moves no deadline: no "deadline recalculated" entry at all.
    new = await assert_one_write(db, tid, lambda: to(TicketStatus.AWAITING_CONFIRMATION))
    assert [a for a in new if a[1] == "deadline"] == []
    assert [(action, f) for _, action, f, _, _ in new] == [("move", "status")]
    # After the policy changed, the next move audits every deadline it moved, once each.
    await slower_policy(db)
    new = await assert_one_write(db, tid, lambda: to(TicketStatus.IN_PROGRESS))
    assert {f for _, action, f, _, _ in new if action == "deadline"} == set(write.DEADLINE_FIELDS)


async def test_lead_and_agent_edits_go_through_the_write_path(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    emma = await actor(db, "agent.emma")
    tech = await actor(db, "agent.tech")
    await slower_policy(db)
    steps: list[Callable[[Any], Awaitable[Any]]] = [
        lambda s: commands.assign(s, lead, tid, emma.user_id, expected_version=None),
        lambda s: commands.change_priority(s, lead, tid, Priority.URGENT, expected_version=None),
        lambda s: commands.change_type(s, lead, tid, RequestType.COMPLAINT, expected_version=None),
        lambda s: commands.add_collaborator(s, lead, tid, tech.user_id, expected_version=None),
        lambda s: commands.remove_collaborator(s, lead, tid, tech.user_id, expected_version=None),
    ]
    for step in steps:
        await assert_one_write(db, tid, lambda step=step: in_uow(db, step))  # type: ignore[misc]
        await assert_no_write(db, tid, lambda step=step: in_uow(db, step))  # type: ignore[misc]
    trail = {(action, f) for _, action, f, _, _ in (await seen(db, tid)).audits}
    assert {("assign", "assignee_id"), ("change", "priority"), ("change", "request_type")} <= trail
    assert ("deadline", "resolution_due") in trail


async def test_a_follow_up_bumps_the_version_only_when_it_is_the_first_response(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    agent = await actor(db, "agent")
    await slower_policy(db)
    data = commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed="已电话联系客户。")
    await assert_one_write(
        db, tid, lambda: in_uow(db, lambda s: commands.add_follow_up(s, agent, tid, data))
    )
    await assert_no_write(
        db, tid, lambda: in_uow(db, lambda s: commands.add_follow_up(s, agent, tid, data))
    )


async def test_a_customer_level_change_re_ranks_open_tickets_through_the_write_path(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    customer_id = (await ticket(db, tid)).customer_id
    await slower_policy(db)

    def to(level: CustomerLevel) -> Callable[[], Awaitable[Any]]:
        return lambda: in_uow(
            db, lambda s: commands.change_customer_level(s, lead, customer_id, level)
        )

    new = await assert_one_write(db, tid, to(CustomerLevel.VIP))
    assert any(action == "deadline" for _, action, _, _, _ in new)
    row = await ticket(db, tid)
    assert row.priority_rank == priority_rank(row.priority, CustomerLevel.VIP)
    await assert_no_write(db, tid, to(CustomerLevel.VIP))


async def test_route_and_tracking_of_a_new_ticket(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, department=None, assignee=None)
    other = await make_ticket(db, reference, assignee=None)
    mail_actor = inbound.MAIL
    await slower_policy(db)

    def route() -> Awaitable[Any]:
        async def work(s: Any) -> Any:
            row = await commands.get(s, tid)
            return await commands.route_new(
                s, mail_actor, row, department_id=reference["SUPPORT"], repeat_of_id=other
            )

        return in_uow(db, work)

    new = await assert_one_write(db, tid, route)
    assert ("change", "department_id") in {(a, f) for _, a, f, _, _ in new}
    await assert_no_write(db, tid, route)

    def track() -> Awaitable[Any]:
        async def work(s: Any) -> Any:
            return await commands.set_tracking(s, mail_actor, await commands.get(s, tid), "tok")

        return in_uow(db, work)

    await assert_one_write(db, tid, track)
    await assert_no_write(db, tid, track)


# --- the entry points in the other services ------------------------------------------------


async def test_triage_writes_through_the_commands_once(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, department=None, assignee=None)
    await slower_policy(db)
    verdict = triage.Classification(RequestType.COMPLAINT, 0.91, "test-model")

    def apply() -> Awaitable[Any]:
        return in_uow(db, lambda s: triage.apply_triage(s, tid, verdict, [], utcnow()))

    new = await assert_one_write(db, tid, apply)
    assert ("change", "request_type") in {(a, f) for _, a, f, _, _ in new}
    await assert_no_write(db, tid, apply)  # already triaged: left exactly as it is


async def test_auto_assignment_writes_through_the_commands_once(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    admin = await actor(db, "admin")
    async with unit_of_work(db) as s:
        await assignment.save_settings(
            s,
            admin,
            reference["SUPPORT"],
            assignment.SettingsInput(True, assignment.ROUND_ROBIN, "10", False, []),
        )
    await slower_policy(db)

    def auto() -> Awaitable[Any]:
        return in_uow(db, lambda s: assignment.auto_assign(s, tid))

    new = await assert_one_write(db, tid, auto)
    assert ("assign", "assignee_id") in {(a, f) for _, a, f, _, _ in new}
    assert "auto_assign" in {a for _, a, _, _, _ in new}
    await assert_no_write(db, tid, auto)  # assigned: nothing more to decide
    await assert_no_write(db, tid, lambda: in_uow(db, assignment.drain))


async def test_the_sla_panel_writes_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    agent = await actor(db, "agent")
    lead = await actor(db, "lead")
    await slower_policy(db)

    def ack() -> Awaitable[Any]:
        return in_uow(db, lambda s: extensions.acknowledge(s, agent, tid))

    new = await assert_one_write(db, tid, ack)
    assert ("acknowledge", "acknowledged_at") in {(a, f) for _, a, f, _, _ in new}
    await assert_no_write(db, tid, ack)

    # The tick flags it overdue: audited and announced, but not an edit (version kept).
    row = await ticket(db, tid)
    due = max(d for d in (row.first_response_due, row.resolution_due) if d)
    later = due + timedelta(minutes=1)
    new = await assert_one_write(db, tid, lambda: run_tick(db, later), bumps=False)
    assert [a for _, a, _, _, _ in new] == ["overdue"]
    await assert_no_write(db, tid, lambda: run_tick(db, later + timedelta(minutes=5)))
    await assert_no_write(db, tid, lambda: in_uow(db, engine.schedule_unscheduled))

    def reason() -> Awaitable[Any]:
        return in_uow(db, lambda s: extensions.record_overdue_reason(s, agent, tid, "等待配件"))

    await assert_one_write(db, tid, reason)
    await assert_no_write(db, tid, reason)

    wanted = (await ticket(db, tid)).resolution_due + timedelta(days=2)
    request = await in_uow(
        db,
        lambda s: extensions.request_extension(
            s, agent, tid, extensions.ExtensionInput(wanted, "等待厂家配件")
        ),
    )
    new = await assert_one_write(
        db,
        tid,
        lambda: in_uow(db, lambda s: extensions.decide(s, lead, request.id, approve=True)),
    )
    assert ("deadline", "resolution_due") in {(a, f) for _, a, f, _, _ in new}
    assert (await ticket(db, tid)).resolution_due == wanted


async def test_board_move_and_mail_go_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    channel = "kefu-test:write-path"
    assert await inbound.import_message(db, None, channel, None, None, mail()) is not None
    async with db.sessionmaker() as session:
        tid = await session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    assert tid is not None
    lead = await actor(db, "lead")
    await make_smtp_mailbox(db, free_port())  # a reply can leave (the job is not run here)
    await slower_policy(db)
    # The first answer is the first response (one write); a second one changes no column.
    await assert_one_write(
        db, tid, lambda: in_uow(db, lambda s: outbound.queue_reply(s, lead, tid, "已在处理。"))
    )
    await assert_no_write(
        db, tid, lambda: in_uow(db, lambda s: outbound.queue_reply(s, lead, tid, "再次确认。"))
    )
    expected = await version(db, tid)
    await assert_one_write(
        db,
        tid,
        lambda: in_uow(
            db,
            lambda s: board.move(s, lead, tid, TicketStatus.IN_PROGRESS, expected_version=expected),
        ),
    )
    await move(db, "lead", tid, TicketStatus.AWAITING_CONFIRMATION)
    number = (await ticket(db, tid)).number
    reply = mail(subject=f"Re: [#{number}] 订单 12345 还没有发货", body="还是没有收到。")
    # The reply and the reopening it causes are one change: one version, one move entry.
    new = await assert_one_write(
        db, tid, lambda: inbound.import_message(db, None, channel, None, None, reply)
    )
    assert [(a, f) for _, a, f, _, _ in new if a == "move"] == [("move", "status")]
    assert (await ticket(db, tid)).status is TicketStatus.IN_PROGRESS


async def test_bulk_actions_write_each_ticket_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee=None)
    lead = await actor(db, "lead")
    emma = await actor(db, "agent.emma")
    await slower_policy(db)
    actions = [
        bulk.BulkAction(bulk.BulkKind.ASSIGN, assignee_id=emma.user_id),
        bulk.BulkAction(bulk.BulkKind.PRIORITY, priority=Priority.URGENT),
        bulk.BulkAction(bulk.BulkKind.MOVE, status=TicketStatus.IN_PROGRESS),
    ]
    for action in actions:

        def run(action: bulk.BulkAction = action) -> Awaitable[Any]:
            return in_uow(db, lambda s: bulk.apply(s, lead, [tid], action))

        await assert_one_write(db, tid, run)
        if action.kind is not bulk.BulkKind.MOVE:
            await assert_no_write(db, tid, run)
    # Moving again is refused (already there): reported, nothing written.
    refused = bulk.BulkAction(bulk.BulkKind.MOVE, status=TicketStatus.IN_PROGRESS)
    await assert_no_write(
        db, tid, lambda: in_uow(db, lambda s: bulk.apply(s, lead, [tid], refused))
    )


async def test_the_composer_writes_through_the_commands(db: Any, reference: dict[str, int]) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    agent = await actor(db, "agent")
    await slower_policy(db)

    def send(kind: compose.Kind, text: str) -> Callable[[], Awaitable[Any]]:
        record = commands.FollowUpInput(method=FollowUpMethod.PHONE, discussed=text)
        data = compose.ComposeInput(kind=kind, record=record)
        return lambda: in_uow(db, lambda s: compose.send(s, agent, tid, data))

    # The first reply is the first response (one write); a note after it changes no column.
    await assert_one_write(db, tid, send(compose.Kind.REPLY, "已在处理。"))
    await assert_no_write(db, tid, send(compose.Kind.NOTE, "内部备注"))


async def test_intake_stores_the_tracking_link_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    agent = await actor(db, "agent")
    result = await in_uow(
        db,
        lambda s: intake.register_once(
            s,
            agent,
            intake.InquiryInput(
                description="发票抬头写错了，请重开。",
                channel="phone",
                name="王芳",
                phone="13700000001",
                with_tracking_link=True,
            ),
        ),
    )
    row = await ticket(db, result.ticket.id)
    token = result.tracking_token
    assert token and row.tracking_token_hash == token_hash(token)
    assert row.version == 2  # registered, then the link: one write each
    assert [a for _, a, _, _, _ in (await seen(db, row.id)).audits] == ["create"]


async def test_a_customer_message_and_opening_the_drawer_go_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    await move(db, "agent", tid, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)
    agent = await actor(db, "agent")
    await slower_policy(db)

    async def write_in(session: Any) -> Any:
        row = await commands.get(session, tid)
        return await messages.receive(
            session,
            portal.PORTAL,
            row,
            messages.CustomerMessage(
                text="还是没有收到。", method=FollowUpMethod.ONLINE_CHAT, channel=Channel.PORTAL
            ),
        )

    # The message and the reopening it causes are one change: one version, one move entry.
    new = await assert_one_write(db, tid, lambda: in_uow(db, write_in))
    assert [(a, f) for _, a, f, _, _ in new if a == "move"] == [("move", "status")]
    assert "customer_reopened" in [a for _, a, _, _, _ in new]
    assert (await ticket(db, tid)).customer_replied_at is not None
    # Opening the drawer clears the mark without an edit: no version bump, no audit entry.
    new = await assert_one_write(
        db, tid, lambda: in_uow(db, lambda s: board.open_ticket(s, agent, tid)), bumps=False
    )
    assert new == []
    assert (await ticket(db, tid)).customer_replied_at is None
    await assert_no_write(db, tid, lambda: in_uow(db, lambda s: board.open_ticket(s, agent, tid)))


async def test_the_customer_confirmation_and_its_silence_go_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    token = "confirm-token-0123456789abcdef"

    async def waiting_ticket() -> int:
        tid = await make_ticket(db, reference, assignee="agent")
        await move(db, "agent", tid, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)
        return tid

    tid = await waiting_ticket()

    async def give_link(s: Any) -> Any:
        return await commands.set_tracking(s, inbound.MAIL, await commands.get(s, tid), token)

    await in_uow(db, give_link)
    await slower_policy(db)

    def solved() -> Awaitable[Any]:
        return in_uow(
            db, lambda s: portal.confirm(s, None, token, solved=True, client_ip="198.51.100.7")
        )

    # "Solved" and the completion it causes are one change: one version, one move entry.
    new = await assert_one_write(db, tid, solved)
    assert [(a, f) for _, a, f, _, _ in new if a == "move"] == [("move", "status")]
    assert "customer_confirmed" in [a for _, a, _, _, _ in new]
    # Confirming again is refused, nothing written.
    before = await seen(db, tid)
    with pytest.raises(Conflict):
        await solved()
    assert await seen(db, tid) == before

    # The silence rule: the tick completes a ticket left waiting, once.
    quiet = await waiting_ticket()
    due = (await ticket(db, quiet)).sla_next_at
    assert due is not None
    new = await assert_one_write(db, quiet, lambda: run_tick(db, due))
    assert "confirmation_timeout" in [a for _, a, _, _, _ in new]
    await assert_no_write(db, quiet, lambda: run_tick(db, due + timedelta(hours=1)))


# --- one Conflict for a stale version, everywhere -----------------------------------------


async def _overdue_with_request(db: Any, tid: int) -> int:
    agent = await actor(db, "agent")
    row = await ticket(db, tid)
    await run_tick(db, max(d for d in (row.first_response_due, row.resolution_due) if d))
    wanted = (await ticket(db, tid)).resolution_due + timedelta(days=1)
    request = await in_uow(
        db,
        lambda s: extensions.request_extension(
            s, agent, tid, extensions.ExtensionInput(wanted, "等待配件")
        ),
    )
    return int(request.id)


STALE_CASES = [
    "move",
    "assign",
    "change_priority",
    "change_type",
    "add_collaborator",
    "acknowledge",
    "overdue_reason",
    "extension_approved",
    "customer_level",
    "triage",
    "mail_reply",
    "route_new",
    "set_tracking",
    "customer_message",
    "customer_confirmation",
]


@pytest.mark.parametrize("case", STALE_CASES)
async def test_a_stale_version_is_the_same_conflict_everywhere(
    db: Any, reference: dict[str, int], case: str
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    agent = await actor(db, "agent")
    tech = await actor(db, "agent.tech")
    request_id = (
        await _overdue_with_request(db, tid)
        if case
        in (
            "overdue_reason",
            "extension_approved",
        )
        else 0
    )
    if case == "customer_confirmation":
        await move(db, "agent", tid, TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_CONFIRMATION)
    row = await ticket(db, tid)
    seen_version = row.version
    acts: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "move": lambda s: commands.move(
            s, agent, tid, TicketStatus.IN_PROGRESS, expected_version=seen_version
        ),
        "assign": lambda s: commands.assign(
            s, lead, tid, tech.user_id, expected_version=seen_version
        ),
        "change_priority": lambda s: commands.change_priority(
            s, lead, tid, Priority.URGENT, expected_version=seen_version
        ),
        "change_type": lambda s: commands.change_type(
            s, lead, tid, RequestType.COMPLAINT, expected_version=seen_version
        ),
        "add_collaborator": lambda s: commands.add_collaborator(
            s, lead, tid, tech.user_id, expected_version=seen_version
        ),
        "acknowledge": lambda s: extensions.acknowledge(s, agent, tid),
        "overdue_reason": lambda s: extensions.record_overdue_reason(s, agent, tid, "缺货"),
        "extension_approved": lambda s: extensions.decide(s, lead, request_id, approve=True),
        "customer_level": lambda s: commands.change_customer_level(
            s, lead, row.customer_id, CustomerLevel.VIP
        ),
        "triage": lambda s: triage.apply_triage(
            s, tid, triage.Classification(RequestType.COMPLAINT, 0.9, "m"), [], utcnow()
        ),
        "mail_reply": lambda s: _reply(s, tid),
        "route_new": lambda s: _route(s, tid),
        "set_tracking": lambda s: _track(s, tid),
        "customer_message": lambda s: _message(s, tid),
        "customer_confirmation": lambda s: _confirm(s, tid),
    }
    with pytest.raises(Conflict) as caught:
        async with unit_of_work(db) as session:
            looked = await commands.get(session, tid)  # this writer looks at the ticket …
            async with unit_of_work(db) as other:  # … someone else changes it meanwhile …
                await commands.change_priority(
                    other, lead, tid, Priority.LOW, expected_version=None
                )
            assert looked.version == seen_version  # (held: the session keeps what it read)
            await acts[case](session)  # … and this writer's change is refused, the same way
    assert caught.value.message == write.STALE
    assert caught.value.params == {"number": row.number}
    assert (await ticket(db, tid)).priority is Priority.LOW


async def _reply(session: Any, tid: int) -> Any:
    row = await commands.get(session, tid)
    follow_up = FollowUp(
        ticket_id=tid,
        at=utcnow(),
        by_customer=True,
        method=FollowUpMethod.EMAIL,
        discussed="补充信息",
        visible_to_customer=True,
    )
    return await commands.add_customer_reply(session, inbound.MAIL, row, follow_up)


async def _message(session: Any, tid: int) -> Any:
    row = await commands.get(session, tid)
    return await messages.receive(
        session,
        portal.PORTAL,
        row,
        messages.CustomerMessage(
            text="补充信息", method=FollowUpMethod.ONLINE_CHAT, channel=Channel.PORTAL
        ),
    )


async def _confirm(session: Any, tid: int) -> Any:
    row = await commands.get(session, tid)
    return await commands.confirm_solved(session, portal.PORTAL, row)


async def _route(session: Any, tid: int) -> Any:
    row = await commands.get(session, tid)
    return await commands.route_new(session, inbound.MAIL, row, repeat_of_id=tid)


async def _track(session: Any, tid: int) -> Any:
    row = await commands.get(session, tid)
    return await commands.set_tracking(session, inbound.MAIL, row, "another-token")


async def test_a_merge_writes_each_ticket_once_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    primary = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    async with unit_of_work(db) as s:
        first = await commands.get(s, primary)
        row, _ = await commands.create(
            s,
            lead,
            commands.TicketInput(
                customer_id=first.customer_id, description="同一个问题。", channel=Channel.PORTAL
            ),
        )
        dup, number = row.id, first.number
    await slower_policy(db)

    def merge_it() -> Awaitable[Any]:
        return in_uow(db, lambda s: merge.merge_by_number(s, lead, dup, number))

    before = await seen(db, dup)
    new = await assert_one_write(db, primary, merge_it)
    assert [a for _, a, _, _, _ in new if a == "merged_from"] == ["merged_from"]
    after = await seen(db, dup)
    assert after.version == before.version + 1
    dup_new = [(e[1], e[2]) for e in after.audits if e not in before.audits]
    assert ("move", "status") in dup_new and ("merged_into", None) in dup_new


async def test_a_macro_goes_through_the_commands(db: Any, reference: dict[str, int]) -> None:
    """Each step of a macro is a ticket command: one write per change, nothing when the
    macro changes nothing."""
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    macro = await in_uow(
        db,
        lambda s: macros.create(
            s, lead, macros.MacroInput(name="urgent", scope="team", priority="urgent")
        ),
    )
    await slower_policy(db)

    def apply(s: Any) -> Any:
        return macros.apply_macro(s, lead, tid, macro.id, expected_version=None)

    new = await assert_one_write(db, tid, lambda: in_uow(db, apply))
    assert ("change", "priority") in [(action, f) for _, action, f, _, _ in new]
    await assert_no_write(db, tid, lambda: in_uow(db, apply))


async def test_a_review_correction_goes_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    """A lead's correction on the review page (and its teach step) is the type command: one
    write, the request type changed."""
    tid = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    await slower_policy(db)

    def review(s: Any) -> Any:
        return triage.review_type(s, lead, tid, RequestType.AFTER_SALES, expected_version=None)

    new = await assert_one_write(db, tid, lambda: in_uow(db, review))
    assert ("change", "request_type") in [(action, f) for _, action, f, _, _ in new]
    assert (await ticket(db, tid)).request_type is RequestType.AFTER_SALES


def test_every_entry_point_has_a_scenario() -> None:
    """Each listed entry point names a scenario this module runs."""
    scenarios = {
        "sla_tick": test_the_sla_panel_writes_through_the_commands,
        "schedule_unscheduled": test_the_sla_panel_writes_through_the_commands,
        "acknowledge": test_the_sla_panel_writes_through_the_commands,
        "overdue_reason": test_the_sla_panel_writes_through_the_commands,
        "extension_approved": test_the_sla_panel_writes_through_the_commands,
        "mail_reply": test_board_move_and_mail_go_through_the_commands,
        "mail_queue_reply": test_board_move_and_mail_go_through_the_commands,
        "composer_send": test_the_composer_writes_through_the_commands,
        "board_move": test_board_move_and_mail_go_through_the_commands,
        "bulk_action": test_bulk_actions_write_each_ticket_through_the_commands,
        "intake_tracking": test_intake_stores_the_tracking_link_through_the_commands,
        "triage": test_triage_writes_through_the_commands_once,
        "auto_assign": test_auto_assignment_writes_through_the_commands_once,
        "customer_message": (
            test_a_customer_message_and_opening_the_drawer_go_through_the_commands
        ),
        "drawer_opened": test_a_customer_message_and_opening_the_drawer_go_through_the_commands,
        "customer_confirmation": (
            test_the_customer_confirmation_and_its_silence_go_through_the_commands
        ),
        "merge": test_a_merge_writes_each_ticket_once_through_the_commands,
        "customer_merge": test_a_customer_merge_moves_each_ticket_through_the_commands,
        "portal_lookup": test_finding_an_inquiry_again_goes_through_the_commands,
        "macro": test_a_macro_goes_through_the_commands,
        "review": test_a_review_correction_goes_through_the_commands,
        "chat": test_live_chat_goes_through_the_commands,
    }
    assert set(ENTRY_POINTS.values()) <= set(scenarios)


async def test_a_customer_merge_moves_each_ticket_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    other = await make_ticket(db, reference, assignee="agent")
    lead = await actor(db, "lead")
    duplicate_id = (await ticket(db, tid)).customer_id
    primary_id = (await ticket(db, other)).customer_id
    assert duplicate_id != primary_id
    await slower_policy(db)

    def merge() -> Awaitable[Any]:
        return in_uow(db, lambda s: customer_merge.merge(s, lead, duplicate_id, primary_id))

    new = await assert_one_write(db, tid, merge)
    assert ("change", "customer") in {(a, f) for _, a, f, _, _ in new}
    assert (await ticket(db, tid)).customer_id == primary_id
    # The same ticket reassigned to the customer it now has: nothing written.

    async def again(s: Any) -> Any:
        row = await commands.get(s, tid)
        return await commands.reassign_customer(
            s, lead, row, await s.get(models.Customer, primary_id)
        )

    await assert_no_write(db, tid, lambda: in_uow(db, again))


async def test_finding_an_inquiry_again_goes_through_the_commands(
    db: Any, reference: dict[str, int]
) -> None:
    tid = await make_ticket(db, reference, assignee="agent")
    row = await ticket(db, tid)
    async with db.sessionmaker() as s:
        owner = await s.get(models.Customer, row.customer_id)
        assert owner is not None
        phone = registry.decrypt(owner.phone_enc)
    assert phone
    await slower_policy(db)

    def lookup(contact: str) -> Awaitable[Any]:
        return in_uow(
            db, lambda s: portal.find_inquiry(s, None, row.number, contact, client_ip="test")
        )

    new = await assert_one_write(db, tid, lambda: lookup(phone))
    assert ("change", "tracking_token_hash") not in {(a, f) for _, a, f, _, _ in new}
    assert (await ticket(db, tid)).tracking_token_hash is not None
    await assert_no_write(db, tid, lambda: lookup("13900000000"))


async def test_live_chat_goes_through_the_commands(db: Any, reference: dict[str, int]) -> None:
    """A chat's ticket is created, assigned, answered, transferred and completed by the
    commands: each step one version and one audit entry per field it changed."""
    from sqlalchemy import func as sql_func

    from models.article import Article
    from models.chat_conversation import ChatConversation
    from models.enums import ArticleStatus
    from models.services.chat import conversations, wecom_channel, widgets
    from models.services.common.actor import Actor
    from models.settings import get_settings
    from models.user import User
    from tests.integration.chat.wecom_standin import running_wecom_standin

    system = Actor.system("test")
    agent, emma = await actor(db, "agent"), await actor(db, "agent.emma")
    async with unit_of_work(db) as session:
        widget = await widgets.save(session, system, widgets.WidgetInput(name="官网"))
        await conversations.set_available(session, agent, True)
    secret = "v" * 32
    visit = conversations.VisitorMessage(text="你好，发票开错了", client_id="c1")
    conversation, _ = await in_uow(
        db, lambda s: conversations.visitor_post(s, None, widget, secret, visit)
    )
    tid = conversation.ticket_id
    assert tid is not None and (await ticket(db, tid)).assignee_id == agent.user_id
    pid = conversation.public_id
    await slower_policy(db)

    # The first answer is the first response (and the acknowledgement): one write; the next
    # answers write nothing on the ticket.
    new = await assert_one_write(
        db, tid, lambda: in_uow(db, lambda s: conversations.agent_post(s, agent, pid, "您好"))
    )
    assert "acknowledged_at" in {f for _, _, f, _, _ in new}
    assert (await ticket(db, tid)).first_responded_at is not None
    await assert_no_write(
        db, tid, lambda: in_uow(db, lambda s: conversations.agent_post(s, agent, pid, "稍等"))
    )
    # A transfer reassigns the ticket: one write.
    async with unit_of_work(db) as session:
        await conversations.heartbeat(session, emma)
        await conversations.set_available(session, emma, True)
    await assert_one_write(
        db,
        tid,
        lambda: in_uow(
            db, lambda s: conversations.transfer(s, agent, pid, to_user_id=emma.user_id)
        ),
    )
    assert (await ticket(db, tid)).assignee_id == emma.user_id
    # Ending it takes the ticket through the state machine to completed, each move audited.
    before = await seen(db, tid)
    await in_uow(db, lambda s: conversations.agent_end(s, emma, pid))
    after = await seen(db, tid)
    moves = [a for a in after.audits if a not in before.audits and a[1] == "move"]
    assert (await ticket(db, tid)).status is TicketStatus.COMPLETED
    # In progress, 待确认, completed (the transcript's follow-up changes no ticket field).
    assert after.version == before.version + 3
    assert [f for _, _, f, _, _ in moves] == ["status"] * 3
    # Ending it again, from either side, writes nothing.
    await assert_no_write(
        db, tid, lambda: in_uow(db, lambda s: conversations.visitor_end(s, widget, secret, pid))
    )

    # A waiting chat taken by hand, a deflected one and a left message create their tickets
    # through intake and route_new like any other channel.
    async with unit_of_work(db) as session:
        await conversations.set_available(session, emma, False)
        me = await session.get(User, agent.user_id)
        me.chat_capacity = 0  # online, but no room: the next chat waits in the queue
    other = "w" * 32
    waiting, _ = await in_uow(
        db,
        lambda s: conversations.visitor_post(
            s, None, widget, other, conversations.VisitorMessage(text="还在吗")
        ),
    )
    async with unit_of_work(db) as session:
        me = await session.get(User, agent.user_id)
        me.chat_capacity = 1
    taken = await in_uow(db, lambda s: conversations.accept(s, agent, waiting.public_id))
    assert (await ticket(db, taken.ticket_id)).assignee_id == agent.user_id
    async with unit_of_work(db) as session:
        article = Article(
            title="发票开错了怎么办", body="在订单页申请重开。", status=ArticleStatus.PUBLISHED
        )
        session.add(article)
    await in_uow(
        db, lambda s: conversations.solved_by_article(s, widget, other, article.id, "还在吗")
    )
    assert (await ticket(db, taken.ticket_id)).status is TicketStatus.COMPLETED
    left = await in_uow(
        db,
        lambda s: conversations.leave_message(
            s,
            None,
            widget,
            "x" * 32,
            conversations.LeftMessage(name="赵六", phone="13700137000", email="", text="回电"),
        ),
    )
    assert (await ticket(db, left.id)).status is TicketStatus.PENDING

    # WeCom's sync registers its chats the same way.
    with running_wecom_standin("wwcorp", "secret") as standin:
        standin.add_account("wkKF")
        async with unit_of_work(db) as session:
            account = await wecom_channel.save_account(
                session,
                system,
                wecom_channel.AccountInput(
                    name="微信客服",
                    corp_id="wwcorp",
                    open_kfid="wkKF",
                    secret="secret",
                    token=standin.callback_token,
                    aes_key=standin.encoding_aes_key,
                    base_url=standin.base_url,
                ),
            )
        standin.queue_text("wkKF", "wmUser1", "微信里的咨询")
        stored = await wecom_channel.sync(
            db, None, get_settings().event_channel, account.id, standin.callback("wkKF").sync_token
        )
        assert stored == 1
    async with db.sessionmaker() as session:
        chats = await session.scalar(select(sql_func.count(ChatConversation.id)))
    assert chats == 4
