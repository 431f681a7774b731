"""Realistic bilingual demo data: reference data (departments, users, policies) and a
history of customers, tickets in every state, follow-ups, surveys and KB articles.

Tickets are inserted in bulk (one multi-row INSERT … RETURNING per batch) so that
``kefu demo --tickets 100000`` finishes in minutes; the daily number counters are brought up
to date afterwards so later tickets continue the sequences.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models.article import Article
from models.audit import AuditEvent
from models.base import utcnow
from models.board_view import BoardView
from models.customer import Customer
from models.department import Department
from models.enums import (
    ArticleStatus,
    Channel,
    CustomerLevel,
    CustomerType,
    FollowUpMethod,
    Industry,
    RequestType,
    Role,
    TicketStatus,
    TypeSource,
    Urgency,
)
from models.followup import FollowUp
from models.routing import RoutingRule
from models.sequence import Sequence
from models.services.admin import site, users
from models.services.common import search
from models.services.common.actor import Actor
from models.services.common.crypto import cipher_for
from models.services.common.priority import compute_priority, priority_rank
from models.services.escalation import engine
from models.services.replies import starter
from models.services.sla.deadlines import DEFAULT_CALENDAR, DEFAULT_POLICY, compute_deadlines
from models.services.tickets import counts as kept_counts
from models.settings import REPO_ROOT, get_settings
from models.sla_policy import BusinessCalendar, SlaPolicy
from models.survey import Survey
from models.ticket import Ticket
from models.user import User

DATA_DIR = REPO_ROOT / "triage" / "data"
BATCH = 2000


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    display_name: str
    department: str | None


DEPARTMENTS = [
    # code, zh, en, request type routed here
    ("SUPPORT", "客服中心", "Service centre", RequestType.CONSULTATION),
    ("TECH", "技术支持部", "Technical support", RequestType.PROBLEM),
    ("CARE", "客户关系部", "Customer relations", RequestType.COMPLAINT),
    ("AFTER", "售后服务部", "After-sales service", RequestType.AFTER_SALES),
]

ACCOUNTS = [
    DemoAccount("admin", "kefu-admin", Role.ADMIN, "系统管理员 Admin", None),
    DemoAccount("lead", "kefu-lead", Role.LEAD, "陈主管 Chen (lead)", "SUPPORT"),
    DemoAccount("agent", "kefu-agent", Role.AGENT, "王小明 Wang (agent)", "SUPPORT"),
    DemoAccount("lead.tech", "kefu-lead", Role.LEAD, "刘工 Liu (tech lead)", "TECH"),
    DemoAccount("agent.tech", "kefu-agent", Role.AGENT, "赵磊 Zhao", "TECH"),
    DemoAccount("lead.care", "kefu-lead", Role.LEAD, "孙经理 Sun (care lead)", "CARE"),
    DemoAccount("agent.care", "kefu-agent", Role.AGENT, "周婷 Zhou", "CARE"),
    DemoAccount("lead.after", "kefu-lead", Role.LEAD, "吴主管 Wu (after-sales lead)", "AFTER"),
    DemoAccount("agent.after", "kefu-agent", Role.AGENT, "郑浩 Zheng", "AFTER"),
    DemoAccount("agent.emma", "kefu-agent", Role.AGENT, "Emma Clarke", "SUPPORT"),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
    "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞"
    "平刚桂英华玉兰萍红娥玲芬燕彬鹏辉建国晨阳欣怡子涵浩然雨萱"
)
CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "武汉",
    "南京",
    "苏州",
    "西安",
    "重庆",
    "天津",
]
FIRMS = [
    "云帆",
    "星河",
    "蓝海",
    "恒通",
    "华信",
    "瑞丰",
    "博远",
    "嘉禾",
    "启明",
    "鼎盛",
    "泰和",
    "远景",
]
TRADES = [
    ("科技", Industry.I),
    ("贸易", Industry.F),
    ("物流", Industry.G),
    ("制造", Industry.C),
    ("教育科技", Industry.P),
    ("餐饮管理", Industry.H),
    ("金融服务", Industry.J),
    ("文化传媒", Industry.R),
]
EN_FIRST = [
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "James",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Grace",
    "Daniel",
    "Chloe",
    "Ryan",
    "Hannah",
    "Oscar",
]
EN_LAST = [
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
    "Clarke",
    "Walker",
    "Wright",
    "Green",
    "Hall",
    "Wood",
    "Harris",
    "Martin",
    "Lee",
    "King",
    "Baker",
    "Young",
]
EN_FIRMS = [
    "Northwind Trading",
    "Bluepeak Software",
    "Harbor Logistics",
    "Maple Learning",
    "Crescent Foods",
    "Silverline Finance",
    "Atlas Devices",
    "Brightpath Media",
]

FOLLOW_UP_LINES = {
    "zh": [
        ("已电话联系客户，确认问题细节并记录。", "客户表示理解，等待处理结果。"),
        ("已在线回复客户处理方案。", "客户同意方案。"),
        ("已与相关部门核实情况，正在处理中。", "客户希望尽快解决。"),
        ("已回访客户确认处理结果。", "客户表示满意。"),
    ],
    "en": [
        ("Called the customer to confirm the details.", "Customer understands and will wait."),
        ("Replied online with the proposed fix.", "Customer agreed."),
        ("Checked with the responsible team; work in progress.", "Customer asked for speed."),
        ("Called back to confirm the outcome.", "Customer is satisfied."),
    ],
}
RESOLUTIONS = {
    "zh": [
        "问题已解决，已告知客户处理结果。",
        "已为客户办理完成，客户确认无误。",
        "已按政策处理并致歉，客户接受。",
    ],
    "en": [
        "Resolved; the customer was told the outcome.",
        "Done and confirmed by the customer.",
        "Handled per policy with an apology; the customer accepted.",
    ],
}
SURVEY_COMMENTS = {
    "zh": [
        "处理很及时，谢谢！",
        "客服态度很好。",
        "等得有点久。",
        "问题解决了，但流程可以更简单。",
        "",
    ],
    "en": [
        "Quick and helpful, thanks!",
        "Friendly staff.",
        "Took a while.",
        "Solved, but the process could be simpler.",
        "",
    ],
}

STATUS_WEIGHTS = [
    (TicketStatus.PENDING, 12),
    (TicketStatus.IN_PROGRESS, 22),
    (TicketStatus.AWAITING_CONFIRMATION, 10),
    (TicketStatus.COMPLETED, 24),
    (TicketStatus.CLOSED, 32),
]
CHANNELS = [
    Channel.PHONE,
    Channel.ONLINE_CHAT,
    Channel.EMAIL,
    Channel.PORTAL,
    Channel.SOCIAL_MEDIA,
    Channel.API,
]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_messages() -> list[dict[str, Any]]:
    """Bootstrap messages (text, category, lang) used as realistic ticket texts."""
    rows: list[dict[str, Any]] = []
    for path in sorted(DATA_DIR.glob("bootstrap_*.jsonl")):
        rows.extend(_read_jsonl(path))
    if not rows:
        raise RuntimeError(f"no bootstrap messages found in {DATA_DIR}")
    return rows


def load_articles() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(DATA_DIR.glob("kb_seed_*.jsonl")):
        rows.extend(_read_jsonl(path))
    return rows


async def seed_reference(session: AsyncSession) -> dict[str, int]:
    """Departments, demo accounts, routing, default SLA policy and calendar (idempotent).

    Marks the install as a demo: the sign-in page then shows the demo logins.
    """
    system = Actor.system("demo")
    await site.mark_demo(session)
    dept_ids: dict[str, int] = {}
    for code, zh, en, _ in DEPARTMENTS:
        existing = await users.department_by_code(session, code)
        dept = existing or await users.create_department(session, code=code, name_zh=zh, name_en=en)
        dept_ids[code] = dept.id
    for account in ACCOUNTS:
        user = await session.scalar(select(User).where(User.username == account.username))
        if user is None:
            user = await users.create_user(
                session,
                system,
                username=account.username,
                password=account.password,
                role=account.role,
                display_name=account.display_name,
                department_id=dept_ids.get(account.department or ""),
                enforce_policy=False,  # the well-known demo logins, on a demo install only
            )
            # The demo's agents are at their desks (accounts start off duty otherwise), so
            # turning auto-assignment on for a department shows it working at once.
            user.on_duty = account.role is Role.AGENT
        if account.role is Role.LEAD and account.department:
            led = await session.get(Department, dept_ids[account.department])
            if led is not None and led.supervisor_id is None:
                led.supervisor_id = user.id
    for code, _, _, request_type in DEPARTMENTS:
        rule = await session.scalar(
            select(RoutingRule).where(RoutingRule.request_type == request_type)
        )
        if rule is None:
            session.add(RoutingRule(request_type=request_type, department_id=dept_ids[code]))
    # The care department's supervisor escalates to the service centre's (ladder level 2).
    care = await session.get(Department, dept_ids["CARE"])
    if care is not None and care.parent_id is None:
        care.parent_id = dept_ids["SUPPORT"]
    if await session.scalar(select(func.count()).select_from(SlaPolicy)) == 0:
        session.add(
            SlaPolicy(
                name="default",
                is_default=True,
                config=DEFAULT_POLICY.to_config(),
                escalation_ladder=[60, 120, 240],
            )
        )
    if await session.scalar(select(func.count()).select_from(BusinessCalendar)) == 0:
        config = DEFAULT_CALENDAR.to_config()
        session.add(
            BusinessCalendar(
                name="default",
                is_default=True,
                timezone=config["timezone"],
                work_intervals=config["work_intervals"],
                weekdays=config["weekdays"],
                holidays=config["holidays"],
                workdays=config["workdays"],
            )
        )
    await session.flush()
    return dept_ids


def _person(rng: random.Random, lang: str) -> tuple[str, CustomerType, Industry | None, str | None]:
    if rng.random() < 0.25:
        if lang == "zh":
            trade, industry = rng.choice(TRADES)
            name = f"{rng.choice(CITIES)}{rng.choice(FIRMS)}{trade}有限公司"
            contact = rng.choice(SURNAMES) + rng.choice(["经理", "总", "先生", "女士"])
        else:
            name, industry = rng.choice(EN_FIRMS) + " Ltd.", rng.choice(list(Industry))
            contact = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
        return name, CustomerType.ENTERPRISE, industry, contact
    if lang == "zh":
        name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice([1, 2])))
    else:
        name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
    return name, CustomerType.INDIVIDUAL, None, None


def _batches(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _insert_returning_ids(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]]
) -> list[int]:
    ids: list[int] = []
    for chunk in _batches(rows):
        result = await session.execute(
            insert(model).returning(model.id, sort_by_parameter_order=True), chunk
        )
        ids.extend(result.scalars().all())
    return ids


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _batches(rows):
        await session.execute(insert(model), chunk)


async def _bump_sequences(session: AsyncSession, maxima: dict[str, int]) -> None:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for name, value in maxima.items():
        stmt = upsert(Sequence).values(name=name, value=value)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Sequence.name],
            set_={
                "value": func.max(Sequence.value, value)
                if dialect == "sqlite"
                else func.greatest(Sequence.value, value)
            },
        )
        await session.execute(stmt)


async def _next_counters(session: AsyncSession, names: set[str]) -> dict[str, int]:
    rows = await session.execute(
        select(Sequence.name, Sequence.value).where(Sequence.name.in_(names))
    )
    return {name: value for name, value in rows}


@dataclass(frozen=True)
class DemoResult:
    customers: int
    tickets: int
    follow_ups: int
    surveys: int
    articles: int


async def fill(
    session: AsyncSession,
    *,
    tickets: int = 200,
    seed: int = 7,
    days: int = 120,
    progress: Callable[[str, int], None] | None = None,
) -> DemoResult:
    """Add a realistic history of ``tickets`` tickets (with their customers) to the database."""
    rng = random.Random(seed)
    settings = get_settings()
    zone = ZoneInfo(settings.timezone)
    cipher = cipher_for(settings.encryption_keys)
    dept_ids = await seed_reference(session)
    route = {rt: dept_ids[code] for code, _, _, rt in DEPARTMENTS}
    staff = (await session.execute(select(User.id, User.department_id, User.role))).all()
    agents_by_dept: dict[int | None, list[int]] = defaultdict(list)
    for user_id, dept_id, role in staff:
        if role is not Role.ADMIN:
            agents_by_dept[dept_id].append(user_id)
    messages = load_messages()
    now = utcnow()

    # Customers: about one per five tickets, so histories and repeat inquiries exist.
    n_customers = max(10, tickets // 5)
    customer_rows: list[dict[str, Any]] = []
    customer_langs: list[str] = []
    customer_phones: list[str] = []
    day_counts: dict[str, int] = defaultdict(int)
    registered_days: list[datetime] = []
    for _ in range(n_customers):
        registered_days.append(now - timedelta(days=days + 30) * rng.random() - timedelta(days=1))
    registered_days.sort()
    cs_names = {f"CS{d.astimezone(zone):%Y%m%d}" for d in registered_days}
    counters = await _next_counters(session, cs_names)
    for registered in registered_days:
        lang = "zh" if rng.random() < 0.75 else "en"
        name, ctype, industry, contact = _person(rng, lang)
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        email = None
        if lang == "en" or rng.random() < 0.4:
            email = f"user{rng.randrange(10**8)}@example.{'com' if lang == 'en' else 'cn'}"
        key = f"CS{registered.astimezone(zone):%Y%m%d}"
        day_counts[key] += 1
        level = rng.choices(list(CustomerLevel), weights=[80, 15, 5])[0]
        customer_rows.append(
            {
                "number": f"{key}{counters.get(key, 0) + day_counts[key]:03d}",
                "type": ctype,
                "name": name,
                "contact_person": contact,
                "phone_enc": cipher.encrypt(phone),
                "phone_hash": cipher.blind_index("phone", phone),
                "email_enc": cipher.encrypt(email) if email else None,
                "email_hash": cipher.blind_index("email", email) if email else None,
                "industry": industry,
                "level": level,
                "source_channel": rng.choice(CHANNELS),
                "registered_at": registered,
                "registered_by_id": None,
            }
        )
        customer_langs.append(lang)
        customer_phones.append(phone)
    customer_ids = await _insert_returning_ids(session, Customer, customer_rows)
    await search.bulk_index_customers(
        session,
        cipher,
        (
            (cid, search.customer_fields(SimpleNamespace(**row)), phone)
            for cid, row, phone in zip(customer_ids, customer_rows, customer_phones, strict=True)
        ),
    )
    await _bump_sequences(session, {k: counters.get(k, 0) + v for k, v in day_counts.items()})
    if progress:
        progress("customers", len(customer_ids))

    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        by_lang[message.get("lang", "zh")].append(message)

    # Tickets, oldest first so numbers rise with time.
    created_list = sorted(
        now - timedelta(days=days) * (rng.random() ** 1.3) for _ in range(tickets)
    )
    task_names = {f"TASK{c.astimezone(zone):%Y%m%d}" for c in created_list}
    counters = await _next_counters(session, task_names)
    day_counts = defaultdict(int)
    ticket_rows: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []
    untriaged_left = min(5, tickets)
    for index, created in enumerate(created_list):
        cidx = rng.randrange(len(customer_ids))
        lang = customer_langs[cidx]
        level = customer_rows[cidx]["level"]
        message = rng.choice(by_lang.get(lang) or messages)
        request_type = RequestType(message["category"])
        age = now - created
        status = rng.choices(
            [s for s, _ in STATUS_WEIGHTS], weights=[w for _, w in STATUS_WEIGHTS]
        )[0]
        # Old tickets are mostly finished; the last few are fresh and untriaged.
        if age > timedelta(days=30) and rng.random() < 0.85:
            status = TicketStatus.CLOSED
        is_last = index >= tickets - untriaged_left
        if is_last:
            status = TicketStatus.PENDING
        urgency = rng.choices(list(Urgency), weights=[12, 70, 18])[0]
        triaged = not is_last
        priority = compute_priority(urgency, level, request_type if triaged else None)
        dept = route[request_type] if triaged else None
        assignee = None
        if status is not TicketStatus.PENDING or (triaged and rng.random() < 0.5):
            assignee = rng.choice(agents_by_dept.get(dept) or agents_by_dept[dept_ids["SUPPORT"]])
        assigned_at = created + timedelta(minutes=rng.randint(2, 90)) if assignee else None
        acknowledged = (
            assigned_at + timedelta(minutes=rng.randint(1, 50))
            if assigned_at and status is not TicketStatus.PENDING
            else None
        )
        resolved = closed = None
        if status in (TicketStatus.COMPLETED, TicketStatus.CLOSED):
            span = timedelta(hours=rng.uniform(0.5, 120))
            resolved = min(created + span, now - timedelta(minutes=5))
            if status is TicketStatus.CLOSED:
                closed = min(resolved + timedelta(hours=rng.uniform(1, 72)), now)
        paused_since = None
        if status is TicketStatus.AWAITING_CONFIRMATION:
            paused_since = now - (now - created) * rng.uniform(0.05, 0.5)
        deadlines = compute_deadlines(
            policy=DEFAULT_POLICY,
            calendar=DEFAULT_CALENDAR,
            registered_at=created,
            urgency=str(urgency),
            priority=str(priority),
            request_type=str(request_type) if triaged else None,
            customer_level=str(level),
            assigned_at=assigned_at,
        )
        key = f"TASK{created.astimezone(zone):%Y%m%d}"
        day_counts[key] += 1
        text = message["text"]
        ticket_rows.append(
            {
                "number": f"{key}{counters.get(key, 0) + day_counts[key]:04d}",
                "customer_id": customer_ids[cidx],
                "title": text.splitlines()[0][:59] + ("…" if len(text) > 59 else ""),
                "description": text,
                "order_number": None,
                "channel": rng.choice(CHANNELS),
                "request_type": request_type if triaged else None,
                "type_source": TypeSource.MODEL if triaged else None,
                "type_confidence": round(rng.uniform(0.55, 0.99), 3) if triaged else None,
                "model_version": "demo" if triaged else None,
                "triaged_at": created + timedelta(seconds=rng.randint(1, 30)) if triaged else None,
                "urgency": urgency,
                "priority": priority,
                "priority_rank": priority_rank(priority, level),
                "department_id": dept,
                "assignee_id": assignee,
                "owner_id": assignee,
                "status": status,
                "first_response_due": deadlines.first_response_due,
                "acknowledge_due": deadlines.acknowledge_due,
                "resolution_due": deadlines.resolution_due,
                "reminder_due": deadlines.reminder_due,
                "created_at": created,
                "updated_at": closed or resolved or acknowledged or created,
                "assigned_at": assigned_at,
                "acknowledged_at": acknowledged,
                "first_responded_at": acknowledged,
                "resolved_at": resolved,
                "closed_at": closed,
                "paused_since": paused_since,
                "paused_seconds": 0,
                "paused_business_seconds": 0,
                "is_repeat": False,
                "version": 1,
            }
        )
        plans.append(
            {
                "lang": lang,
                "status": status,
                "created": created,
                "resolved": resolved,
                "assignee": assignee,
                "customer_id": customer_ids[cidx],
                "request_type": request_type,
            }
        )
    ticket_ids = await _insert_returning_ids(session, Ticket, ticket_rows)
    await search.bulk_index_tickets(
        session,
        (
            (tid, search.ticket_fields(SimpleNamespace(**row)))
            for tid, row in zip(ticket_ids, ticket_rows, strict=True)
        ),
    )
    await _bump_sequences(session, {k: counters.get(k, 0) + v for k, v in day_counts.items()})
    if progress:
        progress("tickets", len(ticket_ids))

    follow_rows: list[dict[str, Any]] = []
    survey_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    for ticket_id, plan, row in zip(ticket_ids, plans, ticket_rows, strict=True):
        audit_rows.append(
            {
                "at": plan["created"],
                "actor_id": None,
                "actor_label": "demo",
                "entity_type": "ticket",
                "entity_id": ticket_id,
                "ticket_id": ticket_id,
                "action": "create",
                "field": None,
                "before": None,
                "after": {"number": row["number"]},
            }
        )
        status = plan["status"]
        if status is TicketStatus.PENDING:
            continue
        lang = plan["lang"]
        steps = rng.randint(1, 3)
        for step in range(steps):
            discussed, feedback = rng.choice(FOLLOW_UP_LINES[lang])
            at = plan["created"] + timedelta(hours=rng.uniform(0.2, 6) * (step + 1))
            follow_rows.append(
                {
                    "ticket_id": ticket_id,
                    "at": min(at, now),
                    "user_id": plan["assignee"],
                    "by_customer": False,
                    "method": rng.choice(list(FollowUpMethod)),
                    "discussed": discussed,
                    "customer_feedback": feedback,
                    "next_step": None,
                    "next_owner_id": None,
                    "next_due_at": None,
                    "done": True,
                    "visible_to_customer": step == 0,
                    "is_resolution": False,
                }
            )
        if plan["resolved"] is None:
            continue
        follow_rows.append(
            {
                "ticket_id": ticket_id,
                "at": plan["resolved"],
                "user_id": plan["assignee"],
                "by_customer": False,
                "method": FollowUpMethod.ONLINE_CHAT,
                "discussed": rng.choice(RESOLUTIONS[lang]),
                "customer_feedback": None,
                "next_step": None,
                "next_owner_id": None,
                "next_due_at": None,
                "done": True,
                "visible_to_customer": True,
                "is_resolution": True,
            }
        )
        submitted = rng.random() < 0.7
        scores = [rng.choices([1, 2, 3, 4, 5], weights=[2, 3, 8, 30, 57])[0] for _ in range(3)]
        survey_rows.append(
            {
                "ticket_id": ticket_id,
                "customer_id": plan["customer_id"],
                "service_type": plan["request_type"],
                "speed_score": scores[0] if submitted else None,
                "solution_score": scores[1] if submitted else None,
                "attitude_score": scores[2] if submitted else None,
                "comment": rng.choice(SURVEY_COMMENTS[lang]) or None if submitted else None,
                "suggestion": None,
                "contact": None,
                "token_hash": f"demo-{ticket_id}-{rng.getrandbits(64):016x}",
                "created_at": plan["resolved"],
                "expires_at": plan["resolved"] + timedelta(days=14),
                "submitted_at": (
                    plan["resolved"] + timedelta(hours=rng.uniform(0.5, 48)) if submitted else None
                ),
            }
        )
    await _insert(session, FollowUp, follow_rows)
    await _insert(session, Survey, survey_rows)
    await _insert(session, AuditEvent, audit_rows)
    if progress:
        progress("follow-ups", len(follow_rows))
        progress("surveys", len(survey_rows))

    # Bulk rows skipped the services: give open tickets their next SLA check, count the boards.
    await engine.schedule_unscheduled(session)
    await kept_counts.rebuild(session)
    await seed_board_views(session)
    await seed_chat_widget(session)
    articles = await seed_articles(session)
    await starter.seed_starter(session)  # team quick replies and macros
    return DemoResult(
        len(customer_ids), len(ticket_ids), len(follow_rows), len(survey_rows), articles
    )


# Saved board views everyone finds on the demo board (a team view of the admin's).
DEMO_VIEWS = (("我的逾期VIP", "mine=1&sla=breached&level=vip"),)


async def seed_board_views(session: AsyncSession) -> int:
    """Add the demo's team board views not yet present; returns how many were added."""
    admin = await session.scalar(select(User).where(User.username == "admin"))
    if admin is None:
        return 0
    added = 0
    for name, query in DEMO_VIEWS:
        found = await session.scalar(
            select(BoardView.id).where(BoardView.owner_id == admin.id, BoardView.name == name)
        )
        if found is None:
            session.add(BoardView(name=name, owner_id=admin.id, team=True, query=query))
            added += 1
    return added


async def seed_chat_widget(session: AsyncSession) -> int | None:
    """A demo chat widget (the team can try it at /admin/chat/ID/preview), unless one exists;
    returns its id."""
    from models.chat_widget import ChatWidget
    from models.services.chat import widgets

    found = await session.scalar(select(ChatWidget.id).order_by(ChatWidget.id).limit(1))
    if found is not None:
        return found
    widget = await widgets.save(
        session,
        Actor.system("demo"),
        widgets.WidgetInput(
            name="官网在线客服",
            greeting_zh="您好，欢迎咨询！请问有什么可以帮您？",
            greeting_en="Hello! How can we help you today?",
        ),
    )
    return widget.id


async def seed_articles(session: AsyncSession) -> int:
    """Publish the seed KB articles not yet present (matched by their external id)."""
    rows = load_articles()
    if not rows:
        return 0
    existing = set((await session.scalars(select(Article.external_id))).all())
    now = utcnow()
    new = [
        {
            "external_id": row["id"],
            "title": row["title"],
            "body": row["body"],
            "locale": row.get("locale", "zh_CN"),
            "status": ArticleStatus.PUBLISHED,
            "created_at": now,
            "updated_at": now,
            "published_at": now,
            "suggested_count": 0,
            "click_count": 0,
            "solved_count": 0,
        }
        for row in rows
        if row["id"] not in existing
    ]
    await _insert(session, Article, new)
    return len(new)


SHOWN_LOGINS = 3  # admin, lead, agent: the ones the sign-in page and `kefu run` name


async def demo_logins(session: AsyncSession) -> list[DemoAccount]:
    """On a demo install, the demo logins still active with their well-known password
    (none elsewhere, and none once changed or deactivated)."""
    is_demo, _ = await site.read_site(session)
    if not is_demo:
        return []
    shown = ACCOUNTS[:SHOWN_LOGINS]
    untouched = set(
        (
            await session.scalars(
                select(User.username).where(
                    User.username.in_([a.username for a in shown]),
                    User.is_active.is_(True),
                    User.password_changed_at.is_(None),
                )
            )
        ).all()
    )
    return [a for a in shown if a.username in untouched]


async def has_data(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Ticket)))
