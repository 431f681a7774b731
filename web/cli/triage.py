"""``kefu triage …`` and ``kefu kb …``: train and measure the classifier and the knowledge base.

The command-line contract (how Kefu is evaluated on real data, and how a team imports its
history)::

    kefu triage train FILE            JSONL {"text","category"} or CSV text,category
    kefu triage evaluate FILE --json  last line: {"n","accuracy","macro_f1","per_class","confusion"}
    kefu triage simulate-review POOL --test TEST [--budget 200 --step 20] --json
                                      last line: {"curve": [{"labels","macro_f1","accuracy"}, …]}
    kefu kb import FILE|FOLDER        JSONL {"id","title","body"} or Markdown files
    kefu kb evaluate FILE --json      last line: {"n","recall_at_1","recall_at_5","mrr_at_10",
                                      "by_method": {"bm25"|"dense"|"fusion": {…the same}}}

They use the database of ``KEFU_DATABASE_URL`` (a fresh one right after ``kefu db upgrade``
works: the bootstrap model is trained on first use) and need neither Redis nor the worker.
Models load from local files only. Progress and notes go to stderr; with ``--json`` the
result is the last line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from models.settings import get_settings

if TYPE_CHECKING:
    from models.db import Database

CATEGORY_CODES = ("consultation", "problem", "complaint", "after_sales")


def _note(message: str) -> None:
    click.echo(message, err=True)


class _Bar:
    """A click progress bar on stderr driven by an async "done so far" callback."""

    def __init__(self, label: str, total: int) -> None:
        self.bar = click.progressbar(
            length=max(total, 1), label=label, file=sys.stderr, show_pos=True
        )
        self.done = 0

    def __enter__(self) -> Callable[[int], Awaitable[None]]:
        self.bar.__enter__()

        async def advance(done: int) -> None:
            self.bar.update(max(0, done - self.done))
            self.done = max(done, self.done)

        return advance

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)


async def _open(*, retrieval: bool = False) -> tuple[Database, Any]:
    """The database and an encoder (the embedders load on first use) for one command: the
    classifier's (:func:`triage.encoder.classifier_encoder`, as the worker's), or with
    ``retrieval`` the knowledge base's."""
    from models.db import Database
    from triage.encoder import Encoder, classifier_encoder

    settings = get_settings()
    db = Database(settings.database_url)
    multilingual = settings.retrieval_model
    if retrieval:
        return db, Encoder(multilingual or settings.embedding_model)
    latin = Encoder(settings.embedding_model)
    return db, classifier_encoder(latin, Encoder(multilingual) if multilingual else None)


async def _close(db: Database, encoder: Any) -> None:
    await encoder.close()
    await db.dispose()


def _load_examples(path: Path) -> list[Any]:
    from triage.data import DataError, load_examples

    try:
        return load_examples(path)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print_report(name: str, report: dict[str, Any] | None) -> None:
    if not report:
        return
    click.echo(
        f"{name} (n={report['n']}): accuracy {_fmt(report['accuracy'])}, "
        f"macro-F1 {_fmt(report['macro_f1'])}"
    )
    for code in CATEGORY_CODES:
        row = report["per_class"].get(code, {})
        click.echo(
            f"  {code:<13} P {_fmt(row.get('precision'))}  R {_fmt(row.get('recall'))}"
            f"  F1 {_fmt(row.get('f1'))}  n={int(row.get('support', 0))}"
        )


@click.group("triage")
def triage_cli() -> None:
    """Request-type classifier: train on labelled data, evaluate on held-out data."""


@triage_cli.command("train")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def triage_train(file: Path) -> None:
    """Store FILE's rows as labels, retrain, print the metrics; promoted if not worse.

    FILE: JSONL lines {"text": …, "category": …} or CSV with columns text,category;
    category is one of consultation, problem, complaint, after_sales.
    """
    from models.db import unit_of_work
    from models.services.common.actor import Actor
    from models.services.knowledge import lifecycle

    examples = _load_examples(file)

    async def work() -> Any:
        db, encoder = await _open()
        try:
            async with unit_of_work(db) as session:
                added = await lifecycle.import_labels(
                    session, Actor.system("cli"), [(e.text, e.category) for e in examples]
                )
            _note(f"{len(examples)} rows read, {added} new labels stored")
            _note("preparing the current model (the first run trains the bootstrap model)…")
            current = await lifecycle.current_model(db, encoder)
            return await lifecycle.retrain(
                db, encoder, cached=current, trigger=lifecycle.Trigger.IMPORT, printer=_note
            )
        finally:
            await _close(db, encoder)

    outcome = asyncio.run(work())
    if outcome.error:
        raise click.ClickException(f"training failed: {outcome.error}")
    metrics = outcome.metrics
    _print_report("bootstrap validation split", metrics.get("bootstrap_validation"))
    _print_report("held-out labels", metrics.get("held_out_labels"))
    for name, cmp in (outcome.comparison.get("sets") or {}).items():
        click.echo(
            f"vs current model on {name.replace('_', ' ')}: macro-F1 "
            f"{_fmt(cmp['champion']['macro_f1'])} → {_fmt(cmp['challenger']['macro_f1'])}"
            f" ({'not worse' if cmp['not_worse'] else 'worse'})"
        )
    verdict = "promoted: now the current model" if outcome.promoted else "rejected"
    click.echo(f"model {outcome.version}: {verdict} ({outcome.comparison.get('reason')})")


@triage_cli.command("evaluate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON line")
def triage_evaluate(file: Path, as_json: bool) -> None:
    """Classify every row of FILE with the current model and report; stores nothing."""
    from models.services.knowledge import lifecycle
    from triage.evaluate import report
    from triage.predict import predict

    examples = _load_examples(file)

    async def work() -> dict[str, Any]:
        db, encoder = await _open()
        try:
            loaded = await lifecycle.current_model(db, encoder)
            _note(f"model {loaded.version}")
            texts = [e.text for e in examples]
            embeddings = None
            if loaded.model.embedder_name is not None:
                with _Bar("embedding", len(texts)) as progress:
                    embeddings = await encoder.encode(texts, progress)
            predictions = await asyncio.to_thread(predict, loaded.model, texts, embeddings)
            return report([e.category for e in examples], [p.category for p in predictions])
        finally:
            await _close(db, encoder)

    result = asyncio.run(work())
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    _print_report(str(file), result)
    click.echo("confusion (rows: true, columns: predicted): " + " ".join(CATEGORY_CODES))
    for code, row in zip(CATEGORY_CODES, result["confusion"], strict=True):
        click.echo(f"  {code:<13} " + " ".join(f"{n:>5}" for n in row))


@triage_cli.command("simulate-review")
@click.argument("pool", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--test",
    "test_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled file the learning curve is measured on",
)
@click.option("--budget", default=200, show_default=True, type=click.IntRange(min=0))
@click.option("--step", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the curve as one JSON line")
def triage_simulate_review(
    pool: Path, test_file: Path, budget: int, step: int, as_json: bool
) -> None:
    """Simulate leads working the review queue: POOL's categories are their answers.

    From the bootstrap model, take the review order's next STEP pool rows (the queue's
    selection), add them as labels, retrain as the life cycle does, and measure on TEST;
    repeat up to BUDGET labels. Stores nothing.
    """
    from models.services.knowledge import lifecycle

    pool_rows = _load_examples(pool)
    tests = _load_examples(test_file)

    async def work() -> list[dict[str, Any]]:
        db, encoder = await _open()
        try:
            return await lifecycle.simulate_review(
                encoder, pool_rows, tests, budget=budget, step=step, printer=_note
            )
        finally:
            await _close(db, encoder)

    curve = asyncio.run(work())
    if as_json:
        click.echo(json.dumps({"curve": curve}))
        return
    for point in curve:
        click.echo(
            f"{point['labels']:>5} labels: macro-F1 {_fmt(point['macro_f1'])}, "
            f"accuracy {_fmt(point['accuracy'])}"
        )


@click.group("kb")
def kb_cli() -> None:
    """Knowledge base: import articles, evaluate retrieval."""


@kb_cli.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
def kb_import(source: Path) -> None:
    """Upsert articles by id from JSONL {"id","title","body"} or a folder of Markdown
    files (id = file name, title = first heading), published, and embed them."""
    from models.db import unit_of_work
    from models.services.common.actor import Actor
    from models.services.knowledge import kb

    try:
        items = kb.read_import(source)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc

    async def work() -> tuple[Any, int]:
        db, encoder = await _open(retrieval=True)
        try:
            async with unit_of_work(db) as session:
                result = await kb.upsert_articles(session, Actor.system("cli"), items)
            name = await encoder.name()
            embedded = 0
            if name is not None:
                async with db.sessionmaker() as session:
                    todo = await kb.missing_embeddings(session, name, result.ids)
                with _Bar("embedding", len(todo)) as progress:
                    embedded = await kb.embed_articles(db, encoder, None, result.ids, progress)
            return result, embedded
        finally:
            await _close(db, encoder)

    result, embedded = asyncio.run(work())
    click.echo(
        f"{len(items)} articles: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged; {embedded} embedded"
    )


@kb_cli.command("evaluate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON line")
def kb_evaluate(file: Path, as_json: bool) -> None:
    """Rank published articles for each query of FILE (JSONL {"query","relevant_ids"}) and
    report recall@1, recall@5 and MRR@10; stores nothing but missing article embeddings."""
    from models.services.knowledge import kb

    try:
        queries = kb.read_queries(file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc

    async def work() -> dict[str, Any]:
        db, encoder = await _open(retrieval=True)
        try:
            name = await encoder.name()
            if name is not None:  # every article first, so that dense ranks them all
                async with db.sessionmaker() as session:
                    todo = await kb.missing_embeddings(session, name)
                with _Bar("embedding articles", len(todo)) as progress:
                    await kb.embed_articles(db, encoder, None, None, progress)
            index = await kb.load_index(db, encoder)
            async with db.sessionmaker() as session:
                names = await kb.external_ids(session)
            texts = [q for q, _ in queries]
            embeddings = None
            if index.index.embeddings is not None:
                with _Bar("embedding queries", len(texts)) as progress:
                    embeddings = await encoder.encode(texts, progress)
            return kb.evaluate_retrieval(index, queries, embeddings, names)
        finally:
            await _close(db, encoder)

    metrics = asyncio.run(work())
    if as_json:
        click.echo(json.dumps(metrics))
        return
    click.echo(f"{metrics['n']} queries")
    for method, label in (("bm25", "BM25  "), ("dense", "dense "), ("fusion", "fusion")):
        m = metrics["by_method"][method]
        click.echo(
            f"  {label} recall@1 {_fmt(m['recall_at_1'])}, recall@5 {_fmt(m['recall_at_5'])}, "
            f"MRR@10 {_fmt(m['mrr_at_10'])}"
        )
