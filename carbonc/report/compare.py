"""What changed between two stored runs, from their RunReports: checks that flipped, verdicts by
fault, latency percentiles and error kinds, as text or a JSON document."""

from __future__ import annotations

import msgspec

from carbonc.report.escape import printable
from carbonc.report.figures import CheckVerdict, Latency, RunHeader, RunReport


class CheckChange(msgspec.Struct, frozen=True, kw_only=True):
    """A check whose verdict differs (None: the run has no such check); `worse` when it held in
    the first run and fails in the second."""

    kind: str
    name: str
    before: CheckVerdict | None
    after: CheckVerdict | None
    worse: bool


class CountChange(msgspec.Struct, frozen=True, kw_only=True):
    """A figure in both runs: a fault's ok and mismatched answers, or an error kind's attempts
    (`ok` unused, 0)."""

    key: str
    ok_before: int
    ok_after: int
    mismatched_before: int
    mismatched_after: int


class LatencyChange(msgspec.Struct, frozen=True, kw_only=True):
    """One percentile of the whole run's latency, in ms (None: nothing was sent)."""

    percentile: str
    before: float | None
    after: float | None


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    """Run `a` against run `b`: `worse` when a check that passed in `a` fails in `b`."""

    a: RunHeader
    b: RunHeader
    checks: list[CheckChange]
    verdicts: list[CountChange]
    latency: list[LatencyChange]
    errors: list[CountChange]
    worse: bool


def compare_reports(a: RunReport, b: RunReport) -> Comparison:
    """The differences from `a` to `b`."""
    before = {(c.kind, c.name): c.verdict for c in a.checks}
    after = {(c.kind, c.name): c.verdict for c in b.checks}
    checks = [CheckChange(kind=kind, name=name, before=before.get(key), after=after.get(key),
                          worse=before.get(key) == "ok" and after.get(key) == "FAIL")
              for key in [*before, *(k for k in after if k not in before)]
              for kind, name in [key] if before.get(key) != after.get(key)]
    faults_a = {v.key: v for v in a.by_fault}
    faults_b = {v.key: v for v in b.by_fault}
    verdicts = [CountChange(key=f, ok_before=faults_a[f].ok if f in faults_a else 0,
                            ok_after=faults_b[f].ok if f in faults_b else 0,
                            mismatched_before=faults_a[f].mismatched if f in faults_a else 0,
                            mismatched_after=faults_b[f].mismatched if f in faults_b else 0)
                for f in sorted({*faults_a, *faults_b}, key=lambda f: (f != "none", f))]
    errors_a = {e.error: e.deliveries for e in a.errors}
    errors_b = {e.error: e.deliveries for e in b.errors}
    errors = [CountChange(key=e, ok_before=0, ok_after=0, mismatched_before=errors_a.get(e, 0),
                          mismatched_after=errors_b.get(e, 0)) for e in sorted({*errors_a, *errors_b})]
    return Comparison(a=a.run, b=b.run, checks=checks, verdicts=verdicts,
                      latency=[LatencyChange(percentile=p, before=_percentile(a.latency, p),
                                             after=_percentile(b.latency, p)) for p in ("p50", "p95", "p99")],
                      errors=errors, worse=any(c.worse for c in checks))


def _percentile(latency: Latency | None, name: str) -> float | None:
    return None if latency is None else float(getattr(latency, name))


def comparison_json(comparison: Comparison) -> bytes:
    """The comparison as one JSON document, newline-terminated."""
    return msgspec.json.format(msgspec.json.encode(comparison), indent=2) + b"\n"


def comparison_text(c: Comparison) -> str:
    """The comparison for a terminal: each section says so when nothing changed."""
    lines = [f"a: {c.a.run_id} ({c.a.scenario} on {c.a.provider}, {c.a.status}, started {c.a.started_at})",
             f"b: {c.b.run_id} ({c.b.scenario} on {c.b.provider}, {c.b.status}, started {c.b.started_at})", ""]
    if c.checks:
        lines.append("Checks that changed (a → b):")
        lines += [f"  {c_.before or '-':<4} → {c_.after or '-':<4} {c_.name}{'  (worse)' if c_.worse else ''}"
                  for c_ in c.checks]
    else:
        lines.append("Checks: no change")
    lines += ["", f"{'Verdicts by fault':<30}{'ok a → b':>20}{'mismatched a → b':>22}"]
    lines += [f"  {v.key:<28}{f'{v.ok_before:,} → {v.ok_after:,}':>20}"
              f"{f'{v.mismatched_before:,} → {v.mismatched_after:,}':>22}" for v in c.verdicts]
    lines += ["", "Latency (ms, a → b): " + ", ".join(
        f"{lat.percentile} {_number(lat.before)} → {_number(lat.after)}" for lat in c.latency)]
    if c.errors:
        lines.append("Errors (attempts, a → b): " + ", ".join(
            f"{e.key} {e.mismatched_before:,} → {e.mismatched_after:,}" for e in c.errors))
    else:
        lines.append("Errors: none in either run")
    if c.worse:
        lines += ["", "A check that passed in a fails in b."]
    return "\n".join(printable(line) for line in lines) + "\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
