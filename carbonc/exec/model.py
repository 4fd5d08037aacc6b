"""What a run takes and gives: the plan to run, the run's options, and its result."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from carbonc.errors import ExecutionError
from carbonc.exec.probes import ProbeOptions, ProbeResult
from carbonc.exec.shards import Shard
from carbonc.exec.tally import Tally
from carbonc.exec.transport import ASGIApp
from carbonc.gateways import Credentials, RetryPolicy
from carbonc.plan.records import Check, Header, Probe, Record, Summary

if TYPE_CHECKING:
    from carbonc.compiler import CompiledPlan
    from carbonc.plan.index import PlanIndex


class PlanInput(NamedTuple):
    """A plan to run: its header and summary up front, and its records on demand; for a saved
    plan, its entities indexed on disk (`saved`), from which a run looks them up and whose file
    it hashes as read. A saved plan's header holds no probe selections (`Probe.entities`): they
    stay in the file until a run that probes reads them (`saved.with_selections`)."""

    header: Header
    summary: Summary
    records: Callable[[], Iterator[Record]]
    #: The saved plan's file (None: compiled in this process).
    path: Path | None = None
    #: The saved plan's entities, indexed on disk as it was verified.
    saved: PlanIndex | None = None
    #: The plan compiled in this process, for writing and hashing in bulk (None: a saved plan).
    compiled: CompiledPlan | None = None
    #: Whether the saved plan's file is still being written, to be read as it grows (a worker's).
    growing: bool = False

    def selected_probes(self) -> tuple[Probe, ...]:
        """The header's probes with what they select (a saved plan's read from its file)."""
        return self.header.probes if self.saved is None else self.saved.with_selections(self.header).probes

    @classmethod
    def from_compiled(cls, plan: CompiledPlan) -> PlanInput:
        return cls(plan.header, plan.summary, plan.records, compiled=plan)

    @classmethod
    def from_file(cls, path: Path) -> PlanInput:
        """A saved plan, checked whole first (every record, the summary, the digest): raises
        `errors.PlanError` before anything runs."""
        from carbonc.plan.saved import iter_plan
        from carbonc.plan.verify import index_plan

        header, summary, index = index_plan(path)

        def records() -> Iterator[Record]:
            try:
                yield from iter_plan(path)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ExecutionError(f"`{path}` is not a readable carbonc plan: {exc}") from None

        return cls(header, summary, records, path, index)


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """One judged check of a run: an `expect`, a `finding`, or a `probe` (one for the whole probe,
    then one per entity it selected, `entity_id`). `passed` is None when it could not be judged;
    `subject` is what it judges: `scenario` (facts of the plan), `handler` (the answers to
    webhooks) or `merchant` (its state, by probes). A probe's rows carry the `request` as sent (no
    header values), the time it took and the requests it made (`polls`)."""

    kind: Literal["expect", "finding", "probe"]
    name: str
    severity: str | None
    passed: bool | None
    expected: str | None
    actual: str | None
    message: str | None
    subject: Literal["scenario", "handler", "merchant"] | None = None
    entity_id: str | None = None
    request: str | None = None
    elapsed_ms: float | None = None
    polls: int | None = None


class ChecksPlan(msgspec.Struct, frozen=True):
    """What a shard keeps (`runs.checks_plan`) for its checks to be judged over the whole run
    once the shards are merged: the plan's `checks`, the `metrics` the plan itself determines,
    and whether the run had a webhook target (without one the handler's checks are not judged)."""

    checks: tuple[Check, ...]
    metrics: dict[str, int]
    has_target: bool


class TimelineStep(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an entity's timeline as sent: the message (`seq`, id, event, entity, faults,
    virtual time) and one attempt at it (number, epoch ms sent, status, error, outcome; all None
    for a message never sent, with the reason in `skipped`)."""

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


class RunOptions(msgspec.Struct, kw_only=True):
    """How to run: the provider whose dialect signs the messages, the target (`url`, or `app`,
    an ASGI callable posted to at `app_path`; neither: the gateway side only), the webhook
    secret (None: a built-in test secret), and delivery settings that override the plan's."""

    provider: str = "mock"
    url: str | None = None
    app: ASGIApp | None = None
    app_path: str = "/webhooks"
    app_name: str | None = None
    secret: str | None = None
    previous_secret: str | None = None
    concurrency: int = 10
    timeout_s: float | None = None
    time_scale: float | None = None
    dialect_options: dict[str, Any] = {}
    #: Where and how the plan's probes ask the merchant's state API (None: defaults, the base
    #: being the webhook URL's origin, or the app itself with `app`).
    probe: ProbeOptions | None = None
    #: Attempts in a row without any answer after which the endpoint is taken to be down and
    #: nothing more is sent (0: never).
    circuit_breaker: int = 20
    #: A real gateway's credentials (see `gateways.choose`; None: the simulated gateway), and how
    #: its API calls are retried (None: `RetryPolicy()`).
    gateway: Credentials | None = None
    gateway_policy: RetryPolicy | None = None
    #: Deliver only this shard's order trees (`--shard K/N`); None: the whole plan. A shard
    #: judges no `expect` or `finding` (it sees part of the run): it keeps them for `carbonc merge`.
    shard: Shard | None = None
    #: This process is a worker of a `--workers` run: it records its shard's rows into the run's
    #: own database under the run's id, and leaves the run's row and its verdicts to the parent.
    worker: bool = False

    def __repr__(self) -> str:  # never show the secrets
        gateway = self.gateway.provider if self.gateway is not None else "simulated"
        return (f"RunOptions(provider={self.provider!r}, url={self.url!r}, concurrency={self.concurrency}, "
                f"gateway={gateway!r})")


class RunResult(NamedTuple):
    """How a run went: its id and `status`, the counts, the judged checks, and how long it took."""

    run_id: str
    status: str
    header: Header
    summary: Summary
    provider: str
    target: str | None
    tally: Tally
    checks: list[Verdict]
    elapsed_s: float
    rows_written: int
    warnings: list[str]
    error: str | None
    probes: Sequence[ProbeResult] = ()
    #: The first failing entities' order trees as sent (see `Store.timeline`).
    timelines: Mapping[str, list[TimelineStep]] = MappingProxyType({})
    #: Seconds spent probing the merchant's state, within `elapsed_s`.
    probe_s: float = 0.0
    #: Set when the circuit breaker stopped the run's sending: why.
    endpoint_down: str | None = None

    @property
    def passed(self) -> bool:
        """The run completed with the endpoint up, every `expect` held and every probe found the
        merchant's state right. Findings report facts of the scenario (a finding that fires is in the
        summary) and checks not judged are neither."""
        return self.status == "completed" and self.endpoint_down is None and all(
            c.passed is not False for c in self.checks if c.kind in ("expect", "probe") and c.entity_id is None)
