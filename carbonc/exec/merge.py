"""Joins the shards of a split run back into one run: checks that the files are the N shards of
one plan, copies their rows under a new run id, and judges the whole run — the plan's `expect`s
and `finding`s over the union of the deliveries, each probe over the union of its entities.

    >>> merged = merge_shards([Path("shard-1.duckdb"), Path("shard-2.duckdb")], Path("carbon.duckdb"))
    >>> merged.status
    'completed'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from carbonc.errors import ExecutionError
from carbonc.exec.model import ChecksPlan, Verdict
from carbonc.exec.shards import NOT_IN_A_SHARD, Shard
from carbonc.store.merge import ShardRun

if TYPE_CHECKING:
    from carbonc.store import Store

#: What a probe of the whole run says when merged from shards, none of which could send it.
ONCE_NOT_SENT = ("not judged: a probe of the whole run is not sent by a shard (`carbonc run --workers N` sends it "
                 "once every shard is done)")

#: The `runs` fields every shard of one run shares: the same plan, run the same way.
_SAME = ("scenario", "source_sha256", "seed", "provider", "params", "checks_plan")


class MergedRun(NamedTuple):
    """The run made of the shards: its id and status, the shards (in order), and its verdicts."""

    run_id: str
    status: str
    shards: list[ShardRun]
    checks: list[Verdict]


def read_shards(sources: Sequence[Path]) -> list[ShardRun]:
    """The shard runs in `sources`, one per file, ordered by shard; ExecutionError unless they
    are shards 1…N of one plan, each once, and every one can be read."""
    from carbonc.errors import StoreError
    from carbonc.store.merge import shard_runs

    found: list[ShardRun] = []
    for path in sources:
        try:
            runs = shard_runs(path)
        except StoreError as exc:  # not a database, or not one of ours: bad input, not a failed write
            raise ExecutionError(str(exc)) from None
        if len(runs) != 1:
            what = "no shard run" if not runs else f"{len(runs)} shard runs ({', '.join(r.run_id for r in runs)})"
            raise ExecutionError(f"`{path}` holds {what}: give one file per shard, each written by "
                                 "`carbonc run --shard K/N --db FILE`")
        found.append(runs[0])
    shards = [Shard.parse(run.shard) for run in found]
    counts = {s.count for s in shards}
    if len(counts) != 1:
        raise ExecutionError(f"the files are shards of different splits ({', '.join(map(str, shards))})")
    count = counts.pop()
    have = sorted(s.index for s in shards)
    if have != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(have))
        twice = sorted({i for i in have if have.count(i) > 1})
        problems = ([f"missing shard {', '.join(f'{i}/{count}' for i in missing)}"] if missing else []) + (
            [f"shard {', '.join(f'{i}/{count}' for i in twice)} given twice"] if twice else [])
        raise ExecutionError(f"the files are not the {count} shards of one run: {'; '.join(problems)}")
    ordered = [run for _, run in sorted(zip(shards, found, strict=True), key=lambda pair: pair[0].index)]
    first = ordered[0]
    for run in ordered[1:]:
        for name in _SAME:
            if getattr(run, name) != getattr(first, name):
                raise ExecutionError(f"shard {run.shard} (`{run.path}`) and shard {first.shard} (`{first.path}`) ran "
                                     f"different plans or runs: their {name} differ")
        # A shard that did not read its plan to the end has no hash of it (NULL, or empty when cut
        # short before it finished): only hashes both have are compared.
        if run.plan_sha256 and first.plan_sha256 and run.plan_sha256 != first.plan_sha256:
            raise ExecutionError(f"shard {run.shard} and shard {first.shard} ran different plans: their plan_sha256 "
                                 "differ")
    return ordered


def merge_shards(sources: Sequence[Path], into: Path) -> MergedRun:
    """Merge the shard files `sources` into one new run in the DuckDB file `into`: `completed`
    when every shard completed, `failed` if one failed, else `interrupted`. Each probe is judged
    over the shards' rows of its entities; a probe `once` for the run, which no shard sends, is
    not judged. Raises ExecutionError when the files are not the shards of one run (or cannot be
    read), StoreError when `into` cannot be written; nothing is written to `into` before the
    shards are known good."""
    from carbonc.exec import new_run_id
    from carbonc.store import Batch, CheckRow, RunRow, open_store
    from carbonc.store.merge import copy_shards

    into = into.expanduser()
    shards = read_shards(sources)
    if any(Path(s.path).resolve() == into.resolve() for s in shards):
        raise ExecutionError(f"`{into}` is one of the shards: merge into another file (--into)")
    run_id = new_run_id()
    first = shards[0]
    status = ("failed" if any(s.status == "failed" for s in shards) else
              "interrupted" if any(s.status != "completed" for s in shards) else "completed")
    hashes = {s.plan_sha256 for s in shards if s.plan_sha256}
    row = RunRow(run_id=run_id, scenario=first.scenario, source_sha256=first.source_sha256, plan_sha256="",
                 seed=first.seed, provider=first.provider, params=first.params,
                 started_at_ms=min(s.started_at_ms for s in shards), version=first.version or "",
                 target=first.target, time_scale=first.time_scale or "max",
                 concurrency=sum(s.concurrency or 0 for s in shards), gateway=first.gateway or "simulated",
                 merged_from=",".join(s.run_id for s in shards))
    store = open_store(into)
    try:
        store.begin_run(row)
        copy_shards(store, shards, run_id)
        checks: list[Verdict] = []
        if status == "completed":
            checks = _judge(store, shards, run_id)
            if checks:
                store.append(Batch(checks=[CheckRow(run_id, **msgspec.structs.asdict(v)) for v in checks]))
        finished = max((s.finished_at_ms or s.started_at_ms for s in shards), default=row.started_at_ms)
        store.finish_run(run_id, status, finished, hashes.pop() if len(hashes) == 1 else None)
    finally:
        store.close()
    return MergedRun(run_id, status, shards, checks)


def _judge(store: Store, shards: list[ShardRun], run_id: str) -> list[Verdict]:
    """The merged run's verdicts: its checks over all the deliveries, then each probe over all
    the entities the shards probed (each shard probed its own)."""
    from carbonc.exec._run import judge_checks
    from carbonc.store.merge import merged_figures

    plan = msgspec.json.decode(shards[0].checks_plan or "null", type=ChecksPlan | None)
    metrics, entity_rows = merged_figures(store, run_id)
    verdicts = judge_checks(plan.checks, {**plan.metrics, **metrics}, has_target=plan.has_target) if plan else []
    per_shard = [s.probe_summaries for s in shards]
    for index, (name, severity, _, expected, _) in enumerate(per_shard[0]):
        summaries = [shard[index] for shard in per_shard if index < len(shard) and shard[index][0] == name]
        verdicts.append(_probe_verdict(name, severity, expected, summaries,
                                       [r for r in entity_rows if r[0] == name]))
    return verdicts


def _probe_verdict(name: str, severity: str | None, expected: str | None,
                   summaries: Sequence[tuple[str, str | None, bool | None, str | None, str | None]],
                   entities: Sequence[tuple[str, bool | None, float | None, int | None, str | None, str | None]],
                   ) -> Verdict:
    """One probe's verdict over the union of the shards' entities."""
    from carbonc.exec._run import probe_summary

    unjudged = [s[4] for s in summaries if s[2] is None]
    if unjudged and not entities:
        message = unjudged[0] or ""
        # A probe of the whole run: every shard said it was left to the whole run.
        message = ONCE_NOT_SENT if message.startswith(NOT_IN_A_SHARD) else message
        return Verdict(kind="probe", name=name, severity=severity, passed=None, expected=expected, actual=None,
                       message=message, subject="merchant")
    failed = [e for e in entities if e[1] is False]
    first = (failed[0][4], failed[0][5]) if failed else None
    total = len(entities)
    # A shard that could not probe (its endpoint down, say) leaves the probe not judged as a whole.
    return Verdict(kind="probe", name=name, severity=severity, passed=None if unjudged else not failed,
                   expected=expected, actual=f"{total - len(failed):,} passed, {len(failed):,} failed",
                   message=unjudged[0] if unjudged else probe_summary(total, len(failed), first),
                   subject="merchant", elapsed_ms=max((e[2] or 0.0 for e in entities), default=0.0),
                   polls=sum(e[3] or 0 for e in entities))
