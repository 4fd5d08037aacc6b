"""The rows a run writes, one typed struct per table of the store; free of duckdb, so the
executor builds them without loading the database library."""

from __future__ import annotations

import msgspec

#: The answer classes of `deliveries.outcome`, in the order reports show them.
OUTCOMES = ("2xx", "3xx", "4xx", "5xx", "timeout", "error")


class RunRow(msgspec.Struct, kw_only=True):
    """One run: what ran (scenario, hashes of its source and plan, seed, provider, params as
    JSON text), against what `target` (a URL without credentials, `app:module:attr`, or None
    when only the gateway side ran), and how it ended. A replay names the run it re-sent in
    `replay_of`, and how in `replay_mode` (`resign` or `exact`)."""

    run_id: str
    scenario: str
    source_sha256: str
    plan_sha256: str
    seed: int
    provider: str
    params: str
    started_at_ms: int
    status: str = "running"
    version: str
    target: str | None = None
    time_scale: str = "max"
    concurrency: int = 1
    replay_of: str | None = None
    replay_mode: str | None = None
    #: `simulated`, or the real gateway whose sandbox the run's facts were created in (`stripe`).
    gateway: str = "simulated"
    #: For one shard of a split run (`--shard K/N`): `K/N`; it delivered only its order trees.
    shard: str | None = None
    #: A shard's plan checks and scenario metrics (JSON), for `carbonc merge` to judge the whole run.
    checks_plan: str | None = None
    #: For a run merged from shards (`carbonc merge`): the shards' run ids, comma-separated.
    merged_from: str | None = None
    #: The processes the run was split across (`--workers`).
    workers: int = 1


class EntityRow(msgspec.Struct):
    """A fact the gateway holds at the end of the run: an order, payment, refund, …"""

    run_id: str
    entity_id: str
    kind: str
    parent_id: str | None
    state: str
    amount_minor: int
    currency: str
    method: str | None
    attrs: str
    #: With a real gateway: the sandbox's ID for it (NULL: simulated), whether it is `real`,
    #: `simulated` or `failed`, and why it is simulated or what failed. NULL in a simulated run.
    gateway_id: str | None = None
    gateway_status: str | None = None
    gateway_note: str | None = None


class GatewayCallRow(msgspec.Struct):
    """One HTTP attempt at a real gateway's API (never its credentials): the `operation` on the
    plan's `entity_id`, the idempotency key its retries repeat, what came back, and the ID it
    created, if any."""

    run_id: str
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
    gateway_id: str | None


class MessageRow(msgspec.Struct):
    """A webhook message of the plan: a copy of a repeated event has its own `message_id`
    and names the original in `duplicate_of`. `fault` lists what the plan does to it
    (`dropped`, `duplicate`, `delayed`, `signature:MODE`), comma-separated, or is None."""

    run_id: str
    message_id: str
    seq: int
    virtual_ms: int
    send_ms: int
    neutral_event: str
    provider_event: str | None
    entity_id: str
    fault: str | None
    signature_mode: str
    duplicate_of: str | None
    event_id: str
    skipped: str | None


class DeliveryRow(msgspec.Struct):
    """One attempt to deliver a message: when, what came back (`status_code` and a bounded
    `response_snippet`, or an `error` kind), how long it took, which `outcome` class that is
    (`2xx` `3xx` `4xx` `5xx` `timeout` `error`), whether the gateway counts it as `failed`, and
    whether the answer matched the `expected_verdict`. `request_headers` is the request's headers
    as JSON text, without any that holds a secret (`dialects.Request.storable_headers`)."""

    run_id: str
    delivery_id: str
    message_id: str
    attempt: int
    event_type: str
    signature_mode: str
    sent_at_ms: int
    virtual_ms: int
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: str
    failed: bool
    expected_verdict: str
    verdict_ok: bool
    request_body: str
    response_snippet: str | None
    request_headers: str | None = None


class CheckRow(msgspec.Struct):
    """A judged check: an `expect`, an oracle's verdict, a probe, or a `finding` (`passed` is
    None for a check that could not be judged). `subject` says what it judges: `scenario` (facts
    of the plan), `handler` (the answers to webhooks) or `merchant` (its state, by probes). A
    probe has a row for the whole probe and one per entity it selected (`entity_id`), with the
    `request` as sent (no header values), the time it took and the requests made (`polls`)."""

    run_id: str
    kind: str
    name: str
    severity: str | None
    passed: bool | None
    expected: str | None
    actual: str | None
    message: str | None
    subject: str | None = None
    entity_id: str | None = None
    request: str | None = None
    elapsed_ms: float | None = None
    polls: int | None = None


class TimelineRow(msgspec.Struct, array_like=True):
    """One line of an entity's timeline: the message (`seq`, id, event, entity, faults, virtual
    time) and one attempt at it (number, epoch ms sent, status, error, outcome; all None for a
    message never sent, with the reason in `skipped`)."""

    seq: int
    message_id: str
    event: str
    entity_id: str
    fault: str | None
    virtual_ms: int
    attempt: int | None
    sent_at_ms: int | None
    status_code: int | None
    error: str | None
    outcome: str | None
    skipped: str | None


class Batch(msgspec.Struct):
    """Rows to append in one transaction."""

    entities: list[EntityRow] = msgspec.field(default_factory=list)
    messages: list[MessageRow] = msgspec.field(default_factory=list)
    deliveries: list[DeliveryRow] = msgspec.field(default_factory=list)
    checks: list[CheckRow] = msgspec.field(default_factory=list)
    gateway_calls: list[GatewayCallRow] = msgspec.field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.entities) + len(self.messages) + len(self.deliveries) + len(self.checks)
                + len(self.gateway_calls))
