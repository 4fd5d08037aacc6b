"""Runs a plan: the simulated gateway records its facts, every webhook message is delivered to
the target (a URL or an in-process ASGI app) on trio, every attempt and the run's checks are
written to the store, and a `RunResult` says how it went. Never prints.

    >>> result = execute(PlanInput.from_compiled(plan), RunOptions(url="http://127.0.0.1:8000/hooks"), store)
    >>> result.status, result.tally.metrics["deliveries.mismatched"]
    ('completed', 0)

Virtual time maps to wall time by `time_scale` (None: as fast as possible, in order). SIGINT or
SIGTERM stops sending: attempts in flight finish, everything is flushed and the run is marked
`interrupted`; a second signal abandons the attempts in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from carbonc.exec._run import PreparedRun
from carbonc.exec.model import PlanInput, RunOptions, RunResult
from carbonc.exec.tally import Tally
from carbonc.store import Store

__all__ = ["PlanInput", "PreparedRun", "RunOptions", "RunResult", "execute", "prepare"]


def execute(plan: PlanInput, options: RunOptions, store: Store, *, run_id: str | None = None,
            progress: Callable[[Tally], None] | None = None, clock: trio.abc.Clock | None = None) -> RunResult:
    """Run `plan` with `options`, recording into `store`: `prepare(plan, options).execute(store)`."""
    return prepare(plan, options, run_id=run_id).execute(store, progress=progress, clock=clock)


def prepare(plan: PlanInput, options: RunOptions, *, run_id: str | None = None) -> PreparedRun:
    """Check that the run can start — provider, secret, target, concurrency — before anything is
    opened or recorded. Raises ExecutionError (whose message never contains a secret)."""
    return PreparedRun(plan, options, run_id or new_run_id())


def new_run_id() -> str:
    """A fresh run id: the UTC start time and 4 random bytes (`run_20261126T051200_9f3ab2c1`)."""
    import secrets

    return f"run_{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}_{secrets.token_hex(4)}"
