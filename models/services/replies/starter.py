"""The starter set a demo install gets: team quick replies in Chinese and English (refund
status, password reset, apology, logistics) and two team macros."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.enums import Priority, TicketStatus
from models.macro import Macro
from models.quick_reply import QuickReply, ReplyLanguage, ReplyScope

REPLIES: list[tuple[str, str, ReplyLanguage, str]] = [
    (
        "退款进度",
        "{{客户姓名}}您好，您在工单 {{工单编号}} 中申请的退款已提交财务处理，"
        "预计 3–5 个工作日原路退回，请留意账户到账通知。如有疑问请随时联系我们。——{{客服姓名}}",
        ReplyLanguage.ZH_CN,
        "tk",
    ),
    (
        "重置密码",
        "{{客户姓名}}您好，请在登录页点击“忘记密码”，按提示输入注册手机号获取验证码后设置新密码。"
        "若仍无法登录，请回复本消息，我们会为您人工处理。",
        ReplyLanguage.ZH_CN,
        "mm",
    ),
    (
        "致歉",
        "{{客户姓名}}您好，非常抱歉给您带来不便。我们已将您的问题（{{工单编号}}）列为优先处理，"
        "将在 {{截止日期}} 前给您答复。",
        ReplyLanguage.ZH_CN,
        "qy",
    ),
    (
        "物流查询",
        "{{客户姓名}}您好，您的包裹已发出，物流信息可能有 24 小时左右的延迟，"
        "请稍后在订单详情中查看。如 3 天内仍无更新，请回复我们为您联系快递公司。",
        ReplyLanguage.ZH_CN,
        "wl",
    ),
    (
        "Refund status",
        "Dear {{customer_name}}, the refund requested in {{ticket_number}} has been passed to "
        "our finance team and should reach your original payment method within 3–5 working "
        "days. — {{agent_name}}",
        ReplyLanguage.EN,
        "refund",
    ),
    (
        "Password reset",
        "Dear {{customer_name}}, please click “Forgot password” on the sign-in page and follow "
        "the steps to set a new password. If you still cannot sign in, reply to this message.",
        ReplyLanguage.EN,
        "password",
    ),
    (
        "Apology",
        "Dear {{customer_name}}, we are sorry for the trouble. We have made {{ticket_number}} a "
        "priority and will answer you by {{due_date}}.",
        ReplyLanguage.EN,
        "sorry",
    ),
    (
        "Delivery status",
        "Dear {{customer_name}}, your parcel has shipped; tracking can lag by about a day. "
        "If nothing changes within 3 days, reply and we will contact the carrier.",
        ReplyLanguage.EN,
        "delivery",
    ),
]

MACROS: list[tuple[str, dict[str, str]]] = [
    (
        "已解决待确认",
        {
            "status": TicketStatus.AWAITING_CONFIRMATION.value,
            "reply": "{{客户姓名}}您好，您的问题（{{工单编号}}）已处理完毕，请确认是否已解决。",
        },
    ),
    (
        "升级投诉",
        {
            "priority": Priority.URGENT.value,
            "note": "已升级为投诉处理，请组长跟进。——{{客服姓名}}",
        },
    ),
]


async def seed_starter(session: AsyncSession) -> int:
    """Add the starter replies and macros unless the team already has some; returns how many
    were added."""
    if await session.scalar(select(func.count()).select_from(QuickReply)):
        return 0
    now = utcnow()
    for title, body, language, shortcut in REPLIES:
        session.add(
            QuickReply(
                title=title,
                body=body,
                language=language,
                scope=ReplyScope.TEAM,
                shortcut=shortcut,
                usage_count=0,
                created_at=now,
                updated_at=now,
            )
        )
    if not await session.scalar(select(func.count()).select_from(Macro)):
        for name, actions in MACROS:
            session.add(
                Macro(
                    name=name,
                    scope=ReplyScope.TEAM,
                    actions=actions,
                    usage_count=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    await session.flush()
    return len(REPLIES) + len(MACROS)
