"""The KPI dashboard: values, green/red against editable targets, two periods side by side."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from models.kpi_target import KpiTarget
from models.services.reports import kpi, summary
from models.services.reports.kpi import State
from tests.conftest import sign_in
from tests.integration.reports_data import actors, local, march_dataset

pytestmark = pytest.mark.usefixtures("reference")

TZ = "Asia/Shanghai"
MARCH = summary.Period("month", date(2024, 3, 1), date(2024, 3, 31), TZ)
FEBRUARY = summary.Period("month", date(2024, 2, 1), date(2024, 2, 29), TZ)
TARGETS = {
    "satisfied_share": "90",
    "first_response_hours": "24",
    "resolution_rate": "95",
    "repeat_rate": "5",
    "tickets_per_agent_hour": "10",
}


@pytest.fixture
async def dataset(db: Any) -> dict[str, Any]:
    return await march_dataset(db)


async def board(db: Any) -> kpi.Dashboard:
    async with db.sessionmaker() as s:
        return await kpi.dashboard(s, MARCH, FEBRUARY, now=local(2024, 6, 1))


async def test_values_and_states_against_the_default_targets(db: Any, dataset: Any) -> None:
    result = await board(db)
    a = {k: v for k, v in result.a.values.items()}
    assert a["satisfied_share"].value == pytest.approx(1 / 3)
    assert a["first_response_hours"].value == pytest.approx(
        (0.5 + 2 + 10 / 60 + 3 + 0.25) / 5, abs=1e-3
    )
    assert a["resolution_rate"].value == pytest.approx(4 / 6)
    assert a["repeat_rate"].value == pytest.approx(1 / 6)
    assert a["tickets_per_agent_hour"].value == pytest.approx(5 / (3 * 21 * 9))
    assert {k: v.state for k, v in a.items()} == {
        "satisfied_share": State.BAD,
        "first_response_hours": State.OK,
        "resolution_rate": State.BAD,
        "repeat_rate": State.BAD,
        "tickets_per_agent_hour": State.BAD,
    }
    b = result.b.values
    assert b["satisfied_share"].value == 0  # p1 answered 3, 3, 3
    assert b["first_response_hours"].value == pytest.approx(61 / 60, abs=1e-3)
    assert b["resolution_rate"].value == 1.0 and b["resolution_rate"].state is State.OK
    assert b["repeat_rate"].value == 0 and b["repeat_rate"].state is State.OK
    # Nothing was resolved in February: no rate, no colour.
    assert b["tickets_per_agent_hour"].value is None
    assert b["tickets_per_agent_hour"].state is State.NONE
    rows = {r.definition.key: r for r in result.rows}
    assert rows["satisfied_share"].change == pytest.approx(1 / 3)
    assert rows["satisfied_share"].improved is True
    assert rows["resolution_rate"].improved is False
    assert rows["repeat_rate"].improved is False  # more repeats is worse
    assert rows["tickets_per_agent_hour"].change is None


async def test_targets_are_edited_and_judged_anew(db: Any, dataset: Any) -> None:
    people = await actors(db)
    async with db.sessionmaker() as s:
        saved = await kpi.set_targets(
            s, people["lead"], {**TARGETS, "satisfied_share": "30", "repeat_rate": "20%"}
        )
        await s.commit()
    assert saved["satisfied_share"] == pytest.approx(0.30)
    assert saved["repeat_rate"] == pytest.approx(0.20)
    result = await board(db)
    assert result.a.values["satisfied_share"].state is State.OK
    assert result.a.values["repeat_rate"].state is State.OK
    async with db.sessionmaker() as s:
        assert len((await s.scalars(select(KpiTarget))).all()) == 2  # only changed ones stored


async def test_the_dashboard_page_compares_two_periods(db: Any, client: Any, dataset: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    response = await client.get(
        "/reports/kpi?period=month&month=2024-03&b_period=month&b_month=2024-02",
        headers={"accept-language": "zh-CN"},
    )
    assert response.status_code == 200
    html = response.text
    assert "KPI 看板" in html and "2024-03" in html and "2024-02" in html
    assert html.count('data-state="bad"') == 5  # A: four red; B: satisfaction red
    assert html.count('data-state="ok"') == 4  # A: first response; B: three green
    assert html.count('data-state="none"') == 1
    # Without a B period, B is the period before A.
    default = await client.get("/reports/kpi?period=quarter&quarter=2024-Q1")
    assert default.status_code == 200 and "2023-Q4" in default.text


async def test_the_panel_fragment_is_the_same_partial(client: Any, dataset: Any) -> None:
    await sign_in(client, "lead", "kefu-lead")
    response = await client.get(
        "/reports/kpi/panel?period=month&month=2024-03", headers={"hx-request": "true"}
    )
    assert response.status_code == 200
    assert 'id="kpi-panel"' in response.text and "<html" not in response.text
    assert response.headers.get("hx-push-url", "").startswith("/reports/kpi?")


async def test_targets_form_saves_with_htmx_and_refuses_bad_values(
    db: Any, client: Any, dataset: Any
) -> None:
    await sign_in(client, "lead", "kefu-lead")
    token = client.cookies.get("kefu_csrf")
    period = {"period": "month", "month": "2024-03"}
    response = await client.post(
        "/reports/kpi/targets",
        data={**TARGETS, "satisfied_share": "30", **period, "_csrf_token": token},
        headers={"hx-request": "true", "accept-language": "en"},
    )
    assert response.status_code == 200, response.text[:500]
    assert "Targets saved." in response.text and "<html" not in response.text
    assert "≥ 30.0%" in response.text
    for bad, field in (
        ("abc", "satisfied_share"),
        ("150", "resolution_rate"),
        ("-1", "first_response_hours"),
        ("", "tickets_per_agent_hour"),
        ("0", "tickets_per_agent_hour"),
    ):
        refused = await client.post(
            "/reports/kpi/targets",
            data={**TARGETS, field: bad, **period, "_csrf_token": token},
            headers={"hx-request": "true", "accept-language": "zh-CN"},
        )
        assert refused.status_code == 422, (field, bad)
        assert "请修改标出的字段" in refused.text
    async with db.sessionmaker() as s:
        assert await kpi.targets(s) == pytest.approx(
            {
                "satisfied_share": 0.30,
                "first_response_hours": 24.0,
                "resolution_rate": 0.95,
                "repeat_rate": 0.05,
                "tickets_per_agent_hour": 10.0,
            }
        )
    plain = await client.post(
        "/reports/kpi/targets",
        data={**TARGETS, **period, "_csrf_token": token},
        follow_redirects=False,
    )
    assert plain.status_code in (302, 303)
    assert plain.headers["location"] == "/reports/kpi?period=month&month=2024-03"


async def test_agents_may_not_change_targets(db: Any, client: Any) -> None:
    await sign_in(client, "agent", "kefu-agent")
    response = await client.post(
        "/reports/kpi/targets", data={**TARGETS, "_csrf_token": client.cookies.get("kefu_csrf")}
    )
    assert response.status_code == 403
    async with db.sessionmaker() as s:
        assert (await s.scalars(select(KpiTarget))).all() == []
