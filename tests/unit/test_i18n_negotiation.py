"""Language negotiation: cookie first, then Accept-Language by q-value, then the default."""

from __future__ import annotations

import pytest

from web.i18n import negotiate, normalize


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh_TW", "zh_CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN-gb", "en"),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize(tag: str | None, expected: str | None) -> None:
    assert normalize(tag) == expected


def test_cookie_beats_accept_language() -> None:
    assert negotiate("en", "zh-CN,zh;q=0.9", "zh_CN") == "en"


def test_highest_q_value_wins() -> None:
    assert negotiate(None, "fr;q=1.0, en;q=0.4, zh;q=0.8", "zh_CN") == "zh_CN"
    assert negotiate(None, "zh;q=0.3, en-US;q=0.7", "zh_CN") == "en"


def test_unsupported_languages_fall_back_to_the_default() -> None:
    assert negotiate(None, "fr-FR, de;q=0.9", "en") == "en"
    assert negotiate("xx", None, "zh_CN") == "zh_CN"


def test_malformed_q_values_are_ignored() -> None:
    assert negotiate(None, "en;q=abc, zh;q=0.5", "en") == "zh_CN"


def test_enum_labels_do_not_collide_across_enums() -> None:
    from models.enums import ExtensionStatus, TicketStatus
    from web.i18n import set_locale
    from web.labels import label

    set_locale("en")
    assert label(TicketStatus.PENDING) == "Pending"
    assert label(ExtensionStatus.PENDING) == "Pending approval"
    set_locale("zh_CN")
    assert label(TicketStatus.PENDING) == "待处理"
    assert label(ExtensionStatus.PENDING) == "待审批"
