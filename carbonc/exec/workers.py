"""Runs one plan in N worker processes as one run (`carbonc run --workers N`).

Each worker is `carbonc run --shard K/N` in a process of its own (`python -m carbonc.exec.worker`):
it sends its order trees, stages its rows under the run's id in a folder beside the run's
database (`store.open_spool`), probes its own entities, and reports its progress, its tally and
its probes' results on stdout as JSON lines. This process holds the database for the run: it
begins and finishes the run's row, records what the workers stage as they go (the one writer of
the file, so they never wait on each other for it), draws one progress line, passes Ctrl-C on
to the workers, sends the probes `once` for the run after every worker is done, and judges the
run once, as a run of one process judges it.

Ordering is promised only within an order tree, and a tree is always in one worker: splitting
changes no guarantee. A worker that dies leaves its file as far as it got; the run is then
`interrupted` (or `failed`, saying which worker and why) with everything recorded kept.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import msgspec

from carbonc.errors import ExecutionError, InternalError, StoreError
from carbonc.exec._run import PreparedRun, failing_timelines, probe_options
from carbonc.exec.model import PlanInput, RunOptions, RunResult
from carbonc.exec.probes import EntityResult, ProbeOptions, ProbeResult
from carbonc.exec.shards import Shard
from carbonc.exec.tally import Tally, TallyState
from carbonc.plan.records import Summary
from carbonc.store import Batch, CheckRow, Store, open_spool, open_store

if TYPE_CHECKING:
    from carbonc.compiler import CompiledPlan

#: How often the run records what the workers have staged (as often as a run's writer flushes).
INGEST_INTERVAL_S = 0.5
#: The most bytes of a worker's stderr kept to explain how it died.
_STDERR_TAIL = 2_000
#: A worker's report line longer than this is not ours: the worker is taken to have failed.
_MAX_LINE = 64 << 20


class WorkerOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The run options a worker takes: `RunOptions` without what cannot cross a process (an
    in-process app, a real gateway's session)."""

    provider: str
    url: str
    secret: str | None
    previous_secret: str | None
    concurrency: int
    timeout_s: float | None
    time_scale: float | None
    probe: ProbeOptions | None
    circuit_breaker: int


class WorkerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one worker runs: shard `shard` of the saved plan at `plan`, as part of run `run_id`,
    its rows staged into the folder `spool` for the run to record. Sent on the worker's stdin
    (never its command line, which other users of the machine can read: it holds the secret)."""

    plan: str
    run_id: str
    spool: str
    shard: Shard
    options: WorkerOptions
    #: The plan's summary when its file is still being written as the worker starts (it is then
    #: read as it grows, its summary line coming last); None: the file is whole.
    summary: Summary | None = None


class Progress(msgspec.Struct, frozen=True, tag=True):
    """A worker's counts so far."""

    messages_done: int
    deliveries: int
    in_flight: int
    stopping: bool


class Finished(msgspec.Struct, frozen=True, tag=True):
    """How a worker's shard ended, with its whole tally."""

    status: str
    error: str | None
    warnings: list[str]
    endpoint_down: str | None
    rows_written: int
    probe_s: float
    #: The plan's hash, once the worker read it whole (None: cut short).
    plan_sha256: str | None
    tally: TallyState
    #: Its probes over its own entities.
    probes: list[ProbeResult]


Report = Progress | Finished
_decode_report = msgspec.json.Decoder(Report).decode


class _Worker:
    """One worker process and what it has reported."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "carbonc.exec.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group: a Ctrl-C at the terminal reaches this process only, which
            # passes it on once (the terminal's and ours would count as two: "abandon").
            start_new_session=True)
        self.started = False
        self.buffer = bytearray()
        self.progress = Progress(0, 0, 0, False)
        self.finished: Finished | None = None
        self.stderr = b""

    def start(self) -> None:
        """Hand the worker its spec, its plan being ready (it has been importing meanwhile)."""
        assert self.proc.stdin is not None
        self.started = True
        # One that died meanwhile (a Ctrl-C passed on) is reaped and reported as any other.
        with contextlib.suppress(OSError):
            self.proc.stdin.write(msgspec.json.encode(self.spec))
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def stop_unstarted(self) -> None:
        """End a worker that never got its spec (the plan could not be written)."""
        if not self.started and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[:end])
            del self.buffer[:end + 1]
            try:
                report = _decode_report(line)
            except msgspec.DecodeError:
                continue  # not a report: never trusted, never fatal
            if isinstance(report, Progress):
                self.progress = report
            else:
                self.finished = report
        if len(self.buffer) > _MAX_LINE:
            self.buffer.clear()

    def died(self, interrupted: bool) -> bool:
        """Whether it ended without reporting, other than stopped by a Ctrl-C before its run began."""
        stopped = interrupted and self.proc.returncode in (130, -signal.SIGINT, -signal.SIGTERM)
        return self.finished is None and not stopped

    def why_not_finished(self) -> str:
        code = self.proc.returncode
        tail = self.stderr[-_STDERR_TAIL:].decode("utf-8", "replace").strip().splitlines()
        last = tail[-1] if tail else "no message"
        return f"worker {self.spec.shard} exited with code {code} before reporting: {last}"


#: The fewest deliveries a plan must have for `--workers auto` to split it: below, starting the
#: workers costs more than they save (measured on a 2-core machine against nginx; see bench/deliver.py).
AUTO_MIN_DELIVERIES = 20_000
#: The most workers `auto` starts.
AUTO_MAX_WORKERS = 4


def auto_workers(deliveries: int, options: RunOptions) -> int:
    """How many processes to split a run of `deliveries` across when the user did not say: one
    per core (at most AUTO_MAX_WORKERS) for a large run sent as fast as possible to a URL, one
    for anything else (a run paced by virtual time, an in-process app, a real gateway, a shard)."""
    splittable = (options.url is not None and options.app is None and options.gateway is None
                  and options.shard is None and options.time_scale is None and options.concurrency >= 2)
    if not splittable or deliveries < AUTO_MIN_DELIVERIES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, AUTO_MAX_WORKERS, options.concurrency))


def worker_options(options: RunOptions, workers: int) -> list[WorkerOptions]:
    """`options` for each of `workers` workers, the concurrency shared out among them;
    ExecutionError for a run that cannot be split."""
    if options.app is not None:
        raise ExecutionError("--workers needs --webhook-url: an --app runs inside one process, and its state "
                             "would be split between the workers")
    if options.gateway is not None:
        raise ExecutionError("--gateway real cannot be split into workers yet: run it with --workers 1")
    if options.url is None:
        raise ExecutionError("--workers needs --webhook-url: without a target there is nothing to share out")
    if options.concurrency < workers:
        raise ExecutionError(f"--workers {workers} needs --concurrency {workers} or more: each worker keeps at "
                             f"least one request in flight (it is {options.concurrency})")
    share, extra = divmod(options.concurrency, workers)
    return [WorkerOptions(provider=options.provider, url=options.url, secret=options.secret,
                          previous_secret=options.previous_secret, concurrency=share + (k < extra),
                          timeout_s=options.timeout_s, time_scale=options.time_scale, probe=options.probe,
                          circuit_breaker=options.circuit_breaker) for k in range(workers)]


class WorkersRun:
    """A prepared run split across `workers` processes; `execute` carries it out."""

    def __init__(self, prepared: PreparedRun, workers: int):
        if workers < 2:
            raise ExecutionError("--workers must be at least 2 to split a run")
        self.prepared, self.workers = prepared, workers
        self.plan, self.options, self.run_id = prepared.plan, prepared.options, prepared.run_id
        self.worker_options = worker_options(self.options, workers)
        self.tally = Tally(self.plan.summary.deliveries)
        self.interrupts = 0
        self._procs: list[_Worker] = []

    def execute(self, db: Path, *, progress: Callable[[Tally], None] | None = None) -> RunResult:
        """Run the workers into the DuckDB file `db`, then judge the run there. Raises StoreError
        when the run cannot even be recorded as started."""

        store = open_store(db)  # the run's lock, held until it is recorded whole
        try:
            return self._execute(store, progress)
        finally:
            store.close()

    def _execute(self, store: Store, progress: Callable[[Tally], None] | None) -> RunResult:
        started = time.time()
        prepared = self.prepared
        # Ctrl-C is counted, and passed on to the workers, from the run's start to its record's
        # end: a run is never left `running` by a Ctrl-C that came while it was being judged.
        with self._forwarding_signals():
            store.begin_run(msgspec.structs.replace(prepared.run_row(started), workers=self.workers))
            errors = self._run_workers(store, progress)
            finished = [w.finished for w in self._procs if w.finished is not None]
            for report in finished:
                self.tally.absorb(report.tally)
            down = next((f.endpoint_down for f in finished if f.endpoint_down), None)
            probing = time.perf_counter()
            whole = not errors and len(finished) == self.workers and all(f.status == "completed" for f in finished)
            once = self._whole_run_probes() if whole and not self.interrupts and down is None else []
            probe_s = time.perf_counter() - probing + max((f.probe_s for f in finished), default=0.0)
            status = ("failed" if errors or any(f.status == "failed" for f in finished) else
                      "interrupted" if self.interrupts or not whole else "completed")
            # The run judged as one process judges it: its tally is the workers' together, its
            # probes' results theirs (and the run's own), in plan order.
            prepared.tally, prepared.probe_results = self.tally, self._joined_probes(finished, once)
            prepared.breaker.tripped = down is not None
            checks = prepared.judge() if status == "completed" else []
            try:
                if checks:
                    store.append(Batch(checks=[CheckRow(self.run_id, **msgspec.structs.asdict(v)) for v in checks]),
                                 hold=True)
                hashes = {f.plan_sha256 for f in finished}
                complete = len(finished) == self.workers and None not in hashes and len(hashes) == 1
                store.finish_run(self.run_id, status, int(time.time() * 1000), hashes.pop() if complete else None)
            except StoreError as exc:
                status, errors = "failed", [*errors, str(exc)]
        timelines = failing_timelines(store, self.run_id, prepared.probe_results) if status == "completed" else {}
        warnings = list(dict.fromkeys(w for f in finished for w in f.warnings))
        return RunResult(self.run_id, status, self.plan.header, self.plan.summary, self.options.provider,
                         prepared.shown_target(), self.tally, checks, time.time() - started,
                         sum(f.rows_written for f in finished), warnings, "; ".join(errors) or None,
                         prepared.probe_results, timelines, probe_s, down)

    def _run_workers(self, store: Store, progress: Callable[[Tally], None] | None) -> list[str]:
        """Start the workers, record what they stage until every one has exited, and say what
        went wrong: a worker that died, one that failed, or the database."""
        # Beside the database: the workers' staged rows are on its disk, and a run killed
        # outright leaves them where the next open of the file clears them (its staging prefix).
        work = Path(tempfile.mkdtemp(prefix=f".{store.path.name[:200]}.stage-workers-", dir=store.path.parent))
        spool = work / "spool"
        spool.mkdir()
        failure: list[str] = []

        def ingest() -> None:
            if failure:
                return
            try:
                store.ingest_spool(spool)
            except StoreError as exc:
                # Nothing more can be recorded: stop the workers rather than send unrecorded.
                failure.append(str(exc))
                self._stop_workers()

        try:
            plan_path = self._plan_path(work)
            # A plan compiled here is read by the workers as it is written: they start on its
            # entities while its messages are still being written. Any other is written whole
            # first, the workers starting (Python, imports: ~0.2 s each) meanwhile.
            compiled = self.plan.compiled if self.plan.path is None else None
            for k, options in enumerate(self.worker_options, 1):
                spec = WorkerSpec(plan=str(plan_path), run_id=self.run_id, spool=str(spool),
                                  shard=Shard(k, self.workers), options=options,
                                  summary=self.plan.summary if compiled is not None else None)
                self._procs.append(_Worker(spec))
            if compiled is None:
                self._write_plan(plan_path)
            for worker in self._procs:
                worker.start()
            if compiled is not None:
                self._write_growing(compiled, plan_path, failure)
            self._watch(progress, ingest)
            ingest()  # what the workers staged last
            if not failure:
                with contextlib.suppress(StoreError):
                    store.release()
        finally:
            for worker in self._procs:
                worker.stop_unstarted()
            shutil.rmtree(work, ignore_errors=True)
        errors = [w.why_not_finished() for w in self._procs if w.died(self.interrupts > 0)]
        errors += [f"worker {w.spec.shard}: {w.finished.error}" for w in self._procs
                   if w.finished is not None and w.finished.error]
        return errors + failure

    def _joined_probes(self, finished: list[Finished], once: list[ProbeResult]) -> list[ProbeResult]:
        """Each probe over all the workers' entities, in plan order as a whole run has them, with
        the probes `once` for the run; in the plan's order of probes."""
        by_name: dict[str, list[EntityResult]] = {}
        for report in finished:
            for result in report.probes:
                by_name.setdefault(result.probe.name, []).extend(result.results)
        once_by_name = {r.probe.name: r for r in once}
        joined = []
        for probe in self.plan.selected_probes():
            if probe.name in once_by_name:
                joined.append(once_by_name[probe.name])
            elif probe.name in by_name:
                position = {entity: n for n, entity in enumerate(probe.entities)}
                results = sorted(by_name[probe.name], key=lambda r: position.get(r.entity or "", -1))
                joined.append(ProbeResult(probe=probe, results=results))
        return joined

    def _plan_path(self, work: Path) -> Path:
        """The saved plan the workers read: the one given, or where this one is written out."""
        return Path(self.plan.path).resolve() if self.plan.path is not None else work / "plan.ndjson"

    def _write_growing(self, plan: CompiledPlan, path: Path, failure: list[str]) -> None:
        """Write the compiled plan as the workers read it. One that cannot be written whole stops
        the workers, whose sends so far are still recorded; the run then fails, saying why."""
        from carbonc.plan.saved import write_growing

        try:
            write_growing(plan, path)
        except OSError as exc:
            failure.append(f"cannot write the plan for the workers beside the database: {exc.strerror or exc}")
            self._stop_workers()
        except Exception as exc:  # noqa: BLE001 - a bug: the workers still stop, and the run says how it ended
            failure.append(str(InternalError(f"writing the plan for the workers: {type(exc).__name__}: {exc}")))
            self._stop_workers()

    def _write_plan(self, path: Path) -> None:
        """Write this plan out for the workers, unless it was given saved."""
        if self.plan.path is None:
            from carbonc.plan.saved import write_plan

            write_plan(self.plan.compiled or self.plan, path)

    def _watch(self, progress: Callable[[Tally], None] | None, ingest: Callable[[], None]) -> None:
        """Read the workers' reports until every one has exited, drawing progress and recording
        what they staged meanwhile."""
        selector = selectors.DefaultSelector()
        for worker in self._procs:
            assert worker.proc.stdout is not None and worker.proc.stderr is not None
            selector.register(worker.proc.stdout, selectors.EVENT_READ, (worker, "out"))
            selector.register(worker.proc.stderr, selectors.EVENT_READ, (worker, "err"))
        open_pipes = 2 * len(self._procs)
        drawn = ingested = 0.0
        while open_pipes:
            for key, _ in selector.select(timeout=0.25):
                worker, which = key.data
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fileobj)
                    open_pipes -= 1
                elif which == "out":
                    worker.feed(data)
                else:
                    worker.stderr = (worker.stderr + data)[-_STDERR_TAIL:]
            if progress is not None and time.monotonic() - drawn >= 0.25:
                progress(self._progress_tally())
                drawn = time.monotonic()
            if time.monotonic() - ingested >= INGEST_INTERVAL_S:
                ingest()
                ingested = time.monotonic()
        selector.close()
        for worker in self._procs:
            worker.proc.wait()

    def _progress_tally(self) -> Tally:
        reports = [w.progress for w in self._procs]
        tally = Tally(self.tally.messages_planned)
        tally.messages_done = sum(r.messages_done for r in reports)
        tally.in_flight = sum(r.in_flight for r in reports)
        tally.stopping = self.interrupts > 0
        tally.metrics["deliveries"] = sum(r.deliveries for r in reports)
        return tally

    def _stop_workers(self) -> None:
        for worker in self._procs:
            if worker.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(signal.SIGTERM)

    @contextlib.contextmanager
    def _forwarding_signals(self) -> Iterator[None]:
        """Pass each SIGINT and SIGTERM on to the workers (the first stops their sending, a second
        abandons what they have in flight), counting them; restore the handlers after."""

        def forward(signum: int, _frame: FrameType | None) -> None:
            self.interrupts += 1
            for worker in self._procs:
                if worker.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        worker.proc.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _whole_run_probes(self) -> list[ProbeResult]:
        """Send the probes `once` for the run, now that every worker is done."""
        once = tuple(p for p in self.plan.header.probes if p.kind is None)
        probe = self.options.probe or ProbeOptions()
        if not once or probe.skip:
            return []
        import ssl

        import trio

        from carbonc.dialects import get_dialect
        from carbonc.exec.facts import GatewayFacts
        from carbonc.exec.probes import HttpStateSender, Prober
        from carbonc.exec.transport import parse_target
        from carbonc.plan.records import Entity

        facts = GatewayFacts(once)
        # A saved plan's entities are read from its index (its records would decode its header,
        # probe selections and all).
        entities = self.plan.saved if self.plan.saved is not None else self.plan.records()
        for record in entities:
            if isinstance(record, Entity):
                facts.add(record)
        options = probe_options(probe, parse_target(self.worker_options[0].url))
        context = ssl.create_default_context()
        prober = Prober(once, facts, options, dict(self.plan.header.params), get_dialect(self.options.provider).ref,
                        lambda: HttpStateSender(context))
        results: list[ProbeResult] = []

        async def probe_until_interrupted() -> None:
            # Ctrl-C is counted by the run's handler (trio's own is not installed over it):
            # a first one stops the probing, as in a run of one process.
            async with trio.open_nursery() as nursery:
                async def watch() -> None:
                    while not self.interrupts:
                        await trio.sleep(0.1)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                results.extend(await prober.run())
                nursery.cancel_scope.cancel()

        trio.run(probe_until_interrupted)
        return [] if self.interrupts else results


def worker_main(stdin: Any = None, stdout: Any = None) -> int:
    """A worker: read its `WorkerSpec` on stdin, run its shard, report on stdout."""
    from carbonc.exec import prepare
    from carbonc.plan.saved import iter_plan, read_growing_header, read_plan_summary

    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    spec = msgspec.json.decode(stdin.read(1 << 20), type=WorkerSpec)
    plan_path = Path(spec.plan)
    # The plan was checked whole (or is being written) by the run that started this worker.
    growing = spec.summary is not None
    if spec.summary is not None:
        header, summary = read_growing_header(plan_path), spec.summary
    else:
        header, summary = read_plan_summary(plan_path)
    plan = PlanInput(header, summary, lambda: iter_plan(plan_path), plan_path, growing=growing)
    o = spec.options
    options = RunOptions(provider=o.provider, url=o.url, secret=o.secret, previous_secret=o.previous_secret,
                         concurrency=o.concurrency, timeout_s=o.timeout_s, time_scale=o.time_scale, probe=o.probe,
                         circuit_breaker=o.circuit_breaker, shard=spec.shard, worker=True)
    encode = msgspec.json.Encoder().encode

    def report(tally: Tally) -> None:
        stdout.write(encode(Progress(tally.messages_done, tally.metrics["deliveries"], tally.in_flight,
                                     tally.stopping)) + b"\n")
        stdout.flush()

    prepared = prepare(plan, options, run_id=spec.run_id)
    store = open_spool(Path(spec.spool))
    try:
        result = prepared.execute(store, progress=report)
    finally:
        store.close()
    stdout.write(encode(Finished(result.status, result.error, result.warnings, result.endpoint_down,
                                 result.rows_written, result.probe_s, prepared.plan_sha256, result.tally.state(),
                                 list(result.probes))) + b"\n")
    stdout.flush()
    return 0
