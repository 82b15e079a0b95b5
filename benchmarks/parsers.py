"""Parse (+ store) throughput on one file of replicated real records: ours (Biopython's validating Entrez parser
→ Article → repository.upsert_articles, in efetch-sized batches, as the runner does) next to pubmed_parser's
parse_medline_xml and a plain lxml iterparse. pubmed_parser and lxml come from benchmarks/requirements.txt."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.corpus import efetch_chunks, gzip_copy, replicated, write_efetch_file
from benchmarks.runs import database, drop_schema
from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.pipeline.replay import Corpus
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def ours_parse(bodies: list[bytes]) -> int:
    return sum(len(parse_efetch(body).articles) for body in bodies)


def ours_parse_store(bodies: list[bytes], db_url: str) -> int:
    upgrade(db_url)
    engine = make_engine(db_url)
    stored = 0
    for body in bodies:  # one transaction per efetch batch, as the runner
        parsed = parse_efetch(body)
        with session_scope(engine) as s:
            stored += repository.upsert_articles(s, parsed.articles, datetime.now(UTC)).new
    engine.dispose()
    return stored


def pubmed_parser_parse(path_gz: Path) -> int:
    import pubmed_parser

    records = pubmed_parser.parse_medline_xml(
        str(path_gz), year_info_only=False, author_list=True, reference_list=True
    )
    return sum(1 for _ in records)


def gunzip_only(path_gz: Path) -> int:
    with gzip.open(path_gz, "rb") as f:
        while f.read(1 << 20):
            pass
    return 0


def lxml_iterparse(path: Path) -> int:
    """The floor of any Python-level PubMed parser: libxml2 events, PMID and title per record, memory freed."""
    from lxml import etree

    count = 0
    for _, element in etree.iterparse(str(path), events=("end",), tag="PubmedArticle"):
        element.findtext("MedlineCitation/PMID")
        element.findtext("MedlineCitation/Article/ArticleTitle")
        count += 1
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return count


def parser_table(base: Corpus, n: int, backends: list[str], workdir: Path) -> list[str]:
    corpus = replicated(base, n)
    folder = Path(tempfile.mkdtemp(prefix="parsers-", dir=workdir))
    path = folder / "records.xml"
    size = write_efetch_file(corpus, path)
    bodies = list(efetch_chunks(corpus))
    rows: list[tuple[str, float, int, str]] = []
    seconds, count = _timed(lambda: ours_parse(bodies))
    rows.append(("litwatch parse_efetch (Biopython, validating) → Article", seconds, count, ""))
    for backend in backends:
        schemas: list[str] = []
        with database(backend, folder) as (url, schema):
            if schema:
                schemas.append(schema)
            seconds, count = _timed(lambda url=url: ours_parse_store(bodies, url))  # type: ignore[misc]
        for schema in schemas:
            drop_schema(schema)
        rows.append((f"litwatch parse_efetch + upsert_articles ({backend})", seconds, count, ""))
    try:
        gz = gzip_copy(path)
        unzip, _ = _timed(lambda: gunzip_only(gz))
        seconds, count = _timed(lambda: pubmed_parser_parse(gz))
        rows.append(("pubmed_parser.parse_medline_xml (lxml; authors, references)", seconds, count,
                     f"includes {unzip:.2f} s gunzip: it reads .gz only"))
        seconds, count = _timed(lambda: lxml_iterparse(path))
        rows.append(("plain lxml iterparse (PMID + title)", seconds, count, ""))
    except ImportError as exc:
        rows.append((f"pubmed_parser / lxml not installed ({exc.name}): pip install -r benchmarks/requirements.txt",
                     float("nan"), 0, ""))
    shutil.rmtree(folder, ignore_errors=True)
    lines = [f"file: {n:,} records, {size / 1e6:.1f} MB", "",
             "| parser | records | seconds | records/s | MB/s | note |", "|---|---|---|---|---|---|"]
    for name, seconds, count, note in rows:
        lines.append(f"| {name} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | {size / 1e6 / seconds:.1f} "
                     f"| {note} |")
    return lines
