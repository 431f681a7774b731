"""Text normalization and a Chinese-aware tokenizer, shared by classification and retrieval.

Why normalize: a ticket's type never depends on *which* order, phone number, e-mail address or
amount it mentions, so those are masked into placeholder tokens. The classifier then cannot
learn spurious associations with particular numbers, and predictions are invariant to them.

Placeholders (each surrounded by spaces so it forms its own token):

========== ==================================================================================
``<url>``   ``http(s)://…`` and ``www.…`` addresses
``<email>`` e-mail addresses
``<phone>`` Chinese mobile numbers (``138…``) and separated phone numbers (``555-123-4567``)
``<date>``  ``2024-05-01``, ``2024年5月1日``, ``05/01/2024``
``<id>``    identifiers: letters+digits with at least 3 digits (``ORD-2023-0042``,
            ``E1234``, ``0x80070005``) or digit strings of 7+ digits (tracking numbers)
``<num>``   any remaining number (``3``, ``199.00``, ``1,299``)
========== ==================================================================================

Social-media handles (``@AmazonHelp``, ``@京东客服 ``, ``回复@小米客服:``) are removed
(:func:`drop_handles`): a post's type never depends on which account it addresses, yet a brand's
name in front of a request moved it (a random handle before each row took the worker's model
from 0.756 to 0.745 on the hand-labelled JD.com turns and from 0.883 to 0.862 on the English
service chats; ``bench/devdata/addressed.json``). A handle in Chinese script is only
recognised when a space, a colon, a slash or another handle closes it, so an unspaced
``@京东客服我的订单没到`` keeps its words (and so does a Chinese handle at the very end of a
post).

Redacted spans of anonymised exports are read as the value they hide would be read
(:func:`mask_redactions`): ``{{Order Number}}`` and ``[ORDERID_10012]`` (the JD.com logs) become
``<id>``, ``<PHONE_NUMBER>`` (Microsoft Presidio) ``<phone>``, ``[数字x]`` and ``XXXX`` ``<num>``;
a name, an address or an unnamed redaction (``{{Person Name}}``, ``[姓名x]``, ``[REDACTED]``)
nothing. Their label words used to be read as the customer's: "call me at {{Customer Support
Phone Number}}" read as a complaint, and with such spans in place of the values of the dev rows
that have one, accuracy fell by up to 0.10 in English and 0.39 in Chinese
(``bench/devdata/redacted.json``). A bracketed or angle-bracketed label is a redaction only when
it names a kind of value (``[NAME]``, ``[phone]``, ``[金额x]``), so ``[URGENT]``, ``[怒]`` and
``<B>`` stay words.

A letter's frame is dropped too (:func:`drop_salutations`): a greeting on a line of its own in
front ("Dear Customer Service,", "您好："), a closing at the end ("Thanks,", "Kind regards,",
"麻烦了，谢谢", "此致 敬礼") with the short signature after it, and a device line ("Sent from my
iPhone", "发自我的华为手机"). They say nothing of what the customer wants, yet with a greeting and a
closing around each dev row the worker's model gave 5 to 12 % of the rows another type
(``bench/devdata/letters.json``). A one-line message keeps its "thanks".

Personal names cannot be masked reliably without a named-entity model; the classifier is made
robust to them by its features instead (see :mod:`triage.pipeline`).

The tokenizer (used by BM25 retrieval and the classifier's word features) emits Latin words
through a light English suffix stemmer, placeholders as single tokens, and for runs of CJK
characters both character unigrams and bigrams — the standard dictionary-free approach for
Chinese retrieval.

:func:`words` segments Chinese into dictionary words instead (jieba's dictionary and algorithm,
through ``rjieba``, its Rust port, which ships the dictionary inside the wheel and loads in
milliseconds): "退款未到账" → ``退款 / 未 / 到账``. Words carry meaning that character n-grams
only approximate, so classification, retrieval and topic labels use both.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import rjieba

__all__ = [
    "PLACEHOLDERS",
    "TEXT_VERSION",
    "drop_handles",
    "drop_salutations",
    "latin_share",
    "mask_redactions",
    "normalize",
    "segment",
    "stem",
    "tokenize",
    "unframed",
    "without_names",
    "words",
]

#: Changes whenever what :func:`normalize` or :func:`unframed` make of a text changes: it is
#: part of a bootstrap model's name and of its cached embeddings' file name, so a model trained
#: on texts read one way is not taken for one trained on texts read another. 2: handles dropped.
#: (Reading redactions as the values they hide did not change it: no bootstrap row has one.)
#: 3: a letter's greeting, closing, signature and device line dropped.
TEXT_VERSION: Final = 3

PLACEHOLDERS: Final[tuple[str, ...]] = ("<url>", "<email>", "<phone>", "<date>", "<id>", "<num>")

_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。！？、；：（）()\[\]{}]+")
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_DATE = re.compile(
    r"(?<!\d)(?:\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}[日号]?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?!\d)"
)
_PHONE = re.compile(
    r"(?<![a-z0-9])(?:"
    r"(?:\+?86[-\s]?)?1[3-9]\d{9}"  # Chinese mobile
    r"|(?:\+\d{1,3}[-.\s]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[-.\s])\d{3,4}[-.\s]?\d{4}"  # separated
    r")(?![a-z0-9])"
)
# An alphanumeric token containing at least one digit (the lookahead cannot leave the token).
_IDENT_CANDIDATE = re.compile(
    r"(?<![a-z0-9])#?(?=[a-z_/#-]*\d)[a-z0-9](?:[a-z0-9_/#-]*[a-z0-9])?(?![a-z0-9])"
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# "@name" not inside an e-mail address or a word of Latin letters ("回复@小米客服:" is one).
_HANDLE_START = r"(?<![a-zA-Z0-9_.@])@"
# Any script, closed by a space, a colon, a slash or another handle (not by the end of the
# text: "@京东客服我的订单没到" is a mention run into the message, which would go with it).
_HANDLE = re.compile(_HANDLE_START + r"[\w-]{1,30}(?=[\s:：/@])")
# Twitter-like (Latin letters, digits, _): closed by anything else, a Chinese character too.
_HANDLE_LATIN = re.compile(_HANDLE_START + r"[a-zA-Z0-9_]{1,30}(?![a-zA-Z0-9_])")
_SPACES = re.compile(r"\s+")


def _mask_identifier(match: re.Match[str]) -> str:
    """Replace an alphanumeric token by ``<id>`` when it looks like an identifier."""
    token = match.group(0)
    digits = sum(ch.isdigit() for ch in token)
    letters = sum("a" <= ch <= "z" for ch in token)
    if (letters and digits >= 3) or (not letters and digits >= 7):
        return " <id> "
    return token


# A redacted span: a template field, a Presidio entity, a bracketed label, a blacked-out run.
_REDACTED = re.compile(
    r"\{\{\s*(?P<field>[^{}\n]{1,40}?)\s*\}\}"
    r"|<(?P<entity>[A-Z][A-Z0-9_]{1,30})>"
    r"|\[(?P<label>[^\[\]\n]{1,24})\]"
    r"|(?<![A-Za-z0-9*])(?P<blacked>\*{3,}\d*|X{2,}(?:[-/.]X{2,})+|X{3,})(?![A-Za-z0-9*])"
)
# What a redaction's label says it hides, first match wins ("Phone Number" is a phone).
_REDACTION_KINDS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("<phone>", re.compile(r"phone|mobile|\btel\b|fax|电话|手机|联系方式")),
    ("<email>", re.compile(r"e-?mail|邮箱|邮件")),
    ("<url>", re.compile(r"\burl\b|website|web site|\blink\b|portal|网址|链接|网站")),
    ("<date>", re.compile(r"\bdate|\btime\b|\bday\b|日期|时间")),
    (
        "<num>",
        re.compile(
            r"amount|price|money|cost|\bfee|\bsum\b|total|balance|金额|价格|费用|数字|^number$"
        ),
    ),
    (
        "<id>",
        re.compile(
            r"number|\bno\b|\bids?\b|_id\b|id_|(?:order|user|account|customer|member|transaction)id"
            r"|credit_card|ssn|iban|code|passport|号|身份证"
        ),
    ),
    (
        "",
        re.compile(
            r"name|person|address|location|city|street|country|company|organi[sz]ation|\borg\b"
            r"|redacted|removed|hidden|masked|anonymi[sz]ed|姓名|名字|人名|地址|机构|站点|[\u4e00-\u9fff]x$"
        ),
    ),
)


def _redaction(match: re.Match[str]) -> str:
    if match.group("blacked") is not None:
        return " <id> " if match.group("blacked").startswith("*") else " <num> "
    label = (match.group("field") or match.group("entity") or match.group("label")).lower()
    for placeholder, pattern in _REDACTION_KINDS:
        if pattern.search(label):
            return f" {placeholder} "
    # A template field is a redaction whatever it names; a word in brackets that names no kind
    # of value ("[URGENT]", "[怒]", "<B>") is the customer's.
    return " " if match.group("field") is not None else match.group(0)


def mask_redactions(text: str) -> str:
    """``text`` with each redacted span of an anonymised export replaced by the placeholder of
    the value it hides (``{{Order Number}}`` → ``<id>``), or by a space when it hides a name,
    an address or an unnamed value. Used by :func:`normalize` and by the multilingual
    embedder, which reads text otherwise unmasked."""
    if not any(mark in text for mark in ("{{", "<", "[", "XXX", "***")):
        return text
    return _REDACTED.sub(_redaction, text)


_PUNCTUATION = r"[\s,.!:;，。！：；~～]*"
# A greeting on a line of its own, first thing in the text.
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening|day)|hi there"
    r"|hello there|(?:hi|hello|hey) \w{1,20}|dear\b[^\n,.!?:;]{0,40}|to whom it may concern"
    r"|(?:\w{0,6}客服|亲爱的|亲|老师)?(?:您好|你好)[呀啊哈]?|(?:尊敬|亲爱)的[^\n,，.。!！?？:：]{1,12})"
    + _PUNCTUATION
    + r"\n",
    re.IGNORECASE,
)
# A closing line: thanks, regards, looking forward to a reply; in Chinese too.
_CLOSING_WORDS = (
    r"(?:many |a lot of )?thanks?(?: you| u)?(?: (?:so|very) much)?(?: in advance)?"
    r"(?: (?:for|4) (?:your|the) (?:help|time|assistance|support|attention|understanding))?"
    r"|thx|ty|appreciate (?:it|your help)|(?:best|kind|warm|warmest)(?: regards| wishes)?"
    r"|regards|rgds|br|cheers|sincerely|yours(?: truly| sincerely| faithfully)?"
    r"|looking forward to (?:hearing from you|your (?:reply|response|help))"
    r"|(?:谢谢|多谢|感谢|麻烦)(?:您|你|了|啦|哈|的帮助|您的帮助|客服)*|此致|敬礼|祝好|期待(?:您的)?回复|辛苦了"
)
_CLOSING = re.compile(
    rf"(?:(?:{_CLOSING_WORDS}){_PUNCTUATION})+"
    # with a name on its line: "Regards, Carlos", "Best, Sarah Miller"
    rf"|(?:{_CLOSING_WORDS}),\s*[a-z][a-z'.-]*(?: [a-z][a-z'.-]*)?",
    re.IGNORECASE,
)
# The line a mail app adds under a message.
_DEVICE = re.compile(
    r"(?:sent from my|get outlook for|sent from outlook for|sent from mail for|发自我的|来自我的"
    r"|从我的)\s?[^\n]{0,30}|[^\n]{0,10}(?:iphone|android|ipad|手机)\s?(?:发送|客户端)",
    re.IGNORECASE,
)
_SIGNATURE_LINES: Final = 4
_SIGNATURE_LINE_CHARS: Final = 60


def drop_salutations(text: str) -> str:
    """``text`` without a letter's frame: a greeting on its own first line, a closing line near
    the end with at most a short signature after it (four lines of up to 60 characters, no
    question), and device lines at the very end. A one-line text is kept as it is, and so is a
    text that would be left empty."""
    if "\n" not in text:
        return text
    lines = _GREETING.sub("", text.strip(), count=1).split("\n")
    _drop_trailing(lines, _DEVICE)
    for index in range(len(lines) - 1, max(-1, len(lines) - 2 - _SIGNATURE_LINES), -1):
        if _CLOSING.fullmatch(lines[index].strip()):
            signature = [line.strip() for line in lines[index + 1 :] if line.strip()]
            if len(signature) <= _SIGNATURE_LINES and all(
                len(line) <= _SIGNATURE_LINE_CHARS and not line.endswith(("?", "？"))
                for line in signature
            ):
                # "此致 / 敬礼", "Thanks! / Regards,": a closing of several lines
                lines = _drop_trailing(lines[:index], _CLOSING)
            break
    return "\n".join(lines).strip() or text


def _drop_trailing(lines: list[str], pattern: re.Pattern[str]) -> list[str]:
    """``lines`` without the blank ones and those ``pattern`` matches whole at their end."""
    while lines and (not lines[-1].strip() or pattern.fullmatch(lines[-1].strip())):
        lines.pop()
    return lines


def unframed(text: str) -> str:
    """``text`` NFKC-normalized, its redactions read as the values they hide and its letter's
    frame dropped: what every reader of a text starts from (:func:`normalize`, and the
    multilingual embedder, which then reads it unmasked)."""
    return drop_salutations(mask_redactions(unicodedata.normalize("NFKC", text)))


def drop_handles(text: str) -> str:
    """``text`` without its social-media handles (``@AmazonHelp``, ``@京东客服 ``), each replaced
    by a space. Used by :func:`normalize` and by embedders that read text otherwise unmasked."""
    if "@" not in text:
        return text
    return _HANDLE_LATIN.sub(" ", _HANDLE.sub(" ", text))


def normalize(text: str) -> str:
    """Return ``text`` NFKC-normalized, lower-cased, masked and whitespace-collapsed.

    The function is idempotent (``normalize(normalize(t)) == normalize(t)``), so callers may
    safely pass already-normalized text.
    """
    text = unframed(text).lower()
    text = _INVISIBLE.sub("", text)
    text = _URL.sub(" <url> ", text)
    text = _EMAIL.sub(" <email> ", text)
    text = drop_handles(text)
    text = _DATE.sub(" <date> ", text)
    text = _PHONE.sub(" <phone> ", text)
    text = _IDENT_CANDIDATE.sub(_mask_identifier, text)
    text = _NUMBER.sub(" <num> ", text)
    return _SPACES.sub(" ", text).strip()


_CJK_CLASS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(
    rf"(?P<ph><[a-z]+>)|(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>[^\W\d_{_CJK_CLASS}]+(?:'[^\W\d_]+)*)"
)
_VOWELS = frozenset("aeiouy")
_KEEP_DOUBLE = _VOWELS | frozenset("lsz")


def stem(word: str) -> str:
    """Strip common English inflections so that ``refunds``/``refunded``/``refunding`` match.

    Deliberately light (plural, ``-ed``, ``-ing``, trailing ``e``): it only has to
    map inflected forms of the same word onto one key consistently, not produce real words.
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    else:
        for suffix in ("ing", "ed"):
            base = word[: -len(suffix)]
            if word.endswith(suffix) and len(base) >= 3 and _VOWELS.intersection(base):
                word = base
                if len(word) > 3 and word[-1] == word[-2] and word[-1] not in _KEEP_DOUBLE:
                    word = word[:-1]
                break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def tokenize(text: str, *, cjk: bool = True) -> list[str]:
    """Split ``text`` (normalized here, so raw input is fine) into retrieval tokens.

    Latin words are stemmed, placeholders stay whole, and each run of CJK characters yields
    its character unigrams followed by its character bigrams. ``cjk=False`` drops the CJK
    tokens, for callers (the classifier's word features) that cover CJK text otherwise.
    """

    def bigrams(run: str) -> list[str]:
        return [*run, *(run[i : i + 2] for i in range(len(run) - 1))] if cjk else []

    return _scan(text, bigrams)


def segment(run: str) -> list[str]:
    """Dictionary words of a run of CJK characters (jieba's segmentation, HMM for unknown words)."""
    return [w for w in rjieba.cut(run) if w.strip()]


def words(text: str) -> list[str]:
    """Split ``text`` (normalized here) into words: Chinese segmented by :func:`segment`, Latin
    words stemmed as in :func:`tokenize`, placeholders whole. No character n-grams."""
    return _scan(text, segment)


def _scan(text: str, cjk_run: Callable[[str], list[str]]) -> list[str]:
    """Tokens of normalized ``text``: placeholders whole, Latin words stemmed, each CJK run
    expanded by ``cjk_run`` (character n-grams for :func:`tokenize`, words for :func:`words`)."""
    out: list[str] = []
    for match in _TOKEN.finditer(normalize(text)):
        if (placeholder := match.group("ph")) is not None:
            out.append(placeholder)
        elif (run := match.group("cjk")) is not None:
            out.extend(cjk_run(run))
        else:
            out.append(stem(match.group("word").replace("'", "")))
    return out


#: A run of fewer Latin words than this beside a run of at least ``_NAME_RUN_CJK`` Chinese
#: characters (or the other way round) is a name or a term of that text ("买的iPhone 14 Pro Max，
#: 屏幕碎了", "Hi, this is 王伟. My parcel is late"), not a part of it in its own script.
_NAME_RUN_LATIN: Final = 4
_NAME_RUN_CJK: Final = 4
_SCRIPT_TOKEN = re.compile(
    rf"(?P<ph><[a-z]+>)|(?P<cjk>[{_CJK_CLASS}])|(?P<word>[a-z]+(?:'[a-z]+)*)"
)


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of one script: its words (Latin) or characters (CJK), its content weight
    (letters; two per CJK character) and where it lies in the text."""

    latin: bool
    size: int
    weight: int
    start: int
    end: int


def _script_runs(content: str) -> list[tuple[_Run, bool]]:
    """Each run of one script in ``content`` (a normalized text; placeholders belong to
    neither script and do not break a run), and whether it counts towards its script's share:
    a short run beside a long run of the other script is a name of that text."""
    runs: list[_Run] = []
    for match in _SCRIPT_TOKEN.finditer(content):
        if match.group("ph"):
            continue
        latin = match.group("word") is not None
        weight = len(match.group()) if latin else 2
        if runs and runs[-1].latin == latin:
            last = runs[-1]
            runs[-1] = _Run(latin, last.size + 1, last.weight + weight, last.start, match.end())
        else:
            runs.append(_Run(latin, 1, weight, match.start(), match.end()))
    long_latin = any(r.latin and r.size >= _NAME_RUN_LATIN for r in runs)
    long_cjk = any(not r.latin and r.size >= _NAME_RUN_CJK for r in runs)
    return [
        (
            r,
            r.size >= (_NAME_RUN_LATIN if r.latin else _NAME_RUN_CJK)
            or not (long_cjk if r.latin else long_latin),
        )
        for r in runs
    ]


def without_names(content: str) -> str:
    """``content`` (a normalized text) without the runs :func:`latin_share` does not count:
    "买的iphone <num> pro max,屏幕碎了" -> "买的 ,屏幕碎了". A text in one script is unchanged."""
    out, at = [], 0
    for run, counted in _script_runs(content):
        if not counted:
            out += [content[at : run.start], " "]
            at = run.end
    return "".join(out) + content[at:] if out else content


def latin_share(text: str) -> float:
    """Share of Latin-script content in ``text``: 1.0 for English, 0.0 for Chinese.

    A CJK character counts as two Latin letters (roughly a word's worth of meaning per
    character pair), and placeholders are ignored so masked identifiers do not move the
    share. A short run of one script beside a long run of the other is a name or a term of
    that text and does not count: "我的iPhone 14 Pro Max屏幕碎了" is Chinese (0.0), "Hi, this
    is 王伟. My parcel is late" English (1.0). Two languages written at length both count, and
    so do two short ones ("APP闪退了"). Text without letters counts as Latin (1.0).
    """
    latin = cjk = 0
    for run, counted in _script_runs(normalize(text)):
        if counted and run.latin:
            latin += run.weight
        elif counted:
            cjk += run.weight
    return latin / (latin + cjk) if latin + cjk else 1.0
