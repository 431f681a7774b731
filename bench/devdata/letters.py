"""Whether a letter's frame moves the worker's model (dev-time tool).

Mail and web forms come as letters: a greeting, the request, a closing, a signature, the line a
mail app adds. Each row of the dev sets is read plain, as a letter (greeting, row, closing and
signature, drawn at random, seed 7) and with only a closing and signature under it. The frame
says nothing of what the customer wants, so every variant should score as the plain rows do.

The frames are written apart from the rules that drop them (:func:`triage.text.drop_salutations`)
and include some those rules do not know ("Hope you are well.", "Appreciate it!", "祝商祺!",
a signature with a phone number and a web address), so the probe does not only echo the rules.

Usage: python -m bench.devdata.letters --data DIR [--json PATH]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from bench.devdata.baseline import PROBED_SETS, run_probe, variant_figures
from triage.data import parse_category

EN_GREETINGS = (
    "Hi,",
    "Hello,",
    "Dear Customer Service,",
    "Hi team,",
    "Good morning,",
    "Dear Sir or Madam,",
    "Hi Anna,",
    "Hello,\n\nHope you are well.",
)
EN_CLOSINGS = (
    "Thanks,\nJohn",
    "Best regards,\nMaria Lopez",
    "Kind regards,\nTom Baker\nPurchasing Manager, Acme Ltd.",
    "Thank you,\nAmy\n\nSent from my iPhone",
    "Cheers,\nSam",
    "Regards,\nDavid Chen\nCustomer Success Lead | Northwind\nMobile: 555-201-3344",
    "Thanks in advance for your help.",
    "Appreciate it!\nK.",
    "Looking forward to your reply.\n\nGet Outlook for Android",
)
ZH_GREETINGS = ("您好：", "你好，", "客服您好！", "尊敬的客服：", "亲，你好", "老师您好")
ZH_CLOSINGS = (
    "谢谢！\n张伟",
    "麻烦了，谢谢\n\n发自我的华为手机",
    "此致\n敬礼\n李娜",
    "多谢\n王先生\n发自我的iPhone",
    "辛苦了",
    "祝商祺!\n陈经理 13800001111",
    "期待您的回复。",
)
RNG = random.Random(7)


def measure(
    set_name: str, rows: list[dict[str, Any]], model: Any, encode: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    zh = PROBED_SETS[set_name]
    greetings = ZH_GREETINGS if zh else EN_GREETINGS
    closings = ZH_CLOSINGS if zh else EN_CLOSINGS
    plain = [r["text"] for r in rows]
    categories = [parse_category(r["category"]) for r in rows]
    variants = {
        "plain": plain,
        "letter": [f"{RNG.choice(greetings)}\n\n{t}\n\n{RNG.choice(closings)}" for t in plain],
        "closing": [f"{t}\n\n{RNG.choice(closings)}" for t in plain],
    }
    yield from variant_figures(model, encode, categories, variants)


def main(argv: list[str] | None = None) -> None:
    run_probe(__doc__, list(PROBED_SETS), measure, argv)


if __name__ == "__main__":
    main()
