"""Delivers a plan's messages on trio: a pool of workers, each owning one keep-alive connection,
takes each message off the schedule when its virtual time comes (retries go back into the
schedule at their own virtual time), renders and signs the request, sends it, judges the answer,
and passes a row for every attempt to the writer."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol, cast

import msgspec
import trio

from carbonc.dialects import Dialect, Lookup, Request, Secrets
from carbonc.errors import ExecutionError
from carbonc.exec.policy import Delivery, outcome_of, verdict_ok
from carbonc.exec.tally import Tally
from carbonc.exec.transport import Answer
from carbonc.exec.writer import Writer
from carbonc.plan.records import Message
from carbonc.store.rows import DeliveryRow

_encode = msgspec.json.Encoder().encode
_END = object()


class Sender(Protocol):
    """A connection a worker owns: a URL's (`transport.Connection`) or an ASGI app's."""

    async def send(self, method: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Answer: ...

    async def aclose(self) -> None: ...


class Clock:
    """Maps virtual time (ms from the plan's start) to trio time and to epoch time.

    `scale` is virtual seconds per wall second (1: real time); None sends as soon as possible,
    in virtual-time order. `origin_epoch_ms` is the epoch time of virtual time 0 in bodies.
    """

    def __init__(self, scale: float | None, origin_epoch_ms: int):
        self.scale, self.origin_epoch_ms = scale, origin_epoch_ms
        self.start = trio.current_time()

    def trio_at(self, virtual_ms: int) -> float:
        if self.scale is None:
            return self.start
        return self.start + virtual_ms / 1000 / self.scale

    def virtual_now_ms(self) -> int | None:
        """Virtual time now (None at `max`, where virtual time is only the plan's)."""
        if self.scale is None:
            return None
        return int((trio.current_time() - self.start) * 1000 * self.scale)

    def epoch_now_ms(self) -> int:
        return self.epoch_ms_at(trio.current_time())

    def epoch_ms_at(self, now: float) -> int:
        """The epoch time (ms) of `now`, a reading of trio's clock."""
        return self.origin_epoch_ms + int((now - self.start) * 1000)


class Job:
    """One attempt to make: the message, which attempt, and its virtual time."""

    __slots__ = ("attempt", "delivery", "event_type", "fault", "message", "message_id", "root", "token",
                 "virtual_ms")

    def __init__(self, message: Message, message_id: str, event_type: str, fault: str | None, root: str,
                 delivery: Delivery, attempt: int, virtual_ms: int):
        self.message, self.message_id, self.event_type, self.fault = message, message_id, event_type, fault
        self.root, self.delivery, self.attempt, self.virtual_ms = root, delivery, attempt, virtual_ms
        self.token = 0

    def key(self) -> tuple[int, int, int]:
        return (self.virtual_ms, self.message.seq, self.attempt)


#: Error kinds that say the endpoint is not there (as opposed to answering badly).
DOWN_KINDS = frozenset({"timeout", "refused", "dns", "connect", "tls", "reset", "closed"})


class Breaker:
    """The circuit breaker: after `limit` attempts in a row that got no answer at all (refused,
    timed out, reset…), the endpoint is taken to be down and nothing more is sent; 0 turns it
    off. A gateway ladder against a dead endpoint otherwise costs hours (9 attempts × 5 s per
    message for Razorpay)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.streak = 0
        self.tripped = False
        self.kinds: Counter[str] = Counter()

    def record(self, error: str | None, status: int | None) -> None:
        if status is not None or error not in DOWN_KINDS:
            self.streak = 0  # the endpoint answered: it is up, however badly
            return
        self.streak += 1
        self.kinds[error] += 1
        if self.limit and self.streak >= self.limit:
            self.tripped = True


class Deliverer:
    """Sends jobs with `concurrency` workers; see the module docstring."""

    def __init__(self, *, run_id: str, dialect: Dialect, lookup: Lookup, secrets: Secrets, clock: Clock,
                 connect: Callable[[], Sender], concurrency: int, writer: Writer, tally: Tally,
                 watched: set[str] | frozenset[str] = frozenset(), acknowledged: set[tuple[str, str]] | None = None,
                 breaker: Breaker | None = None):
        self.run_id, self.dialect, self.lookup, self.secrets = run_id, dialect, lookup, secrets
        self.clock, self.connect, self.concurrency = clock, connect, concurrency
        self.writer, self.tally = writer, tally
        #: Entities a probe will ask about, and which of their events a 2xx acknowledged.
        self.watched, self.acknowledged = watched, acknowledged if acknowledged is not None else set()
        self.breaker = breaker or Breaker(0)
        self._retries: list[tuple[tuple[int, int, int], Job]] = []
        self._in_flight = 0
        self._changed = trio.Event()
        # At --time-scale max, "order kept": per order (an entity tree), the earliest each
        # attempt in flight could be retried, so that nothing of that order due later is handed
        # out before the retry. Unrelated orders are not held back. root -> [(retry key, token)].
        self._floors: dict[str, list[tuple[tuple[int, int, int], int]]] = {}
        self._open: set[int] = set()
        self._tokens = 0
        self._jobs: Iterator[Job | None] = iter(())
        self._dispatching = trio.CancelScope()
        self._upcoming: Job | None = None
        self._exhausted = False
        #: Held by the one idle worker that waits on the schedule (for a job's time, a retry,
        #: the writer); the other idle workers queue behind it.
        self._turn = trio.Lock()

    async def run(self, jobs: Iterator[Job | None], dispatching: trio.CancelScope) -> None:
        """Deliver every job (and its retries); None stands for a message not sent. Cancelling
        `dispatching` stops new sends; the attempts in flight finish and are recorded."""
        self._jobs, self._dispatching = jobs, dispatching
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._wake_on_stop)
            async with trio.open_nursery() as workers:
                for _ in range(self.concurrency):
                    workers.start_soon(self._worker)
            nursery.cancel_scope.cancel()

    async def _wake_on_stop(self) -> None:
        with self._dispatching:
            await trio.sleep_forever()
        self._changed.set()  # reached only once `dispatching` is cancelled: the waiting worker stops

    async def _worker(self) -> None:
        # Each worker owns its connection and takes its next job off the schedule itself: a
        # channel from a dispatcher to the workers cost ~30 µs of CPU per message.
        sender = self.connect()
        try:
            while (job := self._take() or await self._wait_for_job()) is not None:
                try:
                    await self._attempt(sender, job)
                finally:
                    self._in_flight -= 1
                    self.tally.in_flight = self._in_flight
                    self._release_floor(job)
                    self._changed.set()
        finally:
            with trio.CancelScope(shield=True):
                await sender.aclose()

    async def _wait_for_job(self) -> Job | None:
        """The next job once it is due, or None when there is nothing more to send. One idle
        worker at a time waits on the schedule; the others queue for their turn behind it."""
        async with self._turn:
            while True:
                job = self._take()
                if job is not None:
                    return job
                if self._dispatching.cancel_called:
                    return None
                if not self._pull():
                    await self.writer.wait_for_room()
                    continue
                head = self._head()
                if head is None and self._in_flight == 0:
                    return None
                # Until the head is due, or something changes: an attempt ends (a retry may be
                # queued, due sooner), or the run stops.
                due = math.inf if head is None or self._held(head) else self.clock.trio_at(head.virtual_ms)
                with trio.move_on_at(due):
                    await self._wait_for_change()

    def _take(self) -> Job | None:
        """The job to send now, taken off the schedule, or None if none is due. Never waits, so
        one worker at a time decides: plan order and retry order hold as with one dispatcher."""
        if self._dispatching.cancel_called or not self._pull():
            return None
        job = self._head()
        if job is None or self._held(job):
            return None
        if self.clock.scale is not None and self.clock.trio_at(job.virtual_ms) > trio.current_time():
            return None
        if job is self._upcoming:
            self._upcoming = None
        else:
            heapq.heappop(self._retries)
        self._in_flight += 1
        self.tally.in_flight = self._in_flight
        self._hold_floor(job)
        return job

    def _head(self) -> Job | None:
        """The job that goes next: the plan's next message or the earliest retry, whichever is
        earlier in virtual time."""
        if self.breaker.tripped and self._retries:
            # The endpoint is down: retries are forgotten, the jobs' source marks every later
            # message skipped (so `_pull` finds none), and what is in flight finishes.
            self._retries.clear()
        upcoming = self._upcoming
        if not self._retries:
            return upcoming
        retry = self._retries[0][1]
        return upcoming if upcoming is not None and upcoming.key() <= retry.key() else retry

    def _pull(self) -> bool:
        """Read the plan up to its next message to send; False when the writer must make room
        first (messages not sent still make rows)."""
        while self._upcoming is None and not self._exhausted:
            if not self.writer.has_room():
                return False
            job = next(self._jobs, _END)
            if job is _END:
                self._exhausted = True
            elif job is not None:
                self._upcoming = cast(Job, job)
        return True

    def _held(self, job: Job) -> bool:
        """Whether an attempt in flight of the job's order may yet be retried before it."""
        floor = self._floor(job.root)
        return floor is not None and floor < job.key()

    def _hold_floor(self, job: Job) -> None:
        # At a finite scale a job goes out only when virtual time reaches it, and a retry is due
        # a rung after the failure, so time itself keeps the order: no floor is needed.
        ladder = job.delivery.ladder
        if (self.clock.scale is None and job.attempt <= len(ladder) and not job.message.forged
                and self.dialect.expected(job.message) == "accept"):
            self._tokens += 1
            job.token = self._tokens
            self._open.add(job.token)
            key = (job.virtual_ms + ladder[job.attempt - 1], job.message.seq, job.attempt + 1)
            heapq.heappush(self._floors.setdefault(job.root, []), (key, job.token))

    def _release_floor(self, job: Job) -> None:
        if job.token:
            self._open.discard(job.token)
            floors = self._floors.get(job.root)
            if floors is None:
                return
            for _, token in floors:
                if token in self._open:
                    return
            del self._floors[job.root]  # an order done with: forget it (memory stays flat)

    def _floor(self, root: str) -> tuple[int, int, int] | None:
        floors = self._floors.get(root)
        if floors is None:
            return None
        while floors and floors[0][1] not in self._open:
            heapq.heappop(floors)
        if not floors:
            del self._floors[root]
            return None
        return floors[0][0]

    async def _wait_for_change(self) -> None:
        await self._changed.wait()
        self._changed = trio.Event()

    async def _attempt(self, sender: Sender, job: Job) -> None:
        message = job.message
        started = trio.current_time()
        now_ms = self.clock.epoch_ms_at(started)
        try:
            request = self.dialect.request(message, self.lookup, secrets=self.secrets, now_ms=now_ms,
                                          attempt=job.attempt, origin_ms=self.clock.origin_epoch_ms)
        except ExecutionError as exc:
            raise ExecutionError(f"cannot render message {job.message_id}: {exc}") from None
        try:
            answer = await sender.send(request.method, request.headers, request.body, job.delivery.timeout_s)
        except trio.Cancelled:
            # A second Ctrl-C abandons attempts in flight: the request went out, so it is
            # recorded (the writer flushes after the delivery tasks are gone).
            self._record(job, request, now_ms,
                         Answer(None, None, "abandoned", (trio.current_time() - started) * 1000), retry=False)
            raise
        self._record(job, request, now_ms, answer, retry=True)
        await self.writer.wait_for_room()

    def _record(self, job: Job, request: Request, now_ms: int, answer: Answer, *, retry: bool) -> None:
        """Judge the answer, count it, queue a retry if the gateway would make one, and hand the
        row to the writer."""
        message = job.message
        outcome = outcome_of(answer.status, answer.error)
        expected = self.dialect.expected(message)
        failed = job.delivery.failed(outcome, answer.status)
        row = DeliveryRow(
            run_id=self.run_id, delivery_id=f"{job.message_id}/{job.attempt}", message_id=job.message_id,
            attempt=job.attempt, event_type=job.event_type, signature_mode=message.signature, sent_at_ms=now_ms,
            virtual_ms=job.virtual_ms, status_code=answer.status, latency_ms=round(answer.latency_ms, 3),
            error=answer.error, outcome=outcome, failed=failed, expected_verdict=expected,
            verdict_ok=verdict_ok(expected, outcome), request_body=request.body.decode("utf-8", "replace"),
            response_snippet=answer.snippet.decode("utf-8", "replace") if answer.snippet is not None else None,
            request_headers=_encode(request.storable_headers()).decode(),
        )
        self.breaker.record(answer.error, answer.status)
        self.tally.attempt(row, job.fault, last=not (retry and failed and not self.breaker.tripped
                                                     and self._retry(job, expected)))
        self.writer.add(row)
        if outcome == "2xx" and not message.forged and message.entity in self.watched:
            self.acknowledged.add((message.entity, message.event))

    def _retry(self, job: Job, expected: str) -> bool:
        """Queue the next attempt if the gateway would make one; say whether it did."""
        # Only genuine messages are retried: a gateway does not resend a forgery its
        # handler rightly refused, and a fault-injected message stands for one attempt.
        ladder = job.delivery.ladder
        if expected != "accept" or job.message.forged or job.attempt > len(ladder):
            return False
        # The wait runs from when the attempt ended (a timeout takes time too), in virtual time.
        now = self.clock.virtual_now_ms()
        ended = job.virtual_ms if now is None else max(job.virtual_ms, now)
        nxt = Job(job.message, job.message_id, job.event_type, job.fault, job.root, job.delivery, job.attempt + 1,
                  ended + ladder[job.attempt - 1])
        heapq.heappush(self._retries, (nxt.key(), nxt))
        return True
