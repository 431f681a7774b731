"""High-frequency problems: lexical grouping with readable labels, deterministic."""

from __future__ import annotations

import random

from triage import topics
from triage.topics import Doc, features, phrases, top_topics

LOGISTICS = [
    Doc("快递显示物流延迟，三天没更新了", 3, 1),
    Doc("物流延迟太久了，什么时候能到？", 2, 0),
    Doc("我的包裹物流延迟了一周，订单号 TB20240301123", 2, 1),
    Doc("物流延迟严重，要求赔偿", 1, 0),
]
REFUNDS = [
    Doc("退款申请了两周还没到账", 2, 2),
    Doc("退款一直没到账，请尽快处理", 2, 1),
    Doc("申请退款后迟迟没有到账", 1, 0),
]
ATTITUDE = [Doc("客服态度很差，挂我电话", 1, 0), Doc("客服态度恶劣，要投诉", 1, 1)]
NOISE = [Doc("发票抬头写错了", 1, 0), Doc("The parcel delivery is delayed again", 1, 0)]
ALL = LOGISTICS + REFUNDS + ATTITUDE + NOISE


def test_groups_similar_chinese_texts_and_labels_them() -> None:
    topics = top_topics(ALL, limit=3)
    # jieba reads 态度恶劣 as one word: 客服态度 would cut it, so the label is the whole phrase.
    assert [t.label for t in topics] == ["物流延迟", "没到账", "客服态度恶劣"]
    # "申请退款后迟迟没有到账" shares too little wording with the other two to join them.
    assert [(t.current, t.previous) for t in topics] == [(8, 2), (4, 3), (2, 1)]
    assert topics[0].change == 6 and topics[0].change_ratio == 3.0
    assert topics[0].examples[0] == "快递显示物流延迟，三天没更新了"


def test_deterministic_whatever_the_input_order() -> None:
    shuffled = ALL[:]
    random.Random(3).shuffle(shuffled)
    assert top_topics(shuffled) == top_topics(ALL)


def test_a_single_ticket_is_not_a_high_frequency_problem() -> None:
    assert top_topics([Doc("发票抬头写错了", 1, 5)]) == []
    assert top_topics([]) == []
    repeated = top_topics([Doc("发票抬头写错了", 2, 0)])
    assert [(t.label, t.current) for t in repeated] == [("发票抬头写错了", 2)]
    long = top_topics([Doc("The invoice address printed on my last order is wrong, please fix", 2)])
    assert long[0].label == "the invoice address…"


def test_identical_texts_after_masking_are_one_text() -> None:
    docs = [Doc("订单 ORD-2024-0001 物流延迟", 1, 0), Doc("订单 ORD-2024-0999 物流延迟", 1, 0)]
    (topic,) = top_topics(docs)
    assert topic.current == 2 and topic.label == "订单 物流延迟"  # no order number


def test_new_topics_have_no_ratio() -> None:
    (topic,) = top_topics([Doc("客服态度很差", 2, 0), Doc("客服态度不好", 1, 0)])
    assert topic.previous == 0 and topic.change_ratio is None


def test_english_texts_get_word_labels() -> None:
    docs = [
        Doc("I can't log in to the app", 2, 0),
        Doc("cannot log in since the update", 1, 0),
        Doc("log in fails with error 500", 1, 1),
    ]
    (topic,) = top_topics(docs)
    assert topic.label in {"log in", "log"}
    assert topic.current == 4


def test_phrases_avoid_particles_and_function_characters() -> None:
    found = phrases("我的包裹物流延迟了一周")
    assert "物流延迟" in found and "物流" in found
    assert not any(p.endswith(("的", "了")) or "了" in p for p in found)
    assert not {"工单号", "客服", "您好", "请问", "号在哪里"} & phrases("您好请问工单号在哪里客服")
    assert "sign up" in phrases("how do i sign up")
    assert "link in" not in phrases("the link in the email")


def test_features_ignore_placeholders_and_stop_words() -> None:
    assert features("<id> the order") == ["order"]


def test_many_distinct_texts_still_group_beyond_the_clustering_sample() -> None:
    rng = random.Random(0)
    filler = [Doc(f"其他问题{i:04d}号说明{rng.randrange(10**6)}", 1, 0) for i in range(1600)]
    late = [Doc(f"物流延迟第{i}天了 {'甲乙丙丁'[i % 4]}", 1, 0) for i in range(3)]
    topics = top_topics(filler + LOGISTICS + late, limit=5)
    assert any(t.label == "物流延迟" for t in topics)


def test_texts_beyond_the_analysed_ones_join_the_topic_they_name() -> None:
    frequent = [Doc("物流延迟，三天没更新", 5, 1), Doc("物流延迟了一周", 4, 0)]
    rare = [Doc(f"第{'一二三四五六'[i]}次反映物流延迟", 1, 0) for i in range(6)]
    (topic,) = top_topics(frequent + rare + [Doc("发票开错", 1, 0)], max_docs=2)
    assert topic.label == "物流延迟"
    assert (topic.current, topic.previous) == (9 + 6, 1)
    assert topic.examples == ("物流延迟，三天没更新", "物流延迟了一周")


def test_deterministic_across_processes() -> None:
    """Set iteration order changes with PYTHONHASHSEED; the topics must not."""
    import os
    import subprocess
    import sys

    script = (
        "from triage.topics import Doc, top_topics\n"
        "from tests.unit.test_triage_topics import ALL\n"
        "print([(t.label, t.current, t.previous, t.examples) for t in top_topics(ALL, limit=5)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and "物流延迟" in outputs.pop()


REFUND_TICKETS = [
    Doc("退款未到账，已经等了一周", 3, 1),
    Doc("申请退款后退款未到账", 2, 0),
    Doc("您好，退款未到账怎么办", 2, 1),
    Doc("我的工单号是多少，退款未到账", 1, 0),
    Doc("请问工单号在哪里看", 2, 0),
    Doc("工单号查不到", 1, 0),
    Doc("登录失败，提示密码错误", 2, 0),
    Doc("登录失败怎么办", 2, 1),
    Doc("申请退货退款被拒绝", 2, 0),
    Doc("申请退货退款一直没人审核", 1, 0),
]
ENGLISH_TICKETS = [
    Doc("Login failure after the update", 2, 0),
    Doc("login failure on the mobile app", 2, 1),
    Doc("Getting a login failure every morning", 1, 0),
    Doc("My refund has not arrived yet", 2, 0),
    Doc("refund has not arrived after two weeks", 1, 1),
    Doc("The refund still has not arrived", 1, 0),
]


def _cuts(text: str) -> set[int]:
    """Offsets of the word boundaries of each CJK run of ``text`` (jieba's words)."""
    import re

    from triage.text import normalize, segment

    cuts: set[int] = set()
    for run in re.finditer(r"[\u4e00-\u9fff]+", normalize(text)):
        at = run.start()
        cuts.add(at)
        for word in segment(run.group()):
            at += len(word)
            cuts.add(at)
    return cuts


def test_chinese_labels_are_whole_words_never_fragments() -> None:
    from triage.text import normalize

    topics = top_topics(REFUND_TICKETS, limit=5)
    labels = [t.label for t in topics]

    assert labels[:2] == ["退款未到账", "登录失败"]
    assert "申请退" not in labels and "工单号" not in labels
    for topic in topics:
        # in every example that contains it, the label starts and ends on a word boundary
        for example in topic.examples:
            text = normalize(example)
            cuts = _cuts(example)
            start = text.find(topic.label)
            if start >= 0:
                assert {start, start + len(topic.label)} <= cuts, (topic.label, example)


def test_english_labels_are_whole_words() -> None:
    topics = top_topics(ENGLISH_TICKETS, limit=5)
    assert topics[0].label == "login failure"
    for topic in topics:
        for example in topic.examples:
            assert f" {topic.label} " in f" {example.lower()} ", (topic.label, example)


def test_unit_centroids_are_the_normalized_cluster_means() -> None:
    import numpy as np
    from scipy import sparse

    from triage.topics import _unit_centroids

    rng = np.random.default_rng(3)
    dense = rng.random((9, 40)) * (rng.random((9, 40)) > 0.7)
    dense[4] = 0  # a row with no features
    cluster_of = [0, 1, 0, 2, 3, 1, 0, 2, 1]
    got = _unit_centroids(sparse.csr_matrix(dense), cluster_of, 4).toarray()
    for cluster in range(4):
        mean = dense[np.array(cluster_of) == cluster].mean(axis=0)
        norm = np.linalg.norm(mean)
        assert np.allclose(got[cluster], mean / norm if norm else mean)


def test_remembered_topics_equal_a_fresh_computation_and_follow_every_change() -> None:
    from triage import topics as module

    module._memo.clear()
    first = module.remembered_top_topics(ALL, limit=3)
    assert first == top_topics(ALL, limit=3)
    assert module.remembered_top_topics(list(reversed(ALL)), limit=3) == first
    assert len(module._memo) == 1, "the same texts in another order are the same report"
    # One more ticket, one edited text, another limit: each is a new result, never a stale one.
    more = [*ALL, Doc("退款一直没到账，请尽快处理", 1, 0)]
    assert module.remembered_top_topics(more, limit=3) == top_topics(more, limit=3) != first
    edited = [Doc(d.text + "！", d.current, d.previous) if d in ATTITUDE else d for d in ALL]
    assert module.remembered_top_topics(edited, limit=3) == top_topics(edited, limit=3)
    assert module.remembered_top_topics(ALL, limit=1) == top_topics(ALL, limit=1)
    assert len(module._memo) == 4


def test_texts_analysed_for_an_earlier_report_give_the_same_topics() -> None:
    """A report worked out again after a new inquiry reuses the analysis of the texts it
    already saw, and comes out as it would from scratch."""
    grown = [*ALL, *REFUND_TICKETS, *ENGLISH_TICKETS]
    topics._normalized.cache_clear()
    topics._analysed.cache_clear()
    before = top_topics(ALL, limit=5)
    after = top_topics(grown, limit=5)
    assert topics._analysed.cache_info().hits >= len(ALL) - 2  # identical texts merge
    topics._normalized.cache_clear()
    topics._analysed.cache_clear()
    assert top_topics(ALL, limit=5) == before
    assert top_topics(grown, limit=5) == after
