"""Whether a few words in the other script move the worker's model (dev-time tool).

Chinese customers write product names and chat words in Latin script ("我的iPhone 14 Pro Max
屏幕碎了", "hello", "thx"), and English-speaking customers sign with or mention Chinese names
("Hi, this is 王伟."). Each row of the dev sets is read plain and with such words added where
people put them (seed 7); the words say nothing of what the customer wants, so every variant
should score as the plain rows do.

Usage: python -m bench.devdata.mixed --data DIR [--json PATH]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from bench.devdata.baseline import PROBED_SETS, run_probe, variant_figures
from triage.data import parse_category

PRODUCTS = (
    "iPhone 14 Pro Max",
    "MacBook Air",
    "Nike Air Max 270",
    "ThinkPad X1 Carbon",
    "Galaxy S23 Ultra",
    "Dyson V12",
    "AirPods Pro",
    "Kindle Paperwhite",
)
ZH_PRODUCT = ("{product}，{text}", "{text}（{product}）", "{text} {product}")
ZH_CHAT_WORDS = ("hello，{text}", "{text} thx", "{text} ok", "Hi {text}")
EN_NAMES = ("王伟", "李娜", "陈静", "张敏", "刘洋")
EN_CJK = ("Hi, this is {name}. {text}", "{text} ({name})", "{text}\n{name}")
RNG = random.Random(7)


def measure(
    set_name: str, rows: list[dict[str, Any]], model: Any, encode: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    plain = [r["text"] for r in rows]
    categories = [parse_category(r["category"]) for r in rows]
    variants = {"plain": plain}
    if PROBED_SETS[set_name]:
        variants["latin_product"] = [
            RNG.choice(ZH_PRODUCT).format(product=RNG.choice(PRODUCTS), text=t) for t in plain
        ]
        variants["latin_chat_words"] = [RNG.choice(ZH_CHAT_WORDS).format(text=t) for t in plain]
    else:
        variants["chinese_name"] = [
            RNG.choice(EN_CJK).format(name=RNG.choice(EN_NAMES), text=t) for t in plain
        ]
    yield from variant_figures(model, encode, categories, variants)


def main(argv: list[str] | None = None) -> None:
    run_probe(__doc__, list(PROBED_SETS), measure, argv)


if __name__ == "__main__":
    main()
