"""How a typed name is compared with a customer's recorded one (portal and API identity)."""

from __future__ import annotations

import pytest

from models.services.customers.registry import name_key, same_name


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [
        ("王晓明", "王晓明"),
        (" 王 晓明\t", "王晓明"),
        ("Wang Xiaoming", "wang  xiaoming"),
        ("ＷＡＮＧ　ｘｉａｏｍｉｎｇ", "Wang Xiaoming"),  # full-width letters and space
        ("", "王晓明"),  # no name typed: the contact alone identifies the customer
        ("   ", "王晓明"),
        (None, "王晓明"),
    ],
)
def test_the_same_name(typed: str | None, recorded: str) -> None:
    assert same_name(typed, recorded)


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [
        ("李冒名", "王晓明"),
        ("王晓", "王晓明"),
        ("王曉明", "王晓明"),  # traditional vs simplified is not folded
        ("Wang Xiaoming Jr", "Wang Xiaoming"),
    ],
)
def test_another_name(typed: str, recorded: str) -> None:
    assert not same_name(typed, recorded)


def test_the_key_is_stable() -> None:
    assert name_key("Ｗａｎｇ Ｘｉａｏｍｉｎｇ") == name_key("wangxiaoming") == "wangxiaoming"
