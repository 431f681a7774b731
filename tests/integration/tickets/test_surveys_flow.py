"""Record 4: the survey a completed ticket gets, its public page, single use and expiry."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.base import utcnow
from models.db import unit_of_work
from models.department import Department
from models.enums import RequestType, TicketStatus
from models.followup import FollowUp
from models.services.common.crypto import token_hash
from models.services.tickets import commands, surveys
from models.settings import get_settings
from models.survey import Survey
from tests.conftest import csrf_token, run_worker_burst
from tests.integration.reports_data import actors, customer, local, make_ticket

pytestmark = pytest.mark.usefixtures("reference")

VALID = {
    "speed": "5",
    "solution": "4",
    "attitude": "2",
    "comment": "  处理很及时  ",
    "suggestion": "",
    "contact": "138 1234 5678",
}


async def completed_ticket(db: Any, **kwargs: Any) -> tuple[int, str]:
    made = await make_ticket(
        db,
        customer_id=await customer(db),
        description="物流延迟，快递三天没更新",
        request_type=RequestType.PROBLEM,
        assignee="agent.tech",
        created=local(2024, 3, 1, 9),
        resolved=local(2024, 3, 1, 10),
        status=TicketStatus.COMPLETED,
        **kwargs,
    )
    assert made.token is not None
    return made.ticket_id, made.token


async def survey_row(db: Any, ticket_id: int) -> Survey:
    async with db.sessionmaker() as s:
        row = await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
        assert row is not None
        return row


async def post_survey(client: Any, token: str, data: dict[str, str], **headers: str) -> Any:
    csrf = await csrf_token(client, f"/survey/{token}")
    return await client.post(
        f"/survey/{token}", data={**data, "_csrf_token": csrf}, headers=headers
    )


async def test_completing_a_ticket_creates_one_survey_with_only_a_token_hash(db: Any) -> None:
    ticket_id, token = await completed_ticket(db)
    row = await survey_row(db, ticket_id)
    assert row.token_hash == token_hash(token) != token
    assert len(token) >= 32
    assert row.service_type is RequestType.PROBLEM
    assert row.submitted_at is None
    assert timedelta(days=13, hours=23) < row.expires_at - row.created_at <= timedelta(days=14)
    async with db.sessionmaker() as s:
        assert await surveys.link_for_ticket(s, ticket_id) == f"/survey/{token}"
    # Reopened and completed again: still the one survey, the same link.
    people = await actors(db)
    for target in (
        TicketStatus.IN_PROGRESS,
        TicketStatus.AWAITING_CONFIRMATION,
        TicketStatus.COMPLETED,
    ):
        async with unit_of_work(db) as s:
            await commands.move(
                s, people["admin"], ticket_id, target, expected_version=None, resolution="再次解决"
            )
    async with db.sessionmaker() as s:
        rows = (await s.scalars(select(Survey).where(Survey.ticket_id == ticket_id))).all()
        assert len(rows) == 1
        assert await surveys.link_for_ticket(s, ticket_id) == f"/survey/{token}"


async def test_tickets_that_are_not_completed_get_no_survey(db: Any) -> None:
    made = await make_ticket(
        db,
        customer_id=await customer(db),
        description="还在处理",
        request_type=RequestType.PROBLEM,
        assignee="agent.tech",
        created=local(2024, 3, 1, 9),
        status=TicketStatus.AWAITING_CONFIRMATION,
    )
    assert made.token is None
    async with db.sessionmaker() as s:
        assert await surveys.link_for_ticket(s, made.ticket_id) is None


@pytest.mark.parametrize(
    ("headers", "expected", "absent"),
    [
        ({"accept-language": "en-US,en;q=0.9"}, "How did we do?", "我们做得怎么样"),
        ({"accept-language": "zh-CN,zh;q=0.9"}, "我们做得怎么样", "How did we do?"),
        ({"cookie": "kefu_lang=en"}, "Response speed", "响应速度"),
    ],
)
async def test_the_survey_page_renders_in_both_languages(
    db: Any, client: Any, headers: dict[str, str], expected: str, absent: str
) -> None:
    _, token = await completed_ticket(db)
    response = await client.get(f"/survey/{token}", headers=headers)
    assert response.status_code == 200
    assert expected in response.text
    assert absent not in response.text
    assert 'name="viewport"' in response.text
    assert response.text.count('type="radio"') == 15  # three dimensions × five scores


async def test_a_survey_is_answered_once(db: Any, client: Any) -> None:
    ticket_id, token = await completed_ticket(db)
    response = await post_survey(client, token, VALID, **{"accept-language": "zh-CN"})
    assert response.status_code == 200, response.text[:500]
    assert "感谢您的反馈" in response.text
    row = await survey_row(db, ticket_id)
    assert (row.speed_score, row.solution_score, row.attitude_score) == (5, 4, 2)
    assert row.comment == "处理很及时"
    assert row.suggestion is None
    assert row.submitted_at is not None
    # The contact is stored encrypted, never in plain text.
    # (its sealed part: the key id before it is random hex and may hold any digits)
    assert row.contact is not None
    sealed = row.contact.rsplit(":", 1)[-1]
    assert sealed and "1234" not in sealed and "5678" not in sealed
    assert surveys.decrypt_contact(row) == "138 1234 5678"
    assert surveys.is_low(row)

    again = await post_survey(client, token, {**VALID, "speed": "1"}, **{"accept-language": "en"})
    assert again.status_code == 409
    assert "already been answered" in again.text
    assert (await survey_row(db, ticket_id)).speed_score == 5
    page = await client.get(f"/survey/{token}", headers={"accept-language": "zh-CN"})
    assert page.status_code == 409
    assert "已经提交" in page.text
    async with db.sessionmaker() as s:
        assert await surveys.link_for_ticket(s, ticket_id) is None
        audit = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "survey_submitted"))
        ).all()
        assert [a.ticket_id for a in audit] == [ticket_id]


async def test_racing_submissions_store_one_answer(db: Any) -> None:
    ticket_id, token = await completed_ticket(db)

    async def answer(speed: int) -> str:
        try:
            async with unit_of_work(db) as s:
                await surveys.submit(
                    s, token, surveys.Answer(speed, speed, speed, None, None, None)
                )
        except Exception as exc:  # the loser's error is what we check
            return type(exc).__name__
        return "ok"

    results = await asyncio.gather(answer(1), answer(5))
    assert sorted(results) == ["Conflict", "ok"]
    row = await survey_row(db, ticket_id)
    assert row.speed_score in (1, 5)
    assert row.solution_score == row.attitude_score == row.speed_score


async def test_an_expired_link_is_refused_with_410(db: Any, client: Any) -> None:
    ticket_id, token = await completed_ticket(db)
    async with unit_of_work(db) as s:
        row = await s.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)
    page = await client.get(f"/survey/{token}", headers={"accept-language": "zh-CN"})
    assert page.status_code == 410
    assert "已过期" in page.text
    response = await post_survey(client, token, VALID, **{"accept-language": "en"})
    assert response.status_code == 410
    assert "expired" in response.text
    assert (await survey_row(db, ticket_id)).submitted_at is None


async def test_an_unknown_link_is_404(client: Any) -> None:
    response = await client.get("/survey/not-a-real-token", headers={"accept-language": "en"})
    assert response.status_code == 404
    assert "not valid" in response.text


@pytest.mark.parametrize("bad", ["0", "6", "x", "", "3.5", "-1"])
async def test_scores_out_of_range_are_422_and_store_nothing(
    db: Any, client: Any, bad: str
) -> None:
    ticket_id, token = await completed_ticket(db)
    response = await post_survey(
        client, token, {**VALID, "solution": bad}, **{"accept-language": "zh-CN"}
    )
    assert response.status_code == 422
    assert "请选择 1 到 5 分" in response.text
    assert 'value="5" required checked' in response.text  # the form keeps what was typed
    row = await survey_row(db, ticket_id)
    assert row.submitted_at is None
    assert row.speed_score is None and row.contact is None
    english = await post_survey(
        client, token, {**VALID, "attitude": bad}, **{"accept-language": "en"}
    )
    assert english.status_code == 422
    assert "Choose a score from 1 to 5." in english.text


async def test_overlong_text_is_422(db: Any, client: Any) -> None:
    ticket_id, token = await completed_ticket(db)
    response = await post_survey(
        client, token, {**VALID, "comment": "字" * 2001}, **{"accept-language": "en"}
    )
    assert response.status_code == 422
    assert (await survey_row(db, ticket_id)).submitted_at is None


async def test_submission_publishes_survey_submitted(db: Any, client: Any, redis: Any) -> None:
    _, token = await completed_ticket(db)
    pubsub = redis.pubsub()
    await pubsub.subscribe(get_settings().event_channel)
    try:
        response = await post_survey(client, token, VALID)
        assert response.status_code == 200
        seen: list[dict[str, Any]] = []
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                seen.append(json.loads(message["data"]))
            if any(m["type"] == "survey.submitted" for m in seen):
                break
        event = next(m for m in seen if m["type"] == "survey.submitted")
        assert event["low_score"] is True and event["lowest_score"] == 2
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()


async def test_low_score_clause_finds_low_surveys_only(db: Any) -> None:
    low_id, low_token = await completed_ticket(db)
    _, ok_token = await completed_ticket(db)
    for token, scores in ((low_token, (5, 5, 3)), (ok_token, (4, 4, 5))):
        async with unit_of_work(db) as s:
            await surveys.submit(s, token, surveys.Answer(*scores, None, None, None))
    async with db.sessionmaker() as s:
        found = (await s.scalars(select(Survey.ticket_id).where(surveys.low_score_clause()))).all()
    assert list(found) == [low_id]


async def test_a_low_score_makes_the_worker_create_the_supervisor_follow_up(
    db: Any, client: Any, redis: Any, reference: dict[str, int]
) -> None:
    """The whole path: the customer's low score on the page → the SLA tick in the worker."""
    low_id, low_token = await completed_ticket(db)
    ok_id, ok_token = await completed_ticket(db)
    assert (await post_survey(client, low_token, {**VALID, "solution": "3"})).status_code == 200
    assert (await post_survey(client, ok_token, {**VALID, "attitude": "4"})).status_code == 200
    job = await redis.enqueue_job("sla_tick")
    await run_worker_burst()
    await job.result(timeout=10)
    async with db.sessionmaker() as s:
        tech = await s.get(Department, reference["TECH"])
        assert tech is not None and tech.supervisor_id is not None
        supervisor = tech.supervisor_id
        tasks = (
            await s.scalars(
                select(FollowUp).where(
                    FollowUp.next_owner_id.is_not(None), FollowUp.is_resolution.is_(False)
                )
            )
        ).all()
    assert [(t.ticket_id, t.next_owner_id, t.done) for t in tasks] == [(low_id, supervisor, False)]
    assert ok_id != low_id
