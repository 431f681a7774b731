"""Board search on the index: it finds exactly what a row scan under the same rule finds.

The corpus (5,000 tickets, Chinese, English, mixed and full-width text, order numbers, phones)
is bulk-inserted and indexed through the same functions the services use, so it takes a
few seconds; the row scan is a plain Python loop over the same data.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, select

from models.base import utcnow
from models.customer import Customer
from models.db import unit_of_work
from models.enums import Channel, CustomerLevel, CustomerType, Priority, TicketStatus, Urgency
from models.search_index import CustomerSearchText, TicketSearchText, customer_search_terms
from models.services.common import search
from models.services.common.crypto import Cipher, generate_key
from models.services.customers import registry
from models.services.tickets import board, commands, write
from models.ticket import Ticket
from tests.integration.tickets.test_board_helpers import actor, make_ticket

pytestmark = pytest.mark.usefixtures("reference")

TICKETS = 5000
CUSTOMERS = 800

ZH = [
    "申请退款",
    "发票抬头",
    "打印机无法连接网络",
    "快递一直没有送到",
    "账号登录失败",
    "客服态度很差",
    "屏幕碎了",
    "退货地址",
    "会员续费",
    "订单被取消",
    "物流信息不更新",
    "密码重置",
    "安装师傅没来",
    "保修期内维修",
    "优惠券不能用",
]
EN = [
    "Refund request",
    "invoice title wrong",
    "printer cannot connect",
    "courier never came",
    "login failed again",
    "screen cracked",
    "return address",
    "membership renewal",
    "order cancelled",
    "tracking not updated",
    "password reset",
    "coupon not working",
]
NAMES = ["王晓明", "李娜", "张伟", "Wang Xiaoming", "Emma Stone", "云帆科技", "ＡＢＣ公司", "陈 静"]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@dataclass
class Row:
    id: int
    title: str
    description: str
    number: str
    order_number: str | None
    customer: int


@dataclass
class Person:
    name: str
    number: str
    phone: str


def _text(rng: random.Random) -> str:
    parts = rng.sample(ZH, 2) + rng.sample(EN, 1)
    text = rng.choice(
        [
            f"{parts[0]}，{parts[1]}",
            f"{parts[2]}. {parts[0]}",
            f"{parts[0]} iPhone{rng.randint(11, 16)} {parts[2]}",
            full_width(parts[2]) + parts[1],
            f"订单号 JD{rng.randrange(10**10):010d} {parts[0]}",
        ]
    )
    return text


@pytest.fixture
async def corpus(db: Any) -> tuple[dict[int, Row], dict[int, Person]]:
    """5,000 tickets over 800 customers, bulk-inserted and indexed like the demo fill."""
    rng = random.Random(19)
    cipher = registry.current_cipher()
    now = utcnow()
    people = [
        Person(
            rng.choice(NAMES),
            f"CS20260101{i:03d}",
            f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
        )
        for i in range(CUSTOMERS)
    ]
    async with unit_of_work(db) as session:
        customer_ids = (
            await session.scalars(
                insert(Customer).returning(Customer.id),
                [
                    {
                        "number": p.number,
                        "type": CustomerType.INDIVIDUAL,
                        "name": p.name,
                        "phone_enc": cipher.encrypt(p.phone),
                        "phone_hash": cipher.blind_index("phone", p.phone),
                        "level": CustomerLevel.NORMAL,
                        "source_channel": Channel.PHONE,
                        "registered_at": now,
                    }
                    for p in people
                ],
            )
        ).all()
        await search.bulk_index_customers(
            session,
            cipher,
            [
                (cid, (p.name, p.number), p.phone)
                for cid, p in zip(customer_ids, people, strict=True)
            ],
        )
        rows = []
        for i in range(TICKETS):
            text = _text(rng)
            rows.append(
                {
                    "number": f"TASK2026{i // 1000 + 1:02d}15{i:04d}",
                    "customer_id": customer_ids[rng.randrange(CUSTOMERS)],
                    "title": text[:20],
                    "description": text,
                    "order_number": f"SO-{rng.randrange(10**8):08d}"
                    if rng.random() < 0.3
                    else None,
                    "channel": Channel.PORTAL,
                    "urgency": Urgency.NORMAL,
                    "priority": Priority.MEDIUM,
                    "priority_rank": 2,
                    "status": rng.choice(list(TicketStatus)),
                    "created_at": now,
                    "updated_at": now,
                    "paused_seconds": 0,
                    "paused_business_seconds": 0,
                    "is_repeat": False,
                    "version": 1,
                }
            )
        ticket_ids = (await session.scalars(insert(Ticket).returning(Ticket.id), rows)).all()
        await search.bulk_index_tickets(
            session,
            [
                (tid, (r["title"], r["description"], r["number"], r["order_number"]))
                for tid, r in zip(ticket_ids, rows, strict=True)
            ],
        )
    tickets = {
        tid: Row(
            tid, r["title"], r["description"], r["number"], r["order_number"], r["customer_id"]
        )
        for tid, r in zip(ticket_ids, rows, strict=True)
    }
    return tickets, dict(zip(customer_ids, people, strict=True))


@functools.cache
def _spaced(text: str | None) -> str:
    return " " + " ".join(search.words(text)) + " "


def _phrase_in(phrase: str, text: str | None) -> bool:
    return (" " + phrase) in _spaced(text)


def row_scan(q: str, tickets: dict[int, Row], people: dict[int, Person]) -> set[int]:
    """The rule of models.services.common.search, one ticket at a time."""
    text = q.strip()
    digits = re.sub(r"\D", "", full_to_half(text))
    phone_query = bool(re.fullmatch(r"[\d\s\-+().]+", full_to_half(text))) and len(digits) >= 4
    found = set()
    phrase = " ".join(search.words(text))
    symbols = not phrase  # nothing indexed: a plain substring scan
    for row in tickets.values():
        person = people[row.customer]
        if symbols:
            if any(text in f for f in (row.title, row.description, person.name)):
                found.add(row.id)
            continue
        fields = (
            row.title,
            row.description,
            row.number,
            row.order_number,
            person.name,
            person.number,
        )
        if any(_phrase_in(phrase, f) for f in fields) or (phone_query and digits in person.phone):
            found.add(row.id)
    return found


def full_to_half(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text)


def queries(tickets: dict[int, Row], people: dict[int, Person]) -> list[str]:
    rng = random.Random(7)
    rows = list(tickets.values())
    found: list[str] = [
        "退款",
        "退",
        "款申",
        "refund",
        "REFU",
        "Ｒｅｆｕｎｄ",
        "fund",
        "iphone1",
        "iPhone15 屏幕",
        "王晓明",
        "王 晓明",
        "wang",
        "ＡＢＣ",
        "abc公司",
        "云帆",
        "sO-1",
        "JD",
        "不存在的内容",
        "zzzz",
        "客服态度",
        "态度很差 login",
        "%",
        "，",
    ]
    for _ in range(40):
        row = rng.choice(rows)
        text = row.description
        start = rng.randrange(len(text))
        found.append(text[start : start + rng.randint(1, 6)])
    for _ in range(15):
        row = rng.choice(rows)
        found.append(rng.choice([row.number, row.number[:10], row.number.lower(), row.number[4:]]))
        if row.order_number:
            found.append(
                rng.choice([row.order_number, row.order_number[3:7], row.order_number[3:]])
            )
    for _ in range(15):
        # A ticket number cut anywhere: every length of the long prefixes and between them.
        row = rng.choice(rows)
        found.append(row.number[: rng.randint(5, len(row.number))])
        found.append(row.number[4 : rng.randint(9, len(row.number))])
        found.append(f"{row.number[4:]} {rng.choice(['task', 'refund', '退款'])}")
    found += ["replacement", "replacemen", "replaced", "screenshots"]
    for _ in range(20):
        phone = rng.choice(list(people.values())).phone
        start = rng.randrange(len(phone) - 4)
        part = phone[start : start + rng.randint(4, 8)]
        found.append(rng.choice([part, f"{part[:2]}-{part[2:]}", full_width(part), part[:3]]))
    return [q for q in found if q.strip()]


async def board_search(db: Any, who: Any, q: str) -> set[int]:
    async with db.sessionmaker() as session:
        stmt = board._filtered(select(Ticket.id), who, board.BoardFilters(q=q), utcnow())
        return set((await session.scalars(stmt)).all())


async def test_index_finds_what_the_row_scan_finds(db: Any, corpus: Any) -> None:
    tickets, people = corpus
    admin = await actor(db, "admin")
    hits = 0
    for q in queries(tickets, people):
        expected = row_scan(q, tickets, people)
        assert await board_search(db, admin, q) == expected, q
        hits += bool(expected)
    assert hits > 60  # the queries mostly find something: the comparison is not vacuous


def test_words_normalize_width_case_and_split_scripts() -> None:
    assert search.words("申请Ｒｅｆｕｎｄ，iPhone15!") == ["申", "请", "refund", "iphone", "15"]
    assert search.body(["退款", None, "TASK2026"]) == " 退 款 \n task 2026 "


def test_long_words_keep_long_prefixes_and_the_backfill_computes_the_same() -> None:
    fields = ("TASK202612040001", "申请 Refund", None)
    long = {search.term_id("p:" + "202612040001"[:k]) for k in (8, 10, 12)}
    assert search.text_terms(fields, long_only=True) == long
    fresh = search.text_terms(fields)
    assert long < fresh
    # Migration 0021 reads the kept text, not the rows: the same words, the same terms.
    kept = search.body(fields).split("\n")
    assert search.text_terms(kept) == fresh
    assert search.text_terms(kept, long_only=True) == long
    # A query word uses the longest prefix it reaches; a long word drives a phrase lookup.
    cipher = Cipher((generate_key(),))
    query = search.parse("TASK2026120400", cipher)
    assert query is not None and not query.exact
    assert query.driver == search.term_id("p:2026120400")
    digits = search.parse("2026120400", cipher)  # also a phone fragment
    assert digits is not None and digits.exact and digits.driver is None
    assert digits.terms == (search.term_id("p:2026120400"),)


async def test_an_edited_title_is_found_by_its_new_words(db: Any, reference: Any) -> None:
    ticket_id = await make_ticket(db, reference, text="打印机卡纸了")
    admin = await actor(db, "admin")
    assert await board_search(db, admin, "卡纸") == {ticket_id}
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        async with write.change(session, admin, ticket) as edit:
            edit.set("title", "扫描仪报错 E42")
    assert await board_search(db, admin, "扫描仪") == {ticket_id}
    assert await board_search(db, admin, "e42") == {ticket_id}
    assert await board_search(db, admin, "卡纸") == {ticket_id}  # still in the description
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        async with write.change(session, admin, ticket) as edit:
            edit.set("description", "扫描仪报错，代码 E42")
    assert await board_search(db, admin, "卡纸") == set()
    assert await board_search(db, admin, "代码") == {ticket_id}


async def test_phone_fragments_are_keyed_hashes_never_digits(db: Any, reference: Any) -> None:
    ticket_id = await make_ticket(db, reference, customer_name="赵六")
    admin = await actor(db, "admin")
    async with unit_of_work(db) as session:
        ticket = await commands.get(session, ticket_id)
        customer = await registry.update(
            session,
            admin,
            ticket.customer_id,
            registry.CustomerEdit(name="赵六", phone="139-2468-1357"),
        )
    assert await board_search(db, admin, "2468") == {ticket_id}
    assert await board_search(db, admin, "1357") == {ticket_id}
    assert await board_search(db, admin, "9246 8") == {ticket_id}
    assert await board_search(db, admin, "2469") == set()
    async with db.sessionmaker() as session:
        terms = set(
            (
                await session.scalars(
                    select(customer_search_terms.c.term).where(
                        customer_search_terms.c.customer_id == customer.id
                    )
                )
            ).all()
        )
        texts = (await session.scalars(select(CustomerSearchText.body))).all()
        tickets = (await session.scalars(select(TicketSearchText.body))).all()
    assert not any(part in t for t in [*texts, *tickets] for part in ("2468", "1357", "9246"))
    digits = "13924681357"
    parts = {digits[i:j] for i in range(len(digits)) for j in range(i + 4, len(digits) + 1)}
    # Not the digits, nor an unkeyed hash of them, nor a hash under another key.
    assert not terms & {int(p) for p in parts}
    unkeyed = {search.term_id(p) for p in parts} | {search.term_id("p:" + p[:6]) for p in parts}
    assert not terms & unkeyed
    assert not terms & search.phone_terms(Cipher((generate_key(),)), digits)
    assert search.phone_terms(registry.current_cipher(), digits) <= terms
