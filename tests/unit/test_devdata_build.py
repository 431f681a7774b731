"""The development-set builder's label rules and sampling (no mirrors, no database)."""

import hashlib
import json
import random

from bench.devdata.build import AUDIT_ZH, audit_key, audited_rows, balance, tweet_type, zh_type


def test_tweet_rules_follow_guideline_priority() -> None:
    # complaint needs the source's complaint annotation and a service-blaming word
    assert tweet_type("Worst customer service ever, I want compensation", True) == "complaint"
    assert tweet_type("Worst customer service ever, I want compensation", False) != "complaint"
    # asking to return is after-sales; asking whether one may return is consultation
    assert tweet_type("My kettle arrived broken, I need a replacement", True) == "after_sales"
    assert tweet_type("Can I return online purchases in store?", False) == "consultation"
    assert tweet_type("The app keeps showing an error when I pay", True) == "problem"
    assert tweet_type("Lovely weather today", False) is None


def test_zh_rules_follow_guideline_priority() -> None:
    assert zh_type("再不处理我就打12315投诉,还要退款") == "complaint"
    assert zh_type("衣服不合适,我要退货") == "after_sales"
    assert zh_type("页面一直打不开") == "problem"
    assert zh_type("请问周末发货吗") == "consultation"
    assert zh_type("好的") is None


def _rows() -> list[dict[str, str]]:
    rows = [{"text": f"question {i}?", "category": "consultation", "source": "a"} for i in range(9)]
    rows += [{"text": f"broken {i}", "category": "problem", "source": "a"} for i in range(3)]
    rows += [{"text": "Broken 0!", "category": "problem", "source": "b"}]  # duplicate text
    rows += [
        {"text": f"review {i}", "category": "complaint", "source": "waimai_10k"} for i in range(4)
    ]
    rows += [{"text": "real complaint", "category": "complaint", "source": "jddc"}]
    return rows


def test_balance_dedups_caps_and_is_deterministic() -> None:
    first = balance(_rows(), 4, random.Random(17))
    again = balance(_rows(), 4, random.Random(17))
    assert first == again
    counts = {c: sum(r["category"] == c for r in first) for c in ("consultation", "problem")}
    assert counts == {"consultation": 4, "problem": 3}  # capped; the duplicate dropped
    complaints = [r for r in first if r["category"] == "complaint"]
    assert len(complaints) == 4
    assert any(r["source"] == "jddc" for r in complaints)  # inquiries kept before reviews


def test_audited_rows_join_hand_labels_by_hash(tmp_path) -> None:
    rows = [
        {"text": "什么时候能送到", "category": "consultation", "source": "jddc-dialogue:kw"},
        {"text": "好的", "category": "consultation", "source": "jddc-dialogue:kw"},
        {"text": "没收到货", "category": "problem", "source": "jddc-dialogue:kw"},
    ]
    audit = tmp_path / "audit.json"
    labels = [
        [audit_key("没收到货"), "C", "after_sales"],
        [audit_key("好的"), "A", None],  # no request: left out
        [audit_key("什么时候能送到"), "A", "after_sales"],
        [audit_key("not among the rows"), "B", "problem"],
    ]
    audit.write_text(json.dumps({"labels": labels}), encoding="utf-8")
    assert audited_rows(rows, audit) == [
        {"text": "没收到货", "category": "after_sales", "source": "audit-C:jddc-dialogue"},
        {"text": "什么时候能送到", "category": "after_sales", "source": "audit-A:jddc-dialogue"},
    ]
    assert audit_key("没收到货") == hashlib.sha1("没收到货".encode()).hexdigest()[:16]


def test_the_audit_keeps_no_source_text() -> None:
    doc = json.loads(AUDIT_ZH.read_text(encoding="utf-8"))
    assert {sample for _, sample, _ in doc["labels"]} == set(doc["samples"])
    for key, _, category in doc["labels"]:
        assert len(key) == 16 and int(key, 16) >= 0
        assert category in (None, "consultation", "problem", "complaint", "after_sales")


def test_dogo_rows_take_each_chats_opening_request(tmp_path) -> None:
    """MultiDoGo: per conversation the first turn of three words or more with one mapped
    intent; greetings, two-intent turns and unmapped intents are skipped."""
    import subprocess

    from bench.devdata.build import DOGO_DOMAINS, dogo_rows

    repo = tmp_path / "awslabs+multi-domain-goal-oriented-dialogues-dataset" / "repo"
    head = "conversationId\tturnNumber\tutteranceId\tutterance\tslot-labels\tintent\n"
    rows = {
        "finance": [
            ("c1", "hi there", "openinggreeting"),
            ("c1", "check balance and close account", "checkbalance<div>closeaccount"),
            ("c1", "please close my account", "closeaccount"),
            ("c1", "and my balance please", "checkbalance"),  # not the opening request
            ("c2", "transfer 30 dollars now", "transfermoney"),  # left out by the map
            ("c2", "my card was stolen", "reportlostcard"),
            ("c3", "lost card", "reportlostcard"),  # two words: too short
        ],
    }
    for domain in DOGO_DOMAINS:
        folder = repo / "data/paper_splits/splits_annotated_at_turn_level" / domain
        folder.mkdir(parents=True)
        for split in ("train", "dev", "test"):
            lines = [head]
            if split == "dev":
                lines += [
                    f"{c}\t{i}\t<CONV>{c}<TURN>{i}\t{t}\tO\t{intent}\n"
                    for i, (c, t, intent) in enumerate(rows.get(domain, []))
                ]
            (folder / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], check=True)

    got = list(dogo_rows(tmp_path, random.Random(0)))
    assert sorted((r["text"], r["category"], r["source"]) for r in got) == [
        ("my card was stolen", "problem", "dogo:finance/dev/reportlostcard"),
        ("please close my account", "after_sales", "dogo:finance/dev/closeaccount"),
    ]
