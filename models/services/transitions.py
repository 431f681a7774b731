"""The ticket state machine: the one place that says which moves are allowed, and by whom."""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import TicketStatus as S
from models.services.actor import Actor
from models.services.errors import N_, Forbidden, InvalidTransition


@dataclass(frozen=True)
class Rule:
    lead_only: bool = False
    needs_resolution: bool = False


TRANSITIONS: dict[tuple[S, S], Rule] = {
    (S.PENDING, S.IN_PROGRESS): Rule(),
    (S.IN_PROGRESS, S.AWAITING_CONFIRMATION): Rule(),
    (S.AWAITING_CONFIRMATION, S.IN_PROGRESS): Rule(),
    (S.AWAITING_CONFIRMATION, S.COMPLETED): Rule(needs_resolution=True),
    (S.COMPLETED, S.CLOSED): Rule(),
    # Reopening is a lead's decision.
    (S.COMPLETED, S.IN_PROGRESS): Rule(lead_only=True),
    (S.CLOSED, S.IN_PROGRESS): Rule(lead_only=True),
}

ORDER: tuple[S, ...] = (
    S.PENDING,
    S.IN_PROGRESS,
    S.AWAITING_CONFIRMATION,
    S.COMPLETED,
    S.CLOSED,
)


def rule_for(source: S, target: S, actor: Actor) -> Rule:
    """The rule of an allowed move, or a localized refusal."""
    if source == target:
        raise InvalidTransition(N_("The ticket is already in that state."))
    rule = TRANSITIONS.get((source, target))
    if rule is None:
        raise InvalidTransition(
            N_("A ticket cannot move from %(source)s to %(target)s."),
            source=str(source),
            target=str(target),
        )
    if rule.lead_only and not actor.is_lead:
        raise Forbidden(N_("Only a lead may reopen a ticket."))
    return rule


def targets(source: S, actor: Actor) -> list[S]:
    """The states this actor may move a ticket in ``source`` to (for the "move to…" menu)."""
    return [
        target
        for (src, target), rule in TRANSITIONS.items()
        if src == source and (not rule.lead_only or actor.is_lead)
    ]
