"""The figures of one stored run, as typed data: what `carbonc report` shows in every format and
what `carbonc compare` sets side by side. Free of duckdb: `stored.py` fills them from the views."""

from __future__ import annotations

from typing import Literal

import msgspec

#: How a check reads: held, failed, not judged, or a finding that fired (it fails nothing).
CheckVerdict = Literal["ok", "FAIL", "skip", "note"]

#: What finally became of a message (the store's `report_message_fates` view).
Fate = Literal["acknowledged", "gave up", "rejected", "forgery accepted", "forgery not refused", "never sent",
               "not reached"]


class RunHeader(msgspec.Struct, frozen=True, kw_only=True):
    """What ran, against what, and how it ended; times are ISO 8601 UTC text."""

    run_id: str
    scenario: str
    provider: str
    seed: int
    params: str
    target: str | None
    status: str
    started_at: str
    finished_at: str | None
    version: str


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """Messages of the plan, attempts, retries and mismatched answers; `sending_ms` from the first
    attempt to the last."""

    messages: int
    deliveries: int
    retries: int
    mismatched: int
    sending_ms: int


class CheckLine(msgspec.Struct, frozen=True, kw_only=True):
    """A check of the whole run; `subject` is `scenario`, `handler` or `merchant`."""

    kind: str
    name: str
    subject: str
    severity: str | None
    verdict: CheckVerdict
    expected: str | None
    actual: str | None
    message: str | None


class ProbeFailure(msgspec.Struct, frozen=True, kw_only=True):
    """An entity a probe found wrong: what the merchant showed, why that is wrong, the request."""

    probe: str
    entity_id: str
    observed: str | None
    reason: str | None
    request: str | None
    elapsed_ms: float | None
    polls: int | None


class EventOutcomes(msgspec.Struct, frozen=True, kw_only=True):
    """Attempts at one event type, by answer class (`2xx` … `error`, every class present)."""

    event: str
    outcomes: dict[str, int]


class VerdictCount(msgspec.Struct, frozen=True, kw_only=True):
    """Answers that matched the expected verdict and those that did not, for one fault or
    signature mode (`expected` is the verdict that mode expects; None for a fault)."""

    key: str
    expected: str | None
    ok: int
    mismatched: int


class Latency(msgspec.Struct, frozen=True, kw_only=True):
    """Nearest-rank percentiles in ms of the attempts at `event` (None: the whole run)."""

    event: str | None
    deliveries: int
    p50: float
    p95: float
    p99: float
    max_ms: float


class Bucket(msgspec.Struct, frozen=True, kw_only=True):
    """Attempts with `low_ms` ≤ latency < `high_ms`."""

    low_ms: float
    high_ms: float
    deliveries: int


class Slice(msgspec.Struct, frozen=True, kw_only=True):
    """Attempts sent in one sixtieth of the sending time, from `start_ms` after the first, by
    answer class."""

    start_ms: int
    outcomes: dict[str, int]


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt worth naming (a slow one, the first mismatched answer of a fault): what was
    sent and what came back; `snippet` is the start of the endpoint's body, as it sent it."""

    delivery_id: str
    event: str
    fault: str
    entity_id: str | None
    outcome: str
    status_code: int | None
    error: str | None
    latency_ms: float | None = None
    snippet: str | None = None


class FateCount(msgspec.Struct, frozen=True, kw_only=True):
    """Messages that ended one way, those of them retried, and the attempts they took."""

    fate: Fate
    messages: int
    retried: int
    attempts: int
    max_attempts: int


class ErrorKind(msgspec.Struct, frozen=True, kw_only=True):
    """Attempts that got no plain answer for one reason, with what to look at."""

    error: str
    deliveries: int
    messages: int
    first_delivery_id: str
    hint: str


class TimelineLine(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt (or a message never sent) in an entity's order tree, as sent; `sent_at_ms`
    is epoch milliseconds."""

    virtual_ms: int
    sent_at_ms: int | None
    event: str
    entity_id: str
    copy: str
    attempt: int | None
    fault: str | None
    answer: str


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """Why an entity is shown (`reason`), and its order tree's messages as sent."""

    entity_id: str
    reason: str
    lines: list[TimelineLine]


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `carbonc report` shows of one run; lists of attempts are bounded (top N)."""

    run: RunHeader
    totals: Totals
    checks: list[CheckLine]
    probe_failures: list[ProbeFailure]
    by_event: list[EventOutcomes]
    by_fault: list[VerdictCount]
    by_signature: list[VerdictCount]
    latency: Latency | None
    latency_by_event: list[Latency]
    histogram: list[Bucket]
    over_time: list[Slice]
    slowest: list[Attempt]
    mismatches: list[Attempt]
    fates: list[FateCount]
    errors: list[ErrorKind]
    timelines: list[Timeline]


#: Version of the JSON document `report_json` writes; raised when a field changes meaning.
FORMAT_VERSION = 1


def report_json(report: RunReport) -> bytes:
    """The report as one JSON document (`format_version`, then the figures), newline-terminated."""
    document = {"format_version": FORMAT_VERSION, **msgspec.to_builtins(report)}
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
