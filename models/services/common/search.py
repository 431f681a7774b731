"""Board search on an index the app maintains: what a text and a query become, and the lookup.

**What matches.** A query matches a ticket when its words appear, in order, as a phrase in
one field: the title, the customer's description, the ticket number, the order number, or
the customer's name or number — or when its digits are part of the customer's phone.

* Both sides are normalized the same way: Unicode NFKC (full-width letters and digits
  become half-width) and case folding; punctuation and spaces only separate words.
* Chinese (and every other script without letter case, category ``Lo``) is a run of
  one-character words, so any part of a Chinese text matches ("退款" finds "申请退款了").
* Latin words and digit runs are words (a letter/digit boundary splits them: "TASK2026…"
  is "task" + "2026…"). The query's words must be whole words of the field, except the
  last, which may be the start of one: "refu" finds "refund", "fund" does not.
* A query of digits (spaces, "-", "+", brackets allowed) with at least
  :data:`PHONE_PART_MIN` of them also finds customers whose normalized phone contains those
  digits anywhere.

**The index.** Each field's words become terms: every Chinese character and every pair of
neighbouring characters (bigrams), and every Latin word's (or digit run's) prefixes up to
:data:`PREFIX_MAX` characters, then at the lengths in :data:`LONG_PREFIXES` — so a ticket,
order or customer number finds its few tickets through one term, instead of every ticket
whose number starts with the same year and month. Terms are stored as 64-bit hashes, per ticket
(:data:`ticket_search_terms`) and per customer (name, number and phone, so a changed
phone rewrites one customer's rows). The phone contributes keyed hashes (HMAC under the
contact keyring, like the contact lookup hashes) of each of its digit substrings of at
least :data:`PHONE_PART_MIN` digits — never the digits themselves.

**The lookup.** A query's terms must all be present (AND); where they do not say the whole
phrase (more than one term, or a word longer than the prefixes kept), the candidates are
checked against the normalized text kept beside the terms, which is exactly the rule above.
When the query has a long word, its long prefix is rare: the lookup starts from that term's
few rows and probes the others (instead of reading every row of a common one like "task").
The phone needs no check: the whole digit query is one term, present only when the phone
contains it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, exists, func, insert, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.customer import Customer
from models.search_index import (
    CustomerSearchText,
    TicketSearchText,
    customer_search_terms,
    ticket_search_terms,
)
from models.services.common.crypto import Cipher
from models.ticket import Ticket

PREFIX_MAX = 6  # every Latin-word prefix up to this length is a term
# Longer words also keep these prefixes; a query word uses the longest one it reaches.
LONG_PREFIXES = (8, 10, 12, 16, 20, 24, 32)
PHONE_PART_MIN = 4  # shortest phone fragment that finds a customer
PHONE_KIND = "phone-part"
_PHONE_QUERY = re.compile(r"^[\d\s\-+().]+$")


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _single(ch: str) -> bool:
    """A character that is a word on its own (Chinese and other caseless scripts)."""
    return unicodedata.category(ch) == "Lo"


def words(text: str | None) -> list[str]:
    """The normalized words of a text (see the module docstring)."""
    found: list[str] = []
    current: list[str] = []
    digits = False
    for ch in normalize(text or ""):
        if _single(ch):
            if current:
                found.append("".join(current))
                current = []
            found.append(ch)
        elif ch.isalnum():
            if current and ch.isdigit() != digits:
                found.append("".join(current))
                current = []
            current.append(ch)
            digits = ch.isdigit()
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def body(fields: Iterable[str | None]) -> str:
    """The kept normalized text: each field's words between spaces, one field per line."""
    return "\n".join(" " + " ".join(words(f)) + " " for f in fields if f)


def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), signed=True)


def prefix_lengths(n: int) -> list[int]:
    """The prefix lengths indexed for a word of ``n`` characters."""
    return [*range(1, min(n, PREFIX_MAX) + 1), *(k for k in LONG_PREFIXES if k <= n)]


def longest_prefix(n: int) -> int:
    """The longest indexed prefix of a word of ``n`` characters (what a query looks up)."""
    return n if n <= PREFIX_MAX else max(k for k in (PREFIX_MAX, *LONG_PREFIXES) if k <= n)


def _text_terms(tokens: Sequence[str], *, query: bool, long_only: bool = False) -> set[str]:
    terms: set[str] = set()
    for i, token in enumerate(tokens):
        if long_only:
            if not _single(token[0]):
                terms.update("p:" + token[:k] for k in LONG_PREFIXES if k <= len(token))
            continue
        if _single(token[0]):
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            pair = bool(following) and _single(following[0])
            if pair:
                terms.add("b:" + token + following)
            previous = tokens[i - 1] if i else ""
            # A query needs the lone character only where no pair carries it.
            if not query or not (pair or (previous and _single(previous[0]))):
                terms.add("u:" + token)
        elif query:
            terms.add("p:" + token[: longest_prefix(len(token))])
        else:
            terms.update("p:" + token[:k] for k in prefix_lengths(len(token)))
    return terms


def text_terms(fields: Iterable[str | None], *, long_only: bool = False) -> set[int]:
    """The index terms of some fields (each field on its own: no pair spans two fields);
    ``long_only``: only the prefixes longer than :data:`PREFIX_MAX` (a migration's backfill)."""
    terms: set[str] = set()
    for f in fields:
        terms |= _text_terms(words(f), query=False, long_only=long_only)
    return {term_id(t) for t in terms}


def _hash_id(hexdigest: str) -> int:
    return int.from_bytes(bytes.fromhex(hexdigest[:16]), signed=True)


def phone_terms(cipher: Cipher, phone: str | None) -> set[int]:
    """Keyed hashes of every digit substring of a normalized phone (at least 4 digits)."""
    if not phone:
        return set()
    n = len(phone)
    return {
        _hash_id(cipher.blind_index(PHONE_KIND, phone[i:j]))
        for i in range(n)
        for j in range(i + PHONE_PART_MIN, n + 1)
    }


# --- maintenance --------------------------------------------------------------------------


def ticket_fields(ticket: Any) -> tuple[str | None, ...]:
    """The indexed fields of a ticket (a row or anything with those attributes)."""
    return (ticket.title, ticket.description, ticket.number, ticket.order_number)


async def index_ticket(session: AsyncSession, ticket: Ticket) -> None:
    """(Re)write one ticket's index rows from its current fields (same transaction)."""
    await session.execute(
        delete(ticket_search_terms).where(ticket_search_terms.c.ticket_id == ticket.id)
    )
    await session.execute(delete(TicketSearchText).where(TicketSearchText.ticket_id == ticket.id))
    await bulk_index_tickets(session, [(ticket.id, ticket_fields(ticket))])


async def bulk_index_tickets(
    session: AsyncSession, items: Iterable[tuple[int, Sequence[str | None]]]
) -> None:
    """Index tickets that have no index rows yet (new tickets, bulk loads, the backfill)."""
    texts: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for ticket_id, fields in items:
        texts.append({"ticket_id": ticket_id, "body": body(fields)})
        terms.extend({"term": t, "ticket_id": ticket_id} for t in text_terms(fields))
        if len(terms) >= CHUNK:
            await _flush_rows(session, TicketSearchText, ticket_search_terms, texts, terms)
    await _flush_rows(session, TicketSearchText, ticket_search_terms, texts, terms)


CHUNK = 20_000  # term rows per bulk insert (bounded memory for large loads)


async def _flush_rows(
    session: AsyncSession,
    text_model: Any,
    table: Any,
    texts: list[dict[str, Any]],
    terms: list[dict[str, Any]],
) -> None:
    """Insert the collected rows and empty the lists."""
    if texts:
        await session.execute(insert(text_model), texts)
    if terms:
        await session.execute(insert(table), terms)
    texts.clear()
    terms.clear()


def customer_fields(customer: Any) -> tuple[str | None, ...]:
    return (customer.name, customer.number)


async def index_customer(
    session: AsyncSession, cipher: Cipher, customer: Any, phone: str | None
) -> None:
    """(Re)write one customer's index rows; ``phone`` is the normalized plaintext phone."""
    await session.execute(
        delete(customer_search_terms).where(customer_search_terms.c.customer_id == customer.id)
    )
    await session.execute(
        delete(CustomerSearchText).where(CustomerSearchText.customer_id == customer.id)
    )
    await bulk_index_customers(session, cipher, [(customer.id, customer_fields(customer), phone)])


async def bulk_index_customers(
    session: AsyncSession,
    cipher: Cipher,
    items: Iterable[tuple[int, Sequence[str | None], str | None]],
) -> None:
    """Index customers that have no index rows yet."""
    texts: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for customer_id, fields, phone in items:
        texts.append({"customer_id": customer_id, "body": body(fields)})
        found = text_terms(fields) | phone_terms(cipher, phone)
        terms.extend({"term": t, "customer_id": customer_id} for t in found)
        if len(terms) >= CHUNK:
            await _flush_rows(session, CustomerSearchText, customer_search_terms, texts, terms)
    await _flush_rows(session, CustomerSearchText, customer_search_terms, texts, terms)


# --- the lookup ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    phrase: str  # the normalized words between single spaces
    terms: tuple[int, ...]  # all must be present
    exact: bool  # the terms alone say the phrase (no check against the text needed)
    phone: tuple[int, ...]  # keyed hashes of the digit fragment under every key (any)
    # A rare term to start from (a long word's long prefix); None: read all terms' rows.
    driver: int | None = None


def parse(q: str, cipher: Cipher) -> Query | None:
    """A query as terms; None when it has nothing to look for."""
    tokens = words(q)
    terms = tuple(sorted(term_id(t) for t in _text_terms(tokens, query=True)))
    single_cjk = all(_single(t[0]) for t in tokens) and len(tokens) <= 2
    single_word = len(tokens) == 1 and longest_prefix(len(tokens[0])) == len(tokens[0])
    exact = len(terms) == 1 and (single_cjk or single_word)
    longest = max((t for t in tokens if not _single(t[0])), key=len, default="")
    driver = None
    if len(terms) > 1 and len(longest) > PREFIX_MAX:
        driver = term_id("p:" + longest[: longest_prefix(len(longest))])
    phone: tuple[int, ...] = ()
    text = unicodedata.normalize("NFKC", q).strip()
    if _PHONE_QUERY.match(text):
        digits = re.sub(r"\D", "", text)
        if len(digits) >= PHONE_PART_MIN:
            phone = tuple(_hash_id(h) for h in cipher.blind_indexes(PHONE_KIND, digits))
    if not terms and not phone:
        return None
    return Query(" ".join(tokens), terms, exact, phone, driver)


def _matching(table: Any, key: Any, text_model: Any, text_key: Any, query: Query) -> Select[Any]:
    if len(query.terms) == 1:
        found = select(key).where(table.c.term == query.terms[0])
    elif query.driver is not None:
        found = select(key).where(table.c.term == query.driver)
        for other in query.terms:
            if other != query.driver:
                probe = table.alias()
                found = found.where(exists().where(probe.c.term == other, probe.c[key.name] == key))
    else:
        found = (
            select(key)
            .where(table.c.term.in_(query.terms))
            .group_by(key)
            .having(func.count() == len(query.terms))
        )
    if query.exact:
        return found
    return select(text_key).where(text_key.in_(found), text_model.body.like(f"% {query.phrase}%"))


def symbol_scan(q: str) -> ColumnElement[bool]:
    """A query of symbols alone ("%", "#"), which has no indexed words: a substring scan of
    the raw title, description and customer name (rare, so not indexed)."""
    return or_(
        Ticket.title.contains(q, autoescape=True),
        Ticket.description.contains(q, autoescape=True),
        Ticket.customer_id.in_(
            select(Customer.id).where(Customer.name.contains(q, autoescape=True))
        ),
    )


def matching_ticket_ids(query: Query) -> Select[Any]:
    """The ids of the tickets the query finds (a subquery for ``Ticket.id.in_``)."""
    customers: list[Select[Any]] = []
    parts: list[Select[Any]] = []
    if query.terms:
        parts.append(
            _matching(
                ticket_search_terms,
                ticket_search_terms.c.ticket_id,
                TicketSearchText,
                TicketSearchText.ticket_id,
                query,
            )
        )
        customers.append(
            _matching(
                customer_search_terms,
                customer_search_terms.c.customer_id,
                CustomerSearchText,
                CustomerSearchText.customer_id,
                query,
            )
        )
    if query.phone:
        customers.append(
            select(customer_search_terms.c.customer_id).where(
                customer_search_terms.c.term.in_(query.phone)
            )
        )
    by_customer = customers[0] if len(customers) == 1 else union(*customers)
    parts.append(select(Ticket.id).where(Ticket.customer_id.in_(by_customer)))
    return parts[0] if len(parts) == 1 else union(*parts)  # type: ignore[return-value]
