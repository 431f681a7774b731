"""Baseline figures of the current triage code on the development sets (dev-time tool).

Classification: the bootstrap model (lexical; lexical + MiniLM embeddings; lexical + MiniLM for
Latin script + multilingual-e5-small for Chinese, the worker's default) trained with
:func:`triage.train.train` on :func:`triage.data.load_bootstrap`, scored with
:func:`triage.evaluate.report` on cls_en / cls_zh. Retrieval: recall@1/@5 of BM25 alone, dense
alone and the current fusion (:class:`triage.retrieval.HybridIndex.search`) on kb_*/queries_*.

Usage: python -m bench.devdata.baseline --data DIR [--json PATH] [--no-embedder]
       [--retrieval-only] [--update]

``--retrieval-only --update`` recomputes only the retrieval figures and merges them into the
existing ``--json`` file (keeping its classification figures).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from triage.data import load_bootstrap, load_examples
from triage.embedder import Embedder, load_embedder
from triage.evaluate import report
from triage.predict import evaluate_on, predict
from triage.retrieval import HybridIndex
from triage.train import train


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _folded(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _by_script(embedder: Embedder, e5: Embedder, texts: Sequence[str]) -> np.ndarray:
    """``texts`` embedded as the worker's classifier embeds them (MiniLM for the Latin part,
    e5 for the Chinese part: :class:`triage.encoder.ScriptEncoder`)."""
    import asyncio

    from triage.encoder import Encoder, ScriptEncoder

    async def encode() -> np.ndarray:
        encoder = ScriptEncoder(Encoder(embedder=embedder), Encoder(embedder=e5))
        try:
            vectors = await encoder.encode(texts)
        finally:
            await encoder.close()
        assert vectors is not None
        return vectors

    return asyncio.run(encode())


def worker_model() -> tuple[Any, Callable[[Sequence[str]], np.ndarray]]:
    """The worker's bootstrap model (lexical + MiniLM for Latin script + e5 for Chinese) and
    the function that embeds texts for it: the model the probes of how text is read measure."""
    from triage.embedder import script_name

    embedder, e5 = load_embedder(), load_embedder("multilingual-e5-small")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return _by_script(embedder, e5, texts)

    boot = load_bootstrap()
    name = script_name(embedder.name, embedder.dim, e5.name)
    return train(boot, encode([e.text for e in boot]), embedder_name=name, seed=0), encode


#: What a probe of how text is read measures on one dev set: (variant, figures) pairs.
Measure = Callable[
    [str, list[dict[str, Any]], Any, Callable[[Sequence[str]], np.ndarray]],
    Iterator[tuple[str, dict[str, Any]]],
]


#: The dev sets the probes of how text is read measure, and whether each is Chinese.
PROBED_SETS: dict[str, bool] = {
    "cls_en": False,
    "cls_en_shop": False,
    "cls_en_service": False,
    "cls_en_chats": False,
    "cls_zh": True,
    "cls_zh_audited": True,
}


def run_probe(doc: str, sets: Sequence[str], measure: Measure, argv: list[str] | None) -> None:
    """The command line of a probe (``--data DIR [--json PATH]``): ``measure`` each dev set in
    ``sets`` with the worker's model, print each variant's figures and write them as JSON."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    model, encode = worker_model()
    result: dict[str, Any] = {"bootstrap_rows": model.n_train}
    for set_name in sets:
        path = args.data / f"{set_name}.jsonl"
        if not path.exists():
            continue
        for variant, figures in measure(set_name, read_jsonl(path), model, encode):
            result[f"{set_name}/{variant}"] = figures
            print(set_name, variant, figures, flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")


def variant_figures(
    model: Any,
    encode: Callable[[Sequence[str]], np.ndarray],
    categories: Sequence[str],
    variants: dict[str, list[str]],
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each variant's figures (the first is the plain one), with how many rows it gave another
    type than the plain variant did."""
    plain: list[str] | None = None
    for variant, texts in variants.items():
        predicted = [p.category for p in predict(model, texts, encode(texts))]
        plain = plain or predicted
        rep = report(categories, predicted)
        yield (
            variant,
            {
                "n": rep["n"],
                "accuracy": round(rep["accuracy"], 4),
                "macro_f1": round(rep["macro_f1"], 4),
                "changed_from_plain": sum(a != b for a, b in zip(predicted, plain, strict=True)),
            },
        )


class CleanPart(NamedTuple):
    """The rows of a set that were not read while bootstrap rows were written (by source)."""

    name: str
    pattern: re.Pattern[str]


CLASSIFICATION_SETS: tuple[tuple[str, CleanPart | None], ...] = (
    ("en", None),
    ("en_shop", None),
    ("en_service", None),
    ("en_chats", None),
    # MultiDoGo's test split: its misses were not read (the train and dev splits' were).
    ("en_chats_test", CleanPart("test", re.compile(r"^dogo:\w+/test/"))),
    ("zh", None),
    ("zh_audited", None),
    # The audit's sample C: labelled after the last change it measures.
    ("zh_audited_C", CleanPart("C", re.compile(r"^audit-C:"))),
)


def classification(
    data: Path, embedder: Embedder | None, e5: Embedder | None = None
) -> dict[str, Any]:
    """Reports of the bootstrap models on each cls_*.jsonl present in ``data``: lexical,
    lexical + MiniLM (Latin script only) and, with ``e5``, lexical + MiniLM + e5 for Chinese
    (the worker's default, "lexical+script")."""
    from triage.embedder import script_name

    boot = load_bootstrap()
    texts = [e.text for e in boot]
    out: dict[str, Any] = {"bootstrap_rows": len(boot)}
    models = {"lexical": train(boot, seed=0)}
    encoders: dict[str, tuple[str, Callable[[Sequence[str]], np.ndarray]]] = {}
    if embedder is not None:
        encoders["lexical+dense"] = (embedder.name, embedder.encode)
        if e5 is not None:
            name = script_name(embedder.name, embedder.dim, e5.name)
            encoders["lexical+script"] = (name, lambda t: _by_script(embedder, e5, t))
    for label, (name, encode) in encoders.items():
        models[label] = train(boot, encode(texts), embedder_name=name, seed=0)
    seen = {_folded(e.text) for e in boot}
    for lang, clean_part in CLASSIFICATION_SETS:
        stem = lang.removesuffix(f"_{clean_part.name}") if clean_part else lang
        path = data / f"cls_{stem}.jsonl"
        if not path.exists():
            continue
        # A dev row the generator happens to write too ("Cancel order") measures nothing.
        examples = [e for e in load_examples(path) if _folded(e.text) not in seen]
        if clean_part:  # rows no one read while writing bootstrap rows
            clean = {r["text"] for r in read_jsonl(path) if clean_part.pattern.search(r["source"])}
            examples = [e for e in examples if e.text in clean]
        dev = [e.text for e in examples]
        dev_emb = {label: encode(dev) for label, (_, encode) in encoders.items()}
        for name, model in models.items():
            rep = evaluate_on(model, examples, dev_emb.get(name))
            out[f"{lang}/{name}"] = {
                "n": rep["n"],
                "accuracy": round(rep["accuracy"], 4),
                "macro_f1": round(rep["macro_f1"], 4),
                "recall": {c: round(v["recall"], 4) for c, v in rep["per_class"].items()},
                "support": {c: v["support"] for c, v in rep["per_class"].items()},
                "confusion": rep["confusion"],
            }
    return out


def recall_at(
    rank: Callable[[int, int], Sequence[Hashable]],
    relevant: Sequence[set[str]],
    ks: Sequence[int] = (1, 5),
) -> dict[str, float]:
    hits = {k: 0 for k in ks}
    for i, rel in enumerate(relevant):
        got = [str(x) for x in rank(i, max(ks))]
        for k in ks:
            hits[k] += bool(rel.intersection(got[:k]))
    return {f"recall@{k}": round(hits[k] / len(relevant), 4) for k in ks}


def score_index(
    index: HybridIndex,
    texts: Sequence[str],
    q_emb: np.ndarray | None,
    relevant: Sequence[set[str]],
) -> dict[str, dict[str, float]]:
    """Recall of the lexical, dense and fused rankings of ``index`` for the queries."""
    res = {"bm25": recall_at(lambda i, k: index.lexical_ranking(texts[i], k), relevant)}
    if q_emb is not None:
        res["dense"] = recall_at(lambda i, k: index.dense_ranking(q_emb[i], k), relevant)
    res["fusion"] = recall_at(
        lambda i, k: [h.id for h in index.search(texts[i], None if q_emb is None else q_emb[i], k)],
        relevant,
    )
    return res


def retrieval(data: Path, embedder: Embedder | None) -> dict[str, Any]:
    """Recall of BM25, dense and fused rankings on each kb_*/queries_* pair in ``data``."""
    out: dict[str, Any] = {}
    for lang in ("en", "zh"):
        kb_path, q_path = data / f"kb_{lang}.jsonl", data / f"queries_{lang}.jsonl"
        if not (kb_path.exists() and q_path.exists()):
            continue
        arts = [(a["id"], a["title"], a["body"]) for a in read_jsonl(kb_path)]
        qs = read_jsonl(q_path)
        texts = [q["query"] for q in qs]
        relevant = [set(map(str, q["relevant_ids"])) for q in qs]
        a_emb = q_emb = None
        if embedder is not None:
            a_emb = embedder.encode([f"{t}\n{b}" for _, t, b in arts])
            q_emb = embedder.encode(texts)
        index = HybridIndex.build(arts, a_emb)
        res: dict[str, Any] = {"articles": len(arts), "queries": len(qs)}
        res.update(score_index(index, texts, q_emb, relevant))
        if q_emb is not None:
            # The default fusion weights dense by the query's Latin share (≈0 for Chinese);
            # this is the same RRF with the dense ranking at full weight whatever the script.
            every = HybridIndex.build(arts, a_emb, dense_latin_only=False)
            res["fusion_dense_all_scripts"] = score_index(every, texts, q_emb, relevant)["fusion"]
        out[lang] = res
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-embedder", action="store_true")
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument("--update", action="store_true", help="merge into the existing --json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    embedder = None if args.no_embedder else load_embedder()
    e5 = None if args.no_embedder else load_embedder("multilingual-e5-small")
    result: dict[str, Any] = {
        "embedder": embedder.name if embedder else None,
        "python": platform.python_version(),
    }
    if not args.retrieval_only:
        result["classification"] = classification(args.data, embedder, e5)
    result["retrieval"] = retrieval(args.data, embedder)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.update and args.json and args.json.exists():
        merged = json.loads(args.json.read_text(encoding="utf-8"))
        merged.setdefault("retrieval", {}).update(result.pop("retrieval"))
        if args.retrieval_only:
            result["retrieval_seconds"] = result.pop("seconds")
        merged.update(result)
        result = merged
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
