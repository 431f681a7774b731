"""Whether the account a post addresses moves the worker's model (dev-time tool).

Each row of the Chinese and English dev sets is read plain and with a brand's social-media
handle put in front of it ("@京东客服 …", "@AmazonHelp …"), behind it, and (Chinese) as a
Weibo reply ("回复@小米客服:…"); the handles are drawn at random (seed 5). A post's type never
depends on which account it addresses, so every variant should score as the plain rows do.

Usage: python -m bench.devdata.addressed --data DIR [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.devdata.baseline import _by_script, read_jsonl
from triage.data import Example, load_bootstrap, parse_category
from triage.embedder import load_embedder, script_name
from triage.predict import evaluate_on
from triage.train import train

ZH_HANDLES = ("@京东客服", "@中国移动10086", "@顺丰速运", "@淘宝", "@小米客服", "@中国联通客服")
EN_HANDLES = ("@AmazonHelp", "@VerizonSupport", "@Delta", "@AskPayPal", "@SpotifyCares")
# set -> (its handles, whether it is also read as a Weibo reply)
SETS = {
    "cls_zh_audited": (ZH_HANDLES, True),
    "cls_zh": (ZH_HANDLES, True),
    "cls_en_chats": (EN_HANDLES, False),
    "cls_en_service": (EN_HANDLES, False),
}


def variants(
    handles: tuple[str, ...], weibo: bool, rng: random.Random
) -> dict[str, Callable[[str], str]]:
    out: dict[str, Callable[[str], str]] = {
        "plain": lambda t: t,
        "handle_before": lambda t: f"{rng.choice(handles)} {t}",
        "handle_after": lambda t: f"{t} {rng.choice(handles)}",
    }
    if weibo:
        out["weibo_reply"] = lambda t: f"回复{rng.choice(handles)}:{t}"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    embedder, e5 = load_embedder(), load_embedder("multilingual-e5-small")

    def encode(texts: list[str]) -> Any:
        return _by_script(embedder, e5, texts)

    boot = load_bootstrap()
    name = script_name(embedder.name, embedder.dim, e5.name)
    model = train(boot, encode([e.text for e in boot]), embedder_name=name, seed=0)
    rng = random.Random(5)
    result: dict[str, Any] = {"bootstrap_rows": len(boot)}
    for set_name, (handles, weibo) in SETS.items():
        path = args.data / f"{set_name}.jsonl"
        if not path.exists():
            continue
        rows = read_jsonl(path)
        for variant, wrap in variants(handles, weibo, rng).items():
            examples = [Example(wrap(r["text"]), parse_category(r["category"])) for r in rows]
            rep = evaluate_on(model, examples, encode([e.text for e in examples]))
            result[f"{set_name}/{variant}"] = {
                "n": rep["n"],
                "accuracy": round(rep["accuracy"], 4),
                "macro_f1": round(rep["macro_f1"], 4),
                "recall": {c: round(v["recall"], 4) for c, v in rep["per_class"].items()},
            }
            print(set_name, variant, result[f"{set_name}/{variant}"], flush=True)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
