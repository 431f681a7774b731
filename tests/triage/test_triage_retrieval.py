"""Hybrid retrieval: BM25 in both languages, dense ranking, RRF fusion, scale."""

import time

import numpy as np
import pytest

from triage.retrieval import (
    DENSE_WEIGHT_EN,
    DENSE_WEIGHT_ZH,
    RRF_K,
    BM25Index,
    HybridIndex,
    dense_weight,
    fuse_rrf,
    fuse_scores,
    lexical_terms,
)


@pytest.fixture(scope="module")
def lexical_index(kb_articles: list[tuple[str, str, str]]) -> HybridIndex:
    return HybridIndex.build(kb_articles)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("我想退货，怎么操作", "zh-return"),
        ("密码忘了登录不上", "zh-password"),
        ("能开专票吗", "zh-invoice"),
        ("how do I return these shoes and get refunded?", "en-return"),
        ("I forgot my password", "en-password"),
        ("how long does shipping take", "en-shipping"),
    ],
)
def test_query_finds_article_in_its_language(
    lexical_index: HybridIndex, query: str, expected: str
) -> None:
    hits = lexical_index.search(query, k=3)
    assert hits[0].id == expected
    assert all(h.score > 0 for h in hits)


def test_unrelated_query_finds_nothing_lexically(lexical_index: HybridIndex) -> None:
    assert lexical_index.search("zebra xylophone", k=5) == []


def test_rrf_hand_example() -> None:
    # a: ranks 1 and 2; c: ranks 3 and 1; b: rank 2 only; d: rank 3 only.
    fused = fuse_rrf([["a", "b", "c"], ["c", "a", "d"]])
    assert [h.id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1].score == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2].score == pytest.approx(1 / 62)
    assert RRF_K == 60


def test_weighted_rrf_scales_each_ranking() -> None:
    fused = fuse_rrf([["a", "b"], ["b", "a"]], weights=[1.0, 0.5])
    assert [h.id for h in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(1 / 61 + 0.5 / 62)
    with pytest.raises(ValueError):
        fuse_rrf([["a"]], weights=[1.0, 1.0])


def test_stopwords_alone_match_nothing(lexical_index: HybridIndex) -> None:
    assert lexical_index.search("how do I", k=3) == []


def test_bm25_prefers_rarer_terms_and_shorter_documents() -> None:
    index = BM25Index([["refund", "policy"], ["refund"] + ["filler"] * 20, ["policy"] * 2])
    scores = index.scores(["refund"])
    assert scores[0] > scores[1] > 0 == scores[2]


def test_fuse_scores_hand_example() -> None:
    lexical = np.array([2.0, 0.0, 1.0], dtype=np.float32)
    dense = np.array([0.2, 0.9, 0.5], dtype=np.float32)
    # normalized: bm25 [1, 0, 0.5], cosine [0, 1, 3/7]
    fused, candidates = fuse_scores(lexical, dense, 0.6)
    assert fused == pytest.approx([0.4, 0.6, 0.2 + 0.6 * 3 / 7])
    assert candidates.tolist() == [0, 1, 2]
    assert np.argsort(-fuse_scores(lexical, dense, 0.0)[0]).tolist() == [0, 2, 1]
    assert np.argsort(-fuse_scores(lexical, dense, 1.0)[0]).tolist() == [1, 2, 0]
    # A floor drops weak dense neighbours unless they match lexically.
    fused, candidates = fuse_scores(np.array([2.0, 0.0, 0.0]), dense, 0.5, dense_floor=0.6)
    assert candidates.tolist() == [0, 1]
    assert fused == pytest.approx([0.5, 0.5, 0.0])


def test_dense_weight_follows_the_query_language() -> None:
    assert dense_weight("how do I get a refund") == pytest.approx(DENSE_WEIGHT_EN)
    assert dense_weight("退款多久到账") == pytest.approx(DENSE_WEIGHT_ZH)
    mixed = "退款多久到账 how long does a refund take"
    assert DENSE_WEIGHT_ZH < dense_weight(mixed) < DENSE_WEIGHT_EN
    # A product name in Latin script is a word of the Chinese query, not English.
    assert dense_weight("iPhone 退款多久到账") == pytest.approx(DENSE_WEIGHT_ZH)


def test_dense_ranking_fuses_with_lexical() -> None:
    # Article 2 matches nothing lexically but is closest in embedding space: fusion still
    # returns it; "bm25" and "dense" rank by one side alone.
    articles = [
        (1, "refund policy", "refund"),
        (2, "money back", "get it back"),
        (3, "refund refund", "refund now"),
    ]
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    index = HybridIndex.build(articles, embeddings)
    query_vec = np.array([0.1, 1.0], dtype=np.float32)
    assert index.lexical_ranking("refund", 10) == [3, 1]
    assert index.dense_ranking(query_vec, 10) == [2, 3, 1]
    assert [h.id for h in index.search("refund", query_vec, k=3, method="bm25")] == [3, 1]
    assert [h.id for h in index.search("refund", query_vec, k=3, method="dense")] == [2, 3, 1]
    assert {h.id for h in index.search("refund", query_vec, k=3)} == {1, 2, 3}
    assert index.search("refund", query_vec, k=1)[0].id == 3  # first in both halves' sum
    assert [h.id for h in index.search("refund", None, k=3)] == [3, 1]


def test_title_field_outweighs_body() -> None:
    articles = [(1, "refund", "delivery times"), (2, "delivery times", "refund")]
    assert HybridIndex.build(articles).lexical_ranking("refund", 10) == [1, 2]
    assert HybridIndex.build(articles, title_weight=0.0).lexical_ranking("refund", 10) == [2]


def test_chinese_words_join_the_ngrams() -> None:
    assert lexical_terms("快递延误", "ngrams") == ["快", "递", "延", "误", "快递", "递延", "延误"]
    assert lexical_terms("快递延误了", "words") == ["快递", "延误"]  # 了: a stopword
    assert lexical_terms("快递延误 delays", "both") == [
        *["快", "递", "延", "误", "快递", "递延", "延误", "delay"],
        *["w:快递", "w:延误"],
    ]


def test_search_scales_to_ten_thousand_articles() -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(w) for w in letters[rng.integers(0, 26, (5000, 7))]]
    vocab = np.array([*words, *"退货款维修发票登录密码失败投诉"])
    titles = rng.choice(vocab, (10_000, 6))
    bodies = rng.choice(vocab, (10_000, 120))
    articles = [(i, " ".join(titles[i]), " ".join(bodies[i])) for i in range(10_000)]
    embeddings = rng.standard_normal((10_000, 384)).astype(np.float32)
    index = HybridIndex.build(articles, embeddings)
    query = f"退货 维修 {words[17]} {words[42]}"
    query_vec = rng.standard_normal(384).astype(np.float32)
    started = time.perf_counter()
    for _ in range(20):
        hits = index.search(query, query_vec, k=5)
    per_query = (time.perf_counter() - started) / 20
    assert len(hits) == 5
    assert per_query < 0.05


def test_dense_ranking_is_ignored_for_chinese_queries() -> None:
    # The default embedder does not understand Chinese: a Chinese query's embedding must not
    # outvote the lexical ranking, while an English query's embedding does count.
    articles = [
        ("zh", "退款说明", "退款三天到账"),
        ("en", "refund", "money back"),
        ("x", "其他", "无关"),
    ]
    embeddings = np.eye(3, dtype=np.float32)
    misleading = np.array([0.0, 0.0, 1.0], dtype=np.float32)  # points at "x"
    index = HybridIndex.build(articles, embeddings)
    assert [h.id for h in index.search("退款多久到账", misleading, k=2)] == ["zh"]
    english = index.search("refund", misleading, k=2)
    assert {h.id for h in english} == {"en", "x"}
    multilingual = HybridIndex.build(articles, embeddings, dense_latin_only=False)
    assert {h.id for h in multilingual.search("退款多久到账", misleading, k=2)} == {"zh", "x"}
