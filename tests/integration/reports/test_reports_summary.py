"""Record 5: every figure of the problem summary on a hand-computed dataset.

The dataset (tests/integration/reports_data.py), March 2024 in Asia/Shanghai:

====  ============  =========  ============  ===========  ============  =========  ======
id    type          assignee   registered    1st answer   resolved      scores     other
====  ============  =========  ============  ===========  ============  =========  ======
t1    problem       agent.tech 03-01 00:00   +0.5 h       +4 h          5 5 5
t2    problem       agent.tech 03-05 09:00   +2 h         +24 h         4 3 5
t3    problem       agent.tech 03-11 09:00   +10 min      —             —
t4    complaint     agent.care 03-12 09:00   +3 h         +48 h (closed) 2 2 1    repeat
t5    consultation  agent      03-20 09:00   +15 min      +1 h          (not answered)
t6    —             —          03-28 09:00   —            —
p1    problem       agent.tech 02-29 23:59   (February: the previous period; resolved 03-01)
a1    consultation  agent      04-01 00:00   (April: outside)
====  ============  =========  ============  ===========  ============  =========  ======
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from models.enums import RequestType
from models.services.reports import summary as reports
from models.services.sla.deadlines import DEFAULT_CALENDAR
from tests.conftest import sign_in
from tests.integration.reports_data import local, march_dataset

pytestmark = pytest.mark.usefixtures("reference")

MARCH = reports.Period("month", date(2024, 3, 1), date(2024, 3, 31), "Asia/Shanghai")


@pytest.fixture
async def dataset(db: Any) -> dict[str, Any]:
    return await march_dataset(db)


async def summary(db: Any, period: reports.Period = MARCH, **kwargs: Any) -> Any:
    async with db.sessionmaker() as s:
        return await reports.problem_summary(s, period, **kwargs)


async def test_per_type_figures(db: Any, dataset: Any) -> None:
    result = await summary(db)
    rows = {r.request_type: r for r in result.rows}
    assert list(rows) == [*RequestType, None]  # the unclassified row appears: t6

    problem = rows[RequestType.PROBLEM]
    assert problem.count == 3
    assert problem.share == pytest.approx(3 / 6)
    assert problem.figures.resolved == 2
    assert problem.figures.resolution_rate == pytest.approx(2 / 3)
    assert problem.figures.avg_handling_hours == pytest.approx((4 + 24) / 2, abs=1e-3)
    s = problem.figures.satisfaction
    assert s.answered == 2
    assert (s.avg_speed, s.avg_solution, s.avg_attitude) == pytest.approx((4.5, 4.0, 5.0))
    assert s.satisfied == 1 and s.low == 1

    complaint = rows[RequestType.COMPLAINT]
    assert complaint.count == 1 and complaint.share == pytest.approx(1 / 6)
    assert complaint.figures.resolution_rate == 1.0  # closed counts as resolved
    assert complaint.figures.avg_handling_hours == pytest.approx(48, abs=1e-3)
    c = complaint.figures.satisfaction
    assert (c.avg_speed, c.avg_solution, c.avg_attitude) == pytest.approx((2, 2, 1))
    assert c.satisfied_share == 0

    consultation = rows[RequestType.CONSULTATION]
    assert consultation.count == 1
    assert consultation.figures.avg_handling_hours == pytest.approx(1, abs=1e-3)
    assert consultation.figures.satisfaction.answered == 0  # a survey sent, not answered
    assert consultation.figures.satisfaction.avg_speed is None

    after_sales = rows[RequestType.AFTER_SALES]
    assert after_sales.count == 0 and after_sales.share == 0
    assert after_sales.figures.resolution_rate is None
    assert after_sales.figures.avg_handling_hours is None

    assert rows[None].count == 1 and rows[None].figures.resolved == 0


async def test_totals_and_previous_period(db: Any, dataset: Any) -> None:
    result = await summary(db)
    t = result.total
    assert t.count == 6
    assert t.resolved == 4
    assert t.resolution_rate == pytest.approx(4 / 6)
    assert t.avg_handling_hours == pytest.approx((4 + 24 + 48 + 1) / 4, abs=1e-3)
    assert t.avg_first_response_hours == pytest.approx((0.5 + 2 + 10 / 60 + 3 + 0.25) / 5, abs=1e-3)
    assert t.repeat_rate == pytest.approx(1 / 6)
    s = t.satisfaction
    assert s.answered == 3
    assert s.satisfied_share == pytest.approx(1 / 3)
    assert (s.avg_speed, s.avg_solution, s.avg_attitude) == pytest.approx(
        ((5 + 4 + 2) / 3, (5 + 3 + 2) / 3, (5 + 5 + 1) / 3)
    )
    # Scores 1…5 per dimension: speed 5,4,2; solution 5,3,2; attitude 5,5,1.
    assert s.distribution == ((0, 1, 0, 1, 1), (0, 1, 1, 0, 1), (1, 0, 0, 0, 2))

    assert result.previous.key == "2024-02"
    p = result.previous_total
    assert p.count == 1 and p.resolved == 1
    assert p.avg_handling_hours == pytest.approx(2 + 1 / 60, abs=1e-3)
    assert p.satisfaction.satisfied == 0 and p.satisfaction.low == 1


async def test_per_agent_figures(db: Any, dataset: Any) -> None:
    result = await summary(db)
    agents = {a.name.split()[0]: a for a in result.agents}
    tech = agents["赵磊"]  # agent.tech
    assert (tech.assigned, tech.figures.resolved) == (3, 2)
    assert tech.figures.avg_handling_hours == pytest.approx(14, abs=1e-3)
    assert tech.figures.satisfaction.overall == pytest.approx((5 + 5 + 5 + 4 + 3 + 5) / 6)
    assert tech.figures.satisfaction.satisfied_share == pytest.approx(0.5)
    care = agents["周婷"]  # agent.care
    assert (care.assigned, care.figures.resolved) == (1, 1)
    assert care.figures.avg_handling_hours == pytest.approx(48, abs=1e-3)
    assert care.figures.satisfaction.overall == pytest.approx(5 / 3)
    support = agents["王小明"]  # agent
    assert (support.assigned, support.figures.resolved) == (1, 1)
    assert support.figures.satisfaction.overall is None
    assert [a.name.split()[0] for a in result.agents] == ["赵磊", "周婷", "王小明"]


async def test_department_filter(db: Any, dataset: Any, reference: dict[str, int]) -> None:
    result = await summary(db, department_id=reference["TECH"])
    assert result.total.count == 3
    assert {r.request_type for r in result.rows if r.count} == {RequestType.PROBLEM}
    assert [a.name.split()[0] for a in result.agents] == ["赵磊"]


async def test_weekly_trend_counts(db: Any, dataset: Any) -> None:
    result = await summary(db)
    weekly = result.weekly
    # March 2024 starts on a Friday: weeks from 03-01, 03-04, 03-11, 03-18, 03-25.
    assert weekly.starts == [date(2024, 3, d) for d in (1, 4, 11, 18, 25)]
    assert weekly.counts[RequestType.PROBLEM] == [1, 1, 1, 0, 0]
    assert weekly.counts[RequestType.COMPLAINT] == [0, 0, 1, 0, 0]
    assert weekly.counts[RequestType.CONSULTATION] == [0, 0, 0, 1, 0]
    assert weekly.counts[RequestType.AFTER_SALES] == [0, 0, 0, 0, 0]
    assert weekly.counts[None] == [0, 0, 0, 0, 1]


async def test_top_problems_with_trend(db: Any, dataset: Any) -> None:
    result = await summary(db)
    problems = result.topics[RequestType.PROBLEM]
    # t1 and t2 (March) and p1 (February) all report a delivery delay: one topic.
    assert problems[0].label == "物流延迟"
    assert (problems[0].current, problems[0].previous) == (2, 1)
    assert problems[0].change == 1
    assert len(problems) == 1  # t3 alone is no "high-frequency" problem
    assert result.topics.get(RequestType.COMPLAINT, []) == []


async def test_throughput_counts_tickets_resolved_in_the_period(db: Any, dataset: Any) -> None:
    async with db.sessionmaker() as s:
        flow = await reports.throughput(s, MARCH, now=local(2024, 6, 1))
        partial = await reports.throughput(s, MARCH, now=local(2024, 3, 4, 12))
    # Resolved in March: t1, t2, t4, t5 and p1 (registered in February) by three people.
    assert (flow.resolved, flow.agents) == (5, 3)
    # March 2024 has 21 weekdays of 09:00–18:00.
    assert flow.business_hours == pytest.approx(21 * 9)
    assert flow.per_agent_hour == pytest.approx(5 / (3 * 21 * 9))
    # A period still running counts open hours up to now: Fri 1st, Mon 4th 09:00–12:00.
    assert partial.business_hours == pytest.approx(9 + 3)
    assert DEFAULT_CALENDAR.between(MARCH.start, MARCH.end) == timedelta(hours=189)


async def test_report_page_shows_the_figures_and_charts(db: Any, client: Any, dataset: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    response = await client.get(
        "/reports/?period=month&month=2024-03", headers={"accept-language": "zh-CN"}
    )
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert "问题汇总" in html and "2024-03" in html
    assert html.count("<svg") == 3  # donut, weekly lines, satisfaction bars
    assert "14.0" in html and "48.0" in html  # problem / complaint average handling hours
    assert "66.7%" in html  # resolution rate 4 / 6
    assert "/exports/tickets.xlsx?period=month&amp;month=2024-03" in html
    # The topics were not worked out yet: the page fetches them after the figures ...
    assert "物流延迟" not in html and "正在归纳高频问题" in html
    assert 'hx-get="/reports/topics?period=month&amp;month=2024-03' in html
    section = await client.get(
        "/reports/topics?period=month&month=2024-03", headers={"accept-language": "zh-CN"}
    )
    assert section.status_code == 200
    assert "物流延迟" in section.text and "<html" not in section.text
    # ... and once they are known, the page shows them at once.
    again = await client.get(
        "/reports/?period=month&month=2024-03", headers={"accept-language": "zh-CN"}
    )
    assert "物流延迟" in again.text and "正在归纳高频问题" not in again.text
    english = await client.get(
        "/reports/?period=quarter&quarter=2024-Q1", headers={"accept-language": "en"}
    )
    assert english.status_code == 200
    assert "Problem summary" in english.text and "2024-Q1" in english.text


@pytest.mark.parametrize(
    "query",
    [
        "period=month&month=2024-13",
        "period=week",
        "period=custom&from=2024-03-10&to=2024-03-01",
        "period=custom&from=2024-03-01",
        "period=quarter&quarter=2024-Q5",
        "period=year&year=1999",
        "department=x",
    ],
)
async def test_bad_period_is_a_localized_422(client: Any, query: str) -> None:
    await sign_in(client, "lead", "kefu-lead")
    for path in ("/reports/", "/reports/topics"):
        response = await client.get(f"{path}?{query}", headers={"accept-language": "zh-CN"})
        assert response.status_code == 422, path
        assert "请修改标出的字段" in response.text


async def test_agents_may_not_see_reports(client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    assert (await client.get("/reports/")).status_code == 403
    assert (await client.get("/reports/kpi")).status_code == 403
    assert (await client.get("/reports/topics")).status_code == 403
    assert (await client.get("/exports/tickets.csv")).status_code == 403
