"""The ticket state machine: the one place that says which moves are allowed, and by whom.

The board (drag and drop, the "move to…" menu), the API, the worker and the CLI all ask
:func:`rule_for` before moving a ticket, so a move refused here is refused everywhere, with
the same localized reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.enums import TicketStatus as S
from models.services.common.actor import Actor
from models.services.common.errors import N_, DomainError, Forbidden, InvalidTransition


@dataclass(frozen=True)
class Rule:
    """What an allowed move asks of the mover."""

    lead_only: bool = False
    needs_resolution: bool = False
    # Taking a pending ticket acknowledges it (and assigns it to the mover if unassigned).
    acknowledges: bool = False


TRANSITIONS: dict[tuple[S, S], Rule] = {
    (S.PENDING, S.IN_PROGRESS): Rule(acknowledges=True),
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

# Why a move out of a state was refused: the reason names what *is* possible, so the person
# who dragged the card learns the process instead of just hearing "no".
REFUSALS: dict[S, str] = {
    S.PENDING: N_("A pending ticket can only be taken into In progress."),
    S.IN_PROGRESS: N_("A ticket in progress can only move to Awaiting confirmation."),
    S.AWAITING_CONFIRMATION: N_(
        "A ticket awaiting confirmation can only go back to In progress or be completed."
    ),
    S.COMPLETED: N_("A completed ticket can only be closed, or reopened by a lead."),
    S.CLOSED: N_("A closed ticket can only be reopened by a lead."),
}


def rule_for(source: S, target: S, actor: Actor) -> Rule:
    """The rule of an allowed move, or a localized refusal.

    Raises :class:`InvalidTransition` (409) for a move the process never allows and
    :class:`Forbidden` (403) for a lead's move attempted by someone else.
    """
    if source == target:
        raise InvalidTransition(N_("The ticket is already in that state."))
    rule = TRANSITIONS.get((source, target))
    if rule is None:
        raise InvalidTransition(REFUSALS[source])
    if rule.lead_only and not actor.is_lead:
        raise Forbidden(N_("Only a lead may reopen a ticket."))
    return rule


def refusal(source: S, target: S, actor: Actor) -> str | None:
    """Why :func:`rule_for` would refuse this move (its msgid), or None if it would not.

    The board shows this while a card is dragged over a column it may not go to.
    """
    try:
        rule_for(source, target, actor)
    except DomainError as refused:
        return refused.message
    return None


def allowed(source: S, target: S, actor: Actor) -> bool:
    """Whether :func:`rule_for` would accept this move."""
    rule = TRANSITIONS.get((source, target))
    return rule is not None and (not rule.lead_only or actor.is_lead)


def targets(source: S, actor: Actor) -> list[S]:
    """The states this actor may move a ticket in ``source`` to (for the "move to…" menu)."""
    return [target for target in ORDER if allowed(source, target, actor)]
