"""Reads the store for people: a summary of the recent runs, any read-only SQL with bounded
output, and the latest run ids to suggest when one is mistyped.

    >>> with open_store(path, read_only=True) as store:
    ...     recent_runs(store, limit=20)[0].verdict
    'passed'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from carbonc.store import Store

Verdict = Literal["passed", "failed", "not judged"]

#: A run passes when it completed and every `expect` and probe it judged held, as `carbonc run`
#: decides it (findings report facts and do not fail a run; per-entity probe rows repeat the
#: probe's own). Only the newest `limit` runs are aggregated: the store may hold millions of rows.
_RECENT_RUNS = """
WITH recent AS (
  SELECT run_id, scenario, provider, target, status, started_at, finished_at FROM runs
  ORDER BY started_at DESC, run_id DESC LIMIT ?),
m AS (SELECT run_id, count(*) AS messages FROM messages
      WHERE run_id IN (SELECT run_id FROM recent) GROUP BY run_id),
d AS (SELECT run_id, count(*) AS deliveries, count(*) FILTER (WHERE NOT verdict_ok) AS mismatched FROM deliveries
      WHERE run_id IN (SELECT run_id FROM recent) GROUP BY run_id),
c AS (SELECT run_id, count(*) FILTER (WHERE passed IS NOT NULL) AS judged,
             count(*) FILTER (WHERE passed = false) AS failed FROM checks
      WHERE run_id IN (SELECT run_id FROM recent) AND kind IN ('expect', 'probe') AND entity_id IS NULL
      GROUP BY run_id)
SELECT r.run_id, r.scenario, r.provider, r.target, r.status, r.started_at::VARCHAR,
       CASE WHEN r.status <> 'completed' OR coalesce(c.judged, 0) = 0 THEN 'not judged'
            WHEN c.failed > 0 THEN 'failed' ELSE 'passed' END,
       coalesce(m.messages, 0), coalesce(d.deliveries, 0), coalesce(d.mismatched, 0),
       CASE WHEN r.finished_at IS NULL THEN NULL
            ELSE epoch_ms(r.finished_at) - epoch_ms(r.started_at) END
FROM recent r LEFT JOIN m USING (run_id) LEFT JOIN d USING (run_id) LEFT JOIN c USING (run_id)
ORDER BY r.started_at DESC, r.run_id DESC
"""


class RunSummary(msgspec.Struct, array_like=True):
    """One run as `carbonc runs` lists it: what ran against which `target` (stored without
    credentials), how it ended (`status`) and was judged (`verdict`), its messages, deliveries
    (attempts) and deliveries whose answer did not match the expected verdict, and how long it
    took (`duration_ms`, None while running)."""

    run_id: str
    scenario: str
    provider: str
    target: str | None
    status: str
    started_at: str
    verdict: Verdict
    messages: int
    deliveries: int
    mismatched: int
    duration_ms: int | None


#: The summary's fields, in order: the column names of `carbonc runs`.
RUN_SUMMARY_FIELDS: tuple[str, ...] = RunSummary.__struct_fields__


def recent_runs(store: Store, limit: int) -> list[RunSummary]:
    """The newest `limit` runs, newest first. A run still `running` while no process holds the
    database's writer lock belonged to a process that died: it is listed `interrupted`, as the
    next run to open the file will record it."""
    from carbonc.store.access import WriterLock

    _, rows = store.query(_RECENT_RUNS, [limit])
    summaries = msgspec.convert(rows, list[RunSummary])
    if any(s.status == "running" for s in summaries) and not WriterLock(store.path).is_held():
        summaries = [msgspec.structs.replace(s, status="interrupted") if s.status == "running" else s
                     for s in summaries]
    return summaries


def latest_run_ids(store: Store, count: int = 5) -> list[str]:
    """The ids of the newest `count` runs, newest first."""
    _, rows = store.query("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [count])
    return [run_id for run_id, in rows]


def run_exists(store: Store, run_id: str) -> bool:
    _, rows = store.query("SELECT count(*) FROM runs WHERE run_id = ?", [run_id])
    return bool(rows[0][0])


class Answer(msgspec.Struct):
    """What a query returned: its `columns`, at most the asked number of `rows`, and whether
    there were `more`."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    more: bool


def answer(store: Store, sql: str, params: Sequence[Any], limit: int) -> Answer:
    """The first `limit` rows of `sql` (which must already be known to read only)."""
    columns, rows = store.query(sql, params, max_rows=limit + 1)
    return Answer(columns, rows[:limit], len(rows) > limit)
