"""Sends a past run's messages again, in their order, as a new run linked to it (`replay_of`):
each stored body signed anew with the current secret and time (`resign`, a gateway's "resend"),
or the stored body with its stored signature headers (`exact`, a replay attack).

    >>> ready = prepare_replay(store, "run_20261126T051200_9f3ab2c1", ReplayOptions(url="http://127.0.0.1:8000/hooks"))
    >>> result = ready.execute()
    >>> result.replay_of, result.tally.metrics["deliveries.mismatched"]
    ('run_20261126T051200_9f3ab2c1', 0)

One attempt per message, one at a time, never retried: a resend is a single request, and the
arrival order is then exactly the source's. The answers are judged against the verdict a correct
handler gives (for `exact`, a signed time older than the tolerance is expected to be rejected);
the source's scenario checks and probes are not judged again, since nothing of the plan is re-run.
"""

from __future__ import annotations

import signal
import ssl
import threading
import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Literal, NamedTuple, assert_never

import msgspec
import trio

from carbonc import __version__
from carbonc.dialects import Request, Secrets, get_dialect
from carbonc.errors import CarbonError, ExecutionError, InternalError, StoreError
from carbonc.exec._deliver import Sender
from carbonc.exec.gateway import default_secret
from carbonc.exec.model import Verdict
from carbonc.exec.policy import DEFAULT_TIMEOUT_S, GATEWAY_TIMEOUT_S, outcome_of, verdict_ok
from carbonc.exec.recorded import RecordedRun, Sent, find_run, latest_runs, sent_messages
from carbonc.exec.tally import Tally
from carbonc.exec.transport import AppConnection, ASGIApp, Connection, parse_target
from carbonc.store import Batch, CheckRow, DeliveryRow, MessageRow, RunRow, Store

ReplayMode = Literal["resign", "exact"]

#: How old a signed time may be before a correct handler rejects it: Stripe's and Standard
#: Webhooks' verifiers allow 5 minutes.
DEFAULT_TOLERANCE_S = 300.0

#: Rows gathered before they are written, and the longest a row waits.
_BATCH_ROWS, _FLUSH_INTERVAL_S = 1_000, 0.5

_encode = msgspec.json.Encoder().encode


class Selection(NamedTuple):
    """Which of the source's messages to send: `all`; `failed` (genuine ones whose last attempt
    failed; a forgery rightly refused has not failed); `mismatched` (any answer did not match
    the verdict); or `event`, whose provider or neutral event type matches the glob `pattern`."""

    kind: Literal["all", "failed", "mismatched", "event"]
    pattern: str = ""

    @classmethod
    def parse(cls, only: str | None) -> Selection:
        """`--only`: None, `failed`, `mismatched`, or an event-type glob."""
        if only is None:
            return cls("all")
        if only == "failed":
            return cls("failed")
        if only == "mismatched":
            return cls("mismatched")
        if not only.strip():
            raise ExecutionError("--only is empty: give `failed`, `mismatched` or an event type glob")
        return cls("event", only)

    def takes(self, sent: Sent) -> bool:
        match self.kind:
            case "all":
                return True
            case "failed":
                return sent.failed and sent.expected_verdict == "accept"
            case "mismatched":
                return sent.mismatched
            case "event":
                return fnmatchcase(sent.event_type, self.pattern) or fnmatchcase(sent.row.neutral_event,
                                                                                 self.pattern)
            case _:
                assert_never(self.kind)

    def __str__(self) -> str:
        return self.pattern if self.kind == "event" else self.kind


class ReplayOptions(msgspec.Struct, kw_only=True):
    """How to replay: `mode`, which messages (`only`: None for all, `failed`, `mismatched` or an
    event-type glob), the target (`url`, or `app` posted to at `app_path`), the secrets to sign
    with (None: the built-in test secret; never stored), the per-request deadline (None: the
    gateway's), and for `exact` the `tolerance_s` past which a signed time is stale."""

    mode: ReplayMode = "resign"
    only: str | None = None
    url: str | None = None
    app: ASGIApp | None = None
    app_path: str = "/webhooks"
    app_name: str | None = None
    secret: str | None = None
    previous_secret: str | None = None
    timeout_s: float | None = None
    tolerance_s: float = DEFAULT_TOLERANCE_S

    def __repr__(self) -> str:  # never show the secrets
        return f"ReplayOptions(mode={self.mode!r}, only={self.only!r}, url={self.url!r})"


class ReplayResult(NamedTuple):
    """How a replay went: the new run's id and `status`, the source it re-sent (`replay_of`), the
    counts, the one check judged (the answers against their verdicts), what it said along the
    way (`notes`), and how many of the source's messages were `left_out` by `--only`,
    `never_sent` by the source (so without stored bytes), and `unsignable` again (`reserialized`)."""

    run_id: str
    replay_of: str
    mode: ReplayMode
    status: str
    provider: str
    target: str
    tally: Tally
    checks: list[Verdict]
    elapsed_s: float
    notes: list[str]
    error: str | None
    left_out: int
    never_sent: int
    unsignable: int

    @property
    def passed(self) -> bool:
        """The replay completed and every answer matched its verdict."""
        return self.status == "completed" and all(c.passed is not False for c in self.checks)


def prepare_replay(store: Store, run_id: str, options: ReplayOptions) -> PreparedReplay:
    """Check that `run_id` can be replayed with `options` before anything is recorded: the run
    exists (else the error names the latest), `--only` leaves something sent to replay, `exact`
    has the stored headers it needs, and the secret and target are valid. Raises ExecutionError."""
    source = find_run(store, run_id)
    if source is None:
        latest = latest_runs(store)
        known = "; the latest: " + ", ".join(f"{r} ({s}, {t:%Y-%m-%d %H:%M:%S})" for r, s, t in latest) \
            if latest else "; it has no runs yet"
        raise ExecutionError(f"no run `{run_id}` in `{store.path}`{known}")
    return PreparedReplay(store, source, options)


class PreparedReplay:
    """A replay whose source and options have been checked; `execute` carries it out."""

    def __init__(self, store: Store, source: RecordedRun, options: ReplayOptions):
        self.store, self.source, self.options = store, source, options
        self.selection = Selection.parse(options.only)
        self.dialect = get_dialect(source.provider)
        self.secrets = Secrets(options.secret or default_secret(self.dialect.name), options.previous_secret)
        self.secrets.keys(self.dialect)  # a malformed secret fails here, before anything is recorded
        if (options.url is None) == (options.app is None):
            raise ExecutionError("give the replay a target: --webhook-url or --app (one of them)")
        self.target = parse_target(options.url) if options.url is not None else None
        self.notes: list[str] = []
        if self.target is not None and self.target.auth and self.dialect.credential_headers:
            # As in a run: the provider's own Basic auth is the secret, and must not be papered over.
            self.target = self.target._replace(auth=None)
            self.notes.append(f"the credentials in --webhook-url are not sent with {self.dialect.name}: its Basic "
                              "auth comes from --webhook-secret")
        if not 0 < options.tolerance_s <= 86_400:
            raise ExecutionError("--tolerance must be more than 0 and at most 86400 seconds")
        self.timeout_s = options.timeout_s or GATEWAY_TIMEOUT_S.get(source.provider, DEFAULT_TIMEOUT_S)
        self.selected, self.left_out, self.unsent, headless = self._count()
        if not self.selected:
            raise ExecutionError(self._nothing_to_replay())
        if options.mode == "exact" and headless:
            raise ExecutionError(
                f"run `{source.run_id}` was recorded by a carbonc that kept no request headers, so its signatures "
                "cannot be sent as they were: replay it without --exact to sign the stored bodies anew")
        self.run_id = ""
        self.status = "running"
        self.tally = Tally(self.selected)
        self._stopping = trio.CancelScope()
        self._interrupted = False
        self.unsignable = 0

    def _count(self) -> tuple[int, int, int, int]:
        """The source's sent messages `--only` takes and leaves out, those it never sent, and the
        taken ones without stored headers."""
        selected = left_out = unsent = headless = 0
        for item in sent_messages(self.store, self.source.run_id):
            if isinstance(item, MessageRow):
                unsent += 1
            elif self.selection.takes(item):
                selected += 1
                headless += item.headers is None
            else:
                left_out += 1
        return selected, left_out, unsent, headless

    def _nothing_to_replay(self) -> str:
        run = f"run `{self.source.run_id}`"
        if self.selection.kind != "all" and self.left_out:
            return (f"--only {self.selection} leaves none of the {self.left_out:,} messages {run} sent: "
                    "nothing to replay")
        if self.unsent:
            return (f"{run} sent none of its {self.unsent:,} messages (it had no webhook target, or was cut short), so "
                    "there are no stored requests to replay")
        return f"{run} has no messages: nothing to replay"

    def shown_target(self) -> str:
        if self.target is not None:
            return self.target.shown
        return f"{self.options.app_name or 'an app'} (ASGI, in-process)"

    def execute(self, *, run_id: str | None = None) -> ReplayResult:
        """Send and record the replay. Failures once it has started are in the result (`status`
        `failed`, `error`); what was recorded stays recorded."""
        from carbonc.exec import new_run_id

        self.run_id = run_id or new_run_id()
        source = self.source
        started = time.time()
        self.store.begin_run(RunRow(
            run_id=self.run_id, scenario=source.scenario, source_sha256=source.source_sha256,
            plan_sha256=source.plan_sha256, seed=source.seed, provider=source.provider, params=source.params,
            started_at_ms=int(started * 1000), version=__version__, target=self.shown_target(), concurrency=1,
            replay_of=source.run_id, replay_mode=self.options.mode))
        error: str | None = None
        try:
            # The gateway's facts are the source's: copied, so the replay reads whole on its own.
            self.store.query("INSERT INTO entities SELECT * REPLACE (? AS run_id) FROM entities WHERE run_id = ?",
                             [self.run_id, source.run_id])
            trio.run(self._main)
        except CarbonError as exc:
            self.status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: still say how the replay ended, then report it
            self.status, error = "failed", str(InternalError(f"{type(exc).__name__}: {exc}"))
        checks: list[Verdict] = []
        if self.status == "running":
            self.status = "interrupted" if self._interrupted else "completed"
            if self.status == "completed":
                checks = [self._judge()]
                try:
                    self.store.append(Batch(checks=[CheckRow(self.run_id, **msgspec.structs.asdict(checks[0]))]))
                except StoreError as exc:
                    self.status, error = "failed", str(exc)
        try:
            self.store.finish_run(self.run_id, self.status, int(time.time() * 1000))
        except StoreError as exc:
            self.status, error = "failed", error or str(exc)
        return ReplayResult(self.run_id, source.run_id, self.options.mode, self.status, source.provider,
                            self.shown_target(), self.tally, checks, time.time() - started, self._notes(), error,
                            self.left_out, self.unsent, self.unsignable)

    async def _main(self) -> None:
        async with trio.open_nursery() as watching:
            await watching.start(self._watch_signals)
            try:
                await self._send_all()
            finally:
                watching.cancel_scope.cancel()

    async def _send_all(self) -> None:
        sender: Sender = (Connection(self.target, _tls_context(self.target.scheme)) if self.target is not None
                          else AppConnection(self._app(), self.options.app_path))
        pending = Batch()
        flushed = time.monotonic()
        try:
            with self._stopping:
                # Read page by page on this thread, between sends: one connection, never two calls at once.
                for sent in self._taken():
                    now_ms = int(time.time() * 1000)
                    try:
                        headers = self._headers(sent, now_ms)
                    except ExecutionError as exc:
                        # Only `reserialized` lands here: its signed bytes were not kept.
                        pending.messages.append(msgspec.structs.replace(sent.row, run_id=self.run_id, skipped=str(exc)))
                        self.unsignable += 1
                        self.tally.skipped()
                        continue
                    pending.messages.append(msgspec.structs.replace(sent.row, run_id=self.run_id))
                    pending.deliveries.append(await self._send(sender, sent, headers, now_ms))
                    if len(pending) >= _BATCH_ROWS or time.monotonic() - flushed >= _FLUSH_INTERVAL_S:
                        batch, pending = pending, Batch()
                        await trio.to_thread.run_sync(self.store.append, batch)
                        flushed = time.monotonic()
        finally:
            with trio.CancelScope(shield=True):
                await sender.aclose()
                await trio.to_thread.run_sync(self.store.append, pending)

    def _taken(self) -> Iterator[Sent]:
        """The messages to send, in order."""
        for item in sent_messages(self.store, self.source.run_id):
            if isinstance(item, Sent) and self.selection.takes(item):
                yield item

    def _headers(self, sent: Sent, now_ms: int) -> dict[str, str]:
        """The headers to send `sent` with, by the replay's mode."""
        mode: ReplayMode = self.options.mode
        row = sent.row
        match mode:
            case "resign":
                return self.dialect.sign_again(sent.body.encode(), row.event_id, row.signature_mode,
                                               secrets=self.secrets, now_ms=now_ms)
            case "exact":
                assert sent.headers is not None  # checked in __init__
                headers = dict(sent.headers)
                if self.dialect.credential_headers:
                    # Never stored (they hold the secret): rebuilt from the secret given again.
                    fresh = self.dialect.sign_again(sent.body.encode(), row.event_id, row.signature_mode,
                                                    secrets=self.secrets, now_ms=now_ms)
                    headers.update({k: v for k, v in fresh.items() if k in self.dialect.credential_headers})
                return headers
            case _:
                assert_never(mode)

    async def _send(self, sender: Sender, sent: Sent, headers: dict[str, str], sent_at: int) -> DeliveryRow:
        row = sent.row
        body = sent.body.encode()
        answer = await sender.send("POST", headers, body, self.timeout_s)
        outcome = outcome_of(answer.status, answer.error)
        expected = self._expected(sent, headers, sent_at)
        delivery = DeliveryRow(
            run_id=self.run_id, delivery_id=f"{row.message_id}/1", message_id=row.message_id, attempt=1,
            event_type=sent.event_type, signature_mode=row.signature_mode, sent_at_ms=sent_at,
            virtual_ms=row.send_ms, status_code=answer.status, latency_ms=round(answer.latency_ms, 3),
            error=answer.error, outcome=outcome, failed=outcome != "2xx", expected_verdict=expected,
            verdict_ok=verdict_ok(expected, outcome), request_body=sent.body,
            response_snippet=answer.snippet.decode("utf-8", "replace") if answer.snippet is not None else None,
            request_headers=_encode(Request("POST", headers, body).storable_headers()).decode())
        self.tally.attempt(delivery, row.fault, last=True)
        return delivery

    def _expected(self, sent: Sent, headers: dict[str, str], now_ms: int) -> str:
        """The verdict a correct handler gives: the source's, except that an exact replay whose
        signed time is older than the tolerance must be rejected (it is a replay attack)."""
        if self.options.mode == "exact" and sent.expected_verdict == "accept":
            signed_at = self.dialect.signed_at_ms(headers)
            if signed_at is not None and now_ms - signed_at > self.options.tolerance_s * 1000:
                return "reject"
        return sent.expected_verdict

    def _judge(self) -> Verdict:
        mismatched = self.tally.metrics["deliveries.mismatched"]
        total = self.tally.metrics["deliveries"]
        return Verdict(kind="expect", name="expect deliveries.mismatched == 0", severity="high",
                       passed=mismatched == 0, expected="deliveries.mismatched == 0",
                       actual=f"deliveries.mismatched = {mismatched}",
                       message=(f"{total - mismatched:,} of {total:,} replayed messages answered as a correct "
                                "handler answers them"), subject="handler")

    def _notes(self) -> list[str]:
        notes = list(self.notes)
        source = self.source.run_id
        notes.append(f"a replay re-sends webhooks only: the scenario's checks and probes of `{source}` are not judged "
                     "again")
        if self.left_out:
            notes.append(f"{self.left_out:,} of the messages `{source}` sent were left out by --only {self.selection}")
        if self.unsent:
            notes.append(f"{self.unsent:,} messages of `{source}` were never sent by it, so there are no stored "
                         "requests of them to replay")
        if self.unsignable:
            notes.append(f"{self.unsignable:,} `reserialized` forgeries were not sent: their signature covered "
                         "bytes that are not kept (replay --exact sends them as they were)")
        if self.options.mode == "exact":
            name = self.dialect.name
            if self.dialect.credential_headers:
                notes.append(f"{name}'s {', '.join(sorted(self.dialect.credential_headers))} header carries the "
                             "webhook secret, so it is never stored: it was rebuilt from --webhook-secret; the "
                             "bodies are the stored bytes")
            if not self.dialect.signs_time:
                notes.append(f"{name} signs no time, so an exact replay is as valid as the original: only "
                             "de-duplication by event id protects a handler from it")
            else:
                notes.append(f"a stored signature over a time more than {self.options.tolerance_s:g} s old is "
                             "expected to be rejected (--tolerance)")
        return notes

    def _app(self) -> ASGIApp:
        if self.options.app is None:
            raise InternalError("a replay without a target has nothing to send to")
        return self.options.app

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if threading.current_thread() is not threading.main_thread():
            task_status.started()
            await trio.sleep_forever()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                # The attempt in flight finishes and is recorded; nothing more is sent.
                self._interrupted = True
                self._stopping.cancel()


def _tls_context(scheme: str) -> ssl.SSLContext | None:
    return ssl.create_default_context() if scheme == "https" else None
