"""CSV / XLSX exports of the five records, re-read with csv and openpyxl, against the database."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from models.customer import Customer
from models.enums import RequestType
from models.followup import FollowUp
from models.services.common.crypto import cipher_for
from models.services.reports import exports, summary
from models.settings import get_settings
from models.survey import Survey
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.reports_data import local, march_dataset
from web import i18n
from web.labels import label

pytestmark = pytest.mark.usefixtures("reference")

MARCH = "period=month&month=2024-03"
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def dataset(db: Any, client: Any) -> dict[str, Any]:
    made = await march_dataset(db)
    await sign_in(client, "lead", "kefu-lead")
    return made


def label_in(locale: str, value: Any) -> str:
    """An enum's display name in one language (the test itself runs in the default one)."""
    token = i18n._current.set(locale)
    try:
        return label(value)
    finally:
        i18n._current.reset(token)


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def read_xlsx(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


async def march_tickets(db: Any) -> list[Ticket]:
    async with db.sessionmaker() as s:
        stmt = select(Ticket).where(
            Ticket.created_at >= local(2024, 3, 1), Ticket.created_at < local(2024, 4, 1)
        )
        return list((await s.scalars(stmt.order_by(Ticket.created_at, Ticket.id))).all())


def shown(moment: Any) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") if moment else ""


async def test_tickets_csv_matches_the_database(db: Any, client: Any, dataset: Any) -> None:
    response = await client.get(
        f"/exports/tickets.csv?{MARCH}", headers={"accept-language": "zh-CN"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="kefu-tickets-2024-03.csv"' in response.headers["content-disposition"]
    header, *rows = read_csv(response.content)
    assert header[:3] == ["工单编号", "登记时间", "客户编号"]
    expected = await march_tickets(db)
    assert [r[0] for r in rows] == [t.number for t in expected]  # a1 and p1 are outside
    by_number = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    for ticket in expected:
        row = by_number[ticket.number]
        assert row["登记时间"] == shown(ticket.created_at)
        assert row["解决时间"] == shown(ticket.resolved_at)
        assert row["状态"] == label_in("zh_CN", ticket.status)
        hours = (
            (ticket.resolved_at - ticket.created_at).total_seconds() / 3600
            if ticket.resolved_at
            else None
        )
        assert row["处理时长（小时）"] == (f"{round(hours, 2):g}" if hours is not None else "")
        assert row["重复咨询"] == ("是" if ticket.is_repeat else "否")
    t3 = by_number[expected[2].number]
    # Formula-looking text is neutralized for spreadsheets.
    assert t3["标题"].startswith("'=HYPERLINK")
    assert by_number[expected[0].number]["需求类型"] == "问题处理"


async def test_tickets_xlsx_matches_the_database(db: Any, client: Any, dataset: Any) -> None:
    response = await client.get(f"/exports/tickets.xlsx?{MARCH}", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = read_xlsx(response.content)
    sheet = book.active
    assert sheet.title == "Tickets"
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:4] == ("Ticket number", "Registered", "Customer number", "Customer")
    expected = await march_tickets(db)
    assert len(body) == len(expected) == 6
    col = {name: i for i, name in enumerate(header)}
    for ticket, row in zip(expected, body, strict=True):
        assert row[col["Ticket number"]] == ticket.number
        assert row[col["Registered"]] == ticket.created_at.astimezone(ZONE).replace(tzinfo=None)
        assert row[col["Description"]] == ticket.description
        assert row[col["Status"]] == label_in("en", ticket.status)
        assert row[col["Repeat inquiry"]] == ("Yes" if ticket.is_repeat else "No")
    formula = next(c for c in sheet[4] if str(c.value).startswith("=HYPERLINK"))
    assert formula.data_type == "s"  # stored as text, never run as a formula


async def test_follow_ups_export_matches_the_database(db: Any, client: Any, dataset: Any) -> None:
    march = [t.id for t in await march_tickets(db)]
    async with db.sessionmaker() as s:
        expected = (
            await s.execute(
                select(Ticket.number, FollowUp.discussed, FollowUp.is_resolution)
                .join(Ticket, Ticket.id == FollowUp.ticket_id)
                .where(FollowUp.ticket_id.in_(march))
                .order_by(Ticket.created_at, Ticket.id, FollowUp.at, FollowUp.id)
            )
        ).all()
    assert expected  # resolutions of t1, t2, t4, t5
    response = await client.get(
        f"/exports/follow_ups.csv?{MARCH}", headers={"accept-language": "en"}
    )
    header, *rows = read_csv(response.content)
    col = {name: i for i, name in enumerate(header)}
    assert [(r[col["Ticket number"]], r[col["Discussed"]], r[col["Resolution"]]) for r in rows] == [
        (n, d, "Yes" if res else "No") for n, d, res in expected
    ]
    book = read_xlsx((await client.get(f"/exports/follow_ups.xlsx?{MARCH}")).content)
    assert book.active.max_row == len(expected) + 1


async def test_surveys_export_matches_the_database(db: Any, client: Any, dataset: Any) -> None:
    march = [t.id for t in await march_tickets(db)]
    async with db.sessionmaker() as s:
        expected = (
            await s.execute(
                select(
                    Ticket.number,
                    Survey.speed_score,
                    Survey.solution_score,
                    Survey.attitude_score,
                    Survey.submitted_at,
                )
                .join(Ticket, Ticket.id == Survey.ticket_id)
                .where(Survey.ticket_id.in_(march))
                .order_by(Ticket.created_at, Ticket.id)
            )
        ).all()
    assert len(expected) == 4  # t1, t2, t4 answered; t5 sent, not answered
    book = read_xlsx(
        (
            await client.get(f"/exports/surveys.xlsx?{MARCH}", headers={"accept-language": "en"})
        ).content
    )
    header, *body = list(book.active.iter_rows(values_only=True))
    col = {name: i for i, name in enumerate(header)}
    got = [
        (
            r[col["Ticket number"]],
            r[col["Response speed"]],
            r[col["Solution"]],
            r[col["Attitude"]],
            r[col["Answered"]],
        )
        for r in body
    ]
    assert got == [
        (n, sp, so, at, sub.astimezone(ZONE).replace(tzinfo=None, microsecond=0) if sub else None)
        for n, sp, so, at, sub in expected
    ]
    assert [r[col["Low score"]] for r in body] == ["No", "Yes", "Yes", "No"]


async def test_customers_export_masks_contacts_and_honours_filters(
    db: Any, client: Any, dataset: Any
) -> None:
    response = await client.get("/exports/customers.csv", headers={"accept-language": "en"})
    header, *rows = read_csv(response.content)
    async with db.sessionmaker() as s:
        customers = (
            await s.scalars(
                select(Customer).order_by(Customer.registered_at.desc(), Customer.id.desc())
            )
        ).all()
    assert [r[0] for r in rows] == [c.number for c in customers]  # as the list shows them
    col = {name: i for i, name in enumerate(header)}
    by_name = {r[col["Name"]]: r for r in rows}
    assert by_name["张三"][col["Phone"]] == "138****5678"
    assert by_name["张三"][col["Email"]] == "z***@example.com"
    assert by_name["Li Lei"][col["Email"]] == ""
    cipher = cipher_for(get_settings().encryption_keys)
    zhang = next(c for c in customers if c.name == "张三")
    assert cipher.decrypt(zhang.phone_enc) == "13812345678"
    assert b"13812345678" not in response.content and b"zhang@" not in response.content
    only_li = read_csv((await client.get("/exports/customers.csv?q=Li%20Lei")).content)
    assert [r[1] for r in only_li[1:]] == ["Li Lei"]
    by_phone = read_csv((await client.get("/exports/customers.csv?q=13812345678")).content)
    assert [r[1] for r in by_phone[1:]] == ["张三"]
    vip = read_csv((await client.get("/exports/customers.csv?level=vip")).content)
    assert vip[1:] == []
    # The customer list's own parameters: "type" is the customer type there.
    people = read_csv((await client.get("/exports/customers.csv?type=individual")).content)
    assert len(people) - 1 == len(customers)
    firms = read_csv((await client.get("/exports/customers.csv?type=enterprise")).content)
    assert firms[1:] == []


@pytest.mark.parametrize(
    ("query", "count"),
    [
        (f"{MARCH}&type=problem", 3),
        (f"{MARCH}&status=completed", 3),
        (f"{MARCH}&status=closed", 1),
        ("period=month&month=2024-02", 1),
        ("", 8),
    ],
)
async def test_ticket_filters(client: Any, dataset: Any, query: str, count: int) -> None:
    rows = read_csv((await client.get(f"/exports/tickets.csv?{query}")).content)
    assert len(rows) - 1 == count


async def test_department_filter(client: Any, dataset: Any, reference: dict[str, int]) -> None:
    rows = read_csv(
        (await client.get(f"/exports/tickets.csv?{MARCH}&department={reference['CARE']}")).content
    )
    assert len(rows) == 2


async def test_problem_summary_xlsx_has_the_report_figures(
    db: Any, client: Any, dataset: Any
) -> None:
    response = await client.get(f"/exports/summary.xlsx?{MARCH}", headers={"accept-language": "en"})
    assert response.status_code == 200
    book = read_xlsx(response.content)
    assert book.sheetnames == ["By request type", "Top problems", "By agent"]
    header, *rows = list(book["By request type"].iter_rows(values_only=True))
    col = {name: i for i, name in enumerate(header)}
    by_type = {r[col["Request type"]]: r for r in rows}
    problem = by_type[label_in("en", RequestType.PROBLEM)]
    assert problem[col["Count"]] == 3
    assert problem[col["Share (%)"]] == 50.0
    assert problem[col["Avg. handling time (h)"]] == 14.0
    assert problem[col["Resolution rate (%)"]] == 66.7
    assert problem[col["Response speed"]] == 4.5
    total = by_type["Total"]
    assert total[col["Count"]] == 6 and total[col["Surveys answered"]] == 3
    assert by_type["Unclassified"][col["Count"]] == 1
    top = list(book["Top problems"].iter_rows(values_only=True))
    assert top[1][3] == "物流延迟" and top[1][4:7] == (2, 1, 1)
    agents = list(book["By agent"].iter_rows(values_only=True))
    assert len(agents) == 4
    csv_rows = read_csv(
        (
            await client.get(f"/exports/summary.csv?{MARCH}", headers={"accept-language": "en"})
        ).content
    )
    assert csv_rows[0] == ["By request type"]
    assert ["Top problems"] in csv_rows and ["By agent"] in csv_rows


async def test_many_batches_export_the_same_rows(db: Any, dataset: Any) -> None:
    """Rows come out in batches (here of 2) without changing the file."""
    period = summary.Period("month", date(2024, 3, 1), date(2024, 3, 31), "Asia/Shanghai")
    filters = exports.ExportFilters(period=period)
    loc = exports.Localizer(gettext=lambda s: s, label=label)

    async def export(fmt: str, size: int) -> list[bytes]:
        sheets = exports.sheets_for("tickets", filters, loc, english=True, batch_size=size)
        return [chunk async for chunk in exports.stream(db, fmt, sheets, loc)]

    small, large = await export("csv", 2), await export("csv", 1000)
    assert len(small) == 1 + 1 + 3  # BOM, header, three batches of two rows
    assert b"".join(small) == b"".join(large)
    book = read_xlsx(b"".join(await export("xlsx", 2)))
    assert book.active.max_row == 7


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/exports/tickets.pdf", 404),
        ("/exports/orders.csv", 404),
        ("/exports/tickets.csv?type=nonsense", 422),
        ("/exports/tickets.csv?status=x", 422),
        ("/exports/tickets.csv?period=month&month=2024-99", 422),
        ("/exports/tickets.csv?department=abc", 422),
    ],
)
async def test_bad_export_requests(client: Any, dataset: Any, path: str, status: int) -> None:
    response = await client.get(path, headers={"accept-language": "zh-CN"})
    assert response.status_code == status


async def test_xlsx_bytes_leave_before_the_last_batch_is_read(db: Any) -> None:
    """The workbook is not built whole first: its start is out before any row is read, and
    more of it while later batches are still unread."""
    read: list[int] = []

    async def batches(_: Any) -> Any:
        for n in range(20):
            read.append(n)
            yield [
                [n * 500 + i, f"{hash((n, i)):x} 退款未到账 {i * 7919 % 1013}"] for i in range(500)
            ]

    sheet = exports.Sheet(title="Tickets", headers=["No", "Subject"], batches=batches)
    loc = exports.Localizer(gettext=lambda s: s, label=label)
    seen: list[tuple[int, int]] = []
    body = b""
    async for chunk in exports.stream(db, "xlsx", [sheet], loc):
        seen.append((len(read), len(chunk)))
        body += chunk
    assert seen[0][0] == 0 and seen[0][1] > 0
    assert (
        sum(size for batches_read, size in seen if batches_read < 20)
        > sum(size for _, size in seen) / 2
    )
    rows = list(read_xlsx(body).active.iter_rows(values_only=True))
    assert len(rows) == 10_001 and rows[-1][0] == 9_999
