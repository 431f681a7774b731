"""The WeCom kf client against a local stand-in of WeCom's HTTP API (a real server on loopback).

Token caching and the one refresh on 40014/42001, sync_msg paging, send_msg and its reply
window (95001, 95002), media downloads with their cap, and errcodes raised as WeComApiError.
The stand-in also plays WeCom calling our callback URL, so the two halves meet: a callback's
Token is what the following sync_msg carries.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.services.chat.wecom import (
    ORIGIN_CUSTOMER,
    WeComApiError,
    WeComClient,
    WeComMediaTooLarge,
    reply_window_refusal,
)
from tests.integration.chat.wecom_standin import StandIn, running_wecom_standin

CORP = "ww0123456789abcdef"
SECRET = "kf-secret-" + "x" * 33
KF = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"
CUSTOMER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with running_wecom_standin(CORP, SECRET) as running:
        running.now = NOW
        running.add_account(KF)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def client(standin: StandIn, http: httpx.AsyncClient) -> WeComClient:
    return WeComClient(CORP, SECRET, base_url=standin.base_url, http=http)


def paths(standin: StandIn) -> list[str]:
    return [path.rsplit("/", 1)[-1] for _, path in standin.requests]


# ---- the access token


async def test_the_token_is_fetched_once_and_reused(standin: StandIn, client: WeComClient) -> None:
    standin.queue_text(KF, CUSTOMER, "hello")

    await client.sync_messages(open_kfid=KF, callback_token=None)
    await client.send_text(touser=CUSTOMER, open_kfid=KF, content="hi there")
    await client.sync_messages(open_kfid=KF, callback_token=None)

    assert standin.token_requests == 1
    assert paths(standin) == ["gettoken", "sync_msg", "send_msg", "sync_msg"]


async def test_the_token_is_fetched_again_five_minutes_before_it_expires(
    standin: StandIn, http: httpx.AsyncClient
) -> None:
    clock = [1000.0]
    client = WeComClient(CORP, SECRET, base_url=standin.base_url, http=http, clock=lambda: clock[0])
    first = await client.access_token()

    clock[0] += 7200 - 300 - 1
    assert await client.access_token() == first
    clock[0] += 2
    assert await client.access_token() != first
    assert standin.token_requests == 2


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    standin: StandIn, client: WeComClient
) -> None:
    standin.queue_text(KF, CUSTOMER, "hello")
    await client.sync_messages(open_kfid=KF, callback_token=None)
    standin.expire_tokens()

    page = await client.sync_messages(open_kfid=KF, callback_token=None)

    assert [m.text for m in page.messages] == ["hello"]
    assert standin.token_requests == 2
    assert paths(standin) == ["gettoken", "sync_msg", "sync_msg", "gettoken", "sync_msg"]


async def test_concurrent_calls_refresh_an_expired_token_once(
    standin: StandIn, client: WeComClient
) -> None:
    standin.queue_text(KF, CUSTOMER, "hello")
    await client.access_token()
    standin.expire_tokens()

    pages = await asyncio.gather(
        *(client.sync_messages(open_kfid=KF, callback_token=None) for _ in range(3))
    )

    assert [len(page.messages) for page in pages] == [1, 1, 1]
    assert standin.token_requests == 2


async def test_a_token_refused_again_after_the_refresh_is_an_error_not_a_loop(
    standin: StandIn, client: WeComClient
) -> None:
    standin.token_lifetime = 0  # every token is dead on arrival, whatever expires_in says

    with pytest.raises(WeComApiError) as caught:
        await client.sync_messages(open_kfid=KF, callback_token=None)

    assert caught.value.errcode == 42001
    assert standin.token_requests == 2
    assert paths(standin) == ["gettoken", "sync_msg", "gettoken", "sync_msg"]


@pytest.mark.parametrize(
    ("corp", "secret", "errcode", "said"),
    [(CORP, "wrong-secret", 40001, "secret"), ("wwother", SECRET, 40013, "corp id")],
)
async def test_wrong_credentials_are_a_wecom_api_error(
    standin: StandIn, http: httpx.AsyncClient, corp: str, secret: str, errcode: int, said: str
) -> None:
    client = WeComClient(corp, secret, base_url=standin.base_url, http=http)

    with pytest.raises(WeComApiError) as caught:
        await client.send_text(touser=CUSTOMER, open_kfid=KF, content="hi")

    assert caught.value.errcode == errcode
    assert said in str(caught.value) and f"{errcode}" in str(caught.value)
    assert paths(standin) == ["gettoken"]  # no retry, no send


async def test_an_unreachable_server_is_errcode_minus_one_without_the_secret(
    http: httpx.AsyncClient,
) -> None:
    with running_wecom_standin(CORP, SECRET) as gone:
        base_url = gone.base_url
    client = WeComClient(CORP, SECRET, base_url=base_url, http=http)

    with pytest.raises(WeComApiError) as caught:
        await client.access_token()

    assert caught.value.errcode == -1
    assert SECRET not in str(caught.value) and caught.value.__cause__ is None


# ---- sync_msg


async def test_sync_pages_follow_the_cursor_until_has_more_is_zero(
    standin: StandIn, client: WeComClient
) -> None:
    standin.page_size = 2
    sent_at = NOW - timedelta(minutes=5)
    texts = [f"message {n}" for n in range(5)]
    for text in texts:
        standin.queue_text(KF, CUSTOMER, text, at=sent_at)
    callback = standin.callback(KF)

    async with asyncio.timeout(10):  # a cursor not followed would loop on the first page
        pages = [
            page
            async for page in client.iter_all(
                open_kfid=KF, callback_token=callback.sync_token, cursor=""
            )
        ]

    assert [len(p.messages) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [m.text for p in pages for m in p.messages] == texts
    sent_cursors = [body["cursor"] for body in standin.sync_requests]
    assert sent_cursors == ["", pages[0].next_cursor, pages[1].next_cursor]
    assert {body["token"] for body in standin.sync_requests} == {callback.sync_token}
    first = pages[0].messages[0]
    assert (first.open_kfid, first.external_userid) == (KF, CUSTOMER)
    assert first.origin == ORIGIN_CUSTOMER and first.from_customer and first.msgtype == "text"
    assert first.send_time == sent_at

    # Later, the stored cursor yields only what arrived since.
    standin.queue_text(KF, CUSTOMER, "one more")
    later = await client.sync_messages(
        open_kfid=KF, callback_token=None, cursor=pages[-1].next_cursor
    )
    assert [m.text for m in later.messages] == ["one more"] and not later.has_more


async def test_sync_returns_media_and_events_typed(standin: StandIn, client: WeComClient) -> None:
    standin.queue_event(KF, CUSTOMER, "enter_session", scene="website")
    media_id = standin.queue_media(KF, CUSTOMER, b"\x89PNG...")

    page = await client.sync_messages(open_kfid=KF, callback_token=None)

    event, image = page.messages
    assert (event.msgtype, event.event_type, event.external_userid) == (
        "event",
        "enter_session",
        CUSTOMER,
    )
    assert not event.from_customer and event.raw["event"]["scene"] == "website"
    assert (image.msgtype, image.media_id, image.text) == ("image", media_id, None)


async def test_a_callback_token_the_callback_never_issued_is_refused(
    standin: StandIn, client: WeComClient
) -> None:
    with pytest.raises(WeComApiError) as caught:
        await client.sync_messages(open_kfid=KF, callback_token="ENCforged")
    assert caught.value.errcode == 95007


async def test_the_stand_ins_callback_decrypts_to_the_token_sync_accepts(
    standin: StandIn, client: WeComClient
) -> None:
    standin.queue_text(KF, CUSTOMER, "你好")
    callback = standin.callback(KF)
    now = NOW.timestamp()

    fields = standin.crypto.decrypt_post(
        callback.params["msg_signature"],
        callback.params["timestamp"],
        callback.params["nonce"],
        callback.body,
        now=now,
    )
    page = await client.sync_messages(open_kfid=fields["OpenKfId"], callback_token=fields["Token"])

    assert (fields["Event"], fields["ToUserName"]) == ("kf_msg_or_event", CORP)
    assert [m.text for m in page.messages] == ["你好"]
    verification = standin.url_verification("echo-123")
    assert standin.crypto.verify_url(
        verification["msg_signature"],
        verification["timestamp"],
        verification["nonce"],
        verification["echostr"],
        now=now,
    ) == ("echo-123")


# ---- send_msg and the reply window


async def test_a_sent_text_is_recorded_with_its_msgid(
    standin: StandIn, client: WeComClient
) -> None:
    standin.queue_text(KF, CUSTOMER, "where is my order?")
    msgid = "kefu-" + secrets.token_hex(8)

    answered = await client.send_text(
        touser=CUSTOMER, open_kfid=KF, content="It left today. 今天发货。", msgid=msgid
    )

    assert answered == msgid
    [sent] = standin.sent
    assert (sent.touser, sent.open_kfid, sent.msgtype) == (CUSTOMER, KF, "text")
    assert (sent.content, sent.msgid) == ("It left today. 今天发货。", msgid)


async def test_the_sixth_reply_in_a_window_is_refused_until_the_customer_writes(
    standin: StandIn, client: WeComClient
) -> None:
    last = NOW - timedelta(hours=1)
    standin.queue_text(KF, CUSTOMER, "help", at=last)
    for n in range(5):
        assert reply_window_refusal(last, NOW, n) is None
        await client.send_text(touser=CUSTOMER, open_kfid=KF, content=f"reply {n}")

    with pytest.raises(WeComApiError) as caught:
        await client.send_text(touser=CUSTOMER, open_kfid=KF, content="reply 5")

    assert caught.value.errcode == 95001 and "at most 5" in str(caught.value)
    assert reply_window_refusal(last, NOW, 5) is not None
    assert len(standin.sent) == 5
    standin.queue_text(KF, CUSTOMER, "still there?")
    await client.send_text(touser=CUSTOMER, open_kfid=KF, content="yes")
    assert [s.content for s in standin.sent][-1] == "yes"


async def test_a_reply_after_48_hours_is_refused(standin: StandIn, client: WeComClient) -> None:
    last = NOW - timedelta(hours=48, minutes=1)
    standin.customer_wrote(KF, CUSTOMER, last)

    with pytest.raises(WeComApiError) as caught:
        await client.send_text(touser=CUSTOMER, open_kfid=KF, content="sorry for the wait")

    assert caught.value.errcode == 95002 and "48 hours" in str(caught.value)
    assert "48 hours" in (reply_window_refusal(last, NOW, 0) or "")
    assert standin.sent == []


@pytest.mark.parametrize(
    ("content", "msgid"), [("   ", None), ("字" * 683, None), ("ok", "has space")]
)
async def test_a_send_wecom_would_refuse_is_refused_before_calling(
    standin: StandIn, client: WeComClient, content: str, msgid: str | None
) -> None:
    with pytest.raises(ValueError):
        await client.send_text(touser=CUSTOMER, open_kfid=KF, content=content, msgid=msgid)
    assert standin.requests == []


# ---- media


async def test_media_is_downloaded_with_its_type_and_name(
    standin: StandIn, client: WeComClient
) -> None:
    content = b"%PDF-1.7\n" + secrets.token_bytes(100_000)
    media_id = standin.queue_media(
        KF,
        CUSTOMER,
        content,
        msgtype="file",
        content_type="application/pdf",
        filename="发票 2026-06.pdf",
    )

    media = await client.download_media(media_id)

    assert media.content == content
    assert (media.content_type, media.filename) == ("application/pdf", "发票 2026-06.pdf")


async def test_media_over_the_limit_is_refused(standin: StandIn, client: WeComClient) -> None:
    media_id = standin.store_media(b"x" * 2048, "video/mp4", "clip.mp4")

    with pytest.raises(WeComMediaTooLarge) as caught:
        await client.download_media(media_id, max_bytes=2047)

    assert (caught.value.max_bytes, caught.value.size) == (2047, 2048)
    assert (await client.download_media(media_id, max_bytes=2048)).content == b"x" * 2048


async def test_an_unknown_media_id_is_the_json_error(standin: StandIn, client: WeComClient) -> None:
    with pytest.raises(WeComApiError) as caught:
        await client.download_media("Mnosuchmedia")
    assert caught.value.errcode == 40007


async def test_a_media_download_with_an_expired_token_is_retried(
    standin: StandIn, client: WeComClient
) -> None:
    media_id = standin.store_media(b"voice", "audio/amr", "voice.amr")
    await client.access_token()
    standin.expire_tokens()

    assert (await client.download_media(media_id)).content == b"voice"
    assert paths(standin) == ["gettoken", "get", "gettoken", "get"]
