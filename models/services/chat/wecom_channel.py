"""WeCom customer service (微信客服) as a chat channel: WeChat users' messages become live
chats in the agent inbox, and the agents' replies go back through WeCom.

WeCom calls Kefu's callback (signed, AES-encrypted) to say "there are new messages"; the
worker then pulls them with ``kf/sync_msg`` from the account's saved cursor, stores each once
(WeCom's msgid is unique in ``chat_messages``), downloads media into attachments and maps the
WeChat user to one customer. An agent's reply is stored as pending and sent by the worker
with ``kf/send_msg``; its row says whether it went, and why not. WeCom lets a reply through
only within 48 hours of the customer's last message and at most 5 times until they write
again: Kefu refuses a reply outside that window before storing it, with the reason.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.chat_conversation import ChatConversation
from models.chat_message import ChatMessage
from models.db import Database, record_event, record_job, unit_of_work
from models.enums import Channel, ChatAuthor, ChatStatus
from models.services.chat import conversations
from models.services.chat.wecom import (
    KfMessage,
    WeComApiError,
    WeComClient,
    WeComCrypto,
    WeComCryptoError,
    WeComError,
    WeComSignatureError,
)
from models.services.common import audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import wecom_sync_job
from models.services.customers import registry
from models.services.tickets import attachments, commands, intake
from models.wecom_account import WeComAccount

log = logging.getLogger(__name__)

CORP_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
URL_RE = re.compile(r"^https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._/-]*)?$")
DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
# A failure WeCom itself reports (a bad request, the window closed) is final; a network
# failure (-1) or WeCom's "busy" (-1 is also what it says when overloaded) is tried again.
RETRY_ERRCODES = frozenset({-1, 45009})
SEND_ATTEMPTS = 5


@dataclass(frozen=True)
class AccountInput:
    name: str
    corp_id: str
    open_kfid: str
    secret: str = ""
    token: str = ""
    aes_key: str = ""
    department_id: int | None = None
    base_url: str = DEFAULT_BASE_URL
    is_active: bool = True


@dataclass(frozen=True)
class AccountRow:
    """An account as the admin page lists it (no secrets)."""

    id: int
    name: str
    corp_id: str
    open_kfid: str
    department_id: int | None
    base_url: str
    is_active: bool
    last_error: str | None
    conversations: int


def _secret(value: str) -> str:
    return registry.current_cipher().encrypt(value)


def _unseal(token: str) -> str:
    return registry.decrypt(token) or ""


async def save_account(
    session: AsyncSession, actor: Actor, data: AccountInput, account_id: int | None = None
) -> WeComAccount:
    """Create or change an account; secrets are sealed (left empty on a change: kept)."""
    account = await get_account(session, account_id) if account_id is not None else None
    errors: dict[str, str] = {}
    if not data.name.strip() or len(data.name.strip()) > 100:
        errors["name"] = N_("Required.")
    if not CORP_RE.match(data.corp_id.strip()):
        errors["corp_id"] = N_("Invalid value.")
    if not CORP_RE.match(data.open_kfid.strip()):
        errors["open_kfid"] = N_("Invalid value.")
    if not URL_RE.match(data.base_url.strip()):
        errors["base_url"] = N_("Not a site address.")
    if (account is None or data.secret) and (not data.secret.strip() or len(data.secret) > 200):
        errors["secret"] = N_("Required.")
    if (account is None or data.token) and not TOKEN_RE.match(data.token.strip()):
        errors["token"] = N_("Letters and digits, up to 32.")
    if account is None or data.aes_key:
        try:
            WeComCrypto("t", data.aes_key.strip(), data.corp_id.strip() or "x")
        except WeComCryptoError:
            errors["aes_key"] = N_("EncodingAESKey has 43 letters and digits.")
    if errors:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=errors)
    values: dict[str, Any] = {
        "name": data.name.strip(),
        "corp_id": data.corp_id.strip(),
        "open_kfid": data.open_kfid.strip(),
        "department_id": data.department_id,
        "base_url": data.base_url.strip().rstrip("/"),
        "is_active": data.is_active,
    }
    if data.secret:
        values["secret_enc"] = _secret(data.secret.strip())
    if data.token:
        values["token_enc"] = _secret(data.token.strip())
    if data.aes_key:
        values["aes_key_enc"] = _secret(data.aes_key.strip())
    if account is None:
        account = WeComAccount(cursor="", **values)
        session.add(account)
    else:
        for name, value in values.items():
            setattr(account, name, value)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(N_("This customer-service account is already connected.")) from exc
    audit.record(
        session,
        actor,
        entity_type="wecom_account",
        entity_id=account.id,
        action="wecom_account_saved",
        after={"name": account.name, "open_kfid": account.open_kfid},
    )
    return account


async def get_account(session: AsyncSession, account_id: int | None) -> WeComAccount:
    account = await session.get(WeComAccount, account_id) if account_id is not None else None
    if account is None:
        raise NotFound(N_("This WeCom account is not connected."))
    return account


async def account_rows(session: AsyncSession) -> list[AccountRow]:
    counts = dict(
        (
            await session.execute(
                select(ChatConversation.wecom_account_id, func.count(ChatConversation.id))
                .where(ChatConversation.wecom_account_id.is_not(None))
                .group_by(ChatConversation.wecom_account_id)
            )
        ).all()
    )
    rows = await session.scalars(select(WeComAccount).order_by(WeComAccount.id))
    return [
        AccountRow(
            a.id,
            a.name,
            a.corp_id,
            a.open_kfid,
            a.department_id,
            a.base_url,
            a.is_active,
            a.last_error,
            int(counts.get(a.id, 0)),
        )
        for a in rows
    ]


def crypto_for(account: WeComAccount) -> WeComCrypto:
    return WeComCrypto(_unseal(account.token_enc), _unseal(account.aes_key_enc), account.corp_id)


def client_for(account: WeComAccount, http: httpx.AsyncClient | None = None) -> WeComClient:
    return WeComClient(
        account.corp_id, _unseal(account.secret_enc), base_url=account.base_url, http=http
    )


async def _active(session: AsyncSession, account_id: int) -> WeComAccount:
    account = await session.get(WeComAccount, account_id)
    if account is None or not account.is_active:
        raise NotFound(N_("This WeCom account is not connected."))
    return account


# --- the callback ---------------------------------------------------------------------------


async def verify_url(
    session: AsyncSession, account_id: int, signature: str, timestamp: str, nonce: str, echo: str
) -> str:
    """WeCom's URL check when the callback is configured: the decrypted echo string."""
    account = await _active(session, account_id)
    try:
        return crypto_for(account).verify_url(signature, timestamp, nonce, echo, now=time.time())
    except WeComCryptoError as exc:
        raise Forbidden(N_("The request's signature does not match.")) from exc


async def receive_callback(
    session: AsyncSession, account_id: int, signature: str, timestamp: str, nonce: str, body: bytes
) -> bool:
    """A callback: verified and decrypted; "new messages" enqueues a sync. True if it did."""
    account = await _active(session, account_id)
    try:
        event = crypto_for(account).decrypt_post(signature, timestamp, nonce, body, now=time.time())
    except WeComSignatureError as exc:
        raise Forbidden(N_("The request's signature does not match.")) from exc
    except WeComCryptoError as exc:
        raise ValidationFailed(N_("The request could not be understood.")) from exc
    if event.get("Event") != "kf_msg_or_event":
        return False
    if event.get("OpenKfId") not in (None, "", account.open_kfid):
        return False
    record_job(session, wecom_sync_job(account.id, event.get("Token", "")))
    return True


# --- pulling messages -------------------------------------------------------------------------


async def sync(
    db: Database,
    redis: Any,
    channel: str,
    account_id: int,
    callback_token: str,
    *,
    http: httpx.AsyncClient | None = None,
) -> int:
    """Pull the account's new messages from its cursor; each page is stored and its cursor
    saved in one transaction, so a crash resumes at the first page not stored. Returns the
    number of messages stored."""
    async with db.sessionmaker() as session:
        account = await _active(session, account_id)
        open_kfid, cursor = account.open_kfid, account.cursor
        client = client_for(account, http)
    stored = 0
    try:
        async with client:
            async for page in client.iter_all(
                open_kfid=open_kfid, callback_token=callback_token or None, cursor=cursor
            ):
                async with unit_of_work(db, redis, channel) as session:
                    account = await _active(session, account_id)
                    for message in page.messages:
                        if message.from_customer and message.open_kfid == open_kfid:
                            stored += await _store(session, account, message, client)
                    account.cursor = page.next_cursor
                    account.last_error = None
    except WeComError as exc:
        async with unit_of_work(db, redis, channel) as session:
            account = await _active(session, account_id)
            account.last_error = str(exc)[:500]
        raise
    return stored


async def _store(
    session: AsyncSession, account: WeComAccount, message: KfMessage, client: WeComClient
) -> int:
    seen = await session.scalar(
        select(ChatMessage.id).where(ChatMessage.external_msgid == message.msgid[:64])
    )
    if seen is not None:
        return 0
    conversation = await session.scalar(
        select(ChatConversation)
        .where(
            ChatConversation.wecom_account_id == account.id,
            ChatConversation.external_userid == message.external_userid,
            ChatConversation.status.in_(conversations.OPEN),
        )
        .order_by(ChatConversation.id.desc())
        .limit(1)
    )
    upload = None
    if message.media_id:
        try:
            media = await client.download_media(message.media_id)
            upload = attachments.Upload(media.filename, media.content, media.content_type)
        except WeComError as exc:  # the text still lands; the agent sees what is missing
            log.warning("WeCom media %s not downloaded: %s", message.media_id, exc)
    prepared = []
    if upload is not None:
        try:
            prepared = await attachments.check_uploads([upload])
        except ValidationFailed as exc:
            log.info("WeCom media %s refused: %s", message.media_id, exc)
    text = message.text or ""
    if not text and message.media_id and not prepared:
        text = f"[{message.msgtype}]"
    text = text[: conversations.TEXT_MAX]
    fresh = conversation is None
    if conversation is None:
        conversation = await _start(session, account, message, text or prepared[0].filename)
    attachment_id = None
    if prepared and conversation.ticket_id is not None:
        ticket = await commands.get(session, conversation.ticket_id)
        stored = await attachments.store_prepared(
            session, conversations.CHAT, ticket, prepared, source="chat", uploaded_by_customer=True
        )
        attachment_id = stored[0].id
    await conversations.append(
        session,
        conversation,
        ChatAuthor.CUSTOMER,
        text,
        external_msgid=message.msgid[:64],
        attachment_id=attachment_id,
        at=message.send_time,
    )
    conversation.last_customer_at = message.send_time
    if fresh:
        await conversations.dispatch(session)
    return 1


async def _start(
    session: AsyncSession, account: WeComAccount, message: KfMessage, text: str
) -> ChatConversation:
    """A WeChat user's new conversation: the same customer as their earlier ones."""
    known = await conversations.returning_customer(
        session,
        ChatConversation.wecom_account_id == account.id,
        ChatConversation.external_userid == message.external_userid,
    )
    result = await intake.register_inquiry(
        session,
        conversations.CHAT,
        intake.InquiryInput(
            description=text or "-",
            channel=Channel.ONLINE_CHAT.value,
            name=f"微信用户 {message.external_userid[-6:]}",
            customer_id=known,
            allowed_channels=(Channel.ONLINE_CHAT,),
        ),
    )
    ticket = await commands.route_new(
        session,
        conversations.CHAT,
        result.ticket,
        department_id=account.department_id,
        customer_replied_at=result.ticket.created_at,
    )
    conversation = ChatConversation(
        public_id=conversations.new_public_id(),
        source="wecom",
        wecom_account_id=account.id,
        external_userid=message.external_userid[:64],
        open_kfid=account.open_kfid,
        customer_id=result.customer_id,
        ticket_id=ticket.id,
        department_id=account.department_id or ticket.department_id,
        status=ChatStatus.QUEUED,
        locale="zh-CN",
        started_at=message.send_time,
        last_seq=0,
        customer_read_seq=0,
        agent_read_seq=0,
    )
    session.add(conversation)
    await session.flush()
    return conversation


# --- replying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    status: str
    retry: bool = False


async def deliver(
    session: AsyncSession, message_id: int, *, attempt: int = 1, http: Any = None
) -> Delivery:
    """Send one pending reply; the row records "sent" or "failed" with WeCom's reason."""
    message = await session.get(ChatMessage, message_id, with_for_update=True)
    if message is None or message.delivery != "pending":
        return Delivery(message.delivery if message and message.delivery else "gone")
    conversation = await session.get(ChatConversation, message.conversation_id)
    account = (
        await session.get(WeComAccount, conversation.wecom_account_id)
        if conversation is not None and conversation.wecom_account_id is not None
        else None
    )
    if conversation is None or account is None or not conversation.external_userid:
        message.delivery, message.delivery_error = "failed", "The WeCom account is gone."
        return Delivery("failed")
    try:
        async with client_for(account, http) as client:
            await client.send_text(
                touser=conversation.external_userid,
                open_kfid=account.open_kfid,
                content=message.text,
                msgid=f"kefu-{message.id}",
            )
    except WeComApiError as exc:
        if exc.errcode in RETRY_ERRCODES and attempt < SEND_ATTEMPTS:
            return Delivery("pending", retry=True)
        message.delivery, message.delivery_error = "failed", str(exc)[:500]
    except (WeComError, ValueError) as exc:
        message.delivery, message.delivery_error = "failed", str(exc)[:500]
    else:
        message.delivery, message.delivery_error = "sent", None
    record_event(
        session,
        "chat.delivery",
        conversation=conversation.public_id,
        agent_id=conversation.agent_id,
        seq=message.seq,
        status=conversation.status.value,
    )
    return Delivery(message.delivery or "failed")
