"""Issue 15 items 2 and 3: the customer confirms (or not) the proposed solution on the
tracking page; a silent customer's ticket is completed by the SLA tick; and the survey
reaches everyone — on the tracking page, by a link staff copy, or answered by phone — with
a score ≤ 3 giving the supervisor a follow-up within 24 hours, whichever way it came."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models.audit import AuditEvent
from models.db import unit_of_work
from models.enums import Channel, FollowUpMethod, TicketStatus
from models.followup import FollowUp
from models.mail_message import MailMessage
from models.notification import Notification
from models.services.common.errors import Conflict, ValidationFailed
from models.services.escalation import engine
from models.services.mail import outbound
from models.services.notify import notifications
from models.services.sla import policy
from models.services.sla import settings as sla_settings
from models.services.tickets import commands, intake, portal, survey_desk, surveys
from models.survey import Survey
from tests.conftest import sign_in
from tests.integration.sla.test_sla_helpers import actor, move, run_tick, ticket, user_id

pytestmark = pytest.mark.usefixtures("reference")

S = TicketStatus
PROPOSAL = "已为您重新发送激活邮件，请查收后点击链接完成激活。"
IP = "198.51.100.23"


async def waiting(db: Any, reference: dict[str, int], *, propose: bool = True) -> tuple[int, str]:
    """A portal inquiry assigned to "agent", who proposes a solution and awaits the answer."""
    admin = await actor(db, "admin")
    agent = await actor(db, "agent")
    async with unit_of_work(db) as s:
        result = await intake.register_inquiry(
            s,
            admin,
            intake.InquiryInput(
                description="账号一直收不到激活邮件。",
                channel=Channel.PORTAL.value,
                name="周先生",
                phone="13800138222",
                email="zhou@customer.example",
                allowed_channels=(Channel.PORTAL,),
                with_tracking_link=True,
            ),
        )
        await commands.route_new(s, admin, result.ticket, department_id=reference["SUPPORT"])
        await commands.assign(s, admin, result.ticket.id, agent.user_id, expected_version=None)
    tid = result.ticket.id
    assert result.tracking_token
    await move(db, "agent", tid, S.IN_PROGRESS)
    if propose:
        async with unit_of_work(db) as s:
            await commands.add_follow_up(
                s,
                agent,
                tid,
                commands.FollowUpInput(
                    method=FollowUpMethod.ONLINE_CHAT, discussed=PROPOSAL, visible_to_customer=True
                ),
            )
    await move(db, "agent", tid, S.AWAITING_CONFIRMATION)
    return tid, result.tracking_token


async def confirm(db: Any, token: str, *, solved: bool, reason: str = "") -> portal.TrackingView:
    async with unit_of_work(db) as s:
        return await portal.confirm(s, None, token, solved=solved, reason=reason, client_ip=IP)


async def audit_actions(db: Any, tid: int) -> list[str]:
    async with db.sessionmaker() as s:
        rows = await s.scalars(
            select(AuditEvent.action).where(AuditEvent.ticket_id == tid).order_by(AuditEvent.id)
        )
        return list(rows.all())


async def follow_ups(db: Any, tid: int) -> list[FollowUp]:
    async with db.sessionmaker() as s:
        rows = await s.scalars(
            select(FollowUp).where(FollowUp.ticket_id == tid).order_by(FollowUp.id)
        )
        return list(rows.all())


async def survey_of(db: Any, tid: int) -> Survey | None:
    async with db.sessionmaker() as s:
        return await s.scalar(select(Survey).where(Survey.ticket_id == tid))


async def supervisor_follow_ups(db: Any, tid: int) -> list[FollowUp]:
    return [f for f in await follow_ups(db, tid) if f.next_owner_id is not None]


# --- the customer confirms ----------------------------------------------------------------


async def test_the_tracking_page_shows_the_proposed_solution_and_solved_completes(
    db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    async with db.sessionmaker() as s:
        view = await portal.tracking(s, token)
    assert view.awaiting_confirmation and view.proposed_solution == PROPOSAL
    assert view.survey_path is None

    view = await confirm(db, token, solved=True)

    row = await ticket(db, tid)
    assert row.status is S.COMPLETED and row.resolved_at is not None
    assert not view.awaiting_confirmation and view.proposed_solution is None
    # The survey is offered right there.
    survey = await survey_of(db, tid)
    assert survey is not None and survey.submitted_at is None
    assert view.survey_path == surveys.path_for(surveys.token_for(survey) or "")
    assert "customer_confirmed" in await audit_actions(db, tid)
    last = (await follow_ups(db, tid))[-1]
    assert last.by_customer and last.visible_to_customer


async def test_not_solved_with_a_reason_goes_back_to_work_notifies_and_marks(
    db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    await confirm(db, token, solved=False, reason="还是收不到邮件，垃圾箱里也没有。")
    row = await ticket(db, tid)
    assert row.status is S.IN_PROGRESS
    assert row.customer_replied_at is not None  # the card's "customer replied" mark
    last = (await follow_ups(db, tid))[-1]
    assert last.by_customer and last.discussed == "还是收不到邮件，垃圾箱里也没有。"
    assert "customer_reopened" in await audit_actions(db, tid)
    async with db.sessionmaker() as s:
        notes = (
            await s.scalars(
                select(Notification).where(
                    Notification.kind == notifications.KIND_CUSTOMER_REPLY,
                    Notification.ticket_id == tid,
                )
            )
        ).all()
    assert [n.user_id for n in notes] == [await user_id(db, "agent")]
    assert await survey_of(db, tid) is None


async def test_not_solved_needs_a_reason_and_nothing_changes_without_one(
    db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    before = await ticket(db, tid)
    with pytest.raises(ValidationFailed) as caught:
        await confirm(db, token, solved=False, reason="   ")
    assert caught.value.fields == {"reason": "Required."}
    after = await ticket(db, tid)
    assert after.status is S.AWAITING_CONFIRMATION and after.version == before.version


@pytest.mark.parametrize("first", [True, False])
async def test_confirming_twice_is_a_conflict_and_changes_nothing(
    db: Any, first: bool, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    await confirm(db, token, solved=first, reason="没有解决")
    before = await ticket(db, tid)
    audits = await audit_actions(db, tid)
    for solved in (True, False):
        with pytest.raises(Conflict) as caught:
            await confirm(db, token, solved=solved, reason="再点一次")
        assert caught.value.message == commands.NOT_AWAITING
    after = await ticket(db, tid)
    assert (after.status, after.version) == (before.status, before.version)
    assert await audit_actions(db, tid) == audits


async def test_a_ticket_not_awaiting_confirmation_cannot_be_confirmed(
    db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    await move(db, "agent", tid, S.IN_PROGRESS)  # the agent took it back meanwhile
    before = await ticket(db, tid)
    with pytest.raises(Conflict):
        await confirm(db, token, solved=True)
    assert (await ticket(db, tid)).version == before.version
    assert await survey_of(db, tid) is None


async def test_the_web_answers_a_second_confirmation_with_a_localized_409(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    page = await client.get(f"/portal/t/{token}")
    assert PROPOSAL in page.text and 'data-testid="confirm-solved"' in page.text
    csrf = client.cookies.get("kefu_csrf")

    async def post(answer: str, reason: str = "") -> Any:
        return await client.post(
            f"/portal/t/{token}/confirm",
            data={"answer": answer, "reason": reason, "_csrf_token": csrf},
            follow_redirects=False,
        )

    assert (await post("maybe")).status_code == 422
    empty = await post("not_solved", "")
    assert empty.status_code == 422
    done = await post("solved")
    assert done.status_code == 303 and done.headers["location"] == f"/portal/t/{token}"
    again = await post("solved")
    assert again.status_code == 409
    assert "该咨询已不在待确认状态" in again.text
    english = await client.post(
        f"/portal/t/{token}/confirm",
        data={"answer": "not_solved", "reason": "x", "_csrf_token": csrf},
        headers={"Accept-Language": "en"},
        follow_redirects=False,
    )
    assert english.status_code == 409
    assert (await ticket(db, tid)).status is S.COMPLETED


# --- the silence rule ---------------------------------------------------------------------


async def test_a_silent_customer_s_ticket_is_completed_after_72_business_hours(
    db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    row = await ticket(db, tid)
    assert row.paused_since is not None
    async with db.sessionmaker() as s:
        rules = await policy.load_rules(s)
    due = rules.calendar.add(row.paused_since, timedelta(hours=72), business=True)
    assert due - row.paused_since > timedelta(hours=72)  # business hours, not the wall clock
    assert row.sla_next_at == due

    report = await run_tick(db, due - timedelta(minutes=1))
    assert report.auto_completed == 0
    assert (await ticket(db, tid)).status is S.AWAITING_CONFIRMATION

    report = await run_tick(db, due)
    assert report.auto_completed == 1
    row = await ticket(db, tid)
    assert row.status is S.COMPLETED and row.resolved_at == due
    assert "confirmation_timeout" in await audit_actions(db, tid)
    # The timeline (and the customer) read why.
    note = (await follow_ups(db, tid))[-1]
    assert note.discussed == "客户 72 小时未确认，自动完成" and note.visible_to_customer
    survey = await survey_of(db, tid)
    assert survey is not None and survey.submitted_at is None
    async with db.sessionmaker() as s:
        assert (await portal.tracking(s, token)).survey_path is not None

    # Ticking again (a second worker, a late job) does nothing more.
    again = await run_tick(db, due + timedelta(minutes=5))
    assert again.auto_completed == 0
    assert (await ticket(db, tid)).version == row.version


async def test_the_silence_is_edited_at_admin_sla_and_a_reply_stops_it(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    page = await client.get("/admin/sla")
    assert 'name="confirm"' in page.text
    admin = await actor(db, "admin")
    async with unit_of_work(db) as s:
        form = await sla_settings.policy_form(s)
        assert form.confirmation.minutes == str(72 * 60) and form.confirmation.business
        values = _values(form)
        with pytest.raises(ValidationFailed):
            await sla_settings.save_policy(s, admin, {**values, "confirm": "5"})
    async with unit_of_work(db) as s:
        await sla_settings.save_policy(s, admin, {**values, "confirm": "120", "confirm_b": ""})
    tid, token = await waiting(db, reference)
    row = await ticket(db, tid)
    assert row.paused_since is not None
    assert row.sla_next_at == row.paused_since + timedelta(hours=2)
    # The customer answers "not solved" first: the silence no longer applies.
    await confirm(db, token, solved=False, reason="还是不行")
    report = await run_tick(db, row.paused_since + timedelta(hours=3))
    assert report.auto_completed == 0
    assert (await ticket(db, tid)).status is S.IN_PROGRESS
    # Waiting again starts a new silence, which fires once.
    await move(db, "agent", tid, S.AWAITING_CONFIRMATION)
    second = await ticket(db, tid)
    assert second.paused_since is not None and second.sla_next_at is not None
    assert (await run_tick(db, second.sla_next_at)).auto_completed == 1
    note = (await follow_ups(db, tid))[-1]
    assert note.discussed == "客户 2 小时未确认，自动完成"


# --- surveys reach everyone -----------------------------------------------------------------


async def _supervisor_follow_up_after(db: Any, tid: int) -> FollowUp:
    survey = await survey_of(db, tid)
    assert survey is not None and survey.submitted_at is not None
    report = await run_tick(db, survey.submitted_at + timedelta(minutes=1))
    assert report.low_csat_follow_ups == 1
    (task,) = await supervisor_follow_ups(db, tid)
    assert task.next_due_at is not None
    assert task.next_due_at - task.at == engine.FOLLOW_UP_WITHIN == timedelta(hours=24)
    return task


async def test_a_survey_answered_on_the_tracking_page_with_a_low_score(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, token = await waiting(db, reference)
    await confirm(db, token, solved=True)
    page = await client.get(f"/portal/t/{token}")
    action = re.search(r'action="(/survey/[A-Za-z0-9_-]+)"', page.text)
    assert action and 'data-testid="tracking-survey"' in page.text
    response = await client.post(
        action.group(1),
        data={
            "speed": "4",
            "solution": "2",
            "attitude": "5",
            "_csrf_token": client.cookies.get("kefu_csrf"),
        },
    )
    assert response.status_code == 200
    await _supervisor_follow_up_after(db, tid)
    page = await client.get(f"/portal/t/{token}")
    assert 'data-testid="tracking-survey"' not in page.text
    assert 'data-testid="survey-answered"' in page.text


async def test_a_survey_answered_through_the_link_staff_copied(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, _ = await waiting(db, reference)
    await move(db, "agent", tid, S.COMPLETED)
    await sign_in(client, "agent", "kefu-agent")
    response = await client.get(f"/tickets/{tid}/survey-link", headers={"HX-Request": "true"})
    assert response.status_code == 200
    found = re.search(r'value="(https?://[^"]+/survey/([A-Za-z0-9_-]+))"', response.text)
    assert found
    link_token = found.group(2)
    async with unit_of_work(db) as s:
        await surveys.submit(
            s,
            link_token,
            surveys.parse_answer(surveys.AnswerInput(speed="3", solution="5", attitude="5")),
        )
    await _supervisor_follow_up_after(db, tid)
    # Answered: no link any more.
    again = await client.get(f"/tickets/{tid}/survey-link", headers={"HX-Request": "true"})
    assert again.status_code == 409


async def test_a_survey_answered_by_phone_is_recorded_by_the_agent_and_audited(
    client: Any, db: Any, reference: dict[str, int]
) -> None:
    tid, _ = await waiting(db, reference)
    await move(db, "agent", tid, S.COMPLETED)
    await sign_in(client, "agent", "kefu-agent")
    drawer = await client.get(f"/tickets/{tid}")
    assert 'data-testid="form-phone-survey"' in drawer.text
    csrf = client.cookies.get("kefu_csrf")
    bad = await client.post(
        f"/tickets/{tid}/survey/phone",
        data={"speed": "9", "solution": "", "attitude": "5", "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert (await survey_of(db, tid)).submitted_at is None  # type: ignore[union-attr]
    ok = await client.post(
        f"/tickets/{tid}/survey/phone",
        data={
            "speed": "5",
            "solution": "1",
            "attitude": "4",
            "comment": "电话回访：问题反复出现",
            "_csrf_token": csrf,
        },
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 200
    assert 'data-testid="survey-done"' in ok.text
    survey = await survey_of(db, tid)
    assert survey is not None
    assert survey.recorded_by_id == await user_id(db, "agent")
    assert (survey.speed_score, survey.solution_score, survey.attitude_score) == (5, 1, 4)
    async with db.sessionmaker() as s:
        entry = await s.scalar(
            select(AuditEvent).where(
                AuditEvent.ticket_id == tid, AuditEvent.action == "survey_recorded"
            )
        )
    assert entry is not None and entry.actor_id == await user_id(db, "agent")
    twice = await client.post(
        f"/tickets/{tid}/survey/phone",
        data={"speed": "5", "solution": "5", "attitude": "5", "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert twice.status_code == 409
    await _supervisor_follow_up_after(db, tid)


async def test_staff_survey_tools_wait_for_completion(db: Any, reference: dict[str, int]) -> None:
    tid, _ = await waiting(db, reference)
    agent = await actor(db, "agent")
    async with db.sessionmaker() as s:
        with pytest.raises(Conflict):
            await survey_desk.link(s, agent, tid)
        with pytest.raises(Conflict):
            await survey_desk.record_by_phone(
                s, agent, tid, surveys.AnswerInput(speed="5", solution="5", attitude="5")
            )


async def test_no_invitation_is_queued_when_mail_cannot_leave(
    db: Any, reference: dict[str, int]
) -> None:
    tid, _ = await waiting(db, reference)
    # The customer has an email address, but no mailbox and no SMTP fallback exist.
    async with unit_of_work(db) as s:
        row = await commands.get(s, tid)
        assert not outbound.mailbox_can_send(None)
        await commands.confirm_solved(s, portal.PORTAL, row)
    async with unit_of_work(db) as s:
        assert await outbound.invite_surveys(s) == 0
    async with db.sessionmaker() as s:
        assert (await s.scalars(select(MailMessage))).all() == []


# --- helpers --------------------------------------------------------------------------------


def _values(form: sla_settings.PolicyForm) -> dict[str, str]:
    values: dict[str, str] = {"ladder": form.ladder}
    for target in [
        *form.first_response,
        form.acknowledgement,
        form.reminder,
        form.confirmation,
        *form.resolution,
        *form.by_type,
    ]:
        values[target.name] = target.minutes
        values[f"{target.name}_b"] = "on" if target.business else ""
    for name, _, percent in form.levels:
        values[name] = percent
    return values
