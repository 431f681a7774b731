"""The packaged embedding model, and a classifier using lexical + dense features."""

import sys
import threading

import numpy as np
import pytest

from triage.embedder import DEFAULT_MODEL, Embedder
from triage.predict import predict
from triage.retrieval import HybridIndex
from triage.train import TrainedModel


def test_importing_triage_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, triage, triage.embedder, triage.predict, triage.registry, "
        "triage.retrieval, triage.train; "
        "print('torch' in sys.modules or 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="."
    )
    assert out.stdout.strip() == "False"


def test_embedder_outputs_unit_float32(embedder: Embedder) -> None:
    assert embedder.name == DEFAULT_MODEL
    assert embedder.dim == 384
    vectors = embedder.encode(["refund my order", "退货", ""])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_embeddings_are_invariant_to_masked_numbers(embedder: Embedder) -> None:
    a, b = embedder.encode(["order A1234567 is late", "order ZX99887766 is late"])
    assert np.allclose(a, b)


def test_embeddings_capture_english_paraphrase(embedder: Embedder) -> None:
    query, near, far = embedder.encode(
        ["I want my money back", "How to request a refund", "Shipping times to Canada"]
    )
    assert query @ near > query @ far


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How much is the annual membership, and is there a student discount?", "consultation"),
        ("The app freezes on the login screen and then closes.", "problem"),
        (
            "Nobody answered my emails for a month. I demand compensation and an apology.",
            "complaint",
        ),
        (
            "The headphones I bought stopped charging, I want an exchange under warranty.",
            "after_sales",
        ),
        ("APP一打开就闪退，重装了也没用", "problem"),
        ("买的外套尺码不合适，想申请退货退款", "after_sales"),
    ],
)
def test_model_with_embeddings_classifies_clear_cases(
    dense_model: TrainedModel, embedder: Embedder, text: str, expected: str
) -> None:
    (prediction,) = predict(dense_model, [text], embedder.encode([text]))
    assert prediction.category == expected, prediction.probabilities


def test_model_with_embeddings_requires_them(dense_model: TrainedModel) -> None:
    assert dense_model.embedder_name == DEFAULT_MODEL
    assert dense_model.embedder_dim == 384
    assert dense_model.config.use_embeddings
    with pytest.raises(ValueError, match="needs embeddings"):
        predict(dense_model, ["hello"])
    with pytest.raises(ValueError, match="dim 384"):
        predict(dense_model, ["hello"], np.zeros((1, 8), dtype=np.float32))


def test_dense_retrieval_finds_paraphrase_without_shared_words(embedder: Embedder) -> None:
    articles = [
        ("refund", "Getting your money back", "Send the product back within 30 days."),
        ("password", "Sign-in help", "Use the forgotten credentials link on the login page."),
        ("shipping", "Delivery times", "Parcels arrive within three to five working days."),
    ]
    vectors = embedder.encode([f"{title}\n{body}" for _, title, body in articles])
    index = HybridIndex.build(articles, vectors)
    query = "reimbursement for a purchase"
    assert index.search(query, k=3) == []  # no shared token: lexical alone finds nothing
    hits = index.search(query, embedder.encode([query])[0], k=3)
    assert hits[0].id == "refund"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("能开专票吗", "zh-invoice"),
        ("我想退货，怎么操作", "zh-return"),
        ("I forgot my password", "en-password"),
    ],
)
def test_hybrid_search_with_real_embeddings(
    embedder: Embedder, kb_articles: list[tuple[str, str, str]], query: str, expected: str
) -> None:
    vectors = embedder.encode([f"{title}\n{body}" for _, title, body in kb_articles])
    index = HybridIndex.build(kb_articles, vectors)
    assert index.search(query, embedder.encode([query])[0], k=3)[0].id == expected


class _Counting:
    """An embedder that records which texts it was asked to encode."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.seen = inner, []  # type: ignore[var-annotated]
        self.name, self.dim = inner.name, inner.dim
        self.multilingual = inner.multilingual

    def encode(self, texts: list[str], **options: bool) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts, **options)


def test_rows_the_language_gate_zeroes_are_not_encoded(
    embedder: Embedder, dense_model: TrainedModel
) -> None:
    import asyncio

    from triage.encoder import Encoder
    from triage.pipeline import dense_needed, make_inputs

    texts = [
        "我的订单三天了还没发货",
        "Where is my order?",
        "App 登录一直失败, the login page keeps failing",
    ]
    needed = dense_needed(texts)
    counting = _Counting(embedder)

    async def encode() -> np.ndarray | None:
        encoder = Encoder(embedder=counting)  # type: ignore[arg-type]
        try:
            return await encoder.encode(texts, needed=needed)
        finally:
            await encoder.close()

    vectors = asyncio.run(encode())

    assert needed == [False, True, True]
    assert counting.seen == texts[1:], "the Chinese-only row is never sent to the model"
    assert vectors is not None and vectors.shape == (3, 384)
    assert not vectors[0].any()
    assert np.allclose(vectors[1:], embedder.encode(texts[1:]), atol=1e-6)
    # Why skipping is exact: the gated pipeline gives that row the same features either way.
    real = embedder.encode(texts[:1])
    features = dense_model.pipeline.named_steps["features"]
    with_real = features.transform(make_inputs(texts[:1], real))
    with_zeros = features.transform(make_inputs(texts[:1], np.zeros_like(real)))
    assert abs(with_real - with_zeros).max() == 0


def test_the_classifier_reads_latin_script_through_minilm_and_chinese_through_e5(
    embedder: Embedder, e5: Embedder, shipped_model: TrainedModel
) -> None:
    """The worker's classifier encoder puts a text's MiniLM vector beside its e5 vector and
    makes only what the text's scripts need: an English text costs MiniLM alone, a Chinese
    one e5 alone; the trained pipeline weighs each half by the text's share of that script,
    so a half it did not make would have been ignored anyway."""
    import asyncio

    from triage.embedder import script_name, script_split
    from triage.encoder import Encoder, ScriptEncoder
    from triage.pipeline import make_inputs

    texts = [
        "Where is my order?",
        "我的订单三天了还没发货",
        "App 登录一直失败, the login page keeps failing",
    ]
    latin, cjk = _Counting(embedder), _Counting(e5)

    async def encode() -> tuple[str | None, np.ndarray | None, list[np.ndarray | None]]:
        encoder = ScriptEncoder(Encoder(embedder=latin), Encoder(embedder=cjk))  # type: ignore[arg-type]
        try:
            many = await encoder.encode(texts)
            one = [await encoder.encode_one(text) for text in texts]
            return await encoder.name(), many, one
        finally:
            await encoder.close()

    name, many, one = asyncio.run(encode())

    assert name == script_name(embedder.name, 384, e5.name) == shipped_model.embedder_name
    assert script_split(name) == 384 == shipped_model.config.dense_split
    assert many is not None and many.shape == (3, 384 + e5.dim)
    assert np.allclose(np.vstack(one), many, atol=1e-5)  # one at a time or many: the same
    assert latin.seen == [texts[0], texts[2]] * 2, "the Chinese-only text never goes to MiniLM"
    assert cjk.seen == texts[1:] * 2, "the English text never goes to e5"
    assert np.allclose(many[0, :384], embedder.encode(texts[:1])[0], atol=1e-6)
    assert not many[0, 384:].any() and not many[1, :384].any()
    assert np.allclose(many[1, 384:], e5.encode(texts[1:2])[0], atol=1e-6)
    assert many[2, :384].any() and many[2, 384:].any()
    # The halves not made change nothing: the trained features are the same with anything there.
    features = shipped_model.pipeline.named_steps["features"]
    noise = np.random.default_rng(0).normal(size=many.shape).astype(np.float32)
    filled = many.copy()
    filled[0, 384:], filled[1, :384] = noise[0, 384:], noise[1, :384]
    made = features.transform(make_inputs(texts[:2], many[:2]))
    other = features.transform(make_inputs(texts[:2], filled[:2]))
    assert abs(made - other).max() == 0


def test_the_classifier_encoder_is_minilm_alone_without_a_multilingual_one(
    embedder: Embedder,
) -> None:
    """With a retrieval embedder that is not multilingual (``KEFU_RETRIEVAL_MODEL`` set to
    another English model), the classifier embeds as before: MiniLM only, its own name."""
    import asyncio

    from triage.encoder import Encoder, ScriptEncoder

    async def encode() -> tuple[str | None, np.ndarray | None]:
        encoder = ScriptEncoder(Encoder(embedder=embedder), Encoder(embedder=embedder))
        try:
            return await encoder.name(), await encoder.encode_one("我的订单还没发货")
        finally:
            await encoder.close()

    name, vector = asyncio.run(encode())

    assert name == DEFAULT_MODEL
    assert vector is not None and vector.shape == (384,)


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
def test_an_encoder_may_run_at_a_lower_cpu_priority() -> None:
    """The worker's retrieval encoder yields the cores to classification when they are short:
    its thread runs at the ``nice`` it was given; the default one at the process's own."""
    import asyncio
    import os
    import threading

    from triage.encoder import Encoder

    class _Priority:
        name, dim = "priority-probe", 1

        def encode(self, texts: list[str], **options: bool) -> np.ndarray:
            nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return np.full((len(texts), 1), float(nice), dtype=np.float32)

    async def nice_of(encoder: Encoder) -> float:
        try:
            vector = await encoder.encode_one("x")
            assert vector is not None
            return float(vector[0])
        finally:
            await encoder.close()

    own = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = asyncio.run(nice_of(Encoder(embedder=_Priority(), nice=10)))  # type: ignore[arg-type]
    default = asyncio.run(nice_of(Encoder(embedder=_Priority())))  # type: ignore[arg-type]
    assert lowered == max(own, 10)
    assert default == own


class _Recording:
    """An embedder that records each call's texts (vectors: the text's length)."""

    name, dim = "recording", 1

    def __init__(self, expected: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.expected, self.all_seen = expected, threading.Event()

    def encode(self, texts: list[str], **options: bool) -> np.ndarray:
        self.calls.append(list(texts))
        if sum(map(len, self.calls)) >= self.expected:
            self.all_seen.set()
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


class _Held(_Recording):
    """A :class:`_Recording` whose calls wait until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(expected=1)
        self.release = threading.Event()

    def encode(self, texts: list[str], **options: bool) -> np.ndarray:
        vectors = super().encode(texts, **options)
        assert self.release.wait(10)
        return vectors


def test_texts_encoded_ahead_serve_later_callers_and_never_delay_a_waiting_one() -> None:
    """The worker has the retrieval embedder encode a triaged ticket's text when it has
    nothing else to do, for the ranking by meaning that follows: a caller who waits goes
    before the texts queued ahead, those go a few per call, and a later call for one of them
    is answered without encoding it again (once: the vector is not kept after)."""
    import asyncio

    from triage.encoder import AHEAD_BATCH, Encoder

    ahead = [f"ahead {i:02d}" for i in range(10)]
    recording = _Recording(expected=1 + len(ahead))

    async def scenario() -> tuple[np.ndarray | None, np.ndarray | None]:
        encoder = Encoder(embedder=recording)  # type: ignore[arg-type]
        try:
            assert all(encoder.prefetch(text) for text in ahead)
            assert not encoder.prefetch(ahead[0]), "a text is queued once"
            waited = await encoder.encode_one("a caller who waits")
            assert await asyncio.to_thread(recording.all_seen.wait, 10)
            assert not encoder.prefetch(ahead[3]), "already encoded"
            kept = await encoder.encode_one(ahead[3])
            calls = len(recording.calls)
            await encoder.encode_one(ahead[3])
            assert len(recording.calls) == calls + 1, "a kept vector serves one call"
            return waited, kept
        finally:
            await encoder.close()

    waited, kept = asyncio.run(scenario())

    assert recording.calls[0] == ["a caller who waits"]
    assert [t for call in recording.calls[1:-1] for t in call] == ahead, "each once, in order"
    assert max(len(call) for call in recording.calls[1:-1]) == AHEAD_BATCH
    assert waited is not None and waited[0] == len("a caller who waits")
    assert kept is not None and kept[0] == len(ahead[3])
    assert len(recording.calls) == 2 + -(-len(ahead) // AHEAD_BATCH), "none for the kept one"


def test_a_caller_asking_for_a_text_still_queued_ahead_takes_it_over() -> None:
    """At the end of a burst the suggest-ticket jobs may ask for texts still waiting to be
    encoded ahead: each is then encoded once, for the caller, not a second time after."""
    import asyncio

    from triage.encoder import Encoder

    recording = _Recording(expected=3)

    async def scenario() -> None:
        encoder = Encoder(embedder=recording)  # type: ignore[arg-type]
        try:
            assert encoder.prefetch("queued") and encoder.prefetch("other")
            await encoder.encode_one("queued")
            await encoder.encode_one("a third")
            assert await asyncio.to_thread(recording.all_seen.wait, 10)
        finally:
            await encoder.close()

    asyncio.run(scenario())

    assert recording.calls[0] == ["queued"]
    assert sorted(t for call in recording.calls for t in call) == ["a third", "other", "queued"]


def test_a_caller_asking_for_a_text_being_encoded_ahead_waits_for_that_call() -> None:
    """A caller asking for a text the encoder is encoding ahead right now gets that call's
    vector: the text is not encoded a second time."""
    import asyncio

    from triage.encoder import Encoder

    held = _Held()

    async def scenario() -> np.ndarray | None:
        encoder = Encoder(embedder=held)  # type: ignore[arg-type]
        try:
            assert encoder.prefetch("in flight")
            assert await asyncio.to_thread(held.all_seen.wait, 10), "the call has begun"
            asking = asyncio.create_task(encoder.encode_one("in flight"))
            await asyncio.sleep(0.05)
            held.release.set()
            return await asking
        finally:
            await encoder.close()

    vector = asyncio.run(scenario())

    assert held.calls == [["in flight"]]
    assert vector is not None and vector[0] == len("in flight")


def test_a_vector_encoded_ahead_is_taken_only_when_ready_or_being_made() -> None:
    """A triage takes its text's vector only if it was made ahead or is being made now
    (waiting for that call); a text still queued stays queued, and nothing is encoded for
    the asking."""
    import asyncio

    from triage.encoder import Encoder

    held = _Held()

    async def scenario() -> dict[str, object]:
        encoder = Encoder(embedder=held)  # type: ignore[arg-type]
        try:
            assert encoder.prefetch("in flight")
            assert await asyncio.to_thread(held.all_seen.wait, 10), "the call has begun"
            assert encoder.prefetch("queued")
            taking = asyncio.create_task(encoder.encoded_ahead("in flight"))
            queued = await encoder.encoded_ahead("queued")
            never = await encoder.encoded_ahead("never asked for")
            await asyncio.sleep(0.05)
            assert not taking.done(), "waits while the call making it runs"
            held.release.set()
            in_flight = await taking
            again = await encoder.encoded_ahead("in flight")
            later = await encoder.encode_one("queued")
            return {
                "in_flight": in_flight,
                "again": again,
                "queued": queued,
                "never": never,
                "later": later,
            }
        finally:
            await encoder.close()

    got = asyncio.run(scenario())

    assert got["queued"] is None and got["never"] is None and got["again"] is None
    in_flight, later = got["in_flight"], got["later"]
    assert isinstance(in_flight, np.ndarray) and in_flight[0] == len("in flight")
    assert isinstance(later, np.ndarray) and later[0] == len("queued")
    assert held.calls == [["in flight"], ["queued"]], "each text encoded once, none for asking"


def test_nothing_is_encoded_ahead_before_the_model_is_loaded() -> None:
    """Encoding ahead is an offer: before anyone has needed the model it loads nothing."""
    import asyncio

    from triage.encoder import Encoder

    recording = _Recording()
    loads: list[str | None] = []

    def loader(model: str | None) -> _Recording:
        loads.append(model)
        return recording

    async def scenario() -> bool:
        encoder = Encoder("some-model", loader=loader)  # type: ignore[arg-type]
        try:
            return encoder.prefetch("not yet")
        finally:
            await encoder.close()

    assert asyncio.run(scenario()) is False
    assert loads == [] and recording.calls == []
