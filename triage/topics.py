"""High-frequency problems: lexical clustering of ticket texts with readable labels.

Pure and deterministic (same texts in, same topics out), and needs no embedding model, so the
report runs in the web process without loading one (jieba's dictionary ships with its
wheel and is read on first use):

1. **Features.** Texts are normalized (:func:`triage.text.normalize`: NFKC, lower case, order
   numbers, phones, amounts … masked) and turned into CJK character bigrams plus stemmed Latin
   words (stop words dropped), weighted by TF-IDF. Identical normalized texts are merged and
   counted once per occurrence.
2. **Clustering.** Average-linkage agglomerative clustering on cosine distance, cut at
   :data:`DISTANCE_THRESHOLD`, over the most frequent :data:`MAX_CLUSTER_DOCS` distinct texts;
   the next ones (up to :data:`MAX_DOCS`) join the cluster whose centroid is most similar, if
   similar enough, and any further text joins the first topic whose label it contains. Only
   the first :data:`TEXT_LIMIT` characters of a text are read. So the cost is bounded however
   many tickets there are. No number of clusters to choose, no random initialisation.
3. **Labels.** For each cluster, candidate key phrases are scored by how many of the
   cluster's tickets contain them, times how specific they are to the cluster (a class-based
   TF-IDF). Candidates are whole words: for Chinese, 1–3 consecutive dictionary words
   (:func:`triage.text.segment`, jieba's dictionary) not starting or ending with a function
   word, with no particle inside, and not ticket vocabulary (工单号, 客服, 您好 …); for Latin
   script, content words, word pairs and phrasal verbs. So a label never cuts a word
   (``退款未到账``, never ``申请退``). The best phrase is extended to a longer phrase that
   nearly all the same tickets contain (``物流`` → ``物流延迟``). The clustering features stay
   dictionary-free character substrings, so differently worded texts still meet.

Trend: clustering runs on the texts of the current *and* previous period together, so each
topic knows how many tickets of each period it holds.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import unicodedata
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from triage.text import normalize, segment, stem

# Distinct texts analysed per request type, of which the most frequent are clustered, and how
# much of each text is read: together they bound the cost at any number of tickets.
MAX_DOCS = 4000
MAX_CLUSTER_DOCS = 1500
TEXT_LIMIT = 300
DISTANCE_THRESHOLD = 0.88
MIN_TICKETS = 2
EXTEND_RATIO = 0.8
MAX_EXAMPLES = 3

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"<[a-z]+>|[{_CJK}]+|[^\W\d_{_CJK}]+(?:'[^\W\d_]+)*")
_IS_CJK = re.compile(rf"^[{_CJK}]+$")
MAX_CJK_WORDS = 3
MAX_CJK_FEATURE = 4
# Characters a clustering feature does not start / end with: particles, pronouns, question
# words, adverbs — the glue around the content words (dictionary-free, for the features).
_NO_START = frozenset(
    "的了吗呢吧啊呀么嘛哦是在我你您他她它们和与及或也都就把被给从向让这那很太又才只啥怎什哪着得一"
)
_NO_END = frozenset(
    "的了吗呢吧啊呀么嘛哦是在我你您他她它和与及或也都就还把被给从向让这那个很太再又才只啥怎什哪多着得地"
    "一不没"
)
# Frequent two-character phrases that carry no problem content.
_STOP_BIGRAMS = frozenset(
    {
        "你好",
        "您好",
        "请问",
        "谢谢",
        "麻烦",
        "一下",
        "怎么",
        "什么",
        "为什",
        "为何",
        "已经",
        "可以",
        "没有",
        "还是",
        "现在",
        "这个",
        "那个",
        "一个",
        "我们",
        "你们",
        "他们",
        "如果",
        "但是",
        "因为",
        "所以",
        "然后",
        "今天",
        "昨天",
        "时候",
        "问题",
        "客户",
        "帮忙",
        "需要",
        "知道",
        "一直",
        "还没",
        "是否",
        "以及",
        "或者",
        "而且",
        "自己",
        "不是",
        "就是",
        "这样",
    }
)
# Words a key phrase never starts or ends with: particles, pronouns, question words, adverbs,
# auxiliaries and greetings — the glue around the content words.
_EDGE_WORDS = frozenset(
    {
        *"的了吗呢吧啊呀么嘛哦是在我你您他她它和与及或也都就还把被给从向让这那个很太再又才只啥怎哪着得地"
        "一不没请后前时里上下中对向说能会要想去来过号",
        "哪里",
        "哪儿",
        "多久",
        "我们",
        "你们",
        "他们",
        "她们",
        "您好",
        "你好",
        "请问",
        "谢谢",
        "麻烦",
        "一下",
        "怎么",
        "怎么办",
        "怎么回事",
        "什么",
        "为什么",
        "为何",
        "多少",
        "已经",
        "可以",
        "能否",
        "是否",
        "没有",
        "还是",
        "现在",
        "这个",
        "那个",
        "一个",
        "如果",
        "但是",
        "因为",
        "所以",
        "然后",
        "今天",
        "昨天",
        "时候",
        "一直",
        "还没",
        "以及",
        "或者",
        "而且",
        "自己",
        "不是",
        "就是",
        "这样",
        "迟迟",
        "尽快",
        "帮忙",
        "需要",
        "知道",
        "一周",
        "两周",
        "三天",
    }
)
# Particles that never sit inside a key phrase: a candidate containing one spans two clauses.
_INSIDE = frozenset("了的吗呢吧啊呀嘛么哦")
# Phrases of the ticket vocabulary itself: every inquiry may say them, none is a problem.
_STOP_CJK = frozenset(
    {
        "工单",
        "工单号",
        "单号",
        "订单号",
        "客服",
        "客户",
        "问题",
        "您好",
        "请问",
        "处理",
        "反馈",
        "咨询",
    }
)
_PARTICLES = frozenset({"in", "out", "up", "on", "off", "down", "back"})
# Verbs whose particle belongs to them ("log in", "sign up", "top up").
_PHRASAL = frozenset(
    {
        "log",
        "logged",
        "sign",
        "signed",
        "top",
        "topped",
        "set",
        "check",
        "checked",
        "pick",
        "picked",
        "turn",
        "switch",
        "shut",
        "opt",
        "cut",
        "lock",
        "locked",
        "kick",
        "kicked",
        "plug",
        "plugged",
        "hang",
        "hung",
    }
)
_STOP_LATIN = frozenset(ENGLISH_STOP_WORDS) | frozenset(
    {
        "hi",
        "hello",
        "please",
        "thanks",
        "thank",
        "regards",
        "dear",
        "just",
        "ve",
        "ll",
        "don",
        "im",
        "can",
        "could",
        "would",
        "get",
        "got",
        "help",
        "need",
        "want",
        "hey",
        "team",
        "came",
        "come",
        "work",
        "working",
        "change",
        "changed",
        "make",
        "made",
        "tried",
        "try",
        "say",
        "said",
        "told",
        "tell",
        "still",
        "since",
        "today",
        "yesterday",
        "week",
        "weeks",
        "day",
        "days",
        "time",
        "times",
        "month",
        "months",
        "year",
        "years",
        "know",
        "like",
        "going",
        "way",
        "thing",
        "things",
        "really",
        "does",
        "did",
        "doesn",
        "didn",
        "isn",
        "wasn",
        "won",
        "cannot",
        "ago",
        "asked",
        "ask",
        "use",
        "using",
        "used",
        # contractions, as they read once the apostrophe is dropped
        "whats",
        "hows",
        "wheres",
        "thats",
        "theres",
        "ive",
        "dont",
        "cant",
        "wont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "havent",
        "hasnt",
        "youre",
        "ill",
        "id",
        "its",
    }
)


@dataclass(frozen=True)
class Doc:
    """A distinct ticket text and how many tickets of each period said it."""

    text: str
    current: int
    previous: int = 0


@dataclass(frozen=True)
class Topic:
    """A group of similar tickets: its label, its size in both periods, and examples."""

    label: str
    current: int
    previous: int
    examples: tuple[str, ...]

    @property
    def change(self) -> int:
        return self.current - self.previous

    @property
    def change_ratio(self) -> float | None:
        """Relative change against the previous period (None when it had none: "new")."""
        return (self.current - self.previous) / self.previous if self.previous else None


def _tokens(text: str) -> list[str]:
    """Pieces of normalized text: placeholders, CJK runs and Latin words, in order."""
    return _RUN.findall(text)


def analyse(text: str) -> tuple[list[str], set[str]]:
    """Clustering features and candidate labels of normalized text, in one pass.

    Features: CJK key-phrase candidates and stemmed Latin content words. Labels: the same CJK
    candidates, and unstemmed Latin words and word pairs (phrasal verbs kept whole).
    """
    tokens: list[str] = []
    keys: set[str] = set()
    previous_word: str | None = None
    for token in _tokens(text):
        if token.startswith("<"):
            previous_word = None
            continue
        if _IS_CJK.match(token):
            tokens.extend(sorted(_cjk_features(token)))
            keys |= _cjk_phrases(token)
            previous_word = None
            continue
        word = token.replace("'", "")
        if word not in _STOP_LATIN and len(word) > 1:
            tokens.append(stem(word))
        if word in _PARTICLES and previous_word in _PHRASAL:
            keys.add(f"{previous_word} {word}")  # phrasal verbs: log in, sign up, top up
            previous_word = None
            continue
        if word in _STOP_LATIN or len(word) < 3:
            previous_word = None
            continue
        keys.add(word)
        if previous_word is not None:
            keys.add(f"{previous_word} {word}")
        previous_word = word
    return tokens, keys


def features(text: str) -> list[str]:
    """Clustering features of normalized text (see :func:`analyse`)."""
    return analyse(text)[0]


def phrases(text: str) -> set[str]:
    """Candidate labels in normalized text (see :func:`analyse`)."""
    return analyse(text)[1]


def _cjk_features(run: str) -> set[str]:
    """Substrings of 2–4 characters of a CJK run that could be words or short phrases: the
    clustering features (dictionary-free, so near-synonymous wordings still overlap)."""
    out: set[str] = set()
    for size in range(2, MAX_CJK_FEATURE + 1):
        for i in range(len(run) - size + 1):
            piece = run[i : i + size]
            if (
                piece[0] in _NO_START
                or piece[-1] in _NO_END
                or piece in _STOP_BIGRAMS
                or _INSIDE.intersection(piece)
            ):
                continue
            out.add(piece)
    return out


def _cjk_phrases(run: str) -> set[str]:
    """Whole-word phrases of a CJK run: 1–3 consecutive dictionary words
    (:func:`triage.text.segment`), at least two characters, neither starting nor ending with
    a function word, with no particle inside, and not ticket vocabulary (工单号, 客服 …)."""
    seg = segment(run)
    out: set[str] = set()
    for size in range(1, MAX_CJK_WORDS + 1):
        for i in range(len(seg) - size + 1):
            piece = seg[i : i + size]
            phrase = "".join(piece)
            if (
                len(phrase) < 2
                or piece[0] in _EDGE_WORDS
                or piece[-1] in _EDGE_WORDS
                or phrase in _STOP_CJK
                or any(w in _INSIDE for w in piece)
            ):
                continue
            out.add(phrase)
    return out


@dataclass
class _Group:
    text: str  # normalized
    example: str  # one original text
    current: int = 0
    previous: int = 0
    tokens: list[str] = field(default_factory=list)  # clustering features, computed once
    keys: frozenset[str] = frozenset()  # candidate labels, computed once

    @property
    def weight(self) -> int:
        return self.current + self.previous


# Texts seen in earlier reports, normalized and analysed: a report recomputed after a few new
# inquiries analyses only those (most of its time went to analysing every text again). Bounded:
# a month's distinct texts of every type, both periods, and then some.
ANALYSED_TEXTS = 16_000


@lru_cache(maxsize=ANALYSED_TEXTS)
def _normalized(text: str) -> str:
    return normalize(text)


@lru_cache(maxsize=ANALYSED_TEXTS)
def _analysed(key: str) -> tuple[tuple[str, ...], frozenset[str]]:
    tokens, keys = analyse(key)
    return tuple(sys.intern(t) for t in tokens), frozenset(sys.intern(k) for k in keys)


def _merge(docs: Iterable[Doc]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for doc in docs:
        if doc.current <= 0 and doc.previous <= 0:
            continue
        key = _normalized(doc.text or "")
        if not key:
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key, doc.text.strip())
        elif doc.text.strip() < group.example:
            group.example = doc.text.strip()
        group.current += doc.current
        group.previous += doc.previous
    for group in groups.values():
        tokens, keys = _analysed(group.text)
        group.tokens, group.keys = list(tokens), keys
    return sorted(groups.values(), key=lambda g: (-g.weight, g.text))


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _unit_centroids(matrix: Any, cluster_of: list[int], clusters: int) -> sparse.csr_matrix:
    """Each cluster's mean row, scaled to unit length, kept sparse (a dense copy of the
    TF-IDF matrix would be rows × vocabulary floats)."""
    rows = len(cluster_of)
    member = sparse.csr_matrix(
        (np.ones(rows), (cluster_of, np.arange(rows))), shape=(clusters, rows)
    )
    sums = sparse.csr_matrix(member @ matrix)
    norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
    # The mean's direction is the sum's: scaling the sum to unit length is the unit centroid.
    return sparse.csr_matrix(sparse.diags(1.0 / np.where(norms == 0, 1.0, norms)) @ sums)


def _cluster(groups: Sequence[_Group]) -> list[int]:
    """A cluster id per group (-1: joined no cluster)."""
    if not groups:
        return []
    head = list(groups[:MAX_CLUSTER_DOCS])
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2")
    try:
        matrix = vectorizer.fit_transform([g.tokens for g in head])
    except ValueError:  # no features at all (only placeholders / stop words)
        return list(range(len(groups)))
    if len(head) == 1:
        labels = np.array([1])
    else:
        similarity = (matrix @ matrix.T).toarray()
        distance = np.clip(1.0 - similarity, 0.0, 2.0)
        np.fill_diagonal(distance, 0.0)
        distance = (distance + distance.T) / 2
        tree = linkage(squareform(distance, checks=False), method="average")
        labels = fcluster(tree, t=DISTANCE_THRESHOLD, criterion="distance")
    assignment = [int(label) for label in labels]
    rest = groups[MAX_CLUSTER_DOCS:]
    if rest:
        ids = sorted(set(assignment))
        centroids = _unit_centroids(matrix, [ids.index(i) for i in assignment], len(ids))
        others = vectorizer.transform([g.tokens for g in rest])
        scores = (others @ centroids.T).toarray()
        for row in scores:
            best = int(np.argmax(row))
            assignment.append(ids[best] if row[best] >= 1 - DISTANCE_THRESHOLD else -1)
    return assignment


_PLACEHOLDER = re.compile(r"<[a-z]+>")
_CLAUSE_END = re.compile(r"[，。！？；,.!?;\n]")


def _first_clause(normalized: str, limit: int = 20) -> str:
    text = re.sub(r"\s+", " ", _PLACEHOLDER.sub(" ", normalized)).strip()
    clause = _CLAUSE_END.split(text, maxsplit=1)[0].strip() or text
    return clause if len(clause) <= limit else clause[: limit - 1].rstrip() + "…"


def label_for(members: Sequence[_Group], overall: Counter[str], total: int) -> str:
    """The key phrase most of the members share and few others use.

    ``overall`` counts, for every phrase, the tickets (of all groups) whose text contains it;
    ``total`` is the number of those tickets. A group of one distinct text (said by several
    tickets) is labelled by that text's first clause, order numbers and the like left out: it
    reads better than any fragment of it.
    """
    if len(members) == 1:
        return _first_clause(members[0].text)
    size = sum(g.weight for g in members) or 1
    in_cluster: Counter[str] = Counter()
    distinct: Counter[str] = Counter()
    for group in members:
        for phrase in group.keys:
            in_cluster[phrase] += group.weight
            distinct[phrase] += 1
    if not in_cluster:
        return _first_clause(members[0].text)

    def score(phrase: str) -> tuple[float, int, str]:
        coverage = in_cluster[phrase] / size
        specificity = math.log(1 + total / overall[phrase])
        # A phrase found in one text only is that text's wording, not the group's topic.
        shared = 1.0 if distinct[phrase] > 1 else 0.25
        return (coverage * specificity * shared, len(phrase), phrase)

    best = max(in_cluster, key=score)
    while True:  # extend to a longer phrase nearly every ticket with the best one also has
        longer = [
            p
            for p in in_cluster
            if len(p) > len(best) and best in p and in_cluster[p] >= EXTEND_RATIO * in_cluster[best]
        ]
        if not longer:
            return best
        best = max(longer, key=lambda p: (in_cluster[p], -len(p), p))


def _sample(docs: Iterable[Doc], size: int) -> tuple[list[Doc], list[Doc]]:
    """The ``size`` most frequent texts to analyse, and the rest (ties in a fixed order)."""
    ordered = sorted(
        (d for d in docs if d.text and (d.current > 0 or d.previous > 0)),
        key=lambda d: (
            -(d.current + d.previous),
            hashlib.blake2b(d.text.encode(), digest_size=8).digest(),
            d.text,
        ),
    )
    return ordered[:size], ordered[size:]


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def top_topics(docs: Iterable[Doc], *, limit: int = 3, max_docs: int = MAX_DOCS) -> list[Topic]:
    """The ``limit`` largest topics of the current period (each with ≥ 2 tickets).

    At most ``max_docs`` distinct texts (the most frequent) are clustered; a text beyond
    them joins the first topic whose label it contains, so the cost stays bounded when
    every ticket is worded differently.
    """
    analysed, rest = _sample(
        (Doc(d.text[:TEXT_LIMIT], d.current, d.previous) for d in docs), max_docs
    )
    groups = _merge(analysed)
    if not groups:
        return []
    members: dict[int, list[_Group]] = defaultdict(list)
    for group, cluster in zip(groups, _cluster(groups), strict=True):
        if cluster >= 0:
            members[cluster].append(group)
    ranked = sorted(
        members.values(),
        key=lambda ms: (-sum(g.current for g in ms), -sum(g.previous for g in ms), ms[0].text),
    )
    overall: Counter[str] = Counter()
    for group in groups:
        for phrase in group.keys:
            overall[phrase] += group.weight
    total = sum(g.weight for g in groups)
    candidates: list[list[Any]] = []  # label, current, previous, examples
    for cluster_members in ranked[: limit * 3]:
        ordered = sorted(cluster_members, key=lambda g: (-g.current, -g.weight, g.text))
        candidates.append(
            [
                label_for(cluster_members, overall, total),
                sum(g.current for g in cluster_members),
                sum(g.previous for g in cluster_members),
                tuple(g.example for g in ordered[:MAX_EXAMPLES]),
            ]
        )
    for doc in rest:
        text = _plain(doc.text)
        for candidate in candidates:
            if candidate[0] in text:
                candidate[1] += doc.current
                candidate[2] += doc.previous
                break
    candidates.sort(key=lambda c: (-c[1], -c[2], c[0]))
    return [
        Topic(label=label, current=current, previous=previous, examples=examples)
        for label, current, previous, examples in candidates[:limit]
        if current >= MIN_TICKETS
    ]


# The last results of :func:`top_topics`, by a digest of everything they depend on.
MEMO_SIZE = 16
_memo: OrderedDict[bytes, tuple[Topic, ...]] = OrderedDict()


def _digest(docs: Sequence[Doc], limit: int, max_docs: int) -> bytes:
    hasher = hashlib.blake2b(f"{limit}:{max_docs}".encode(), digest_size=20)
    for doc in sorted(docs, key=lambda d: (d.text, d.current, d.previous)):
        hasher.update(f"{len(doc.text)}:{doc.current}:{doc.previous}:".encode())
        hasher.update(doc.text.encode())
    return hasher.digest()


def remembered_top_topics(
    docs: Iterable[Doc], *, limit: int = 3, max_docs: int = MAX_DOCS
) -> list[Topic]:
    """:func:`top_topics`, remembered for the same texts and counts: a report opened again
    with nothing changed costs a digest of its texts, not a clustering. Exact (the key is
    everything the result depends on) in any number of processes, each keeping its own."""
    listed = list(docs)
    key = _digest(listed, limit, max_docs)
    if (found := _memo.get(key)) is not None:
        _memo.move_to_end(key)
        return list(found)
    result = top_topics(listed, limit=limit, max_docs=max_docs)
    _memo[key] = tuple(result)
    while len(_memo) > MEMO_SIZE:
        _memo.popitem(last=False)
    return result
