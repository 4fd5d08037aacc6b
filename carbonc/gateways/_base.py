"""What every real gateway shares: the outcomes of making a plan's fact real, the credentials
(redacted everywhere, live keys refused), and the HTTP caller that retries idempotently,
honours 429 and `Retry-After`, bounds concurrency and records every attempt."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

import msgspec

from carbonc.errors import ExecutionError

if TYPE_CHECKING:
    import httpx

    from carbonc.plan.records import Entity


class Created(msgspec.Struct, frozen=True):
    """The sandbox made the fact real: its IDs by name, the main one under `id`."""

    ids: dict[str, str]

    @property
    def gateway_id(self) -> str:
        return self.ids["id"]


class Simulated(msgspec.Struct, frozen=True):
    """The fact stays simulated: the provider's sandbox cannot produce it (or its parent is not
    real); `reason` says which and is shown at plan time and recorded."""

    reason: str


class Failed(msgspec.Struct, frozen=True):
    """The gateway was asked and did not make the fact real as planned; `error` says why (no
    secret in it), and `gateway_id` names the object when one was created all the same (a payment
    intent whose confirmation failed)."""

    error: str
    gateway_id: str | None = None


Outcome = Created | Simulated | Failed


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP attempt at the gateway's API: what was asked (`operation` of `entity_id`, the
    `idempotency_key` every retry repeats) and what came back (`status_code`, or an `error`),
    and the ID it created, if any."""

    entity_id: str
    operation: str
    attempt: int
    method: str
    path: str
    idempotency_key: str | None
    sent_at_ms: int
    status_code: int | None
    latency_ms: float
    error: str | None
    gateway_id: str | None = None


class Gateway(Protocol):
    """What a real gateway adapter does. It is given the plan's entities one by one, in plan
    order, each with its parent's outcome, and answers with the entity's `Outcome`: the sandbox's
    IDs, why it stays simulated, or why creating it failed. `coverage` is the same decision
    without any call (what `plan --real` shows); `create` never raises for the gateway
    misbehaving. `headers` authenticate every request; `idempotency_header` (None: the API has
    none) carries `idempotency_key` on every call that creates or changes something."""

    name: ClassVar[str]
    idempotency_header: ClassVar[str | None]

    def headers(self) -> dict[str, str]: ...

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None: ...

    async def create(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome: ...


class Adapter:
    """What every adapter's `create` shares: a fact `coverage` keeps simulated is not asked for,
    and a call that gave up (`CallFailed`) is the fact's `Failed` outcome, never an exception.
    An adapter says what it makes real in `coverage` and how in `make`."""

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None:
        raise NotImplementedError

    async def make(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        """Create `entity` (one `coverage` lets through) at the gateway; raise CallFailed."""
        raise NotImplementedError

    async def create(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        """Make `entity` real; any failure of the gateway is the outcome, never an exception."""
        simulated = self.coverage(entity, parent)
        if simulated is not None:
            return simulated
        try:
            return await self.make(entity, parent, caller)
        except CallFailed as exc:
            return Failed(exc.error)


class RetryPolicy(NamedTuple):
    """How calls are retried: `attempts` in all, each with a `timeout_s` deadline, waiting
    exponentially from `backoff_s` between them, or what a `Retry-After` asks up to `max_wait_s`
    (a longer wait is not waited for: the call fails saying so). `concurrency` bounds the calls
    in flight."""

    attempts: int = 4
    timeout_s: float = 10.0
    backoff_s: float = 0.5
    max_wait_s: float = 30.0
    concurrency: int = 8


class Credentials:
    """A provider's API credentials by field name, the API base, and whether live mode is allowed.
    Never shown: repr, str and pickling reveal nothing, and `redact` removes them from any text
    that came back from the gateway before it is recorded."""

    __slots__ = ("_values", "allow_live", "api_base", "provider")

    def __init__(self, provider: str, values: Mapping[str, str], api_base: str, *, allow_live: bool = False):
        self.provider, self.api_base, self.allow_live = provider, api_base.rstrip("/"), allow_live
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __repr__(self) -> str:
        return f"Credentials({self.provider}, <redacted>, api_base={self.api_base!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled")

    def redact(self, text: str) -> str:
        for value in self._values.values():
            if len(value) >= 4:
                text = text.replace(value, "<redacted>")
        return text


class GatewayAnswer(NamedTuple):
    """What the API answered in the end: the status and the decoded JSON body (None if not JSON)."""

    status: int
    body: Any


class CallFailed(Exception):
    """A call gave up: `error` (no secret in it) says why."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


#: Answers retried with the same idempotency key: a request with the same key still in flight
#: (409), too many requests (429), and the gateway's own failures (5xx).
_RETRIED = frozenset({409, 429, 500, 502, 503, 504})

#: JSON request bodies: amounts are Decimals from exact text, written as numbers (`170.00`).
_JSON = msgspec.json.Encoder(decimal_format="number").encode


class Caller:
    """Calls one gateway's API over a shared `httpx.AsyncClient`: at most `policy.concurrency`
    calls in flight, each retried under `policy` with the same idempotency key, every attempt
    passed to `record` as a `Call`."""

    def __init__(self, client: httpx.AsyncClient, credentials: Credentials, policy: RetryPolicy,
                 record: Callable[[Call], None], idempotency_header: str | None):
        self.client, self.credentials, self.policy, self.record = client, credentials, policy, record
        import trio

        self.idempotency_header = idempotency_header
        self.limiter = trio.CapacityLimiter(policy.concurrency)

    async def call(self, entity_id: str, operation: str, method: str, path: str, *,
                   data: Mapping[str, str] | None = None, json: Any = None, idempotency_key: str | None = None,
                   created_id: Callable[[Any], str | None] = lambda body: None,
                   recover: Callable[[], Awaitable[GatewayAnswer | None]] | None = None) -> GatewayAnswer:
        """The answer to `method path` with form `data` or a `json` body (a Decimal in it is
        written as a JSON number, exactly), after retries; raises CallFailed when none came that
        is not retried. For an API without idempotency keys, `recover` looks up what an unanswered
        attempt may have created: it is asked before each resend and before giving up, and the
        object it finds is the answer (never created twice)."""
        import httpx
        import trio

        headers = {self.idempotency_header: idempotency_key} if self.idempotency_header and idempotency_key else {}
        content = None
        if json is not None:
            content, headers["Content-Type"] = _JSON(json), "application/json"
        last = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            if attempt > 1 and recover is not None and (found := await recover()) is not None:
                return found
            wait: float | None = None
            sent_ms = int(time.time() * 1000)
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            body: Any = None
            async with self.limiter:
                try:
                    with trio.fail_after(self.policy.timeout_s):
                        async with self.client.stream(method, path, data=data, content=content,
                                                      headers=headers) as response:
                            answer = await _read_bounded(response)
                except trio.TooSlowError:
                    error = f"timeout: no answer within {self.policy.timeout_s:g} s"
                except trio.Cancelled:
                    # The run was interrupted: the request may have reached the gateway, so say so.
                    self.record(Call(entity_id=entity_id, operation=operation, attempt=attempt, method=method,
                                     path=path, idempotency_key=idempotency_key, sent_at_ms=sent_ms, status_code=None,
                                     latency_ms=round((time.perf_counter() - started) * 1000, 3),
                                     error="interrupted: the answer was not awaited (the object may exist)"))
                    raise
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {self.credentials.redact(str(exc))}"
                else:
                    status = response.status_code
                    try:
                        body = None if answer is None else msgspec.json.decode(answer)
                    except msgspec.DecodeError:
                        body = None
                    if answer is None:
                        error = f"HTTP {status} with an answer of more than {MAX_ANSWER_BYTES:,} bytes: not read"
                    elif status in _RETRIED or status >= 500:
                        error = f"HTTP {status}{_message(body, self.credentials)}"
                        wait = _retry_after(response.headers.get("retry-after"))
            latency = (time.perf_counter() - started) * 1000
            gateway_id = created_id(body) if status is not None and status < 300 else None
            self.record(Call(entity_id=entity_id, operation=operation, attempt=attempt, method=method, path=path,
                             idempotency_key=idempotency_key, sent_at_ms=sent_ms, status_code=status,
                             latency_ms=round(latency, 3), error=error, gateway_id=gateway_id))
            if error is None and status is not None:
                return GatewayAnswer(status, body)
            last = error or "no answer"
            if attempt == self.policy.attempts:
                if recover is not None and (found := await recover()) is not None:
                    return found
                break
            if wait is None:
                wait = self.policy.backoff_s * 2 ** (attempt - 1)
            elif wait > self.policy.max_wait_s:
                raise CallFailed(f"{last}; the gateway asked to wait {wait:g} s before retrying, more than "
                                 f"{self.policy.max_wait_s:g} s")
            await trio.sleep(wait)
        raise CallFailed(f"{last} (after {self.policy.attempts} attempts)")


#: Largest gateway answer read: an API object is a few kilobytes, and a gateway (or whatever
#: answers at --api-base) that sends more is refused rather than held in memory.
MAX_ANSWER_BYTES = 1 << 20


async def _read_bounded(response: httpx.Response) -> bytes | None:
    """The answer's body, or None when it is longer than MAX_ANSWER_BYTES (read no further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def error_text(answer: GatewayAnswer, credentials: Credentials) -> str:
    """`HTTP 400: the gateway's own message` for an answer that is not a success."""
    return f"HTTP {answer.status}{_message(answer.body, credentials)}"


def _message(body: Any, credentials: Credentials) -> str:
    """The gateway's error message in `body` (Stripe's and Razorpay's `error.message`,
    Cashfree's and Juspay's `message`), redacted and bounded, as `: message`."""
    found = None
    if isinstance(body, dict):
        error = body.get("error")
        found = error.get("message") or error.get("description") if isinstance(error, dict) else body.get("message")
    return f": {credentials.redact(str(found))[:300]}" if found else ""


def _retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (seconds, or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # an HTTP date, rarely sent: not imported by every run

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def idempotency_key(run_id: str, entity_id: str, operation: str) -> str:
    """The key of one operation on one fact of one run: a retry repeats it, another run does not."""
    return f"carbonc-{run_id}-{entity_id}-{operation}"


def check_api_base(flag: str, url: str) -> str:
    """`url` as an API base, or ExecutionError: http(s), and plain http only to this machine (a
    key is never sent in the clear over a network)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ExecutionError(f"{flag} must be an http(s) URL such as http://127.0.0.1:8420")
    if parsed.scheme == "http" and not _loopback(parsed.host):
        raise ExecutionError(f"{flag}: plain http is only for an emulator on this machine (127.0.0.1, ::1, "
                             "localhost): the API key would cross the network in the clear; use https")
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parent_outcome_reason(parent: Outcome | None, kind: str) -> Simulated | None:
    """Why a fact whose parent is not real stays simulated (None: the parent is real)."""
    if isinstance(parent, Created):
        return None
    if isinstance(parent, Failed):
        return Simulated(f"its parent could not be created at the gateway, so this {kind} is simulated")
    return Simulated(f"its parent is simulated, so this {kind} is too")


def payment_outcome(entity: Entity) -> str:
    """The payment's outcome as a gateway must produce it: `captured` (at once), `captured_later`,
    `authorized` (never captured), `failed`, `late` (failed or pending, then captured), or the
    final state otherwise."""
    states = [t.state for t in entity.transitions]
    if "captured" in states:
        if {"failed", "pending", "timed_out"} & set(states[:states.index("captured")]):
            return "late"
        auth = next((t.at_ms for t in entity.transitions if t.state == "authorized"), None)
        captured = next(t.at_ms for t in entity.transitions if t.state == "captured")
        return "captured_later" if auth is not None and auth != captured else "captured"
    if "failed" in states:
        return "failed"
    if entity.state == "authorized":
        return "authorized"
    return entity.state
