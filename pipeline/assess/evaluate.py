"""Score assessments against hand-labelled records (`litwatch evaluate LABELS.jsonl FILE.xml`).

A label line is {"pmid", "verdict", "accept": [...], "id"?, "title"?...}. A prediction is correct when it is
in `accept` (borderline cases list every verdict a careful writer could defend; `verdict` alone if absent).
Per verdict v: precision = predicted v and v acceptable / predicted v; recall = labelled v and prediction
acceptable / labelled v. A labelled record with no assessment counts as wrong ("missing").
"""

from __future__ import annotations

from dataclasses import dataclass

from litwatch.storage.records import VERDICTS, Assessment

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
class EvalReport:
    total: int
    correct: int
    scores: tuple[VerdictScore, ...]
    confusion: dict[str, dict[str, int]]  # labelled verdict → predicted verdict → count
    misses: tuple[Miss, ...]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def score(self, verdict: str) -> VerdictScore:
        for score in self.scores:
            if score.verdict == verdict:
                return score
        raise KeyError(verdict)


def evaluate(labels: list[dict], assessments: dict[str, Assessment]) -> EvalReport:
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
                      misses=tuple(misses))


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
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


__all__ = ["MISSING", "EvalReport", "Miss", "VerdictScore", "evaluate", "format_report"]
