"""Carries out one prepared run: records the gateway's side, delivers on trio under a signal
watcher, judges the checks, and says how the run ended."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, assert_never, cast

import msgspec
import trio

from carbonc import __version__
from carbonc._gc import eased_gc, frozen
from carbonc.dialects import EntityIndex, IndexedLookup, Secrets, get_dialect
from carbonc.errors import CarbonError, ExecutionError, InternalError, StoreError
from carbonc.exec._deliver import Breaker, Clock, Deliverer, Job, Sender
from carbonc.exec.facts import GatewayFacts
from carbonc.exec.gateway import SimulatedGateway, default_secret
from carbonc.exec.model import ChecksPlan, PlanInput, RunOptions, RunResult, TimelineStep, Verdict
from carbonc.exec.policy import resolve
from carbonc.exec.probes import (
    AppStateSender,
    HttpStateSender,
    ProbeOptions,
    Prober,
    ProbeResult,
    StateSender,
)
from carbonc.exec.shards import NOT_IN_A_SHARD, Shard
from carbonc.exec.tally import Tally
from carbonc.exec.transport import AppConnection, Connection, Target, parse_target
from carbonc.exec.writer import Writer
from carbonc.plan.digest import digest_update, records_digest
from carbonc.plan.records import Check, Entity, Header, Message, Probe, Record, Summary
from carbonc.store import Batch, CheckRow, RunRow, Store

if TYPE_CHECKING:
    from carbonc.compiler import CompiledPlan

#: How many entities' trees a run keeps at hand while it reads messages (see `_jobs`).
_RECENT_TREES = 1 << 16

#: Why a message was not sent once the circuit breaker tripped.
ENDPOINT_DOWN = "endpoint down: not sent after the circuit breaker tripped"

#: Why a fact is simulated in a real run that was interrupted before the gateway got to it.
_NOT_REACHED = "not created: the run was interrupted before the gateway was asked"

#: Failing entities whose timelines a run gathers: per failed probe, and in all.
TIMELINES_PER_PROBE, TIMELINES_PER_RUN = 3, 10


class PreparedRun:
    """A run whose options have been checked; `execute` carries it out."""

    def __init__(self, plan: PlanInput, options: RunOptions, run_id: str):
        self.plan, self.options, self.run_id = plan, options, run_id
        self.dialect = get_dialect(options.provider, **options.dialect_options)
        secret = options.secret or default_secret(self.dialect.name)
        self.secrets = Secrets(secret, options.previous_secret)
        self.secrets.keys(self.dialect)  # a malformed secret fails here, before the run starts
        self.target = parse_target(options.url) if options.url else None
        if options.concurrency < 1:
            raise ExecutionError("--concurrency must be at least 1")
        self.shard = options.shard
        #: A shard's own entities when they are held in memory (`_load_entities`).
        self._mine: set[str] | None = None
        # A shard sends about its share of the plan: what its progress line counts towards.
        self.tally = Tally(plan.summary.deliveries // (self.shard.count if self.shard else 1))
        self.warnings: list[str] = []
        if self.target is not None and self.target.auth and self.dialect.name == "juspay":
            # Juspay's own Basic auth is the webhook secret, and its faults (a missing or wrong
            # header) are the test: credentials from the URL must not paper over them.
            self.target = self.target._replace(auth=None)
            self.warnings.append("the credentials in --webhook-url are not sent with --provider juspay: its "
                                 "Basic auth comes from --webhook-secret")
        self.gateway = SimulatedGateway(self.dialect)
        self.real = options.gateway
        if self.real is not None and self.real.provider != self.dialect.name:
            raise ExecutionError(f"the {self.real.provider} gateway's credentials cannot run --provider "
                                 f"{options.provider}")
        if self.real is not None and self.shard is not None and self.shard.count > 1:
            # Each shard would create the sandbox objects of its own trees under its own run: the
            # merged run's real IDs would then come from several runs. Not built yet.
            raise ExecutionError("--gateway real cannot be split into shards or workers yet: run it whole")
        # A saved plan's entities are looked up in its index on disk; a plan compiled in this
        # process is in memory already, and its entities are indexed there as they are read.
        self._lookup: EntityIndex | IndexedLookup = (
            EntityIndex() if plan.saved is None else IndexedLookup(plan.saved))
        if options.circuit_breaker < 0:
            raise ExecutionError("--circuit-breaker must be 0 (off) or more")
        self.breaker = Breaker(options.circuit_breaker)
        self.probe_results: list[ProbeResult] = []
        self.probe_s = 0.0
        self.probe_options = self._probe_options(options)
        #: The probes with what they select (a saved plan's header leaves that in its file, to
        #: be read only by a run that probes).
        self.probes = plan.selected_probes() if self._probing() else plan.header.probes
        self.facts = GatewayFacts(self.probes if self._probing() else ())
        self.status = "running"
        self.error: str | None = None
        #: The plan's hash once it has been read whole (None: cut short).
        self.plan_sha256: str | None = None
        self.interrupts = 0
        self.plan_complete = True
        #: What the first Ctrl-C cancels: reading the plan, then dispatching, then probing; and
        #: what a second one cancels: everything in flight.
        self._stoppable = trio.CancelScope()
        self._everything = trio.CancelScope()

    def _probe_options(self, options: RunOptions) -> ProbeOptions:
        return probe_options(options.probe, self.target)

    def execute(self, store: Store, *, progress: Callable[[Tally], None] | None = None,
                clock: trio.abc.Clock | None = None) -> RunResult:
        """Run it, recording into `store`. Failures after the run has started are in the result
        (`status` `failed`, `error`); what was recorded stays recorded."""
        self.store, self.progress = store, progress
        return trio.run(self.main, clock=clock)

    def shown_target(self) -> str | None:
        if self.target is not None:
            return self.target.shown
        if self.options.app is not None:
            # `--app shop:app` is shown as given, not prefixed: `app:shop:app` read as a URL scheme.
            return f"{self.options.app_name or 'an app'} (ASGI, in-process)"
        return None

    async def main(self) -> RunResult:
        # The signal watcher starts before the run is recorded: a Ctrl-C at any moment after
        # `begin_run` marks the run `interrupted` rather than leaving it `running`.
        failure: BaseException | None = None
        async with trio.open_nursery() as watching:
            await watching.start(self._watch_signals)
            try:
                result = await self._main()
            except BaseException as exc:  # noqa: BLE001 - Ctrl-C too: re-raised below as it was, not in a group
                failure = exc
            watching.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _main(self) -> RunResult:
        started = time.time()
        row = self.run_row(started)
        if not self.options.worker:  # a worker's run is its parent's, begun and finished there
            self.store.begin_run(row)
        writer = Writer(self.store)
        plan_hash = hashlib.sha256()
        try:
            async with trio.open_nursery() as outer:
                outer.start_soon(writer.run)
                try:
                    await self._deliver_all(writer, plan_hash)
                finally:
                    writer.close()
        except* CarbonError as group:  # StoreError (a full disk) or ExecutionError, from any task
            self.status, self.error = "failed", str(_first(group))
        except* Exception as group:  # noqa: BLE001 - a bug: still say how the run ended, then report it
            leaf = _first(group)
            self.status, self.error = "failed", str(InternalError(f"{type(leaf).__name__}: {leaf}"))
        checks: list[Verdict] = []
        if self.status == "running":
            self.status = "interrupted" if self.interrupts else "completed"
            # Checks judge a whole run; an interrupted one is incomplete, not failing. A shard is a
            # part of a run: its probes are judged (each entity's tree is all in one shard), its
            # expectations only once the shards are merged.
            if self.status == "completed" and not self.options.worker:
                checks = self._judge_probes() if self.split else self.judge()
            if checks:
                try:
                    await trio.to_thread.run_sync(partial(self.store.append, _checks_batch(self.run_id, checks),
                                                          hold=True))
                except StoreError as exc:
                    self.status, self.error = "failed", str(exc)
        self.plan_sha256 = plan_hash.hexdigest() if self.plan_complete else None
        if self.options.worker:
            return self._result(started, checks, writer.rows_written, {})
        timelines = failing_timelines(self.store, self.run_id, self.probe_results) if self.status == "completed" else {}
        finished = int(time.time() * 1000)
        try:
            self.store.finish_run(self.run_id, self.status, finished, self.plan_sha256)
        except StoreError as exc:
            self.status, self.error = "failed", self.error or str(exc)
        return self._result(started, checks, writer.rows_written, timelines)

    def _result(self, started: float, checks: list[Verdict], rows_written: int,
                timelines: dict[str, list[TimelineStep]]) -> RunResult:
        header = self.plan.header
        return RunResult(self.run_id, self.status, header, self.plan.summary, self.options.provider,
                         self.shown_target(), self.tally, checks, time.time() - started, rows_written,
                         self.warnings, self.error, self.probe_results, timelines, self.probe_s,
                         self._breaker_note())

    def run_row(self, started: float) -> RunRow:
        """The run's row in `runs`, as it starts at epoch seconds `started`."""
        header = self.plan.header
        return RunRow(run_id=self.run_id, scenario=header.scenario, source_sha256=header.source_sha256,
                      plan_sha256="", seed=header.seed, provider=self.options.provider,
                      params=msgspec.json.encode(header.params).decode(), started_at_ms=int(started * 1000),
                      version=__version__, target=self.shown_target(),
                      time_scale="max" if self.options.time_scale is None else f"{self.options.time_scale:g}",
                      concurrency=self.options.concurrency,
                      gateway=self.real.provider if self.real is not None else "simulated",
                      shard=str(self.shard) if self.split else None,
                      checks_plan=self._checks_plan() if self.split else None)

    async def _deliver_all(self, writer: Writer, plan_hash: hashlib._Hash) -> None:
        path, compiled = self.plan.path, self.plan.compiled

        def read() -> Iterator[Record]:
            # The plan's hash is the hash of the plan as `carbonc plan --out` saves it: a saved
            # plan's bytes as read (its header is the one already read, not decoded again); a
            # plan compiled for this run encoded so in bulk, a batch of records at a time, and
            # read back; any other plan encoded so as it is read, digest of its records included.
            try:
                if path is not None:
                    yield self.plan.header
                    yield from _read_saved(Path(path), plan_hash, growing=self.plan.growing)
                elif compiled is not None:
                    yield self.plan.header
                    yield from _compiled_hashed(compiled, plan_hash)
                else:
                    yield from _encoded(self.plan.records(), plan_hash)
            except Exception:
                self.plan_complete = False  # a plan that cannot be read whole has no hash
                raise

        plan = read()
        header = next(plan)
        if not isinstance(header, Header):
            raise ExecutionError("the plan is inconsistent: it does not start with its header")
        try:
            await self._run_plan(plan, header, writer)
        finally:
            # A run cut short still records its plan's hash, reading the rest of the plan with
            # the signal watcher let in now and then: a second Ctrl-C stops that too (the run
            # then records no hash).
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                for n, _ in enumerate(plan):
                    if n % 4096 == 0:
                        await trio.lowlevel.checkpoint()
                        if self.interrupts > 1:
                            self.plan_complete = False
                            break

    async def _run_plan(self, plan: Iterator[Record], header: Header, writer: Writer) -> None:
        with eased_gc():
            await self._run_plan_eased(plan, header, writer)

    async def _run_plan_eased(self, plan: Iterator[Record], header: Header, writer: Writer) -> None:
        async with trio.open_nursery() as nursery:
            self._everything = nursery.cancel_scope
            if self.progress is not None:
                nursery.start_soon(self._report_progress)
            lookup = self._lookup
            first: Message | None = None
            with self._stoppable:
                first = await self._load_entities(plan, lookup, writer)
                if self.real is not None:
                    await self._create_real(lookup, writer)
            if not self.interrupts:
                frozen()  # the entities indexed stay to the end: no collection need scan them
                await self._send_all(first, plan, header, lookup, writer)
            nursery.cancel_scope.cancel()

    async def _send_all(self, first: Message | None, plan: Iterator[Record], header: Header,
                        lookup: EntityIndex | IndexedLookup, writer: Writer) -> None:
        """Deliver (or with no target, record) every message from `first` on, then probe."""
        self._stoppable = trio.CancelScope()
        jobs = self._jobs(first, plan, header, lookup, writer)
        if self._has_target():
            # Virtual time 0 is now, after the entities are recorded: bodies and sent_at agree.
            clock = Clock(self.options.time_scale, int(time.time() * 1000))
            deliverer = Deliverer(run_id=self.run_id, dialect=self.dialect, lookup=lookup,
                                  secrets=self.secrets, clock=clock, connect=self._connector(),
                                  concurrency=self.options.concurrency, writer=writer, tally=self.tally,
                                  watched=self.facts.watched if self._probing() else frozenset(),
                                  acknowledged=self.facts.acknowledged, breaker=self.breaker)
            await deliverer.run(jobs, self._stoppable)
            if self._probing() and not self.interrupts and not self.breaker.tripped:
                # The deliveries have settled: nothing in flight, no retry pending.
                self._stoppable = trio.CancelScope()
                probing = time.perf_counter()
                with self._stoppable:
                    await self._probe()
                self.probe_s = time.perf_counter() - probing
        else:
            with self._stoppable:
                for n, _ in enumerate(jobs):
                    await writer.wait_for_room()
                    if n % 1024 == 0:
                        await trio.lowlevel.checkpoint()

    async def _load_entities(self, plan: Iterator[Record], lookup: EntityIndex | IndexedLookup,
                             writer: Writer) -> Message | None:
        """Record the gateway's entities and index them (a saved plan's are indexed already);
        return the plan's first message."""
        probing = self._probing()
        # A shard with its entities in memory keeps only its own trees' (a worker: half the
        # entities of two), knowing an entity its own by its parent's being so.
        mine = self._mine = set() if self.split and isinstance(lookup, EntityIndex) else None
        for n, record in enumerate(plan):
            if isinstance(record, Entity):
                if probing:
                    self.facts.add(record)  # every entity: the gateway's totals are the whole plan's
                if mine is not None:
                    parent = record.parent
                    if not (parent in mine if parent is not None else cast(Shard, self.shard).owns(record.id)):
                        continue
                    mine.add(record.id)
                if isinstance(lookup, EntityIndex):
                    lookup.add(record)
                if self.split and mine is None and not self._owns(record.id):
                    continue
                if self.real is None:  # a real run records each entity once the gateway has made it
                    writer.add(self.gateway.entity_row(self.run_id, record))
                await writer.wait_for_room()
                if n % 1024 == 0:
                    await trio.lowlevel.checkpoint()  # let a Ctrl-C through on a big plan
            elif isinstance(record, Message):
                return record
        return None

    async def _create_real(self, lookup: EntityIndex | IndexedLookup, writer: Writer) -> None:
        """Create the plan's facts at the real gateway, in plan order; record every call and each
        entity with its outcome; give the sandbox's IDs to the messages (through `lookup`)."""
        from carbonc.gateways import Call, Created, Failed, Outcome, Simulated, create_real, open_gateway
        from carbonc.store.rows import GatewayCallRow

        assert self.real is not None
        counts: Counter[str] = Counter()
        failures: list[str] = []
        settled: set[str] = set()

        def record(call: Call) -> None:
            writer.add(GatewayCallRow(self.run_id, **msgspec.structs.asdict(call)))

        def on_outcome(entity: Entity, outcome: Outcome) -> None:
            row = self.gateway.entity_row(self.run_id, entity)
            match outcome:
                case Created():
                    lookup.set_real(entity.id, outcome.ids)
                    row.gateway_id, row.gateway_status = outcome.gateway_id, "real"
                case Simulated():
                    row.gateway_status, row.gateway_note = "simulated", outcome.reason
                case Failed():
                    row.gateway_id, row.gateway_status, row.gateway_note = outcome.gateway_id, "failed", outcome.error
                    failures.append(f"{entity.id}: {outcome.error}")
                case _:
                    assert_never(outcome)
            counts[row.gateway_status] += 1
            settled.add(entity.id)
            writer.add(row)

        try:
            async with open_gateway(self.real, self.run_id, record, self.options.gateway_policy) as (gateway, caller):
                await create_real(gateway, caller, lookup, on_outcome)
        finally:
            # Cut short (Ctrl-C): every fact the gateway never got to is still recorded, so the
            # table says exactly which real objects exist — those marked `real` — and which not.
            unreached = 0
            for entity in lookup:
                if entity.id not in settled:
                    row = self.gateway.entity_row(self.run_id, entity)
                    row.gateway_status, row.gateway_note = "simulated", _NOT_REACHED
                    writer.add(row)
                    unreached += 1
            name = self.real.provider
            summary = (f"{name} test mode: {counts['real']:,} created, {counts['simulated']:,} simulated, "
                       f"{counts['failed']:,} failed (entities.gateway_status; every call is in gateway_calls)")
            if unreached:
                summary += f"; interrupted before {unreached:,} more were asked for"
            if failures:
                summary += (f"; the failed ones are delivered with simulated IDs; first: {failures[0]}")
            self.warnings.append(summary)

    def _jobs(self, first: Message | None, plan: Iterator[Record], header: Header,
              lookup: EntityIndex | IndexedLookup, writer: Writer) -> Iterator[Job | None]:
        """Each message's row, and a Job for those to send (None for the rest)."""
        policies = {p.id: resolve(p, self.options.provider, self.options.timeout_s) for p in header.policies}
        message = first
        shard = self.shard if self.split else None
        # Only a message to send, or to pick a shard's by, needs its order tree (one lookup on
        # disk for a saved plan).
        rooted = self._has_target() or shard is not None
        # Each entity's tree, and whether it is this shard's, for the entities of recent messages:
        # an entity's messages come close together, and finding its root takes a lookup per
        # generation (on disk for a saved plan), its shard a hash.
        trees: dict[str, tuple[str | None, bool]] = {}
        mine = self._mine
        # The rest of the plan's messages (its summary comes after them), filtered once rather
        # than by a new generator per message.
        messages = (r for r in plan if isinstance(r, Message))
        while message is not None:
            # Another shard's (see `_load_entities`): a plan in memory was compiled, or checked whole.
            if mine is not None and message.entity not in mine:
                message = next(messages, None)
                continue
            tree = trees.get(message.entity)
            if tree is None:
                if len(trees) >= _RECENT_TREES:
                    trees.clear()
                found = lookup.root_of(message.entity) if rooted else ""
                tree = trees[message.entity] = found, shard is None or found is None or shard.owns(found)
            root, owned = tree
            if message.policy not in policies or root is None:
                raise ExecutionError(f"the plan is inconsistent: message {message.seq} names a delivery policy or "
                                     "an entity it does not have")
            if not owned:
                message = next(messages, None)
                continue
            message_id, row = self.gateway.message_row(self.run_id, message, header, lookup)
            if self.breaker.tripped and row.skipped is None:
                row = msgspec.structs.replace(row, skipped=ENDPOINT_DOWN)
            writer.add(row)
            if row.skipped is not None or not self._has_target():
                self.tally.skipped()
                yield None
            else:
                yield Job(message, message_id, row.provider_event or message.event, row.fault, root,
                          policies[message.policy], 1, message.send_ms)
            message = next(messages, None)

    async def _probe(self) -> None:
        """Ask the merchant's state API what each probe selects, and keep the results."""
        options = self.probe_options
        if self.options.app is not None and self.target is None and options.base is None:
            app = self.options.app

            def connect() -> StateSender:
                return AppStateSender(app)
        else:
            import ssl

            context = ssl.create_default_context()

            def connect() -> StateSender:
                return HttpStateSender(context)
        dialect_ref, lookup = self.dialect.ref, self._lookup

        def ref(kind: str, entity_id: str) -> str:
            # What the merchant knows the entity by: the sandbox's ID where it is real.
            real = lookup.real(entity_id)
            return real["id"] if real is not None else dialect_ref(kind, entity_id)

        prober = Prober(self._own_probes(), self.facts, options, dict(self.plan.header.params), ref, connect)
        self.probe_results = await prober.run()

    def _probing(self) -> bool:
        """Whether this run will probe the merchant (only then are the gateway's facts gathered)."""
        return bool(self.plan.header.probes) and self._has_target() and not self.probe_options.skip

    @property
    def split(self) -> bool:
        """Whether this run is one shard of several."""
        return self.shard is not None and self.shard.count > 1

    def _owns(self, entity_id: str) -> bool:
        root = self._lookup.root_of(entity_id)
        return self.shard is None or (root is not None and self.shard.owns(root))

    def _own_probes(self) -> tuple[Probe, ...]:
        """The probes this run sends: all of them, or for a shard, each probe of entities over
        the entities of its own trees (a probe `once` for the run is left to the whole run)."""
        probes = self.probes
        if not self.split:
            return probes
        return tuple(msgspec.structs.replace(p, entities=tuple(e for e in p.entities if self._owns(e)))
                     for p in probes if p.kind is not None)

    def _checks_plan(self) -> str:
        """What `carbonc merge` needs to judge a shard's `expect`s and `finding`s over the whole
        run: the checks and the metrics the plan itself determines."""
        from carbonc.plan.judge import entity_metrics

        return msgspec.json.encode(ChecksPlan(self.plan.header.checks, entity_metrics(self.plan.summary),
                                              self._has_target())).decode()

    def _has_target(self) -> bool:
        return self.target is not None or self.options.app is not None

    def _connector(self) -> Callable[[], Sender]:
        target, app, path = self.target, self.options.app, self.options.app_path
        if target is not None:
            import ssl

            context = ssl.create_default_context() if target.scheme == "https" else None
            return lambda: Connection(target, context)
        if app is not None:
            return lambda: AppConnection(app, path)
        raise InternalError("a run without a webhook target has nothing to deliver to")

    async def _watch_signals(self, *,
                             task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if threading.current_thread() is not threading.main_thread():
            task_status.started()
            await trio.sleep_forever()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                self.interrupts += 1
                self.tally.stopping = True
                self._stoppable.cancel()
                if self.interrupts > 1:
                    self._everything.cancel()

    async def _report_progress(self) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.tally)
            await trio.sleep(0.25)

    def _breaker_note(self) -> str | None:
        if not self.breaker.tripped:
            return None
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in self.breaker.kinds.most_common())
        return (f"the endpoint did not answer {self.breaker.limit} attempts in a row ({kinds}): it was taken to be "
                f"down and the rest was not sent (`--circuit-breaker 0` sends everything regardless)")

    def judge(self) -> list[Verdict]:
        """The run's verdicts: its checks over its metrics, then its probes."""
        from carbonc.plan.judge import entity_metrics

        metrics = {**entity_metrics(self.plan.summary), **self.tally.delivery_metrics()}
        return judge_checks(self.plan.header.checks, metrics, has_target=self._has_target()) + self._judge_probes()

    def _judge_probes(self) -> list[Verdict]:
        """Each probe's verdicts, or why it was not judged."""
        unjudged = ("not judged: no webhook target, so no merchant to probe (give --webhook-url or --app)"
                    if not self._has_target() else
                    "not judged: --skip-probes" if self.probe_options.skip else
                    "not judged: the endpoint was down (circuit breaker)" if self.breaker.tripped else None)
        rows: list[Verdict] = []
        for probe in self.plan.header.probes:
            reason = unjudged
            if reason is None and self.split and probe.kind is None:
                reason = f"{NOT_IN_A_SHARD}{self.shard} sees only its own order trees; a probe of the whole run " \
                         "needs every shard (run with --workers, or probe after `carbonc merge`)"
            if reason is not None:
                rows.append(Verdict(kind="probe", name=probe.name, severity=probe.severity, passed=None,
                                    expected=" and ".join(e.text for e in probe.expects), actual=None,
                                    message=reason, subject="merchant"))
        for result in self.probe_results:
            rows += probe_verdicts(result)
        return rows


def probe_options(given: ProbeOptions | None, target: Target | None) -> ProbeOptions:
    """The probes' options, checked, their base defaulting to the webhook URL's origin."""
    probe = given or ProbeOptions()
    if probe.concurrency < 1:
        raise ExecutionError("--probe-concurrency must be at least 1")
    if not 0 < probe.timeout_s <= 600:
        raise ExecutionError("--probe-timeout must be more than 0 and at most 600 seconds")
    if probe.base is None and target is not None:
        default_port = {"http": 80, "https": 443}[target.scheme]
        port = "" if target.port == default_port else f":{target.port}"
        host = f"[{target.host}]" if ":" in target.host else target.host
        probe = msgspec.structs.replace(probe, base=f"{target.scheme}://{host}{port}")
    elif probe.base is not None:
        import httpx

        try:
            parsed = httpx.URL(probe.base)
        except (httpx.InvalidURL, TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ExecutionError("--probe-base must be an http(s) URL such as http://127.0.0.1:8000")
        probe = msgspec.structs.replace(probe, base=probe.base.rstrip("/"))
    return probe


def failing_timelines(store: Store, run_id: str, probes: Sequence[ProbeResult]) -> dict[str, list[TimelineStep]]:
    """The order trees of the first entities each failed probe names, as sent."""
    wanted: list[str] = []
    for result in probes:
        for failed in result.failed[:TIMELINES_PER_PROBE]:
            if failed.entity is not None and failed.entity not in wanted:
                wanted.append(failed.entity)
    out: dict[str, list[TimelineStep]] = {}
    for entity in wanted[:TIMELINES_PER_RUN]:
        try:
            out[entity] = [TimelineStep(**msgspec.structs.asdict(row)) for row in store.timeline(run_id, entity)]
        except StoreError:
            break  # the run is recorded; its explanation is a nicety
    return out


def judge_checks(checks: Sequence[Check], metrics: Mapping[str, int], *, has_target: bool) -> list[Verdict]:
    """The plan's `expect`s and `finding`s judged over a whole run's `metrics`; those on the
    handler's answers are not judged when nothing was delivered."""
    from carbonc.plan.judge import evaluate_checks, metric_names

    rows = []
    for check, c in zip(checks, evaluate_checks(checks, metrics), strict=True):
        on_handler = any(m.startswith("deliveries") for m in metric_names(check.expr))
        subject: Literal["handler", "scenario"] = "handler" if on_handler else "scenario"
        if not has_target and on_handler:
            # Nothing was delivered: a check on the handler's answers has nothing to judge,
            # and must not pass as if the handler had answered well.
            rows.append(Verdict(kind=c.kind, name=c.name, severity=c.severity, passed=None, expected=c.expected,
                                actual=None, message="not judged: no webhook target (give --webhook-url or --app)",
                                subject=subject))
            continue
        rows.append(Verdict(kind=c.kind, name=c.name, severity=c.severity, passed=c.passed, expected=c.expected,
                            actual=c.actual, message=c.message, subject=subject))
    return rows


def _read_saved(path: Path, plan_hash: hashlib._Hash, *, growing: bool) -> Iterator[Record]:
    from carbonc.plan.saved import iter_hashed

    try:
        yield from iter_hashed(path, plan_hash, growing=growing)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ExecutionError(f"`{path}` is not a readable carbonc plan: {exc}") from None


def _compiled_hashed(plan: CompiledPlan, plan_hash: hashlib._Hash) -> Iterator[Record]:
    from carbonc.plan.saved import hashed_records

    return hashed_records(plan, plan_hash)


def _encoded(records: Iterator[Record], plan_hash: hashlib._Hash) -> Iterator[Record]:
    """`records`, hashed as `carbonc plan --out` would write them (the summary given the digest of
    the records before it)."""
    encoder = msgspec.json.Encoder()
    digest = records_digest()
    for record in records:
        if isinstance(record, (Entity, Message)):
            digest_update(digest, record)
        elif isinstance(record, Summary) and record.records_sha256 is None:
            record = msgspec.structs.replace(record, records_sha256=digest.hexdigest())
        plan_hash.update(encoder.encode(record) + b"\n")
        yield record


def _first(group: BaseExceptionGroup) -> BaseException:
    """The first leaf exception of a (nested) exception group."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found


def _checks_batch(run_id: str, checks: list[Verdict]) -> Batch:
    return Batch(checks=[CheckRow(run_id, **msgspec.structs.asdict(v)) for v in checks])


def probe_verdicts(result: ProbeResult) -> list[Verdict]:
    """A probe judged: one verdict for the probe (passed when every entity passed), then one per
    entity, failures and passes alike."""
    probe = result.probe
    failed = result.failed
    total = len(result.results)
    expected = " and ".join(e.text for e in probe.expects)
    first = (failed[0].entity, failed[0].reason) if failed else None
    summary = probe_summary(total, len(failed), first)
    slowest = max((r.elapsed_ms for r in result.results), default=0.0)
    verdicts = [Verdict(kind="probe", name=probe.name, severity=probe.severity, passed=not failed,
                        expected=expected, actual=f"{total - len(failed):,} passed, {len(failed):,} failed",
                        message=summary, subject="merchant", elapsed_ms=slowest,
                        polls=sum(r.polls for r in result.results))]
    for r in result.results:
        verdicts.append(Verdict(kind="probe", name=probe.name, severity=probe.severity, passed=r.passed,
                                expected=r.expected, actual=r.observed, message=r.reason, subject="merchant",
                                entity_id=r.entity or "(run)", request=r.request, elapsed_ms=r.elapsed_ms,
                                polls=r.polls))
    return verdicts


def probe_summary(total: int, failed: int, first: tuple[str | None, str | None] | None) -> str:
    """A probe's verdict in words, from how many entities it asked about, how many failed, and
    the first failure's entity and reason."""
    if not total:
        return "no entity selected"
    if failed and first is not None:
        return f"{failed:,} of {total:,} failed; first: {first[0] or 'the run'}: {first[1]}"
    return f"{total:,} of {total:,} passed"
