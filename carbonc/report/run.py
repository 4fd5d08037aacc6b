"""One run's result as a terminal summary, a JSON document, JUnit XML, or a callback POST."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, assert_never

from carbonc.report.escape import printable
from carbonc.report.figures import CheckVerdict
from carbonc.store.rows import OUTCOMES

if TYPE_CHECKING:
    from carbonc.exec import RunResult
    from carbonc.exec.model import TimelineStep, Verdict
    from carbonc.exec.probes import ProbeResult
    from carbonc.exec.tally import Tally


def document(result: RunResult, db: str | None = None) -> dict[str, Any]:
    """The run as one JSON-ready document."""
    from carbonc.exec.tally import by_event_table, by_fault_table

    t = result.tally
    total = t.metrics["deliveries"]
    by_outcome = {o: sum(row[o] for row in by_event_table(t).values()) for o in OUTCOMES}
    return {
        "run_id": result.run_id,
        "scenario": result.header.scenario,
        "provider": result.provider,
        "target": result.target,
        "status": result.status,
        "passed": result.passed,
        "error": result.error,
        "seed": result.header.seed,
        "params": result.header.params,
        "elapsed_s": round(result.elapsed_s, 3),
        "messages": {"planned": sum(result.summary.messages.values()) + result.summary.faults.get("duplicates", 0),
                     "done": t.messages_done},
        "deliveries": {
            "total": total,
            # Over the run less its probing: the rate webhooks went out at.
            "per_second": (round(total / delivering, 1)
                           if (delivering := result.elapsed_s - result.probe_s) > 0 else 0.0),
            "by_outcome": by_outcome,
            "by_event": by_event_table(t),
            "errors": dict(sorted(t.errors.items())),
            **{name.split(".", 1)[1]: value for name, value in t.delivery_metrics().items() if "." in name},
        },
        "verdicts": by_fault_table(t),
        "latency_ms": t.percentiles(),
        "checks": [{"kind": c.kind, "name": c.name, "subject": c.subject, "severity": c.severity,
                    "passed": c.passed, "expected": c.expected, "actual": c.actual, "message": c.message}
                   for c in result.checks if c.entity_id is None],
        "probes": [_probe_document(p, result) for p in result.probes],
        "probing": {"elapsed_s": round(result.probe_s, 3),
                    "requests": sum(r.polls for p in result.probes for r in p.results)},
        "endpoint_down": result.endpoint_down,
        "rows_written": result.rows_written,
        "db": db,
        "warnings": result.warnings,
    }


#: Failing entities a report lists per probe.
SHOWN_FAILURES = 3


def _probe_document(probe: ProbeResult, result: RunResult) -> dict[str, Any]:
    failed = probe.failed
    return {
        "name": probe.probe.name, "severity": probe.probe.severity, "oracle": probe.probe.oracle,
        "passed": not failed, "entities": len(probe.results), "failed": len(failed),
        "failures": [{"entity": f.entity, "request": f.request, "expected": f.expected, "observed": f.observed,
                      "reason": f.reason, "elapsed_ms": f.elapsed_ms, "polls": f.polls,
                      "timeline": [_timeline_document(row) for row in result.timelines.get(f.entity or "", [])]}
                     for f in failed[:10]],
    }


def _timeline_document(row: TimelineStep) -> dict[str, Any]:
    return {"seq": row.seq, "message_id": row.message_id, "event": row.event, "entity": row.entity_id,
            "fault": row.fault, "virtual_ms": row.virtual_ms, "attempt": row.attempt, "sent_at_ms": row.sent_at_ms,
            "status": row.status_code, "error": row.error, "skipped": row.skipped}


def timeline_lines(rows: list[TimelineStep], indent: str = "      ") -> list[str]:
    """An entity's order tree as sent, each attempt with its virtual time and the wall time (UTC)
    it went out: `+2m 0s  09:12:01.532  payment.captured  pay_… (copy 1) [duplicate] → 200`."""
    from carbonc.plan.describe import span_text

    lines = []
    for row in rows:
        copy = row.message_id.partition("#")[2]
        what = {"": "", "forged": " (forged copy)"}.get(copy, f" (copy {copy})")
        retry = f", attempt {row.attempt}" if row.attempt and row.attempt > 1 else ""
        faults = f" [{row.fault}]" if row.fault else ""
        if row.attempt is None:
            answer = f"not sent: {row.skipped}" if row.skipped else "not sent"
        elif row.status_code is not None:
            answer = f"→ {row.status_code}"
        else:
            answer = f"→ {row.error or row.outcome}"
        sent = "" if row.sent_at_ms is None else time.strftime("%H:%M:%S", time.gmtime(row.sent_at_ms // 1000)) + (
            f".{row.sent_at_ms % 1000:03d}")
        lines.append(f"{indent}+{span_text(row.virtual_ms):<10} {sent:<12} {row.event:<20} {row.entity_id}{what}"
                     f"{retry}{faults} {answer}")
    return lines


def legacy_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The keys carbon-layer's `--output json` and callback had, derived from `doc`, so scripts
    written against the older tool keep reading them (`webhooks.total`, `findings`, …)."""
    outcome, checks = doc["deliveries"]["by_outcome"], doc["checks"]
    failed = [c for c in checks if c["kind"] == "expect" and c["passed"] is False]
    fired = [c for c in checks if c["kind"] == "finding" and c["passed"] is False]
    return {
        "webhooks": {"total": doc["deliveries"]["total"], "total_sent": doc["deliveries"]["total"],
                     "ok": outcome["2xx"], "2xx": outcome["2xx"], "4xx": outcome["4xx"], "5xx": outcome["5xx"],
                     "failed_5xx": outcome["5xx"], "timeout": outcome["timeout"]},
        "findings": [{"check": c["name"], "severity": c["severity"], "passed": c["passed"], "message": c["message"]}
                     for c in checks],
        "findings_summary": {"total": len(checks), "passed": sum(c["passed"] is True for c in checks),
                             "failed": len(failed), "fired": len(fired),
                             "not_judged": sum(c["passed"] is None for c in checks),
                             "critical_failed": sum(c["severity"] == "critical" for c in failed)},
    }


def terminal_text(result: RunResult, db: str | None = None) -> str:
    """The summary printed after a run."""
    from carbonc.exec.tally import by_event_table, by_fault_table

    t = result.tally
    lines = [f"Run {result.run_id}: {result.header.scenario} on {result.provider}"
             f"{' -> ' + result.target if result.target else ' (no webhook target: gateway side only)'}",
             f"  {result.status} in {result.elapsed_s:.1f} s" + (f": {result.error}" if result.error else ""), ""]
    events = by_event_table(t)
    if events:
        width = max(22, *(len(e) + 2 for e in events))
        lines.append(f"{'Deliveries by event':<{width}}" + "".join(f"{o:>9}" for o in OUTCOMES))
        for event, row in events.items():
            lines.append(f"  {event:<{width - 2}}" + "".join(f"{row[o]:>9,}" for o in OUTCOMES))
        totals = {o: sum(r[o] for r in events.values()) for o in OUTCOMES}
        lines.append(f"  {'total':<{width - 2}}" + "".join(f"{totals[o]:>9,}" for o in OUTCOMES))
        lines.append("")
        faults = by_fault_table(t)
        fwidth = max(22, *(len(f) + 2 for f in faults))
        lines.append(f"{'Verdicts by fault':<{fwidth}}{'ok':>9}{'mismatched':>12}")
        for fault, row in faults.items():
            lines.append(f"  {fault:<{fwidth - 2}}{row['ok']:>9,}{row['mismatched']:>12,}")
        lines.append("")
        lines += _mismatch_notes(t, faults, result.provider)
        p = t.percentiles()
        delivering = result.elapsed_s - result.probe_s
        rate = t.metrics["deliveries"] / delivering if delivering > 0 else 0.0
        lines.append(f"Latency: p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, p99 {p['p99']:.1f} ms "
                     f"({t.metrics['deliveries']:,} deliveries, {rate:,.0f}/s, "
                     f"{t.metrics['deliveries.retried']:,} retries)")
        if t.errors:
            lines.append("Errors: " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(t.errors.items())))
        if result.endpoint_down:
            lines.append(f"Circuit breaker: {result.endpoint_down}")
        lines.append("")
    checks = [c for c in result.checks if c.entity_id is None]
    if result.probes:
        asked = sum(len(p.results) for p in result.probes)
        lines.append(f"Probes: {asked:,} entit{'y' if asked == 1 else 'ies'} asked about in "
                     f"{result.probe_s:.1f} s")
        lines.append("")
    if checks:
        for subject, title in _SUBJECTS:
            group = [c for c in checks if (c.subject or "scenario") == subject]
            if group:
                lines += _check_group(title, group, result)
    elif result.status != "completed":
        lines.append("Checks: not judged (the run did not complete)")
        lines.append("")
    if db:
        lines.append(f"Recorded in {db} (run_id '{result.run_id}').")
    return "\n".join(printable(line) for line in lines) + "\n"


#: How checks are grouped, by what they judge: facts of the plan hold whatever the handler does,
#: so they are never counted as the handler passing.
_SUBJECTS = (("scenario", "Scenario facts (the plan itself, not your handler)"),
             ("handler", "Handler checks (answers to webhooks)"),
             ("merchant", "Merchant state (probes of its API)"))


def _check_group(title: str, checks: list[Verdict], result: RunResult) -> list[str]:
    reasons = {c.message or "" for c in checks if check_verdict(c) == "skip"}
    if len(reasons) == 1 and all(check_verdict(c) == "skip" for c in checks) and len(checks) > 1:
        # The same reason for every one (no target, --skip-probes): said once.
        return [f"{title}: {len(checks)} not judged: {reasons.pop().removeprefix('not judged: ')}", ""]
    counts: dict[CheckVerdict, int] = dict.fromkeys(("ok", "FAIL", "skip", "note"), 0)
    shown = []
    probes = {p.probe.name: p for p in result.probes}
    for c in checks:
        verdict = check_verdict(c)
        counts[verdict] += 1
        severity = f" [{c.severity}]" if c.severity else ""
        detail = "" if verdict == "ok" else f": {c.message}"
        # An expect shows its condition with the parameters filled in; a finding its name.
        what = f"expect {c.expected}" if c.kind == "expect" and c.expected else c.name
        if c.kind == "probe" and verdict == "ok":
            detail = f": {c.message}"
        elif c.kind == "probe" and verdict == "FAIL":
            detail = f": {c.actual}"
        shown.append(f"  {verdict:<4} {what}{severity}{detail}")
        if c.kind == "probe" and verdict == "FAIL" and c.name in probes:
            for f in probes[c.name].failed[:SHOWN_FAILURES]:
                shown.append(f"       {f.entity or 'the run'}: {f.reason}")
                if f.observed:
                    shown.append(f"         observed {f.observed}")
                shown.append(f"         request {f.request} ({f.elapsed_ms:,.0f} ms, {f.polls} request"
                             f"{'s' * (f.polls != 1)})")
                rows = result.timelines.get(f.entity or "")
                if rows:
                    shown.append("         timeline of its order, as sent:")
                    shown += timeline_lines(rows, "           ")
            more = len(probes[c.name].failed) - SHOWN_FAILURES
            if more > 0:
                shown.append(f"       … and {more:,} more (the store's `checks` table has every entity)")
    head = f"{title}: {counts['ok']} passed, {counts['FAIL']} failed"
    head += f", {counts['skip']} not judged" if counts["skip"] else ""
    head += f", {counts['note']} finding{'s' * (counts['note'] != 1)} reported" if counts["note"] else ""
    return [head, *shown, ""]


def _mismatch_notes(tally: Tally, faults: dict[str, dict[str, int]], provider: str) -> list[str]:
    """The first mismatched answer per fault, and a hint when every genuine message failed."""
    if not tally.samples:
        return []
    lines = ["First mismatched answer, by fault:"]
    for fault, (outcome, status, error, snippet, which) in sorted(tally.samples.items(),
                                                                  key=lambda kv: kv[0] != "none"):
        answer = f"{status}" if status is not None else outcome
        lines.append(f"  {fault}: {answer}{f' ({error})' if error else ''}{f' {snippet!r}' if snippet else ''}"
                     f" to {which}")
    genuine = faults.get("none", {"ok": 0, "mismatched": 0})
    if genuine["ok"] == 0 and genuine["mismatched"]:
        lines += _genuine_hints(tally.samples["none"], provider)
    lines.append("")
    return lines


def _genuine_hints(sample: tuple[str, int | None, str | None, str, str], provider: str) -> list[str]:
    """What most likely went wrong when not one genuine message was answered as it should be,
    from the first such answer: nobody listening, the wrong path, the wrong gateway, the wrong
    secret."""
    from carbonc.dialects import provider_named_in
    from carbonc.domain.vocabulary import PROVIDERS
    from carbonc.report.hints import error_hint

    outcome, status, error, snippet, _ = sample
    if status is None:
        kind = error or outcome
        return [f"hint: no genuine message got an answer ({kind}): {error_hint(kind)}"]
    if status == 404:
        return ["hint: every genuine message got 404: is the path in --webhook-url (or --app-path) right?"]
    if not 400 <= status < 500:
        return []
    named = provider_named_in(snippet)
    if named is not None and named != PROVIDERS.get(provider, provider):
        # A handler's "missing X-Razorpay-Signature" says which gateway it expects.
        return [f"hint: the handler rejected every genuine message, and its answer names {named}: is it a "
                f"{named} handler? give --provider {named} (this run sent {provider}'s webhooks)"]
    return ["hint: the handler rejected every genuine message: is it verifying with the secret given "
            "to --webhook-secret (or carbonc's default test secret, see docs/run.md)?"]


def check_verdict(check: Verdict) -> CheckVerdict:
    """`ok`, `FAIL` (an expect that did not hold), `skip` (not judged) or `note` (a finding that
    fired: it reports a fact of the scenario and fails nothing)."""
    if check.passed is None:
        return "skip"
    if check.passed:
        return "ok"
    return "note" if check.kind == "finding" else "FAIL"


def junit_xml(result: RunResult) -> bytes:
    """JUnit XML: one test suite for the run, one test case per check (and one for the run
    itself, failing when it did not complete)."""
    from xml.etree import ElementTree as ET  # only for `--output junit`: not imported by every run

    suite = ET.Element("testsuite", name=f"carbonc.{result.header.scenario}", time=f"{result.elapsed_s:.3f}")
    cases: list[tuple[str, bool, str, Verdict | None]] = [
        ("run", result.status == "completed",
         f"the run ended {result.status}" + (f": {result.error}" if result.error else ""), None)]
    probes = {p.probe.name: p for p in result.probes}
    for c in result.checks:
        if c.entity_id is None:
            cases.append((c.name, check_verdict(c) != "FAIL", c.message or "", c))
    failures = skipped = 0
    for name, passed, message, check in cases:
        name, message = printable(name), printable(message)
        case = ET.SubElement(suite, "testcase", classname=printable(f"carbonc.{result.header.scenario}"), name=name)
        if check is not None and check.severity:
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="severity", value=check.severity)
        verdict: CheckVerdict = check_verdict(check) if check is not None else ("ok" if passed else "FAIL")
        if verdict == "ok":
            pass
        elif verdict == "FAIL":
            failures += 1
            failure = ET.SubElement(case, "failure", message=message, type=check.kind if check else "run")
            if check is not None:
                failure.text = printable(f"expected: {check.expected}\nactual: {check.actual}")
                if "deliveries.mismatched" in (check.expected or "") and result.tally.samples:
                    failure.text += "\n" + printable("\n".join(
                        f"first mismatched, {fault}: {status if status is not None else outcome} to {which}"
                        for fault, (outcome, status, _, _, which) in sorted(result.tally.samples.items())))
                if check.name in probes:
                    failure.text += "\n" + printable("\n".join(_failure_lines(probes[check.name], result)))
        elif verdict == "skip":
            skipped += 1
            ET.SubElement(case, "skipped", message=message)
        elif verdict == "note":
            ET.SubElement(case, "system-out").text = printable(f"finding: {message}")
        else:
            assert_never(verdict)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _failure_lines(probe: ProbeResult, result: RunResult) -> list[str]:
    lines = []
    for f in probe.failed[:SHOWN_FAILURES]:
        lines += [f"{f.entity or 'the run'}: {f.reason}", f"  observed {f.observed}", f"  request {f.request}"]
        rows = result.timelines.get(f.entity or "")
        if rows:
            lines.append("  timeline:")
            lines += timeline_lines(rows, "    ")
    return lines


def post_callback(url: str, payload: dict[str, Any], timeout_s: float = 10.0) -> str | None:
    """POST the summary to `url`; return None on a 2xx, else what went wrong (never raises).
    The whole call has `timeout_s`: a server that trickles its answer a byte at a time resets
    every read timeout, so the call runs in a thread that is abandoned when time is up."""
    import threading

    outcome: list[str | None] = []
    worker = threading.Thread(target=lambda: outcome.append(_post(url, payload, timeout_s)), daemon=True,
                              name="carbonc-callback")
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        return f"the callback did not finish within {timeout_s:g} s; abandoned"
    return outcome[0]


def _post(url: str, payload: dict[str, Any], timeout_s: float) -> str | None:
    import httpx

    try:
        response = httpx.post(url, json=payload, timeout=timeout_s)
    except httpx.InvalidURL as exc:
        return f"invalid callback URL: {exc}"
    except httpx.TimeoutException:
        return "the callback timed out"
    except httpx.HTTPError as exc:
        return f"the callback failed: {type(exc).__name__}"
    except Exception as exc:  # noqa: BLE001 - a URL httpx cannot even parse is still just a failed callback
        return f"the callback failed: {type(exc).__name__}"
    if not 200 <= response.status_code < 300:
        return f"the callback answered {response.status_code}"
    return None


def progress_line(tally: Tally, elapsed_s: float, width: int = 24) -> str:
    """`[#####-----]  1,234/3,300 messages  2,345 deliveries  1,020/s  ETA 2s`; once a first
    Ctrl-C is stopping the run, what it waits for and how to stop waiting."""
    if tally.stopping:
        return (f"stopping: waiting for {tally.in_flight:,} request{'s' * (tally.in_flight != 1)} in flight "
                "— press Ctrl-C again to abandon them")
    total = max(tally.messages_planned, tally.messages_done, 1)
    done = tally.messages_done
    filled = int(width * done / total)
    rate = tally.metrics["deliveries"] / elapsed_s if elapsed_s > 0 else 0.0
    per_message = elapsed_s / done if done else 0.0
    eta = f"ETA {per_message * (total - done):.0f}s" if done else "ETA -"
    return (f"[{'#' * filled}{'-' * (width - filled)}] {done:,}/{total:,} messages  "
            f"{tally.metrics['deliveries']:,} deliveries  {rate:,.0f}/s  {eta}")

