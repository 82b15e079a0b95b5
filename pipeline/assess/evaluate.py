"""Score assessments against hand-labelled records (`litwatch evaluate LABELS.jsonl FILE.xml`).

A label line is {"pmid", "verdict", "accept": [...], "id"?, "title"?...}. A prediction is correct when it is
in `accept` (borderline cases list every verdict a careful writer could defend; `verdict` alone if absent).
Per verdict v: precision = predicted v and v acceptable / predicted v; recall = labelled v and prediction
acceptable / labelled v. A labelled record with no assessment counts as wrong ("missing").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from litwatch.storage.records import VERDICTS, Article, Assessment

from .findings import unverified_outcomes

MISSING = "missing"


@dataclass(frozen=True)
class VerdictScore:
    verdict: str
    precision: float | None  # None when nothing was predicted as this verdict
    recall: float | None  # None when nothing is labelled with it
    support: int  # labelled with this verdict
    predicted: int


@dataclass(frozen=True)
class Miss:
    pmid: str
    label_id: str
    expected: str
    accept: tuple[str, ...]
    got: str
    reason: str
    title: str


@dataclass(frozen=True)
class FindingScore:
    """Agreement with the hand labels' `findings` {direction, controlled, stances: {claim id: stance}}, and the
    outcomes whose value is not verbatim in its quote or whose quote is not in the record (must be 0)."""

    direction_correct: int
    direction_total: int
    stance_correct: int
    stance_total: int
    unverified: int  # outcome numbers (and statements) not found verbatim in the record
    checked: int  # outcomes checked against their records (0 when the records were not given)
    misses: tuple[str, ...]

    @property
    def direction_accuracy(self) -> float:
        return self.direction_correct / self.direction_total if self.direction_total else 0.0

    @property
    def stance_accuracy(self) -> float:
        return self.stance_correct / self.stance_total if self.stance_total else 0.0


@dataclass(frozen=True)
class EvalReport:
    total: int
    correct: int
    scores: tuple[VerdictScore, ...]
    confusion: dict[str, dict[str, int]]  # labelled verdict → predicted verdict → count
    misses: tuple[Miss, ...]
    findings: FindingScore | None = None  # issue 12: labels with a `findings` field


    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def score(self, verdict: str) -> VerdictScore:
        for score in self.scores:
            if score.verdict == verdict:
                return score
        raise KeyError(verdict)


def evaluate(labels: list[dict], assessments: dict[str, Assessment],
             records: Iterable[Article] = ()) -> EvalReport:
    """Verdict scores; with `findings` labels, direction/stance agreement; with `records`, the quote check."""
    columns = [*VERDICTS, MISSING]
    confusion = {v: dict.fromkeys(columns, 0) for v in VERDICTS}
    correct = 0
    misses: list[Miss] = []
    hits = dict.fromkeys(VERDICTS, 0)  # labelled v, prediction acceptable
    true_pos = dict.fromkeys(VERDICTS, 0)  # predicted v, v acceptable
    predicted = dict.fromkeys(VERDICTS, 0)
    support = dict.fromkeys(VERDICTS, 0)
    for label in labels:
        pmid = str(label["pmid"])
        expected = label["verdict"]
        accept = tuple(label.get("accept") or (expected,))
        assessment = assessments.get(pmid)
        got = assessment.verdict if assessment else MISSING
        confusion.setdefault(expected, dict.fromkeys(columns, 0))[got] += 1
        support[expected] = support.get(expected, 0) + 1
        if got in predicted:
            predicted[got] += 1
            if got in accept:
                true_pos[got] += 1
        if got in accept:
            correct += 1
            hits[expected] = hits.get(expected, 0) + 1
        else:
            reason = assessment.reasons[0] if assessment and assessment.reasons else ""
            misses.append(Miss(pmid=pmid, label_id=str(label.get("id", "")), expected=expected, accept=accept,
                               got=got, reason=reason, title=str(label.get("title", ""))))
    scores = tuple(
        VerdictScore(verdict=v, precision=true_pos[v] / predicted[v] if predicted[v] else None,
                     recall=hits.get(v, 0) / support[v] if support.get(v) else None,
                     support=support.get(v, 0), predicted=predicted[v])
        for v in VERDICTS
    )
    return EvalReport(total=len(labels), correct=correct, scores=scores, confusion=confusion,
                      misses=tuple(misses), findings=score_findings(labels, assessments, records))


def score_findings(labels: list[dict], assessments: dict[str, Assessment],
                   records: Iterable[Article] = ()) -> FindingScore | None:
    labelled = [label for label in labels if isinstance(label.get("findings"), dict)]
    records = list(records)
    if not labelled and not records:
        return None
    d_ok = d_all = s_ok = s_all = 0
    misses: list[str] = []
    for label in labelled:
        pmid = str(label["pmid"])
        want = label["findings"]
        got = assessments.get(pmid)
        finding = got.finding if got else None
        direction = finding.direction if finding else "none"
        if "direction" in want:
            d_all += 1
            if direction == want["direction"]:
                d_ok += 1
            else:
                misses.append(f"{pmid} {label.get('id', '')}: direction expected {want['direction']}, got {direction}")
        stances = {st.claim: st.stance for st in got.stances} if got else {}
        for claim, stance in (want.get("stances") or {}).items():
            s_all += 1
            if stances.get(claim) == stance:
                s_ok += 1
            else:
                misses.append(f"{pmid} {label.get('id', '')}: {claim} expected {stance}, got "
                              f"{stances.get(claim, 'none')}")
    unverified = checked = 0
    for article in records:
        got = assessments.get(article.pmid)
        if got is not None and got.finding is not None:
            checked += len(got.finding.outcomes)
            unverified += len(unverified_outcomes(got.finding, article))
    return FindingScore(direction_correct=d_ok, direction_total=d_all, stance_correct=s_ok, stance_total=s_all,
                        unverified=unverified, checked=checked, misses=tuple(misses))


def format_report(report: EvalReport) -> str:
    """A plain-text table: per-verdict scores, accuracy, confusion matrix, then each miss."""
    lines = [f"{'verdict':<8} {'precision':>9} {'recall':>7} {'support':>8} {'predicted':>10}"]
    for s in report.scores:
        lines.append(f"{s.verdict:<8} {_pct(s.precision):>9} {_pct(s.recall):>7} {s.support:>8} "
                     f"{s.predicted:>10}")
    lines.append(f"accuracy {report.correct}/{report.total} = {_pct(report.accuracy)}")
    lines.append("")
    any_missing = any(row[MISSING] for row in report.confusion.values())
    columns = [*VERDICTS, MISSING] if any_missing else list(VERDICTS)
    lines.append("labelled \\ predicted " + " ".join(f"{c:>8}" for c in columns))
    for expected, row in report.confusion.items():
        lines.append(f"{expected:<20} " + " ".join(f"{row.get(c, 0):>8}" for c in columns))
    if report.misses:
        lines.append("")
        lines.append(f"misses ({len(report.misses)}):")
        for m in report.misses:
            why = f" — {m.reason}" if m.reason else ""
            lines.append(f"  {m.pmid} {m.label_id or m.title[:60]}: expected {'/'.join(m.accept)}, "
                         f"got {m.got}{why}")
    if report.findings is not None:
        lines.extend(_format_findings(report.findings))
    return "\n".join(lines)


def _format_findings(f: FindingScore) -> list[str]:
    lines = ["", f"findings: direction {f.direction_correct}/{f.direction_total} = {_pct(f.direction_accuracy)}, "
                 f"stance {f.stance_correct}/{f.stance_total} = {_pct(f.stance_accuracy)}"]
    if f.checked or f.unverified:
        lines.append(f"outcome numbers not verbatim in their record: {f.unverified} (of {f.checked} checked)")
    else:
        lines.append("outcome numbers not verbatim in their record: not checked (records not given)")
    if f.misses:
        lines.append(f"finding misses ({len(f.misses)}):")
        lines.extend(f"  {m}" for m in f.misses)
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


__all__ = ["MISSING", "EvalReport", "FindingScore", "Miss", "VerdictScore", "evaluate", "format_report",
           "score_findings"]
