"""Reading an inbound email: headers, the plain-text body, attachments, and what kind of mail
it is. Pure functions (bytes in, :class:`ParsedMail` out); :mod:`mail_inbound` decides what to
do with the result.

Chinese mail arrives in every encoding there is: RFC 2047 ``B``/``Q`` encoded words, GB2312
and GBK bodies (read as GB18030, their superset), raw 8-bit UTF-8 headers. HTML-only mail is
turned into text with the standard library's parser (scripts and styles dropped, line breaks
kept); the text is stored and always rendered escaped, never as markup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser

# GB2312 and GBK are subsets of GB18030: decoding with the superset reads what senders
# labelled with the older name but actually wrote with the newer one.
CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}
MESSAGE_ID_MAX = 500
SUBJECT_MAX = 500
SYSTEM_SENDERS = ("mailer-daemon", "postmaster")
IGNORED_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    data: bytes
    content_type: str


@dataclass
class ParsedMail:
    """What Kefu needs of one message. ``problem`` names why it is malformed (else None)."""

    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    subject: str
    sender_name: str
    sender: str
    body: str
    full_body: str
    attachments: list[MailAttachment] = field(default_factory=list)
    auto_reason: str | None = None
    problem: str | None = None
    raw_hash: str = ""
    # An address written inside the display name that is not the sender's (a warning sign:
    # ``"鲍勃 <bob@example.com>" <attacker@evil.example>``); never used as the sender.
    display_address: str | None = None


# --- charsets and headers -------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; an unknown or lying charset falls back to UTF-8, then
    GB18030, never raising."""
    name = (charset or "").strip().strip('"').lower()
    name = CHARSET_ALIASES.get(name, name)
    for candidate in (name, "utf-8", "gb18030"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def _unescape_raw(value: str) -> str:
    """A header with raw 8-bit bytes comes back from compat32 with surrogate escapes."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return value


def decode_header_value(value: object) -> str:
    """An RFC 2047 header (``=?GBK?B?…?=``, ``=?utf-8?Q?…?=``, raw UTF-8) as text."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 wraps raw 8-bit headers as unknown-8bit
        parts = decode_header(value)
        text = "".join(c if isinstance(c, str) else decode_bytes(c, cs) for c, cs in parts)
        value = text
    text = _unescape_raw(str(value))
    try:
        parts = decode_header(text)
    except Exception:  # a broken encoded word: show it as it came
        return " ".join(text.split())
    out = []
    for chunk, charset in parts:
        out.append(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset))
    return " ".join("".join(out).split())


EMAIL_IN_TEXT_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def _raw_header(value: object) -> str:
    """A header as it came, encoded words left encoded (raw 8-bit bytes read as text)."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 wraps raw 8-bit headers as unknown-8bit
        parts = decode_header(value)
        return "".join(c if isinstance(c, str) else decode_bytes(c, cs) for c, cs in parts)
    return _unescape_raw(str(value))


def sender_of(value: object) -> tuple[str, str, str | None]:
    """(display name, address, address shown in the display name if it differs).

    The address is the one the From header's syntax gives — parsed from the raw header
    before any encoded word is decoded — so text inside an encoded display name can never
    become the sender, and a decoded name with a comma ("张, 三") cannot split it.
    """
    pairs = [(n, a.strip()) for n, a in getaddresses([_raw_header(value)]) if "@" in a]
    if not pairs:
        return "", "", None
    raw_name, address = pairs[0]
    name = decode_header_value(raw_name)
    shown = next(
        (
            found.lower()
            for found in EMAIL_IN_TEXT_RE.findall(name)
            if found.lower() != address.lower()
        ),
        None,
    )
    if shown:  # the name without the address it pretends to be
        name = " ".join(re.sub(r"<?\s*" + EMAIL_IN_TEXT_RE.pattern + r"\s*>?", " ", name).split())
    return name, address, shown


MSGID_RE = re.compile(r"<([^<>\s]{1,490})>")


def message_ids(value: object) -> list[str]:
    """The Message-IDs in an In-Reply-To or References header, without angle brackets."""
    text = _unescape_raw(str(value or ""))
    found = MSGID_RE.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>")]
    return [m[:MESSAGE_ID_MAX] for m in found]


# --- HTML to text ---------------------------------------------------------------------------

_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "hr",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "blockquote",
}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg"}
_QUOTE_START = "\x00quote-start"
_QUOTE_END = "\x00quote-end"


class _TextExtractor(HTMLParser):
    """Text of an HTML body: markup dropped, script/style contents dropped, blocks on their
    own lines, quoted history (``<blockquote>``) marked with ``>`` so it is trimmed like
    plain-text quotes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.parts.append(f"\n{_QUOTE_START}\n")
        elif tag == "pre":
            self.pre += 1
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr", "p", "div"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
        elif tag == "blockquote":
            self.parts.append(f"\n{_QUOTE_END}\n")
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Plain text of an HTML mail body (safe: nothing of the markup survives as markup)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; anything worse: drop tags crudely
        return re.sub(r"<[^>]*>", " ", html)
    lines: list[str] = []
    depth = 0
    for line in "".join(parser.parts).split("\n"):
        if line == _QUOTE_START:
            depth += 1
            continue
        if line == _QUOTE_END:
            depth = max(depth - 1, 0)
            continue
        line = line.strip() if not parser.pre else line.rstrip()
        lines.append(("> " * depth + line) if depth and line else line)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- quoted history and signatures ----------------------------------------------------------

_QUOTE_HEADERS = (
    re.compile(r"^\s*on\b.{0,300}\bwrote\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*在.{0,300}(写道|寫道)\s*[:：]?\s*$"),
    re.compile(r"^\s*-{2,}\s*(original message|原始邮件|原始郵件|原邮件)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's divider before "From: …"
    re.compile(r"^\s*-{2,}\s*(forwarded message|转发的邮件)\s*-{2,}\s*$", re.I),
)


def trim_reply(text: str) -> str:
    """The new part of a message: quoted history ("On … wrote:", "在 … 写道：", ``>`` lines,
    Outlook's "-----Original Message-----"/"-----原始邮件-----") and the signature after the
    ``-- `` delimiter removed. Never empty when the text was not: if trimming would leave
    nothing, the whole text is kept."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if any(p.match(line) for p in _QUOTE_HEADERS):
            break
        # Gmail wraps long "On …, X <x@y> wrote:" headers over two lines.
        if line.lower().startswith("on ") and following.strip().lower().endswith("wrote:"):
            break
        if line.rstrip() in ("--", "-- "):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    result = re.sub(r"\n{3,}", "\n\n", result)
    return result or text.strip()


# --- the message ----------------------------------------------------------------------------


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def _filename(part: Message) -> str | None:
    raw = part.get_filename()
    if raw is None:
        return None
    name = decode_header_value(raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "attachment"


def _walk(msg: Message) -> tuple[str | None, str | None, list[MailAttachment]]:
    """The first text/plain and text/html bodies and the attachments."""
    plain: str | None = None
    html: str | None = None
    attachments: list[MailAttachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        filename = _filename(part)
        if disposition == "attachment" or (filename and not content_type.startswith("text/")):
            data = part.get_payload(decode=True)
            attachments.append(
                MailAttachment(
                    filename or "attachment", data if isinstance(data, bytes) else b"", content_type
                )
            )
        elif content_type == "text/plain" and plain is None:
            plain = _part_text(part)
        elif content_type == "text/html" and html is None:
            html = _part_text(part)
    return plain, html, attachments


def auto_reason(msg: Message, sender: str, own_addresses: tuple[str, ...] = ()) -> str | None:
    """Why this message must never become a ticket nor get an answer (None: a person wrote it).

    Auto-replies and vacation notices (RFC 3834 Auto-Submitted, X-Autoreply), bounces
    (empty Return-Path, mailer-daemon, delivery reports), list and bulk traffic, and our own
    mail coming back.
    """
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto.split(";", 1)[0].strip() != "no":
        return f"auto-submitted: {auto[:40]}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in IGNORED_PRECEDENCE:
        return f"precedence: {precedence}"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing list"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        return "bounce (empty return path)"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(header) is not None:
            return f"{header.lower()}"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    local = sender.partition("@")[0].lower()
    if local in SYSTEM_SENDERS:
        return f"system sender: {local}"
    if sender and sender.lower() in own_addresses:
        return "our own address"
    return None


def parse(raw: bytes, own_addresses: tuple[str, ...] = ()) -> ParsedMail:
    """Everything Kefu reads from a raw message; never raises (``problem`` says what's wrong)."""
    raw_hash = hashlib.sha256(raw).hexdigest()
    try:
        msg = message_from_bytes(raw)
    except Exception as exc:  # pragma: no cover - the stdlib parser is very lenient
        return ParsedMail(
            None, [], [], "", "", "", "", "", problem=f"unreadable: {exc}"[:200], raw_hash=raw_hash
        )
    ids = message_ids(msg.get("Message-ID"))
    name, address, display_address = sender_of(msg.get("From"))
    if not address:  # some senders put the address only in Sender/Reply-To
        _, address, _ = sender_of(msg.get("Reply-To"))
    address = address.strip().lower()
    subject = decode_header_value(msg.get("Subject"))[:SUBJECT_MAX]
    problem = None
    try:
        plain, html, attachments = _walk(msg)
    except Exception as exc:
        plain, html, attachments = None, None, []
        problem = f"unreadable body: {type(exc).__name__}"
    if plain is not None and plain.strip():
        full = plain
    elif html is not None:
        full = html_to_text(html)
    else:
        full = plain or ""
    full = full.replace("\r\n", "\n").replace("\x00", "").strip()
    if problem is None:
        if not address or "@" not in address:
            problem = "no sender address"
        elif not subject.strip() and not full.strip() and not attachments:
            problem = "empty message"
        elif msg.defects and not full.strip() and not subject.strip():
            problem = "malformed: " + ", ".join(type(d).__name__ for d in msg.defects)[:150]
    return ParsedMail(
        message_id=ids[0] if ids else None,
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(msg.get("References")),
        subject=subject,
        sender_name=name.strip()[:200],
        sender=address[:254],
        body=trim_reply(full) if full else "",
        full_body=full,
        attachments=attachments,
        auto_reason=auto_reason(msg, address, own_addresses),
        problem=problem,
        raw_hash=raw_hash,
        display_address=display_address[:254] if display_address else None,
    )


CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def guess_locale(*texts: str) -> str:
    """zh_CN when the customer wrote any Chinese, else en (for the answers we send)."""
    return "zh_CN" if any(CJK_RE.search(t or "") for t in texts) else "en"
