"""Reading inbound mail: encodings, HTML, quoted history, robots (pure functions)."""

from __future__ import annotations

import pytest

from models.services.mail.parse import (
    decode_header_value,
    guess_locale,
    html_to_text,
    message_ids,
    parse,
    trim_reply,
)


def test_encoded_words_in_gbk_utf8_and_mixed_with_plain_text() -> None:
    assert decode_header_value("=?gb2312?B?1tDOxA==?=") == "中文"
    assert decode_header_value("Re: =?utf-8?Q?=E9=80=80=E6=AC=BE?= [#TASK202611220001]") == (
        "Re: 退款 [#TASK202611220001]"
    )
    assert decode_header_value("=?x-unknown?B?5Lit5paH?=") == "中文"  # lying charset


def test_raw_utf8_header_without_encoded_words() -> None:
    raw = "Subject: 直接写的中文\r\nFrom: a@b.example\r\n\r\nbody".encode()
    assert parse(raw).subject == "直接写的中文"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("好的\n\nOn Mon, 1 Jan 2026 at 10:00, Kefu <s@k.example> wrote:\n> old", "好的"),
        ("好的\n\nOn Mon, 1 Jan 2026 at 10:00, Kefu <s@k.example>\nwrote:\n> old", "好的"),
        ("收到\n在 2026年1月1日 10:00，客服 写道：\n> 旧内容", "收到"),
        ("ok\n-----Original Message-----\nFrom: x", "ok"),
        ("好\n\n-----原始邮件-----\n发件人: 客服", "好"),
        ("thanks\n-- \nLi Lei\nACME", "thanks"),
        ("> only a quote", "> only a quote"),  # nothing new: keep everything
        ("line one\n> quoted\nline two", "line one\nline two"),
    ],
)
def test_quoted_history_and_signatures_are_trimmed(text: str, expected: str) -> None:
    assert trim_reply(text) == expected


def test_html_to_text_drops_active_content_and_keeps_lines() -> None:
    html = (
        "<style>p{}</style><script>alert(1)</script><p>第一行<br>第二行</p>"
        "<ul><li>甲</li><li>乙</li></ul><img src=x onerror=alert(2)>"
        "<blockquote>旧邮件</blockquote>&lt;b&gt;"
    )
    text = html_to_text(html)
    assert "alert" not in text and "p{}" not in text
    assert text.splitlines()[:2] == ["第一行", "第二行"]
    assert "- 甲" in text and "> 旧邮件" in text and text.endswith("<b>")


def test_message_ids_are_read_without_brackets() -> None:
    assert message_ids("<a@x> <b@y>") == ["a@x", "b@y"]
    assert message_ids("bare@id") == ["bare@id"]
    assert message_ids(None) == []


def _raw(headers: str) -> bytes:
    return f"From: Li <li@c.example>\r\nSubject: hi\r\n{headers}\r\nhello\r\n".encode()


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: junk\r\n",
        "List-Unsubscribe: <mailto:u@l.example>\r\n",
        "X-Autorespond: yes\r\n",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
    ],
)
def test_robots_are_recognised(headers: str) -> None:
    assert parse(_raw(headers)).auto_reason


def test_a_person_is_not_a_robot() -> None:
    parsed = parse(_raw("Auto-Submitted: no\r\n"))
    assert parsed.auto_reason is None and parsed.problem is None
    assert parse(_raw(""), own_addresses=("li@c.example",)).auto_reason == "our own address"


def test_missing_sender_is_a_problem() -> None:
    assert parse(b"Subject: x\r\n\r\nbody").problem == "no sender address"


def test_locale_follows_the_customer() -> None:
    assert guess_locale("Where is my parcel?") == "en"
    assert guess_locale("Order 12", "快递在哪") == "zh_CN"
