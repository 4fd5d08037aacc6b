"""A stored run's report (RunReport) as terminal text: `carbonc report --format terminal`."""

from __future__ import annotations

import time

from carbonc.plan.describe import span_text
from carbonc.report.escape import printable
from carbonc.report.figures import CheckLine, RunReport, TimelineLine, VerdictCount
from carbonc.store.rows import OUTCOMES

#: How checks are grouped, by what they judge (the same groups as a run's summary).
SUBJECTS = (("scenario", "Scenario facts (the plan itself, not your handler)"),
            ("handler", "Handler checks (answers to webhooks)"),
            ("merchant", "Merchant state (probes of its API)"))


def report_text(report: RunReport) -> str:
    """The whole report, sections in the order a reader asks: what ran, did it pass, what came back."""
    r = report.run
    lines = [f"Run {r.run_id}: {r.scenario} on {r.provider}"
             f"{' -> ' + r.target if r.target else ' (no webhook target: gateway side only)'}",
             f"  {r.status}, started {r.started_at}, seed {r.seed}, carbonc {r.version}",
             f"  {report.totals.messages:,} messages, {report.totals.deliveries:,} deliveries "
             f"({report.totals.retries:,} retries, {report.totals.mismatched:,} mismatched)", ""]
    lines += _checks(report)
    lines += _probe_failures(report)
    if report.by_event:
        lines += _by_event(report)
        lines += _verdicts("Verdicts by fault", report.by_fault)
        lines += _verdicts("Verdicts by signature mode", report.by_signature)
        lines += _mismatches(report)
        lines += _latency(report)
    lines += _fates(report)
    lines += _errors(report)
    lines += _timelines(report)
    return "\n".join(printable(line) for line in lines).rstrip("\n") + "\n"


def _checks(report: RunReport) -> list[str]:
    if not report.checks:
        return ["Checks: none recorded (the run did not complete, or the scenario has none)", ""]
    out = []
    for subject, title in SUBJECTS:
        group = [c for c in report.checks if c.subject == subject]
        if group:
            counts = {v: sum(c.verdict == v for c in group) for v in ("ok", "FAIL", "skip", "note")}
            head = f"{title}: {counts['ok']} passed, {counts['FAIL']} failed"
            head += f", {counts['skip']} not judged" if counts["skip"] else ""
            head += f", {counts['note']} finding{'s' * (counts['note'] != 1)} reported" if counts["note"] else ""
            out += [head, *(_check_line(c) for c in group), ""]
    return out


def _check_line(c: CheckLine) -> str:
    severity = f" [{c.severity}]" if c.severity else ""
    what = f"expect {c.expected}" if c.kind == "expect" and c.expected else c.name
    detail = f": {c.actual}" if c.kind == "probe" and c.verdict == "FAIL" else (
        "" if c.verdict == "ok" and c.kind != "probe" else f": {c.message}")
    return f"  {c.verdict:<4} {what}{severity}{detail}"


def _probe_failures(report: RunReport) -> list[str]:
    if not report.probe_failures:
        return []
    out = ["Entities the probes found wrong (the first of each probe):"]
    probe = None
    for f in report.probe_failures:
        if f.probe != probe:
            probe = f.probe
            out.append(f"  {probe}")
        out.append(f"  - {f.entity_id}: {f.reason}")
        if f.observed:
            out.append(f"    observed {f.observed}")
        if f.request:
            out.append(f"    request {f.request} ({f.elapsed_ms or 0:,.0f} ms, {f.polls or 0} request"
                       f"{'s' * (f.polls != 1)})")
    return [*out, ""]


def _by_event(report: RunReport) -> list[str]:
    width = max(22, *(len(e.event) + 2 for e in report.by_event))
    out = [f"{'Deliveries by event':<{width}}" + "".join(f"{o:>9}" for o in OUTCOMES)]
    for e in report.by_event:
        out.append(f"  {e.event:<{width - 2}}" + "".join(f"{e.outcomes[o]:>9,}" for o in OUTCOMES))
    totals = {o: sum(e.outcomes[o] for e in report.by_event) for o in OUTCOMES}
    out.append(f"  {'total':<{width - 2}}" + "".join(f"{totals[o]:>9,}" for o in OUTCOMES))
    return [*out, ""]


def _verdicts(title: str, rows: list[VerdictCount]) -> list[str]:
    width = max(len(title) + 2, *(len(r.key) + 4 for r in rows))
    out = [f"{title:<{width}}{'expected':>10}{'ok':>9}{'mismatched':>12}"]
    out += [f"  {r.key:<{width - 2}}{r.expected or '':>10}{r.ok:>9,}{r.mismatched:>12,}" for r in rows]
    return [*out, ""]


def _mismatches(report: RunReport) -> list[str]:
    if not report.mismatches:
        return []
    out = ["First mismatched answer, by fault:"]
    for m in report.mismatches:
        answer = str(m.status_code) if m.status_code is not None else m.outcome
        error = f" ({m.error})" if m.error else ""
        snippet = f" {m.snippet[:100]!r}" if m.snippet else ""
        out.append(f"  {m.fault}: {answer}{error}{snippet} to {m.event} {m.delivery_id}")
    return [*out, ""]


def _latency(report: RunReport) -> list[str]:
    if report.latency is None:
        return []
    lat = report.latency
    out = [f"Latency: p50 {lat.p50:.1f} ms, p95 {lat.p95:.1f} ms, p99 {lat.p99:.1f} ms, max {lat.max_ms:.1f} ms",
           f"  {'by event':<24}{'p50':>9}{'p95':>9}{'p99':>9}"]
    out += [f"  {e.event or '':<24}{e.p50:>9.1f}{e.p95:>9.1f}{e.p99:>9.1f}" for e in report.latency_by_event]
    out += ["", "Slowest attempts:"]
    for s in report.slowest:
        answer = str(s.status_code) if s.status_code is not None else (s.error or s.outcome)
        out.append(f"  {s.latency_ms or 0:>9.1f} ms  {s.event:<22} {s.delivery_id} → {answer}")
    return [*out, ""]


def _fates(report: RunReport) -> list[str]:
    if not report.fates:
        return []
    out = [f"{'What became of each message':<30}{'messages':>10}{'retried':>9}{'attempts':>10}{'most':>6}"]
    out += [f"  {f.fate:<28}{f.messages:>10,}{f.retried:>9,}{f.attempts:>10,}{f.max_attempts:>6}"
            for f in report.fates]
    return [*out, ""]


def _errors(report: RunReport) -> list[str]:
    if not report.errors:
        return []
    out = ["Errors:"]
    for e in report.errors:
        out += [f"  {e.error}: {e.deliveries:,} attempts at {e.messages:,} message{'s' * (e.messages != 1)} "
                f"(first {e.first_delivery_id})",
                f"    hint: {e.hint}"]
    return [*out, ""]


def _timelines(report: RunReport) -> list[str]:
    out = []
    for t in report.timelines:
        out += [f"Timeline of {t.entity_id}'s order, as sent ({t.reason}):", *(_timeline_line(x) for x in t.lines), ""]
    return out


def _timeline_line(line: TimelineLine) -> str:
    what = {"": "", "forged": " (forged copy)"}.get(line.copy, f" (copy {line.copy})")
    retry = f", attempt {line.attempt}" if line.attempt and line.attempt > 1 else ""
    faults = f" [{line.fault}]" if line.fault else ""
    sent = "" if line.sent_at_ms is None else time.strftime("%H:%M:%S", time.gmtime(line.sent_at_ms // 1000)) + (
        f".{line.sent_at_ms % 1000:03d}")
    answer = line.answer if line.attempt is None else f"→ {line.answer}"
    return f"  +{span_text(line.virtual_ms):<10} {sent:<12} {line.event:<20} {line.entity_id}{what}{retry}{faults} " \
           f"{answer}"
