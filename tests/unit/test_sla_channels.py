"""Webhook payloads and signatures in each vendor's documented format (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse

import pytest

from models.notification_preference import DeliveryChannel
from models.services.notify import channels
from models.settings import DeliverySettings

NOW = 1_767_225_600.123  # a fixed instant, seconds
MESSAGE = channels.Message(
    title="客服 · 任务逾期",
    text="任务 TASK0001 已超过解决时限。",
    url="http://kefu.example/board?q=TASK0001",
    kind="overdue",
    ticket_number="TASK0001",
    params={"number": "TASK0001"},
    created_at="2026-01-01T00:00:00+00:00",
)


def test_wecom_markdown() -> None:
    req = channels.build_request(
        DeliveryChannel.WECOM,
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        MESSAGE,
        now=NOW,
    )
    assert req.url.endswith("?key=k")
    assert req.body["msgtype"] == "markdown"
    content = req.body["markdown"]["content"]
    assert content.startswith("**客服 · 任务逾期**")
    assert "[TASK0001](http://kefu.example/board?q=TASK0001)" in content


def test_dingtalk_signature_is_the_documented_one() -> None:
    secret = "SEC000000000000000000000"
    req = channels.build_request(
        DeliveryChannel.DINGTALK,
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        MESSAGE,
        secret,
        now=NOW,
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.url).query))
    timestamp = str(round(NOW * 1000))
    assert query["timestamp"] == timestamp and query["access_token"] == "t"
    # DingTalk's sample code, verbatim in substance.
    string_to_sign = f"{timestamp}\n{secret}".encode()
    hmac_code = hmac.new(secret.encode(), string_to_sign, digestmod=hashlib.sha256).digest()
    expected = urllib.parse.quote_plus(base64.b64encode(hmac_code))
    assert f"&sign={expected}" in req.url
    assert req.body == {
        "msgtype": "markdown",
        "markdown": {"title": MESSAGE.title, "text": req.body["markdown"]["text"]},
    }


def test_dingtalk_without_secret_is_unsigned() -> None:
    req = channels.build_request(
        DeliveryChannel.DINGTALK, "https://x/robot/send?access_token=t", MESSAGE, None, now=NOW
    )
    assert "sign=" not in req.url and "timestamp=" not in req.url


def test_feishu_signature_is_the_documented_one() -> None:
    secret = "demo"
    req = channels.build_request(
        DeliveryChannel.FEISHU,
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        MESSAGE,
        secret,
        now=NOW,
    )
    timestamp = str(int(NOW))
    string_to_sign = f"{timestamp}\n{secret}"
    hmac_code = hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256).digest()
    assert req.body["timestamp"] == timestamp
    assert req.body["sign"] == base64.b64encode(hmac_code).decode("utf-8")
    assert req.body["msg_type"] == "text"
    assert req.body["content"]["text"].startswith(MESSAGE.title)


def test_slack_text_with_link() -> None:
    req = channels.build_request(
        DeliveryChannel.SLACK, "https://hooks.slack.com/services/x", MESSAGE, now=NOW
    )
    assert req.body == {
        "text": "*客服 · 任务逾期*\n任务 TASK0001 已超过解决时限。 "
        "<http://kefu.example/board?q=TASK0001|TASK0001>"
    }


def test_generic_webhook_signs_the_exact_body() -> None:
    req = channels.build_request(
        DeliveryChannel.WEBHOOK, "https://example.com/hook", MESSAGE, "s", now=NOW
    )
    body = channels.encode_body(req.body)
    assert json.loads(body)["kind"] == "overdue"
    assert (
        req.headers["X-Kefu-Signature"]
        == "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    )


def test_email_is_not_a_webhook() -> None:
    with pytest.raises(ValueError):
        channels.build_request(DeliveryChannel.EMAIL, "a@b.c", MESSAGE)


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = DeliverySettings(backoff_seconds=5, backoff_max_seconds=60)
    assert [channels.backoff(n, settings) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


@pytest.mark.parametrize(
    ("channel", "payload", "error"),
    [
        (DeliveryChannel.WECOM, {"errcode": 0, "errmsg": "ok"}, False),
        (DeliveryChannel.WECOM, {"errcode": 93000, "errmsg": "invalid webhook url"}, True),
        (DeliveryChannel.DINGTALK, {"errcode": 310000, "errmsg": "sign not match"}, True),
        (DeliveryChannel.FEISHU, {"code": 0, "msg": "success"}, False),
        (DeliveryChannel.FEISHU, {"code": 19021, "msg": "sign match fail"}, True),
        (DeliveryChannel.FEISHU, {"StatusCode": 0}, False),
        (DeliveryChannel.SLACK, "ok", False),
    ],
)
def test_vendor_errors_inside_200(channel: DeliveryChannel, payload: object, error: bool) -> None:
    assert (channels._vendor_error(channel, payload) is not None) is error


def test_mask_url_never_shows_the_key() -> None:
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    masked = channels.mask_url(f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}")
    assert masked == "https://qyapi.weixin.qq.com/…5aaa"
    assert channels.mask_url("https://hooks.slack.com/services/T0/B0/short") == (
        "https://hooks.slack.com/…"
    )
