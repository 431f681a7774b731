"""Live chat on the KPI dashboard: how fast chats were answered (the seed's standard for
在线客服: within 30 seconds), per period and per agent, and how many a suggested answer solved.

Read straight from the conversations of the period (started in it), not from the cached
report figures: chats change by the second and the query reads one index range.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.chat_conversation import ChatConversation
from models.enums import ChatStatus
from models.services.reports.summary import Period
from models.services.sla import policy as sla
from models.user import User


@dataclass(frozen=True)
class AgentChats:
    user_id: int
    name: str
    chats: int
    answered: int
    median_first_response_s: float | None
    within_target_share: float | None


@dataclass(frozen=True)
class ChatFigures:
    target_s: int
    chats: int = 0  # conversations (a left message is not a chat)
    answered: int = 0
    median_first_response_s: float | None = None
    average_first_response_s: float | None = None
    within_target_share: float | None = None  # of the chats: answered within the target
    left_messages: int = 0
    solved_by_article: int = 0  # chats ended by a suggested answer (deflection)
    agents: list[AgentChats] = field(default_factory=list)

    @property
    def deflection_share(self) -> float | None:
        return self.solved_by_article / self.chats if self.chats else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


async def chat_figures(
    session: AsyncSession, period: Period, department_id: int | None = None
) -> ChatFigures:
    target = (await sla.load_rules(session)).policy.chat_first_response_seconds
    query = select(
        ChatConversation.status,
        ChatConversation.started_at,
        ChatConversation.first_response_at,
        ChatConversation.agent_id,
        ChatConversation.ended_by,
    ).where(ChatConversation.started_at >= period.start, ChatConversation.started_at < period.end)
    if department_id is not None:
        query = query.where(ChatConversation.department_id == department_id)
    rows = (await session.execute(query)).all()
    left = sum(1 for r in rows if r.status == ChatStatus.LEFT_MESSAGE)
    chats = [r for r in rows if r.status != ChatStatus.LEFT_MESSAGE]
    waits: dict[int | None, list[float]] = {}
    counts: dict[int, int] = {}
    for r in chats:
        if r.agent_id is not None:
            counts[r.agent_id] = counts.get(r.agent_id, 0) + 1
        if r.first_response_at is not None:
            seconds = max(0.0, (r.first_response_at - r.started_at).total_seconds())
            waits.setdefault(r.agent_id, []).append(seconds)
    every = [s for values in waits.values() for s in values]
    names = dict(
        (await session.execute(select(User.id, User.display_name).where(User.id.in_(counts)))).all()
    )
    agents = [
        AgentChats(
            user_id=agent_id,
            name=names.get(agent_id, f"#{agent_id}"),
            chats=count,
            answered=len(waits.get(agent_id, [])),
            median_first_response_s=_median(waits.get(agent_id, [])),
            within_target_share=(
                sum(1 for s in waits.get(agent_id, []) if s <= target) / count if count else None
            ),
        )
        for agent_id, count in sorted(counts.items(), key=lambda item: -item[1])
    ]
    return ChatFigures(
        target_s=target,
        chats=len(chats),
        answered=len(every),
        median_first_response_s=_median(every),
        average_first_response_s=round(sum(every) / len(every), 1) if every else None,
        within_target_share=(sum(1 for s in every if s <= target) / len(chats)) if chats else None,
        left_messages=left,
        solved_by_article=sum(1 for r in chats if r.ended_by == "article"),
        agents=agents,
    )
