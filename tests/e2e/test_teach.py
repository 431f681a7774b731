""" "Teach Kefu your tickets" in a real browser: with few labels yet, a lead sees the most
informative model-typed tickets, confirms some with one click, corrects one, watches the
count rise and asks for a retraining; the labels are stored through the write path and the
retraining is queued like the model page's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from models.db import Database, unit_of_work
from models.enums import RequestType, TypeSource
from models.label import Label
from models.model_version import ModelVersion
from models.services.tickets import triage
from models.ticket import Ticket
from tests.e2e.conftest import screenshot_path, sign_in, texts_broken_over_lines
from tests.integration.sla.test_sla_helpers import make_ticket

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

TICKETS = [
    ("请问你们周末营业吗？", RequestType.CONSULTATION, 0.91),
    ("快递一直没到，物流也不更新", RequestType.PROBLEM, 0.48),
    ("快递一直没到，物流也不更新", RequestType.PROBLEM, 0.48),
    ("客服态度太差了，我要投诉", RequestType.COMPLAINT, 0.62),
    ("耳机坏了，申请保修换货", RequestType.AFTER_SALES, 0.55),
]


async def _model_typed(db: Database, reference: dict[str, int]) -> list[int]:
    """Tickets the model typed (a fixed verdict through the triage service, no model run)."""
    ids = []
    for text, request_type, confidence in TICKETS:
        tid = await make_ticket(db, reference, assignee=None, text=text)
        async with unit_of_work(db) as s:
            await triage.apply_triage(
                s,
                tid,
                triage.Classification(request_type, confidence, "bootstrap-test"),
                [],
                datetime.now(UTC),
            )
        ids.append(tid)
    return ids


async def test_lead_confirms_and_corrects_then_requests_a_retraining(
    db: Database, reference: dict[str, int], new_page: Any
) -> None:
    ids = await _model_typed(db, reference)
    page = await new_page()
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, "lead", "kefu-lead")
    await page.goto("/review/")

    step = page.locator("[data-testid=teach-step]")
    await expect(step).to_be_visible()
    await expect(page.locator("[data-testid=teach-count]")).to_contain_text("0 / 40")
    rows = page.locator("[data-testid=review-row]")
    await expect(rows).to_have_count(len(TICKETS))
    first = await rows.first.get_attribute("id")
    assert first in {f"review-{ids[1]}", f"review-{ids[2]}"}, "least confident first"
    await page.screenshot(path=screenshot_path("teach-zh-390"), full_page=True)

    # Confirm two with one click each ("type is right"), correct one.
    for tid, rt in ((ids[0], "consultation"), (ids[3], "complaint")):
        await page.click(f"[data-testid=review-{tid}-{rt}]")
        await expect(page.locator(f"#review-{tid}.done")).to_be_visible()
    await page.click(f"[data-testid=review-{ids[4]}-problem]")
    await expect(page.locator(f"#review-{ids[4]}.done")).to_be_visible()
    await expect(page.locator("[data-testid=teach-count]")).to_contain_text("3 / 40")

    await page.set_viewport_size({"width": 1366, "height": 900})
    async with page.expect_response("**/review/teach/retrain") as answer:
        await page.click("[data-testid=teach-retrain]")
    response = await answer.value
    assert response.status == 200, (await response.text())[:2000]
    await expect(page.locator("[data-testid=teach-run]")).to_be_visible()
    await expect(page.locator("[data-testid=teach-retrain]")).to_be_disabled()
    await page.screenshot(path=screenshot_path("teach-zh-1366"), full_page=True)

    async with db.sessionmaker() as s:
        labels = (await s.execute(select(Label.ticket_id, Label.category, Label.source))).all()
        corrected = await s.get(Ticket, ids[4])
        confirmed = await s.get(Ticket, ids[0])
        runs = (await s.scalars(select(ModelVersion).where(ModelVersion.trigger == "manual"))).all()
    assert sorted((t, c.value, src) for t, c, src in labels) == sorted(
        [
            (ids[0], "consultation", "lead"),
            (ids[3], "complaint", "lead"),
            (ids[4], "problem", "lead"),
        ]
    ), "confirmations count as labels too"
    assert corrected is not None and corrected.request_type is RequestType.PROBLEM
    assert corrected.type_source is TypeSource.LEAD
    assert confirmed is not None and confirmed.type_source is TypeSource.LEAD
    assert [r.status for r in runs] == ["queued"], "retraining requested once"

    # A bootstrap version with its per-type report, as the worker records one.
    types = [t.value for t in RequestType]
    async with unit_of_work(db) as session:
        session.add(
            ModelVersion(
                version="bootstrap-e2e",
                status="current",
                trigger="bootstrap",
                training_size=14610,
                metrics={
                    "evaluation": {
                        "accuracy": 0.99,
                        "macro_f1": 0.99,
                        "per_class": {t: {"f1": 0.99, "support": 700} for t in types},
                        "confusion": [[700 if i == j else 1 for j in range(4)] for i in range(4)],
                    }
                },
            )
        )
    await page.goto("/models/")
    await expect(page.locator("[data-testid=teach-hint]")).to_contain_text("3 / 40")
    # On a phone the per-type table scrolls sideways; its heads keep their words (咨询解答 once
    # stood one character per line).
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(page.locator(".mv-classes").first).to_be_visible()
    assert await texts_broken_over_lines(page, ".mv-classes th") == []
