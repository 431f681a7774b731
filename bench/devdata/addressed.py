"""Whether the account a post addresses moves the worker's model (dev-time tool).

Each row of the Chinese and English dev sets is read plain and with a brand's social-media
handle put in front of it ("@京东客服 …", "@AmazonHelp …"), behind it, and (Chinese) as a
Weibo reply ("回复@小米客服:…"); the handles are drawn at random (seed 5). A post's type never
depends on which account it addresses, so every variant should score as the plain rows do.

Usage: python -m bench.devdata.addressed --data DIR [--json PATH]
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from bench.devdata.baseline import run_probe
from triage.data import Example, parse_category
from triage.predict import evaluate_on

ZH_HANDLES = ("@京东客服", "@中国移动10086", "@顺丰速运", "@淘宝", "@小米客服", "@中国联通客服")
EN_HANDLES = ("@AmazonHelp", "@VerizonSupport", "@Delta", "@AskPayPal", "@SpotifyCares")
# set -> (its handles, whether it is also read as a Weibo reply)
SETS = {
    "cls_zh_audited": (ZH_HANDLES, True),
    "cls_zh": (ZH_HANDLES, True),
    "cls_en_chats": (EN_HANDLES, False),
    "cls_en_service": (EN_HANDLES, False),
}
RNG = random.Random(5)


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


def measure(
    set_name: str, rows: list[dict[str, Any]], model: Any, encode: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    handles, weibo = SETS[set_name]
    for variant, wrap in variants(handles, weibo, RNG).items():
        examples = [Example(wrap(r["text"]), parse_category(r["category"])) for r in rows]
        rep = evaluate_on(model, examples, encode([e.text for e in examples]))
        yield (
            variant,
            {
                "n": rep["n"],
                "accuracy": round(rep["accuracy"], 4),
                "macro_f1": round(rep["macro_f1"], 4),
                "recall": {c: round(v["recall"], 4) for c, v in rep["per_class"].items()},
            },
        )


def main(argv: list[str] | None = None) -> None:
    run_probe(__doc__, list(SETS), measure, argv)


if __name__ == "__main__":
    main()
