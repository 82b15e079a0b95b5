"""What the CLI shows: exit codes, and the text and JSON forms of runs and URLs (formatting only, no printing)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from litwatch.reports.findings import STANCE_WORDS, finding_json, found_line, stance_json
from litwatch.storage.records import Assessment, RunSummary, StoredArticle, to_jsonable

if TYPE_CHECKING:
    from ..watermarks import WatermarkView

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_HELP = "Exit codes: 0 ok, 1 run failed, 2 usage/config error, 3 another run holds the lock."


def json_line(value: Any, *, indent: int | None = None) -> str:
    """A model object (or plain data) as the JSON every --json output uses."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True, indent=indent)


def safe_url(url: str) -> str:
    """A database URL without its password, fit for output (as configured when there is none to hide: rendering
    would %-escape a SQLite path)."""
    from litwatch.storage.engine import safe_url as storage_safe_url

    return storage_safe_url(url)


def summary_line(summary: RunSummary) -> str:
    took = f" in {summary.duration_s:.1f}s" if summary.duration_s is not None else ""
    warn = f", {len(summary.warnings)} warning(s)" if summary.warnings else ""
    return f"run {summary.run_id} {summary.status}{took}: {summary.counts.describe()}{warn}"


RUNS_HEADER = (f"{'id':>5} {'started (UTC)':<19} {'kind':<8} {'trigger':<9} {'status':<8} {'took':>7} "
               f"{'window':<21} {'found':>6} {'new':>5} {'chg':>5} {'del':>4} {'warn':>4}  error")


def run_row(r: RunSummary) -> str:
    """One line of `litwatch runs`, under RUNS_HEADER."""
    took = f"{r.duration_s:.1f}s" if r.duration_s is not None else "-"
    start, end = run_window(r)
    window = f"{start}..{end}" if start else "-"
    # a watermark repair keeps its note ("watermark exosomes: 2030-01-01 -> 2026-11-01") where warnings go
    note = "; ".join(r.warnings) if r.kind == "watermark" else ""
    warn = "-" if note else str(len(r.warnings))
    return (f"{r.run_id:>5} {r.started_at:%Y-%m-%d %H:%M:%S} {r.kind:<8} {r.trigger:<9} {r.status:<8} {took:>7} "
            f"{window:<21} {r.found:>6} {r.new:>5} {r.changed:>5} {r.deleted:>4} {warn:>4}  "
            f"{r.error or note}")


def run_window(r: RunSummary) -> tuple[str | None, str | None]:
    """The span of the run's query windows (each query has its own, from its watermark)."""
    starts = [q.window_start for q in r.queries if q.window_start]
    ends = [q.window_end for q in r.queries if q.window_end]
    return (min(starts).isoformat() if starts else None, max(ends).isoformat() if ends else None)


def run_query_lines(r: RunSummary, article_of: dict[str, str]) -> list[str]:
    """Under a fetch or backfill row of `litwatch runs`: each saved search's counts, under its article."""
    by_article: dict[str, list[str]] = {}
    for q in r.queries:
        slug = article_of.get(q.query_id, "(not in the watch list)")
        by_article.setdefault(slug, []).append(
            f"{q.query_id} {q.status} found {q.found} new {q.new} chg {q.changed}")
    return [f"{'':>6}{slug}: {'; '.join(parts)}" for slug, parts in sorted(by_article.items())]


def run_json(r: RunSummary, article_of: dict[str, str] | None = None) -> dict[str, Any]:
    out = to_jsonable(r)
    start, end = run_window(r)
    out["duration_s"] = r.duration_s
    out["window_start"], out["window_end"] = start, end
    for query in out.get("queries", []):  # which watched article each saved search belongs to
        query["article"] = (article_of or {}).get(query["query_id"])
    return out


def watermark_row(v: WatermarkView) -> str:
    """One line of `litwatch watermark show`."""
    if v.until is None:
        line = f"{v.query_id:<16} none (the next run searches [ncbi] first_run_days back)"
    else:
        by = f" by run {v.last_run_id}" if v.last_run_id is not None else ""
        line = f"{v.query_id:<16} {v.until}  (set {v.updated_at:%Y-%m-%d %H:%M} UTC{by})"
    return line if v.in_watch_list else f"{line}  [not in the watch list]"


def watermark_json(v: WatermarkView) -> dict[str, Any]:
    return to_jsonable(v)  # type: ignore[no-any-return]


def stored_record_lines(stored: StoredArticle) -> list[str]:
    """`litwatch show`: a stored record, the searches that found it and its latest verdict with the reasons."""
    a = stored.article
    lines = [
        f"PMID {a.pmid} v{a.version}  {a.pubmed_url}",
        f"{a.title}",
        f"{a.journal} {a.pub_date}  status {a.status or '-'}  created {a.created or '-'}  doi {a.doi or '-'}",
        f"types: {', '.join(p.name for p in a.publication_types) or '-'}",
        f"found by: {', '.join(stored.query_ids) or '-'}; first seen {stored.first_seen:%Y-%m-%d}, "
        f"last changed {stored.last_changed:%Y-%m-%d}{'  DELETED' if stored.deleted else ''}",
    ]
    for x in stored.assessments or ((stored.assessment,) if stored.assessment else ()):
        # a verdict is relative to one watched article: each article that judged the record says its own
        lines.append(f"verdict for {x.article or 'the article'}: {x.verdict.upper()} "
                     f"({x.design}, {x.population}, {x.condition})")
        lines.extend(f"  - {reason}" for reason in x.reasons)
        if x.claims:
            lines.append(f"  affects: {'; '.join(x.claims)}")
        lines.extend(finding_lines(x))
    return lines


def finding_lines(x: Assessment) -> list[str]:
    """What the record found (with each number's quote, to check it) and its stance per claim (by claim id)."""
    lines = []
    if x.finding is not None:
        lines.append(f"  found: {found_line(x.finding)}")
        lines.extend(f'    {o.measure}: "{o.quote}"' for o in x.finding.outcomes if o.quote)
        if x.finding.statement:
            lines.append(f'  in its words: "{x.finding.statement}"')
    if x.stances:
        lines.append("  for the article:")
        lines.extend(f"    {STANCE_WORDS.get(s.stance, s.stance)} {s.claim}: {s.reason}" for s in x.stances)
    return lines


def assessment_json(x: Assessment) -> str:
    """`litwatch assess --json`: one record's verdict as a JSON line (the keys the command has always written)."""
    return json.dumps({
        "pmid": x.pmid, "article": x.article, "design": x.design, "population": x.population,
        "interventions": list(x.interventions), "condition": x.condition, "verdict": x.verdict,
        "claims": list(x.claims), "reasons": list(x.reasons), "sample_size": x.sample_size,
        "follow_up_months": x.follow_up_months,
        # as the JSON digest carries them (litwatch.reports.findings): one shape for every consumer
        "finding": finding_json(x.finding), "stance": stance_json(x.stances),
    }, ensure_ascii=False)


def assessment_row(x: Assessment) -> str:
    return f"{x.pmid:>9} {x.verdict.upper():<7} {x.design:<20} {x.population:<8} {'; '.join(x.reasons)}"
