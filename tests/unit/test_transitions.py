"""The ticket state machine: every (source, target) pair, for every role."""

from __future__ import annotations

import itertools

import pytest

from models.enums import Role
from models.enums import TicketStatus as S
from models.services.common.actor import Actor
from models.services.common.errors import Forbidden, InvalidTransition
from models.services.tickets.transitions import (
    ORDER,
    REFUSALS,
    TRANSITIONS,
    allowed,
    refusal,
    rule_for,
    targets,
)

AGENT = Actor(user_id=3, label="agent", role=Role.AGENT, department_id=1)
LEAD = Actor(user_id=2, label="lead", role=Role.LEAD, department_id=1)
ADMIN = Actor(user_id=1, label="admin", role=Role.ADMIN)
ACTORS = {"agent": AGENT, "lead": LEAD, "admin": ADMIN}

# The whole table, written out by hand: what each role may do from each state.
EXPECTED: dict[tuple[S, S], set[str]] = {
    (S.PENDING, S.IN_PROGRESS): {"agent", "lead", "admin"},
    (S.IN_PROGRESS, S.AWAITING_CONFIRMATION): {"agent", "lead", "admin"},
    (S.AWAITING_CONFIRMATION, S.IN_PROGRESS): {"agent", "lead", "admin"},
    (S.AWAITING_CONFIRMATION, S.COMPLETED): {"agent", "lead", "admin"},
    (S.COMPLETED, S.CLOSED): {"agent", "lead", "admin"},
    (S.COMPLETED, S.IN_PROGRESS): {"lead", "admin"},
    (S.CLOSED, S.IN_PROGRESS): {"lead", "admin"},
}
LEAD_ONLY = {pair for pair, roles in EXPECTED.items() if "agent" not in roles}
PAIRS = list(itertools.product(ORDER, ORDER))


@pytest.mark.parametrize("role", sorted(ACTORS))
@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_every_pair_for_every_role(source: S, target: S, role: str) -> None:
    actor = ACTORS[role]
    if role in EXPECTED.get((source, target), set()):
        assert rule_for(source, target, actor) is TRANSITIONS[(source, target)]
        assert allowed(source, target, actor)
        assert target in targets(source, actor)
        assert refusal(source, target, actor) is None
    elif (source, target) in LEAD_ONLY:
        with pytest.raises(Forbidden) as refused:
            rule_for(source, target, actor)
        assert refused.value.status_code == 403
        assert refused.value.message == "Only a lead may reopen a ticket."
        assert refusal(source, target, actor) == refused.value.message
        assert not allowed(source, target, actor)
        assert target not in targets(source, actor)
    else:
        with pytest.raises(InvalidTransition) as refused:
            rule_for(source, target, actor)
        assert refused.value.status_code == 409
        expected = "The ticket is already in that state." if source == target else REFUSALS[source]
        assert refused.value.message == expected
        assert refusal(source, target, actor) == expected
        assert not allowed(source, target, actor)
        assert target not in targets(source, actor)


def test_the_table_has_exactly_the_expected_moves() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


def test_only_completing_asks_for_a_resolution() -> None:
    asking = {pair for pair, rule in TRANSITIONS.items() if rule.needs_resolution}
    assert asking == {(S.AWAITING_CONFIRMATION, S.COMPLETED)}


def test_only_taking_a_pending_ticket_acknowledges_it() -> None:
    acknowledging = {pair for pair, rule in TRANSITIONS.items() if rule.acknowledges}
    assert acknowledging == {(S.PENDING, S.IN_PROGRESS)}


def test_menu_targets_follow_the_board_order() -> None:
    assert targets(S.AWAITING_CONFIRMATION, AGENT) == [S.IN_PROGRESS, S.COMPLETED]
    assert targets(S.COMPLETED, LEAD) == [S.IN_PROGRESS, S.CLOSED]
    assert targets(S.COMPLETED, AGENT) == [S.CLOSED]
    assert targets(S.CLOSED, AGENT) == []


def test_every_state_has_a_refusal_reason_naming_what_is_possible() -> None:
    assert set(REFUSALS) == set(ORDER)


def test_the_system_actor_cannot_reopen() -> None:
    with pytest.raises(Forbidden):
        rule_for(S.CLOSED, S.IN_PROGRESS, Actor.system("worker"))
