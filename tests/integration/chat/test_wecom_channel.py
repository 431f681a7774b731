"""WeCom customer service (微信客服) as a chat channel, end to end on loopback: the stand-in
WeCom (tests/integration/chat/wecom_standin.py, the documented endpoints, signatures and
encryption) calls Kefu's callback; the real worker pulls the messages, stores them once,
keeps their media, maps the WeChat user to one customer; an agent's reply goes back through
send_msg, and a reply WeCom would not deliver is refused with its reason."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from models.attachment import Attachment
from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.clock import utcnow
from models.db import unit_of_work
from models.enums import ChatAuthor, ChatStatus
from models.services.chat import wecom_channel
from models.services.common.actor import Actor
from models.services.common.errors import ValidationFailed
from models.settings import get_settings
from models.ticket import Ticket
from tests.conftest import sign_in
from tests.integration.chat.wecom_standin import StandIn, running_wecom_standin
from tests.integration.triage_support import burst, htmx_headers, triage_runtime

pytestmark = pytest.mark.usefixtures("reference")

CORP = "ww0123456789abcdef"
SECRET = "kefu-test-secret"
KF = "wkAbCdEf0123456789"
USER = "wmUser0000000000000001"


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    async with triage_runtime() as rt:
        yield rt


@pytest.fixture
def wecom() -> Iterator[StandIn]:
    with running_wecom_standin(CORP, SECRET) as standin:
        standin.add_account(KF)
        yield standin


async def connect(db: Any, standin: StandIn, reference: dict[str, int]) -> int:
    async with unit_of_work(db) as session:
        account = await wecom_channel.save_account(
            session,
            Actor.system("test"),
            wecom_channel.AccountInput(
                name="官方微信客服",
                corp_id=CORP,
                open_kfid=KF,
                secret=SECRET,
                token=standin.callback_token,
                aes_key=standin.encoding_aes_key,
                department_id=reference["SUPPORT"],
                base_url=standin.base_url,
            ),
        )
        return account.id


async def call_back(client: Any, account_id: int, standin: StandIn) -> Any:
    request = standin.callback(KF)
    return await client.post(
        f"/api/wecom/{account_id}/callback",
        params=request.params,
        content=request.body,
        headers={"content-type": "text/xml"},
    )


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def test_wechat_messages_become_one_chat_answered_through_wecom(
    client: Any, db: Any, redis: Any, wecom: StandIn, reference: dict[str, int], runtime: Any
) -> None:
    account_id = await connect(db, wecom, reference)
    # WeCom checks the callback URL when it is configured.
    verified = await client.get(
        f"/api/wecom/{account_id}/callback", params=wecom.url_verification("echo-123")
    )
    assert verified.status_code == 200 and verified.text == "echo-123"

    wecom.queue_text(KF, USER, "你好，我的快递三天没动了")
    wecom.queue_media(KF, USER, png(), filename="快递单.png")
    answered = await call_back(client, account_id, wecom)
    assert answered.status_code == 200 and answered.text == "success"
    # WeCom retries a callback it thinks was lost: delivered twice, stored once.
    assert (await call_back(client, account_id, wecom)).status_code == 200
    await burst(runtime)

    async with db.sessionmaker() as session:
        [conversation] = (await session.scalars(select(ChatConversation))).all()
        assert conversation.source == "wecom" and conversation.external_userid == USER
        said = (
            await session.scalars(
                select(ChatMessage)
                .where(ChatMessage.author == ChatAuthor.CUSTOMER)
                .order_by(ChatMessage.seq)
            )
        ).all()
        assert [m.text for m in said] == ["你好，我的快递三天没动了", ""]
        attachment = await session.get(Attachment, said[1].attachment_id)
        assert attachment is not None and attachment.filename == "快递单.png"
        ticket = await session.get(Ticket, conversation.ticket_id)
        assert ticket is not None and ticket.description == "你好，我的快递三天没动了"
        customer_id = conversation.customer_id

    # An agent takes it from the inbox and answers; the worker sends it through WeCom.
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/chat")
    await client.post("/chat/availability", data={"available": "on"}, headers=headers)
    reply = await client.post(
        f"/chat/c/{conversation.public_id}/messages",
        data={"text": "您好，我帮您催一下快递。", "client_id": "r1"},
        headers=headers,
    )
    assert reply.status_code == 200, reply.text
    await burst(runtime)
    assert [(m.touser, m.content) for m in wecom.sent] == [(USER, "您好，我帮您催一下快递。")]
    async with db.sessionmaker() as session:
        sent = await session.scalar(
            select(ChatMessage).where(ChatMessage.author == ChatAuthor.AGENT)
        )
        assert sent is not None and sent.delivery == "sent"
    page = await client.get(f"/chat?c={conversation.public_id}")
    assert "您好，我帮您催一下快递。" in page.text

    # The same WeChat user writing again after the chat ended is the same customer.
    await client.post(f"/chat/c/{conversation.public_id}/end", headers=headers)
    wecom.queue_text(KF, USER, "还有一个问题")
    await call_back(client, account_id, wecom)
    await burst(runtime)
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(ChatConversation).order_by(ChatConversation.id))).all()
        assert len(rows) == 2 and rows[1].customer_id == customer_id
        assert rows[1].status is not ChatStatus.ENDED


async def test_a_reply_outside_wecoms_window_is_refused_with_the_reason(
    client: Any, db: Any, redis: Any, wecom: StandIn, reference: dict[str, int], runtime: Any
) -> None:
    account_id = await connect(db, wecom, reference)
    long_ago = utcnow() - timedelta(hours=49)
    wecom.queue_text(KF, USER, "请问还在吗", at=long_ago)
    await call_back(client, account_id, wecom)
    await burst(runtime)
    async with db.sessionmaker() as session:
        conversation = await session.scalar(select(ChatConversation))
        assert conversation is not None
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/chat")
    await client.post("/chat/availability", data={"available": "on"}, headers=headers)
    refused = await client.post(
        f"/chat/c/{conversation.public_id}/messages", data={"text": "抱歉久等"}, headers=headers
    )
    assert refused.status_code == 409
    assert "48" in refused.text and "小时" in refused.text
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count(ChatMessage.id)).where(ChatMessage.author == ChatAuthor.AGENT)
        )
        assert count == 0  # nothing stored that would look sent
    assert wecom.sent == []


async def test_a_reply_wecom_refuses_is_shown_as_failed_not_sent(
    client: Any, db: Any, redis: Any, wecom: StandIn, reference: dict[str, int], runtime: Any
) -> None:
    account_id = await connect(db, wecom, reference)
    wecom.queue_text(KF, USER, "在吗")
    await call_back(client, account_id, wecom)
    await burst(runtime)
    async with db.sessionmaker() as session:
        conversation = await session.scalar(select(ChatConversation))
        assert conversation is not None
    await sign_in(client, "agent", "kefu-agent")
    headers = await htmx_headers(client, "/chat")
    await client.post("/chat/availability", data={"available": "on"}, headers=headers)
    # WeCom no longer knows this conversation (the user left it): send_msg is refused.
    wecom.customer_wrote(KF, USER, utcnow() - timedelta(hours=72))
    reply = await client.post(
        f"/chat/c/{conversation.public_id}/messages", data={"text": "您好"}, headers=headers
    )
    assert reply.status_code == 200
    await burst(runtime)
    async with db.sessionmaker() as session:
        sent = await session.scalar(
            select(ChatMessage).where(ChatMessage.author == ChatAuthor.AGENT)
        )
        assert sent is not None and sent.delivery == "failed"
        assert sent.delivery_error and "95002" in sent.delivery_error
    page = await client.get(f"/chat?c={conversation.public_id}")
    assert "未送达" in page.text


async def test_forged_callbacks_and_bad_settings_are_refused(
    client: Any, db: Any, redis: Any, wecom: StandIn, reference: dict[str, int], runtime: Any
) -> None:
    account_id = await connect(db, wecom, reference)
    request = wecom.callback(KF)
    forged = dict(request.params, msg_signature="0" * 40)
    response = await client.post(
        f"/api/wecom/{account_id}/callback", params=forged, content=request.body
    )
    assert response.status_code == 403
    garbage = await client.post(
        f"/api/wecom/{account_id}/callback", params=request.params, content=b"<xml>"
    )
    assert garbage.status_code in (400, 403, 422)
    assert (await client.post("/api/wecom/999/callback", content=b"x")).status_code == 404
    queue = get_settings().queue_name
    assert await redis.zcard(queue) == 0  # nothing was enqueued by any of them
    async with unit_of_work(db) as session:
        with pytest.raises(ValidationFailed):
            await wecom_channel.save_account(
                session,
                Actor.system("test"),
                wecom_channel.AccountInput(
                    name="x", corp_id=CORP, open_kfid="wk2", secret="s", token="t", aes_key="short"
                ),
            )


async def test_an_admin_connects_an_account_and_gets_its_callback_url(
    client: Any, db: Any, wecom: StandIn
) -> None:
    await sign_in(client, "admin", "kefu-admin")
    token = (await htmx_headers(client, "/admin/chat"))["x-csrftoken"]
    form = {
        "_csrf_token": token,
        "name": "官方微信客服",
        "corp_id": CORP,
        "open_kfid": KF,
        "secret": SECRET,
        "token": wecom.callback_token,
        "aes_key": "too-short",
        "base_url": wecom.base_url,
        "is_active": "on",
    }
    refused = await client.post("/admin/chat/wecom", data=form)
    assert refused.status_code == 422
    assert "EncodingAESKey 为 43 位字母和数字" in refused.text
    assert SECRET not in refused.text  # a secret typed is never sent back
    connected = await client.post(
        "/admin/chat/wecom", data={**form, "aes_key": wecom.encoding_aes_key}
    )
    assert connected.status_code in (200, 303)
    page = await client.get("/admin/chat")
    async with db.sessionmaker() as session:
        [row] = await wecom_channel.account_rows(session)
        account = await wecom_channel.get_account(session, row.id)
        assert SECRET not in account.secret_enc  # sealed at rest
    assert f"/api/wecom/{row.id}/callback" in page.text
    assert page.text.count('data-testid="wecom-accounts"') == 1
    assert "<title>在线客服插件 ·" in page.text
    assert SECRET not in page.text and wecom.encoding_aes_key not in page.text
