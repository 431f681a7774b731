"""Whether redacted values move the worker's model (dev-time tool).

Teams import anonymised histories, and scrubbers leave the kind of the value they hide in its
place: ``{{Order Number}}`` (templates), ``<PHONE_NUMBER>`` (Microsoft Presidio), ``[phone]``,
``XXXX`` (blacked out), ``[数字x]`` / ``[ORDERID_…]`` (the JD.com logs). A ticket's type never
depends on a value, so a row should score the same whether its values are written out or
redacted in any of these styles.

The rows measured are those with a value to redact: English rows with a phone number, an e-mail
address, a date, an identifier or a number (each replaced by a redaction of its kind, found by
the same patterns :func:`triage.text.normalize` masks), Chinese rows with one of those or one of
the JD.com logs' own redactions (written out as a value for the plain variant: ``[数字x]`` → 3,
``[姓名x]`` → 张伟, ``[地址x]`` → 朝阳区, ``[ORDERID_…]`` → 10086000).

Usage: python -m bench.devdata.redacted --data DIR [--json PATH]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from bench.devdata.baseline import run_probe, variant_figures
from triage import text as reading
from triage.data import parse_category

KINDS = ("phone", "email", "date", "id", "num")
STYLES: dict[str, dict[str, str]] = {
    "template": {
        "phone": "{{Phone Number}}",
        "email": "{{Email Address}}",
        "date": "{{Date}}",
        "id": "{{Order Number}}",
        "num": "{{Number}}",
    },
    "presidio": {
        "phone": "<PHONE_NUMBER>",
        "email": "<EMAIL_ADDRESS>",
        "date": "<DATE_TIME>",
        "id": "<ID>",
        "num": "<NUMBER>",
    },
    "bracketed": {
        "phone": "[phone]",
        "email": "[email]",
        "date": "[date]",
        "id": "[id]",
        "num": "[number]",
    },
    "blacked_out": dict.fromkeys(KINDS, "XXXX"),
    "template_zh": {
        "phone": "{{手机号}}",
        "email": "{{邮箱}}",
        "date": "{{日期}}",
        "id": "{{订单号}}",
        "num": "{{数字}}",
    },
    "jd_logs": {
        "phone": "[电话x]",
        "email": "[邮箱x]",
        "date": "[时间x]",
        "id": "[ORDERID_10086000]",
        "num": "[数字x]",
    },
}
# set -> the styles its rows are redacted in
SETS = {
    "cls_en": ("template", "presidio", "bracketed", "blacked_out"),
    "cls_en_shop": ("template", "presidio", "bracketed", "blacked_out"),
    "cls_en_service": ("template", "presidio", "bracketed", "blacked_out"),
    "cls_en_chats": ("template", "presidio", "bracketed", "blacked_out"),
    "cls_zh": ("jd_logs", "template_zh", "template", "presidio", "blacked_out"),
    "cls_zh_audited": ("jd_logs", "template_zh", "template", "presidio", "blacked_out"),
}
JD_VALUES = {"数字": "3", "姓名": "张伟", "地址": "朝阳区"}
_JD_REDACTION = re.compile(r"\[(?:(?P<label>[\u4e00-\u9fff]{1,6})x|ORDERID_\d+)\]")


def written_out(text: str) -> str:
    """``text`` with the JD.com logs' redactions replaced by values of their kind."""
    return _JD_REDACTION.sub(lambda m: JD_VALUES.get(m.group("label") or "", "10086000"), text)


def has_value(text: str) -> bool:
    """Whether ``text`` has a value to redact (or one the JD.com logs redacted)."""
    return any(ch.isdigit() for ch in text) or "@" in text or bool(_JD_REDACTION.search(text))


def redact(text: str, style: dict[str, str]) -> str:
    """``text`` with every value :func:`triage.text.normalize` would mask redacted in ``style``
    (found by the same patterns, in the same order)."""

    def identifier(match: re.Match[str]) -> str:
        masked = reading._mask_identifier(match) != match.group(0)
        return "\0id\0" if masked else match.group(0)

    for kind, pattern in (
        ("phone", reading._PHONE),
        ("email", reading._EMAIL),
        ("date", reading._DATE),
        ("id", reading._IDENT_CANDIDATE),
        ("num", reading._NUMBER),
    ):
        flags = re.IGNORECASE if kind in ("email", "id") else 0
        # Marks first, redactions last: a number inside "[ORDERID_10086000]" is not a value.
        replacement: Callable[[re.Match[str]], str] | str = (
            identifier if kind == "id" else f"\0{kind}\0"
        )
        text = re.compile(pattern.pattern, flags).sub(replacement, text)
    return re.sub("\0(\\w+)\0", lambda m: style[m.group(1)], text)


def measure(
    set_name: str, rows: list[dict[str, Any]], model: Any, encode: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    rows = [r for r in rows if has_value(r["text"])]
    plain = [written_out(r["text"]) for r in rows]
    categories = [parse_category(r["category"]) for r in rows]
    variants = {"plain": plain} | {s: [redact(t, STYLES[s]) for t in plain] for s in SETS[set_name]}
    yield from variant_figures(model, encode, categories, variants)


def main(argv: list[str] | None = None) -> None:
    run_probe(__doc__, list(SETS), measure, argv)


if __name__ == "__main__":
    main()
