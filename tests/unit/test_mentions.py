"""The @mention rule: a username or an exact display name of an active staff account."""

from __future__ import annotations

from models.services.tickets import mentions
from models.user import User


def _known() -> list[mentions.Handle]:
    return mentions.handles(
        [
            User(id=1, username="agent", display_name="王小明 Wang (agent)"),
            User(id=2, username="bob", display_name="张三"),
            User(id=3, username="bobby", display_name="张三丰"),
            User(id=4, username="agent.tech", display_name="赵磊 Zhao"),
        ]
    )


def test_usernames_and_display_names_are_mentions() -> None:
    text = "请@王小明 Wang (agent)看一下，@BOB 也看看；@agent.tech 负责。"
    assert mentions.mentioned([text], _known()) == [1, 2, 4]
    parts = mentions.split(text, _known())
    assert [p.text for p in parts if p.user_id] == ["@王小明 Wang (agent)", "@BOB", "@agent.tech"]
    assert "".join(p.text for p in parts) == text


def test_the_longest_name_wins_and_usernames_end_at_a_boundary() -> None:
    assert mentions.mentioned(["@张三丰来了"], _known()) == [3]
    assert mentions.mentioned(["@张三来了"], _known()) == [2]
    assert mentions.mentioned(["@bobby"], _known()) == [3]
    assert mentions.mentioned(["@bobx hello"], _known()) == []


def test_email_addresses_and_unknown_names_are_not_mentions() -> None:
    assert mentions.mentioned(["write to bob@example.com", "@nobody", "@", ""], _known()) == []
    assert mentions.mentioned([None, "agent without at"], _known()) == []


def test_each_person_is_mentioned_once_in_order() -> None:
    assert mentions.mentioned(["@bob @agent", "@bob again"], _known()) == [2, 1]
