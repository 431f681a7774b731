"""Knowledge base: authoring, embeddings, hybrid retrieval, suggestions, clicks and deflections.

Retrieval is :class:`triage.retrieval.HybridIndex` (BM25 over title and body, Chinese-aware
terms, + dense cosine, normalized scores fused with per-language weights). The web never
embeds: a portal query is asked of the worker (:func:`models.services.common.asks.ask`, topic
``suggest``), which keeps the index and the embedder; if the worker does not answer within
:data:`SUGGEST_TIMEOUT`, the web ranks lexically (BM25 only, no model). Suggestions stored
for a ticket at triage time are shown in the drawer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.article import Article
from models.base import utcnow
from models.db import Database, record_job, unit_of_work
from models.enums import ArticleStatus
from models.services.common import asks, audit
from models.services.common.actor import Actor
from models.services.common.errors import N_, Forbidden, NotFound, ValidationFailed
from models.services.common.jobs import SUGGEST, embed_job
from models.settings import get_settings
from models.suggestion import Deflection, TicketSuggestion
from models.ticket import Ticket
from triage.vectors import from_bytes, to_bytes

if TYPE_CHECKING:
    import numpy as np

    from triage.embedder import Embedder
    from triage.encoder import Encoder, Progress
    from triage.retrieval import HybridIndex, Method

log = logging.getLogger(__name__)

LOCALES = ("zh_CN", "en")
TITLE_MAX = 300
BODY_MAX = 50_000
# The web waits this long for the worker's answer, then ranks lexically itself.
SUGGEST_TIMEOUT = 1.5
# Dense neighbours shown to people must be at least as similar (cosine) as the embedder's
# floor (``Embedder.dense_floor``) — the dense ranking ranks every article, so without a floor
# any query would "find" something.
# Articles in another language than the visitor's rank a little lower.
OTHER_LOCALE_FACTOR = 0.85
TICKET_SUGGESTIONS = 3
STORE_BATCH = 256  # article embeddings stored per transaction
# Building an index embeds this many missing articles while searches wait; a longer backlog
# (a new embedding model: e5 takes 0.1-0.4 s of one core per article) is embedded in the
# background, BACKLOG_BATCH at a time, so a query waits for one small batch at most.
INLINE_EMBED = 64
BACKLOG_BATCH = 4


# --- authoring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleInput:
    """An article as a lead writes it (Markdown body)."""

    title: str
    body: str
    locale: str = "zh_CN"


def _ensure_lead(actor: Actor) -> None:
    if not actor.is_lead:
        raise Forbidden(N_("Only leads can edit the knowledge base."))


def _clean(data: ArticleInput) -> ArticleInput:
    title = (data.title or "").strip()
    body = (data.body or "").strip()
    fields: dict[str, str] = {}
    if not title:
        fields["title"] = N_("Required.")
    elif len(title) > TITLE_MAX:
        fields["title"] = N_("Too long.")
    if not body:
        fields["body"] = N_("Required.")
    elif len(body) > BODY_MAX:
        fields["body"] = N_("Too long.")
    if data.locale not in LOCALES:
        fields["locale"] = N_("Invalid value.")
    if fields:
        raise ValidationFailed(N_("Please correct the highlighted fields."), fields=fields)
    return ArticleInput(title, body, data.locale)


async def get_article(session: AsyncSession, article_id: int) -> Article:
    article = await session.get(Article, article_id)
    if article is None:
        raise NotFound(N_("Article not found."))
    return article


async def create_article(
    session: AsyncSession, actor: Actor, data: ArticleInput, *, publish: bool = False
) -> Article:
    """A new draft (or, with ``publish``, a published article the worker then embeds)."""
    _ensure_lead(actor)
    data = _clean(data)
    now = utcnow()
    article = Article(
        title=data.title,
        body=data.body,
        locale=data.locale,
        status=ArticleStatus.PUBLISHED if publish else ArticleStatus.DRAFT,
        author_id=actor.user_id,
        created_at=now,
        updated_at=now,
        published_at=now if publish else None,
    )
    session.add(article)
    await session.flush()
    audit.record(
        session,
        actor,
        entity_type="article",
        entity_id=article.id,
        action="create",
        after={"title": data.title, "status": str(article.status)},
    )
    if publish:
        record_job(session, embed_job([article.id]))
    return article


async def update_article(
    session: AsyncSession, actor: Actor, article_id: int, data: ArticleInput
) -> Article:
    """Edit an article; a changed text drops its embedding (the worker embeds it again)."""
    _ensure_lead(actor)
    data = _clean(data)
    article = await get_article(session, article_id)
    changed = {
        name: (getattr(article, name), value)
        for name, value in (("title", data.title), ("body", data.body), ("locale", data.locale))
        if getattr(article, name) != value
    }
    if not changed:
        return article
    for name, (before, after) in changed.items():
        setattr(article, name, after)
        audit.record(
            session,
            actor,
            entity_type="article",
            entity_id=article.id,
            action="change",
            field=name,
            before=before if name != "body" else None,
            after=after if name != "body" else None,
        )
    article.embedding = None
    article.embedding_model = None
    article.updated_at = utcnow()
    await session.flush()
    if article.status == ArticleStatus.PUBLISHED:
        record_job(session, embed_job([article.id]))
    return article


async def set_status(
    session: AsyncSession, actor: Actor, article_id: int, status: ArticleStatus
) -> Article:
    """Publish, archive or return an article to draft (publishing queues its embedding)."""
    _ensure_lead(actor)
    article = await get_article(session, article_id)
    if article.status == status:
        return article
    audit.record(
        session,
        actor,
        entity_type="article",
        entity_id=article.id,
        action="status",
        field="status",
        before=str(article.status),
        after=str(status),
    )
    article.status = status
    article.updated_at = utcnow()
    if status is ArticleStatus.PUBLISHED:
        article.published_at = article.published_at or utcnow()
        record_job(session, embed_job([article.id]))
    await session.flush()
    return article


@dataclass(frozen=True)
class ArticleRow:
    """A line of the knowledge-base list."""

    id: int
    title: str
    locale: str
    status: ArticleStatus
    suggested_count: int
    click_count: int
    solved_count: int
    updated_at: Any
    is_embedded: bool


async def article_rows(session: AsyncSession, actor: Actor, limit: int = 200) -> list[ArticleRow]:
    """Leads see every article; agents the published ones."""
    stmt = (
        select(
            Article.id,
            Article.title,
            Article.locale,
            Article.status,
            Article.suggested_count,
            Article.click_count,
            Article.solved_count,
            Article.updated_at,
            Article.embedding_model,
        )
        .order_by(Article.updated_at.desc(), Article.id.desc())
        .limit(limit)
    )
    if not actor.is_lead:
        stmt = stmt.where(Article.status == ArticleStatus.PUBLISHED)
    return [
        ArticleRow(
            r.id,
            r.title,
            r.locale,
            ArticleStatus(r.status),
            r.suggested_count,
            r.click_count,
            r.solved_count,
            r.updated_at,
            r.embedding_model is not None,
        )
        for r in (await session.execute(stmt)).all()
    ]


@lru_cache(maxsize=1)
def _markdown() -> Any:
    """The Markdown renderer (stateless; built on first use, never at import)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> str:
    """Article Markdown as safe HTML: raw HTML in the source is shown as text, and links with
    unsafe schemes (javascript:, data: …) are not rendered as links."""
    return str(_markdown().render(text or ""))


@dataclass(frozen=True)
class ArticleView:
    """One article page."""

    id: int
    title: str
    html: str
    body: str
    locale: str
    status: ArticleStatus
    suggested_count: int
    click_count: int
    solved_count: int
    updated_at: Any
    can_edit: bool

    @property
    def is_published(self) -> bool:
        return self.status is ArticleStatus.PUBLISHED


async def article_view(session: AsyncSession, actor: Actor, article_id: int) -> ArticleView:
    article = await get_article(session, article_id)
    if article.status != ArticleStatus.PUBLISHED and not actor.is_lead:
        raise NotFound(N_("Article not found."))
    return ArticleView(
        article.id,
        article.title,
        render_markdown(article.body),
        article.body,
        article.locale,
        ArticleStatus(article.status),
        article.suggested_count,
        article.click_count,
        article.solved_count,
        article.updated_at,
        actor.is_lead,
    )


@dataclass(frozen=True)
class PublicArticle:
    """A published article as a portal visitor reads it (rendered, safe HTML)."""

    id: int
    title: str
    html: str


async def public_article(session: AsyncSession, article_id: int) -> PublicArticle:
    """A published article for the portal; a draft or archived one is the same 404 as none."""
    article = await session.get(Article, article_id)
    if article is None or article.status != ArticleStatus.PUBLISHED:
        raise NotFound(N_("This answer is no longer available."))
    return PublicArticle(article.id, article.title, render_markdown(article.body))


async def record_click(session: AsyncSession, article_id: int) -> None:
    """Someone opened a suggested article: count it (not an edit: updated_at is kept)."""
    result = await session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(click_count=Article.click_count + 1, updated_at=Article.updated_at)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(N_("Article not found."))


# --- import (kefu kb import) ------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedArticle:
    external_id: str
    title: str
    body: str
    locale: str


def guess_locale(text: str) -> str:
    """zh_CN for mostly-Chinese text, en otherwise."""
    from triage.text import latin_share

    return "en" if latin_share(text) >= 0.5 else "zh_CN"


def _locale_of(record: Mapping[str, Any], text: str) -> str:
    raw = str(record.get("locale") or record.get("lang") or "").strip().lower()
    if raw.startswith("zh"):
        return "zh_CN"
    if raw.startswith("en"):
        return "en"
    return guess_locale(text)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def _markdown_article(path: Path) -> ImportedArticle:
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    title, body_lines = path.stem, lines
    for index, line in enumerate(lines):
        if line.strip():
            match = _HEADING.match(line)
            if match:
                title = match.group(1).strip()
                body_lines = lines[index + 1 :]
            break
    body = "\n".join(body_lines).strip() or title
    return ImportedArticle(path.stem, title[:TITLE_MAX], body, _locale_of({}, f"{title} {body}"))


def read_import(path: str | Path) -> list[ImportedArticle]:
    """Articles from a JSONL file ({"id","title","body"}, optional "locale"/"lang") or a
    folder of Markdown files (id = file stem, title = first heading). Raises ValueError
    naming the file and line of the first problem."""
    source = Path(path)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".md", ".markdown"))
        if not files:
            raise ValueError(f"{source}: no Markdown files")
        return [_markdown_article(p) for p in files]
    out: list[ImportedArticle] = []
    seen: set[str] = set()
    for number, line in enumerate(source.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{source}:{number}: expected an object")
        ext = str(record.get("id") or "").strip()
        title = str(record.get("title") or "").strip()
        body = str(record.get("body") or "").strip()
        if not ext or not title or not body:
            raise ValueError(f"{source}:{number}: 'id', 'title' and 'body' are required")
        if ext in seen:
            raise ValueError(f"{source}:{number}: duplicate id {ext!r}")
        seen.add(ext)
        out.append(
            ImportedArticle(
                ext[:100], title[:TITLE_MAX], body, _locale_of(record, f"{title} {body}")
            )
        )
    if not out:
        raise ValueError(f"{source}: no articles")
    return out


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    ids: list[int]


async def upsert_articles(
    session: AsyncSession, actor: Actor, items: Sequence[ImportedArticle]
) -> ImportResult:
    """Create or update published articles by external id; changed texts lose their
    embedding (the caller or the worker embeds them)."""
    existing = (
        {
            a.external_id: a
            for a in (
                await session.scalars(
                    select(Article).where(Article.external_id.in_([i.external_id for i in items]))
                )
            ).all()
        }
        if items
        else {}
    )
    now = utcnow()
    created = updated = unchanged = 0
    articles: list[Article] = []
    for item in items:
        article = existing.get(item.external_id)
        if article is None:
            article = Article(
                external_id=item.external_id,
                title=item.title,
                body=item.body,
                locale=item.locale,
                status=ArticleStatus.PUBLISHED,
                author_id=actor.user_id,
                created_at=now,
                updated_at=now,
                published_at=now,
            )
            session.add(article)
            created += 1
        elif (article.title, article.body, article.locale, article.status) != (
            item.title,
            item.body,
            item.locale,
            ArticleStatus.PUBLISHED,
        ):
            if (article.title, article.body) != (item.title, item.body):
                article.embedding = None
                article.embedding_model = None
            article.title, article.body, article.locale = item.title, item.body, item.locale
            article.status = ArticleStatus.PUBLISHED
            article.published_at = article.published_at or now
            article.updated_at = now
            updated += 1
        else:
            unchanged += 1
        articles.append(article)
    await session.flush()
    if created or updated:
        audit.record(
            session,
            actor,
            entity_type="article",
            entity_id=0,
            action="import",
            after={"created": created, "updated": updated},
        )
    return ImportResult(created, updated, unchanged, [a.id for a in articles])


# --- embeddings ----------------------------------------------------------------------------


def embedding_text(title: str, body: str) -> str:
    """What is embedded for an article: its title and plain-text body."""
    return f"{title}\n{_plain(body)}"


async def missing_embeddings(
    session: AsyncSession, model_name: str, article_ids: Sequence[int] | None = None
) -> list[tuple[int, str]]:
    """(id, text) of published articles without an embedding from ``model_name``."""
    stmt = (
        select(Article.id, Article.title, Article.body)
        .where(
            Article.status == ArticleStatus.PUBLISHED,
            (Article.embedding.is_(None))
            | (Article.embedding_model.is_(None))
            | (Article.embedding_model != model_name),
        )
        .order_by(Article.id)
    )
    if article_ids:
        stmt = stmt.where(Article.id.in_(list(article_ids)))
    return [(r.id, embedding_text(r.title, r.body)) for r in (await session.execute(stmt)).all()]


async def store_embeddings(
    session: AsyncSession, vectors: Mapping[int, np.ndarray], model_name: str
) -> None:
    """Save article embeddings (not an edit: updated_at is kept, so indexes stay valid)."""
    for article_id, vector in vectors.items():
        await session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(
                embedding=to_bytes(vector),
                embedding_model=model_name,
                updated_at=Article.updated_at,
            )
        )


async def embed_articles(
    db: Database,
    encoder: Encoder,
    redis: Any = None,
    article_ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    *,
    batch: int = STORE_BATCH,
    shuffle: bool = False,
) -> int:
    """Embed published articles lacking a current embedding; returns how many.

    Stored as it goes (``batch`` articles a transaction), so an interrupted run resumes.
    ``shuffle`` (a backlog embedded by several workers at once): each takes the articles in
    an order of its own and skips those another has embedded meanwhile.
    """
    name = await encoder.name()
    if name is None:
        return 0
    async with db.sessionmaker() as session:
        todo = await missing_embeddings(session, name, article_ids)
    if shuffle:
        random.shuffle(todo)
    done = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        if shuffle:
            async with db.sessionmaker() as session:
                chunk = await missing_embeddings(session, name, [i for i, _ in chunk])
        if chunk:
            vectors = await encoder.encode([text for _, text in chunk], passage=True)
            assert vectors is not None
            async with unit_of_work(db, redis, get_settings().event_channel) as session:
                await store_embeddings(
                    session, dict(zip([i for i, _ in chunk], vectors, strict=True)), name
                )
            done += len(chunk)
        if progress is not None:
            await progress(min(len(todo), start + batch))
    return done


# --- retrieval -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    id: int
    title: str
    body: str
    locale: str
    embedding: bytes | None
    embedding_model: str | None


async def index_stamp(session: AsyncSession) -> str:
    """Changes whenever the set or text of published articles changes (not on counters)."""
    row = (
        await session.execute(
            select(
                func.count(Article.id), func.max(Article.updated_at), func.max(Article.id)
            ).where(Article.status == ArticleStatus.PUBLISHED)
        )
    ).one()
    return f"{row[0]}:{row[1].isoformat() if row[1] else '-'}:{row[2] or 0}"


async def index_rows(session: AsyncSession, limit: int | None = None) -> list[IndexRow]:
    """Published articles for an index (newest first when limited)."""
    stmt = select(
        Article.id,
        Article.title,
        Article.body,
        Article.locale,
        Article.embedding,
        Article.embedding_model,
    ).where(Article.status == ArticleStatus.PUBLISHED)
    stmt = stmt.order_by(Article.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    return [IndexRow(*r) for r in (await session.execute(stmt)).all()]


@dataclass
class KbIndex:
    """A built retrieval index over published articles, with the stamp it was built from
    and the embedder whose vectors it holds (None: lexical only)."""

    stamp: str
    index: HybridIndex
    locales: dict[int, str]
    embedder: Embedder | None = None
    #: False while some published article still lacks a vector from the encoder's model (the
    #: index is then lexical until they are embedded).
    complete: bool = True

    def dense_floor(self, query: str) -> float | None:
        """The cosine a dense neighbour of ``query`` shown to people must reach."""
        return self.embedder.dense_floor(query) if self.embedder is not None else None


def build_index(
    rows: Sequence[IndexRow],
    embeddings: np.ndarray | None,
    stamp: str,
    embedder: Embedder | None = None,
) -> KbIndex:
    """Index ``rows`` (``embeddings[i]`` belongs to ``rows[i]``, made by ``embedder``; None:
    lexical only). A multilingual embedder's dense side counts in every script."""
    from triage.retrieval import HybridIndex

    multilingual = embedder is not None and embedder.multilingual
    index = HybridIndex.build(
        [(r.id, r.title, _plain(r.body)) for r in rows],
        embeddings,
        dense_latin_only=not multilingual,
    )
    return KbIndex(
        stamp, index, {r.id: r.locale for r in rows}, embedder if embeddings is not None else None
    )


def stored_embeddings(rows: Sequence[IndexRow], model_name: str | None) -> np.ndarray | None:
    """The rows' stored vectors as a matrix, if every row has one from ``model_name``."""
    import numpy as np

    if model_name is None or not rows:
        return None
    vectors = []
    for row in rows:
        vector = from_bytes(row.embedding) if row.embedding_model == model_name else None
        if vector is None:
            return None
        vectors.append(vector)
    return np.vstack(vectors)


async def load_index(
    db: Database,
    encoder: Encoder,
    redis: Any = None,
    stamp: str | None = None,
) -> KbIndex:
    """A fresh index of the published articles (hybrid when the encoder has an embedder).

    Up to :data:`INLINE_EMBED` articles still missing an embedding are embedded (and stored) on the
    way; with more (a new embedding model, a large import) the index is lexical and says
    it is not :attr:`~KbIndex.complete`: the caller embeds them in the background
    (:func:`embed_articles`) rather than keep searches waiting. ``stamp`` is
    :func:`index_stamp` as the caller read it before deciding to rebuild (read here if None).
    """
    if stamp is None:
        async with db.sessionmaker() as session:
            stamp = await index_stamp(session)
    embedder = await encoder.embedder()
    if embedder is not None:
        async with db.sessionmaker() as session:
            todo = await missing_embeddings(session, embedder.name)
        if len(todo) <= INLINE_EMBED:
            await embed_articles(db, encoder, redis)
    async with db.sessionmaker() as session:
        rows = await index_rows(session)
    vectors = stored_embeddings(rows, embedder.name if embedder else None)
    built = await asyncio.to_thread(build_index, rows, vectors, stamp, embedder)
    built.complete = embedder is None or vectors is not None or not rows
    log.info(
        "knowledge-base index built: %d articles (%s)",
        len(rows),
        "hybrid" if vectors is not None else "lexical",
    )
    return built


@dataclass(frozen=True)
class Hit:
    article_id: int
    score: float


def search(
    kb_index: KbIndex,
    query: str,
    query_embedding: np.ndarray | None = None,
    k: int = 3,
    *,
    locale: str | None = None,
    for_people: bool = True,
    method: Method = "fusion",
) -> list[Hit]:
    """The best articles for ``query``.

    ``for_people`` (portal, drawer): a query needs two retrieval terms and one term that some
    article uses, dense neighbours must pass the embedder's floor
    (:meth:`KbIndex.dense_floor`), and articles in the visitor's ``locale`` rank slightly higher.
    Without it (offline evaluation) this is the plain ranking of ``method`` ("fusion", or
    "bm25" / "dense" alone).
    """
    from triage.retrieval import terms

    index = kb_index.index
    if k <= 0 or not len(index):
        return []
    if not for_people:
        return [
            Hit(int(h.id), float(h.score))  # type: ignore[call-overload]
            for h in index.search(query, query_embedding, k, method=method)
        ]
    if len(set(terms(query))) < 2:
        return []
    hits = index.search(
        query,
        query_embedding,
        max(100, k),
        dense_floor=kb_index.dense_floor(query),
        anchored=True,
    )
    scored = [(int(h.id), float(h.score)) for h in hits]  # type: ignore[call-overload]
    if locale:
        scored = sorted(
            (
                (i, s * (1.0 if kb_index.locales.get(i) == locale else OTHER_LOCALE_FACTOR))
                for i, s in scored
            ),
            key=lambda pair: -pair[1],
        )
    return [Hit(i, s) for i, s in scored[:k]]


# --- portal suggestions --------------------------------------------------------------------

PORTAL_CANDIDATES = 1000
SNIPPET_CHARS = 140
_MARKUP = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*]\s+|^\s*\d+\.\s+|\||:?-{3,}:?)", re.MULTILINE)


@dataclass(frozen=True)
class PortalSuggestion:
    """An answer shown to a portal visitor while they type."""

    article_id: int
    title: str
    snippet: str


def _terms(text: str) -> set[str]:
    """The retrieval terms worth locating in a snippet: words and CJK bigrams, not single
    characters, which match almost anywhere."""
    from triage.retrieval import terms

    return {t for t in terms(text) if len(t) > 1}


def _plain(markdown: str) -> str:
    return " ".join(_MARKUP.sub(" ", markdown).split())


def _snippet(body: str, query_terms: set[str]) -> str:
    """A window of the article around the first query term it contains."""
    text = _plain(body)
    lowered = text.lower()
    positions = [p for p in (lowered.find(t) for t in query_terms) if p >= 0]
    start = max(min(positions) - 30, 0) if positions else 0
    piece = text[start : start + SNIPPET_CHARS]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SNIPPET_CHARS < len(text) else ""
    return f"{prefix}{piece}{suffix}"


async def _suggest_via_worker(
    redis: Any, query: str, locale: str, k: int, wait: float
) -> list[Hit] | None:
    """The worker's hybrid answer, or None if it does not come within ``wait`` seconds."""
    try:
        result = await asks.ask(redis, SUGGEST, {"query": query, "locale": locale, "k": k}, wait)
    except Exception:  # Redis down: the lexical ranking still answers
        log.warning("worker suggestion failed; ranking lexically", exc_info=True)
        return None
    if result is None:
        log.info("worker did not suggest within %.1fs; ranking lexically", wait)
        return None
    return [Hit(int(i), float(s)) for i, s in result]


@dataclass
class LexicalIndexCache:
    """The web process's BM25-only index, rebuilt only when the published articles change.

    One instance lives in the web app's state (never a module global); the worker keeps its
    own hybrid index the same way, keyed by :func:`index_stamp`.
    """

    index: KbIndex | None = None
    # One rebuild at a time; it runs in a thread so the web's event loop keeps serving.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def get(self, session: AsyncSession) -> KbIndex:
        stamp = await index_stamp(session)
        if self.index is not None and self.index.stamp == stamp:
            return self.index
        async with self._lock:
            if self.index is None or self.index.stamp != stamp:
                rows = await index_rows(session, limit=PORTAL_CANDIDATES)
                self.index = await asyncio.to_thread(build_index, rows, None, stamp)
            return self.index


async def lexical_suggestions(
    session: AsyncSession,
    query: str,
    locale: str | None,
    k: int,
    cache: LexicalIndexCache | None = None,
) -> list[Hit]:
    """BM25 only, in this process (no model): the web's fallback when the worker is away."""
    kb_index = await (cache or LexicalIndexCache()).get(session)
    return search(kb_index, query, None, k, locale=locale)


async def suggest_for_portal(
    session: AsyncSession,
    query: str,
    locale: str,
    k: int = 3,
    *,
    redis: Any = None,
    wait: float = SUGGEST_TIMEOUT,
    lexical_cache: LexicalIndexCache | None = None,
) -> list[PortalSuggestion]:
    """The top published answers for what a portal visitor is typing (may be empty).

    With ``redis``, the worker ranks them (hybrid retrieval) if it answers within
    ``wait`` seconds; otherwise, and without ``redis``, they are ranked lexically here.
    """
    from triage.retrieval import terms

    query = query[:1000]
    if len(set(terms(query))) < 2:
        return []
    hits = await _suggest_via_worker(redis, query, locale, k, wait) if redis else None
    if hits is None:
        hits = await lexical_suggestions(session, query, locale, k, lexical_cache)
    if not hits:
        return []
    rows = {
        r.id: r
        for r in (
            await session.execute(
                select(Article.id, Article.title, Article.body).where(
                    Article.id.in_([h.article_id for h in hits]),
                    Article.status == ArticleStatus.PUBLISHED,
                )
            )
        ).all()
    }
    query_terms = _terms(query)
    return [
        PortalSuggestion(
            article_id=h.article_id,
            title=rows[h.article_id].title,
            snippet=_snippet(rows[h.article_id].body, query_terms),
        )
        for h in hits
        if h.article_id in rows
    ]


async def record_deflection(
    session: AsyncSession, article_id: int, query: str, locale: str | None
) -> Deflection:
    """A visitor said this article solved their question: count it; no ticket is created."""
    exists = await session.scalar(
        select(Article.id).where(
            Article.id == article_id, Article.status == ArticleStatus.PUBLISHED
        )
    )
    if exists is None:
        raise NotFound(N_("This answer is no longer available."))
    deflection = Deflection(
        article_id=article_id,
        query=query.strip()[:1000] or "-",
        locale=(locale or None) and locale[:8],
    )
    session.add(deflection)
    await session.execute(
        update(Article)
        .where(Article.id == article_id)
        # Keep updated_at: a deflection is not an edit of the article.
        .values(solved_count=Article.solved_count + 1, updated_at=Article.updated_at)
    )
    await session.flush()
    return deflection


# --- ticket suggestions (stored by the triage job, shown in the drawer) ---------------------


async def replace_ticket_suggestions(
    session: AsyncSession, ticket_id: int, hits: Sequence[Hit]
) -> None:
    """Store a ticket's top suggestions (replacing earlier ones) and count those not already
    shown for it as shown. A ranking that names the same articles in the same order as the
    stored one writes nothing (the worker's second, by-meaning ranking often agrees with the
    first, and on SQLite every write waits for the database's one writer)."""
    current = list(
        (
            await session.scalars(
                select(TicketSuggestion.article_id)
                .where(TicketSuggestion.ticket_id == ticket_id)
                .order_by(TicketSuggestion.rank)
            )
        ).all()
    )
    ids = [h.article_id for h in hits]
    published = (
        set(
            (
                await session.scalars(
                    select(Article.id).where(
                        Article.id.in_(ids), Article.status == ArticleStatus.PUBLISHED
                    )
                )
            ).all()
        )
        if ids
        else set()
    )
    kept = [hit for hit in hits if hit.article_id in published]
    if [hit.article_id for hit in kept] == current:
        return
    await session.execute(delete(TicketSuggestion).where(TicketSuggestion.ticket_id == ticket_id))
    for rank, hit in enumerate(kept, start=1):
        session.add(
            TicketSuggestion(
                ticket_id=ticket_id,
                article_id=hit.article_id,
                rank=rank,
                score=hit.score if math.isfinite(hit.score) else 0.0,
            )
        )
    if fresh := published - set(current):
        await session.execute(
            update(Article)
            .where(Article.id.in_(fresh))
            .values(suggested_count=Article.suggested_count + 1, updated_at=Article.updated_at)
        )


@dataclass(frozen=True)
class SuggestedArticle:
    article_id: int
    title: str
    snippet: str
    rank: int


@dataclass(frozen=True)
class DrawerSuggestions:
    """The drawer's suggestion panel: stored suggestions, or "still triaging"."""

    ticket_id: int
    triaged: bool
    items: list[SuggestedArticle]


async def ticket_suggestions(session: AsyncSession, ticket_id: int) -> DrawerSuggestions:
    ticket = (
        await session.execute(
            select(Ticket.description, Ticket.triaged_at).where(Ticket.id == ticket_id)
        )
    ).one_or_none()
    if ticket is None:
        raise NotFound(N_("Ticket not found."))
    rows = (
        await session.execute(
            select(TicketSuggestion.rank, Article.id, Article.title, Article.body)
            .join(Article, Article.id == TicketSuggestion.article_id)
            .where(
                TicketSuggestion.ticket_id == ticket_id, Article.status == ArticleStatus.PUBLISHED
            )
            .order_by(TicketSuggestion.rank)
        )
    ).all()
    query_terms = _terms(ticket.description)
    return DrawerSuggestions(
        ticket_id,
        ticket.triaged_at is not None,
        [SuggestedArticle(r.id, r.title, _snippet(r.body, query_terms), r.rank) for r in rows],
    )


# --- offline evaluation (kefu kb evaluate) --------------------------------------------------


def retrieval_metrics(
    ranked: Sequence[Sequence[str]], relevant: Sequence[Sequence[str]]
) -> dict[str, float | int]:
    """recall@1, recall@5 and MRR@10 over queries (ranked external ids per query)."""
    n = len(ranked)
    r1 = r5 = mrr = 0.0
    for found, wanted in zip(ranked, relevant, strict=True):
        target = set(wanted)
        if not target:
            continue
        r1 += len(target & set(found[:1])) / len(target)
        r5 += len(target & set(found[:5])) / len(target)
        mrr += next((1.0 / rank for rank, doc in enumerate(found[:10], 1) if doc in target), 0.0)
    return {
        "n": n,
        "recall_at_1": r1 / n if n else 0.0,
        "recall_at_5": r5 / n if n else 0.0,
        "mrr_at_10": mrr / n if n else 0.0,
    }


RETRIEVAL_METHODS: tuple[Method, ...] = ("bm25", "dense", "fusion")


def evaluate_retrieval(
    kb_index: KbIndex,
    queries: Sequence[tuple[str, Sequence[str]]],
    embeddings: np.ndarray | None,
    names: Mapping[int, str],
) -> dict[str, Any]:
    """Metrics of the fused ranking (top level) and ``by_method``: BM25, dense and fusion
    each alone, over ``queries`` ((text, relevant external ids); ``embeddings[i]`` is
    query i's vector, None for lexical only). Dense without embeddings ranks nothing."""
    relevant = [list(ids) for _, ids in queries]
    by_method: dict[str, dict[str, float | int]] = {}
    for method in RETRIEVAL_METHODS:
        ranked = []
        for i, (text, _) in enumerate(queries):
            vector = embeddings[i] if embeddings is not None else None
            hits = search(kb_index, text, vector, 10, for_people=False, method=method)
            ranked.append([names.get(h.article_id, str(h.article_id)) for h in hits])
        by_method[method] = retrieval_metrics(ranked, relevant)
    return {**by_method["fusion"], "by_method": by_method}


def read_queries(path: str | Path) -> list[tuple[str, list[str]]]:
    """(query, relevant external ids) from JSONL {"query", "relevant_ids": […]}."""
    source = Path(path)
    out = []
    for number, line in enumerate(source.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: invalid JSON ({exc.msg})") from None
        query = record.get("query") if isinstance(record, dict) else None
        ids = record.get("relevant_ids") if isinstance(record, dict) else None
        if not isinstance(query, str) or not query.strip() or not isinstance(ids, list):
            raise ValueError(f"{source}:{number}: need 'query' and a list 'relevant_ids'")
        out.append((query, [str(i) for i in ids]))
    if not out:
        raise ValueError(f"{source}: no queries")
    return out


async def external_ids(session: AsyncSession) -> dict[int, str]:
    """Article id → external id (or the id itself, as text, for articles written here)."""
    rows = (await session.execute(select(Article.id, Article.external_id))).all()
    return {r.id: r.external_id or str(r.id) for r in rows}
