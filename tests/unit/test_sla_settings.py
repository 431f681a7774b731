"""Parsing the SLA admin forms into the stored shapes (pure)."""

from __future__ import annotations

import pytest

from models.services.common.errors import ValidationFailed
from models.services.sla import settings
from models.services.sla.deadlines import DEFAULT_POLICY


def default_form(**changes: str) -> dict[str, str]:
    form: dict[str, str] = {}
    p = DEFAULT_POLICY
    for key, target in p.first_response.items():
        form[f"fr_{key}"] = str(target.minutes)
        form[f"fr_{key}_b"] = "on" if target.business else ""
    form["ack"], form["ack_b"] = "60", "on"
    form["rem"] = "30"
    for key, target in p.resolution.items():
        form[f"res_{key}"] = str(target.minutes)
        form[f"res_{key}_b"] = "1" if target.business else ""
    form["type_complaint"] = str(7 * 24 * 60)
    form["level_vip"], form["level_strategic"] = "50", "50"
    form["ladder"] = "60,120,240"
    form.update(changes)
    return form


def test_the_default_form_is_the_default_policy() -> None:
    config, ladder = settings.parse_policy(default_form())
    assert config == DEFAULT_POLICY.to_config()
    assert ladder == [60, 120, 240]


def test_every_form_field_is_known() -> None:
    assert set(default_form()) <= set(settings.POLICY_FIELDS)


def test_optional_targets_may_be_empty() -> None:
    config, _ = settings.parse_policy(default_form(rem="", type_complaint="", ladder=""))
    assert config["urgent_reminder"] is None
    assert config["resolution_by_type"] == {}


def test_all_bad_fields_are_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        settings.parse_policy(
            default_form(fr_urgent="-5", res_high="", level_vip="0", ack="1.5", ladder="60; x")
        )
    assert set(caught.value.fields) == {"fr_urgent", "res_high", "level_vip", "ack", "ladder"}


def test_the_chat_target_is_whole_seconds_and_defaults_to_30() -> None:
    config, _ = settings.parse_policy(default_form(chat="45"))
    assert config["chat_first_response_seconds"] == 45
    # A form from before the field (or an emptied field) keeps the seed's 30 seconds.
    assert settings.parse_policy(default_form())[0]["chat_first_response_seconds"] == 30
    assert settings.parse_policy(default_form(chat=" "))[0]["chat_first_response_seconds"] == 30
    for bad in ("0", "-5", "1.5", "3601", "半分钟"):
        with pytest.raises(ValidationFailed) as caught:
            settings.parse_policy(default_form(chat=bad))
        assert set(caught.value.fields) == {"chat"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("60, 120, 240", [60, 120, 240]),
        ("30，30", [30, 30]),
        ("  ", []),
    ],
)
def test_parse_ladder(raw: str, expected: list[int]) -> None:
    assert settings.parse_ladder(raw) == expected


@pytest.mark.parametrize("raw", ["0", "10081", "1,2,3,4,5,6,7,8,9,10,11", "1h"])
def test_parse_ladder_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        settings.parse_ladder(raw)


def test_parse_intervals_and_dates() -> None:
    assert settings.parse_intervals("9:00-12:00，13:30–18:00") == [
        ["09:00", "12:00"],
        ["13:30", "18:00"],
    ]
    assert settings.parse_dates("2026-10-03\n2026-10-01..2026-10-03, 2026-01-01") == [
        "2026-01-01",
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
    ]
    for bad in ("2026-10-05..2026-10-01", "2026-02-30", "yesterday"):
        with pytest.raises(ValueError):
            settings.parse_dates(bad)


def test_parse_calendar_validates_through_the_pure_calendar() -> None:
    stored = settings.parse_calendar(
        {
            "timezone": "Europe/Berlin",
            "intervals": "08:00-16:00",
            "wd0": "1",
            "wd5": "on",
            "holidays": "2026-12-25",
            "workdays": "",
        }
    )
    assert stored == {
        "timezone": "Europe/Berlin",
        "work_intervals": [["08:00", "16:00"]],
        "weekdays": [0, 5],
        "holidays": ["2026-12-25"],
        "workdays": [],
    }
    with pytest.raises(ValidationFailed) as overlap:
        settings.parse_calendar(
            {"timezone": "Asia/Shanghai", "wd0": "1", "intervals": "09:00-13:00, 12:00-18:00"}
        )
    assert set(overlap.value.fields) == {"intervals"}
