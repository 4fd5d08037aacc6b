"""Reads one stored run into a RunReport through the store's report views (carbonc/store/views.sql):
every figure is computed by DuckDB, and only bounded lists come back to Python."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from carbonc.errors import UnknownRun
from carbonc.report.figures import (
    Attempt,
    Bucket,
    CheckLine,
    CheckVerdict,
    ErrorKind,
    EventOutcomes,
    Fate,
    FateCount,
    Latency,
    ProbeFailure,
    RunHeader,
    RunReport,
    Slice,
    Timeline,
    TimelineLine,
    Totals,
    VerdictCount,
)
from carbonc.report.hints import error_hint
from carbonc.store.rows import OUTCOMES

if TYPE_CHECKING:
    from carbonc.store import Store, TimelineRow

#: How many of each ranked list a report keeps: slowest attempts, failing entities per probe,
#: timelines, and lines of one timeline. A run of 200,000 deliveries reports in a page.
SLOWEST, FAILURES_PER_PROBE, TIMELINES, TIMELINE_LINES = 10, 3, 5, 40

#: Runs an unknown id's message names.
LATEST_SHOWN = 5


def resolve_run_id(store: Store, ref: str) -> str:
    """`ref` itself when a run has that id; the most recently started run for `latest`. Raises
    UnknownRun, naming the latest runs, otherwise."""
    _, latest = store.query("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?",
                            [LATEST_SHOWN])
    names = [row[0] for row in latest]
    if ref == "latest":
        if not names:
            raise UnknownRun(f"no run is recorded in `{store.path}`", [])
        return cast(str, names[0])
    _, found = store.query("SELECT run_id FROM runs WHERE run_id = ?", [ref])
    if not found:
        raise UnknownRun(f"no run `{ref}` in `{store.path}`", names)
    return ref


def load_report(store: Store, run_id: str) -> RunReport:
    """Every figure of the run `run_id` (which exists: see `resolve_run_id`)."""
    failures = _probe_failures(store, run_id)
    fates = [FateCount(fate=cast(Fate, f), messages=n, retried=r, attempts=int(a), max_attempts=m)
             for f, n, r, a, m in _rows(store, "SELECT fate, messages, retried, attempts, max_attempts "
                                               "FROM report_fates WHERE run_id = ? ORDER BY messages DESC, fate",
                                        run_id)]
    latency = [Latency(event=e, deliveries=n, p50=p50, p95=p95, p99=p99, max_ms=mx)
               for e, n, p50, p95, p99, mx in _rows(
                   store, "SELECT event_type, deliveries, p50, p95, p99, max_ms FROM report_latency "
                          "WHERE run_id = ? ORDER BY event_type NULLS FIRST", run_id)]
    return RunReport(
        run=_header(store, run_id),
        totals=_totals(store, run_id),
        checks=[CheckLine(kind=k, name=n, subject=s, severity=sev, verdict=cast(CheckVerdict, v), expected=e,
                          actual=a, message=m)
                for k, n, s, sev, v, e, a, m in _rows(
                    store, "SELECT kind, name, subject, severity, verdict, expected, actual, message "
                           "FROM report_checks WHERE run_id = ? ORDER BY position", run_id)],
        probe_failures=failures,
        by_event=_by_event(store, run_id),
        by_fault=[VerdictCount(key=f, expected=None, ok=ok, mismatched=bad)
                  for f, ok, bad in _rows(store, "SELECT fault, ok, mismatched FROM report_verdicts_by_fault "
                                                 "WHERE run_id = ? ORDER BY fault <> 'none', fault", run_id)],
        by_signature=[VerdictCount(key=s, expected=e, ok=ok, mismatched=bad)
                      for s, e, ok, bad in _rows(
                          store, "SELECT signature_mode, expected_verdict, ok, mismatched "
                                 "FROM report_verdicts_by_signature WHERE run_id = ? "
                                 "ORDER BY signature_mode <> 'valid', signature_mode, expected_verdict", run_id)],
        latency=next((lat for lat in latency if lat.event is None), None),
        latency_by_event=[lat for lat in latency if lat.event is not None],
        histogram=[Bucket(low_ms=lo, high_ms=hi, deliveries=n)
                   for lo, hi, n in _rows(store, "SELECT low_ms, high_ms, deliveries FROM report_latency_histogram "
                                                 "WHERE run_id = ? ORDER BY bucket", run_id)],
        over_time=_over_time(store, run_id),
        slowest=[Attempt(delivery_id=d, event=e, fault=f, entity_id=ent, outcome=o, status_code=s, error=err,
                         latency_ms=lat)
                 for d, e, f, ent, o, s, err, lat in _rows(
                     store, "SELECT delivery_id, event_type, fault, entity_id, outcome, status_code, error, "
                            "latency_ms FROM report_slowest WHERE run_id = ? AND rank <= ? ORDER BY rank",
                     run_id, SLOWEST)],
        mismatches=[Attempt(delivery_id=d, event=e, fault=f, entity_id=ent, outcome=o, status_code=s, error=err,
                            snippet=snip)
                    for d, e, f, ent, o, s, err, snip in _rows(
                        store, "SELECT delivery_id, event_type, fault, entity_id, outcome, status_code, error, "
                               "response_snippet FROM report_mismatch_samples WHERE run_id = ? "
                               "ORDER BY fault <> 'none', fault", run_id)],
        fates=fates,
        errors=[ErrorKind(error=e, deliveries=n, messages=m, first_delivery_id=first, hint=error_hint(e))
                for e, n, m, first in _rows(store, "SELECT error, deliveries, messages, first_delivery_id "
                                                   "FROM report_errors WHERE run_id = ? ORDER BY deliveries DESC, "
                                                   "error", run_id)],
        timelines=_timelines(store, run_id, failures),
    )


def _rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return store.query(sql, params)[1]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def _header(store: Store, run_id: str) -> RunHeader:
    (row,) = _rows(store, "SELECT run_id, scenario, provider, seed, params, target, status, started_at, "
                          "finished_at, version FROM runs WHERE run_id = ?", run_id)
    rid, scenario, provider, seed, params, target, status, started, finished, version = row
    return RunHeader(run_id=rid, scenario=scenario, provider=provider, seed=seed, params=params or "{}",
                     target=target, status=status, started_at=_iso(started) or "", finished_at=_iso(finished),
                     version=version)


def _totals(store: Store, run_id: str) -> Totals:
    (row,) = _rows(store, "SELECT messages, deliveries, retries, mismatched, first_sent_ms, last_sent_ms "
                          "FROM report_totals WHERE run_id = ?", run_id)
    messages, deliveries, retries, mismatched, first, last = row
    return Totals(messages=messages, deliveries=deliveries, retries=retries, mismatched=mismatched,
                  sending_ms=(last - first) if first is not None else 0)


def _by_event(store: Store, run_id: str) -> list[EventOutcomes]:
    table: dict[str, dict[str, int]] = {}
    for event, outcome, n in _rows(store, "SELECT event_type, outcome, deliveries FROM report_deliveries_by_event "
                                          "WHERE run_id = ? ORDER BY event_type", run_id):
        table.setdefault(event, dict.fromkeys(OUTCOMES, 0))[outcome] = n
    return [EventOutcomes(event=e, outcomes=o) for e, o in table.items()]


def _over_time(store: Store, run_id: str) -> list[Slice]:
    slices: dict[int, Slice] = {}
    for index, width, outcome, n in _rows(store, "SELECT slice, slice_ms, outcome, deliveries "
                                                 "FROM report_deliveries_over_time WHERE run_id = ? ORDER BY slice",
                                          run_id):
        part = slices.setdefault(index, Slice(start_ms=round(index * width), outcomes=dict.fromkeys(OUTCOMES, 0)))
        part.outcomes[outcome] = n
    return list(slices.values())


def _probe_failures(store: Store, run_id: str) -> list[ProbeFailure]:
    return [ProbeFailure(probe=name, entity_id=entity, observed=actual, reason=message, request=request,
                         elapsed_ms=elapsed, polls=polls)
            for name, entity, actual, message, request, elapsed, polls in _rows(
                store, "SELECT name, entity_id, actual, message, request, elapsed_ms, polls "
                       "FROM report_probe_failures WHERE run_id = ? AND rank <= ? ORDER BY name, rank",
                run_id, FAILURES_PER_PROBE)]


def _timelines(store: Store, run_id: str, failures: list[ProbeFailure]) -> list[Timeline]:
    """The first failing entities: those probes found wrong, then those of genuine messages the
    gateway gave up on and of forgeries the handler accepted."""
    chosen: dict[str, str] = {}
    for f in failures:
        if f.entity_id != "(run)":
            chosen.setdefault(f.entity_id, f"the merchant's state: {f.reason or f.observed or 'wrong'}")
    for entity, fate, event in _rows(store, "SELECT entity_id, fate, event FROM report_message_fates "
                                            "WHERE run_id = ? AND fate IN ('gave up', 'forgery accepted') "
                                            "ORDER BY seq LIMIT ?", run_id, TIMELINES):
        chosen.setdefault(entity, f"{event}: {fate}")
    out: list[Timeline] = []
    shown: set[frozenset[str]] = set()
    for entity, reason in chosen.items():
        rows = store.timeline(run_id, entity, TIMELINE_LINES)
        tree = frozenset(row.entity_id for row in rows)
        if tree in shown:  # a payment and its order share one tree: show it once
            continue
        shown.add(tree)
        out.append(Timeline(entity_id=entity, reason=reason, lines=[_timeline_line(row) for row in rows]))
        if len(out) == TIMELINES:
            break
    return out


def _timeline_line(row: TimelineRow) -> TimelineLine:
    copy = row.message_id.partition("#")[2]
    if row.attempt is None:
        answer = f"not sent: {row.skipped}" if row.skipped else "not sent"
    elif row.status_code is not None:
        answer = str(row.status_code)
    else:
        answer = row.error or row.outcome or "?"
    return TimelineLine(virtual_ms=row.virtual_ms, sent_at_ms=row.sent_at_ms, event=row.event,
                        entity_id=row.entity_id, copy=copy, attempt=row.attempt, fault=row.fault, answer=answer)
