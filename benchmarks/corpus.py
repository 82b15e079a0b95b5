"""The benchmark's records: real PubMed XML (the 55 domain records and the 176-record 2019 sample) replicated
with fresh PMIDs and Create dates spread over a window, plus the watch list and settings a run needs."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.replay import Corpus

REPO = Path(__file__).resolve().parents[1]
# The 2019 sample is third-party (fatcat's test file): read in place from the shared folder beside the clone.
SHARED_FIXTURES = Path(os.environ.get("LITWATCH_SHARED_FIXTURES", REPO.parent / "shared" / "fixtures"))
BASE_FILES = (
    REPO / "tests" / "fixtures" / "domain" / "records.xml",
    SHARED_FIXTURES / "eutils" / "fatcat__pubmedsample_2019.xml",
)
FIRST_PMID = 40_000_000
# Two years of Create dates: a backfill window long enough that N = 50,000 needs slices under the 9,999 cap.
WINDOW = (date(2024, 1, 1), date(2025, 12, 31))
# A saved search whose term matches every record of the window (the runner ANDs the window to it).
EVERYTHING_TERM = '"1800/01/01"[CRDT] : "3000/12/31"[CRDT]'
API_KEY = "bench-key-0000"


def base_corpus() -> Corpus:
    missing = [str(path) for path in BASE_FILES if not path.is_file()]
    if missing:
        raise SystemExit(f"benchmark corpus file missing: {missing[0]} (set LITWATCH_SHARED_FIXTURES)")
    return Corpus.from_files(BASE_FILES)


def replicated(base: Corpus, n: int) -> Corpus:
    return Corpus.replicated(base, n, FIRST_PMID, *WINDOW)


def efetch_chunks(corpus: Corpus, batch: int = 500) -> Iterator[bytes]:
    """The corpus as efetch bodies of `batch` records, shaped exactly as the replay server sends them."""
    pmids = corpus.pmids
    for start in range(0, len(pmids), batch):
        records = corpus.iter_records(pmids[start : start + batch])
        yield b"\n".join(
            [b'<?xml version="1.0" ?>', corpus.doctype, b"<PubmedArticleSet>", *records, b"</PubmedArticleSet>\n"]
        )


def write_efetch_file(corpus: Corpus, path: Path) -> int:
    """All records in one PubmedArticleSet file (what pubmed_parser and lxml read); returns its size."""
    with path.open("wb") as out:
        out.write(b'<?xml version="1.0" ?>\n' + corpus.doctype + b"\n<PubmedArticleSet>\n")
        for record in corpus.iter_records(corpus.pmids):
            out.write(record + b"\n")
        out.write(b"</PubmedArticleSet>\n")
    return path.stat().st_size


def gzip_copy(path: Path) -> Path:
    """pubmed_parser's parse_medline_xml opens its input with gzip.open only."""
    target = path.with_suffix(path.suffix + ".gz")
    with path.open("rb") as src, gzip.open(target, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    return target


def write_watchlist(folder: Path) -> Path:
    """queries/<article>/ with the real article.toml and one saved search that matches everything."""
    article = folder / "queries" / "stem-cell-lbp"  # the folder must carry the article's slug
    article.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "queries" / "stem-cell-lbp" / "article.toml", article / "article.toml")
    (article / "everything.toml").write_text(
        'id = "everything"\nlabel = "Every record of the window (benchmark)"\nclaims = ["overview"]\n'
        f"term = '{EVERYTHING_TERM}'\n",
        encoding="utf-8",
    )
    return folder / "queries"


def bench_settings(
    folder: Path, base_url: str, db_url: str, rate: float, batch_size: int = 500, max_in_flight: int = 2
) -> Settings:
    """Settings for one run: NCBI's pace (3/s without a key; with a key, `rate`), the run's database."""
    queries = write_watchlist(folder)
    cfg = folder / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "bench@example.org"\nbatch_size = {batch_size}\n'
        f"requests_per_second = {rate}\nbackoff_base = 0.5\nmax_attempts = 3\nread_timeout = 300.0\n"
        f"max_in_flight = {max_in_flight}\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{folder}"\n'
        f'[paths]\nqueries = "{queries}"\n',
        encoding="utf-8",
    )
    return load_settings(cfg, env=key_env(rate))


def key_env(rate: float) -> dict[str, str]:
    """Above NCBI's keyless 3/s the client must send an API key (the replay server enforces it)."""
    return {"NCBI_API_KEY": API_KEY} if rate > 3 else {}
