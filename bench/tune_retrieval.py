"""``python -m bench.tune_retrieval KB.jsonl QUERIES.jsonl``: tune the retrieval defaults.

Measures BM25 (per Chinese analyzer and title weight), dense (the default embedder) and their
score fusion (per dense weight) on a dev set of articles {"id","title","body"} and queries
{"query","relevant_ids"}. Queries split in two halves by a hash of their text: the settings are
chosen on the "tune" half and reported on both, to show how much they overfit. Prints one JSON
line. Not a benchmark (no ``run()``): the chosen values become the constants of
:mod:`triage.retrieval`, with the figures in their comments.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from models.services.knowledge.kb import embedding_text, read_queries, retrieval_metrics
from triage.retrieval import BM25Index, fuse_scores, lexical_terms

ANALYZERS = ("ngrams", "words", "both")
TITLE_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 100.0)
DENSE_WEIGHTS = tuple(round(w, 2) for w in np.linspace(0, 1, 21))


def _half(query: str) -> str:
    return "tune" if hashlib.sha1(query.encode()).digest()[0] % 2 == 0 else "report"


def _ranked(ids: list[str], scores: np.ndarray, positive_only: bool) -> list[str]:
    order = np.lexsort((np.arange(scores.shape[0]), -scores))[:10]
    return [ids[i] for i in order if not positive_only or scores[i] > 0]


def _metrics(ids: list[str], per_query: list[np.ndarray], relevant: list[list[str]], lex: bool):
    ranked = [_ranked(ids, s, lex) for s in per_query]
    out = {}
    for half in ("tune", "report"):
        pick = [i for i, h in enumerate(HALVES) if h == half]
        m = retrieval_metrics([ranked[i] for i in pick], [relevant[i] for i in pick])
        out[half] = {k: round(float(v), 4) for k, v in m.items()}
    return out


HALVES: list[str] = []


def main(kb_path: str, queries_path: str, key: str) -> dict[str, Any]:
    articles = [json.loads(line) for line in Path(kb_path).read_text().splitlines() if line]
    ids = [str(a["id"]) for a in articles]
    queries = read_queries(queries_path)
    texts = [q for q, _ in queries]
    relevant = [r for _, r in queries]
    HALVES[:] = [_half(q) for q in texts]
    cache = Path(f"var/tune_{Path(kb_path).stem}.npz")
    if cache.exists():
        data = np.load(cache)
        doc_vecs, query_vecs = data["docs"], data["queries"]
    else:
        from triage.embedder import load_embedder

        embedder = load_embedder()
        doc_vecs = embedder.encode([embedding_text(a["title"], a["body"]) for a in articles])
        query_vecs = embedder.encode(texts)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, docs=doc_vecs, queries=query_vecs)
    dense = [doc_vecs @ v for v in query_vecs]
    report: dict[str, Any] = {"articles": len(ids), "queries": len(texts)}
    report["dense"] = _metrics(ids, dense, relevant, False)
    best: tuple[float, float, str, float] | None = None
    bm25: dict[str, Any] = {}
    lexical_cache: dict[tuple[str, float], list[np.ndarray]] = {}
    for analyzer in ANALYZERS:
        titles = BM25Index([lexical_terms(a["title"], analyzer) for a in articles])  # type: ignore[arg-type]
        bodies = BM25Index([lexical_terms(a["body"], analyzer) for a in articles])  # type: ignore[arg-type]
        tokens = [lexical_terms(q, analyzer) for q in texts]  # type: ignore[arg-type]
        t_scores = [titles.scores(t) for t in tokens]
        b_scores = [bodies.scores(t) for t in tokens]
        for tw in TITLE_WEIGHTS:
            lex = [tw * t + b if tw < 100 else t for t, b in zip(t_scores, b_scores, strict=True)]
            m = _metrics(ids, lex, relevant, True)
            bm25[f"{analyzer}/title{tw}"] = m
            lexical_cache[(analyzer, tw)] = lex
            score = (m["tune"][key], m["tune"]["mrr_at_10"])
            if best is None or score > best[:2]:
                best = (*score, analyzer, tw)
    assert best is not None
    report["bm25"] = bm25
    report["best_bm25"] = {"analyzer": best[2], "title_weight": best[3]}
    lex = lexical_cache[(best[2], best[3])]
    fusion: dict[str, Any] = {}
    for w in DENSE_WEIGHTS:
        fused = [fuse_scores(lx, d, w)[0] for lx, d in zip(lex, dense, strict=True)]
        fusion[str(w)] = _metrics(ids, fused, relevant, w == 0)
    report["fusion"] = fusion
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3]), ensure_ascii=False))
