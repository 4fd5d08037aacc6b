"""The plan: what will happen, in provider-neutral facts and webhook messages, in virtual time.

A saved plan is newline-delimited JSON, one record a line, so a million orders can be written
and read without holding them all: a `Header`, then every `Entity`, then every `Message` in
delivery order, then the `Summary`. `format_version` changes whenever a record's meaning does;
fields added with a default (such as `Header.checks`) do not change it.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

import msgspec

#: 2: `Summary.records_sha256` is over each record as encoded in the file (its fields in their
#: declared order), not over a second, key-sorted encoding; plans of format 1 are still read.
FORMAT_VERSION = 2
#: The format versions this carbonc reads.
READABLE_VERSIONS: Final = (1, 2)

#: The attribute an entity of each kind carries in `Entity.attrs`: a refund's `type` (full or
#: partial), a dispute's `reason`, and how many `payments` a settlement settles.
ENTITY_ATTRS: Final = MappingProxyType({"refund": "type", "dispute": "reason", "settlement": "payments"})
#: The kinds whose attribute `Summary.details` counts.
DETAILED_KINDS: Final = ("refund", "dispute")
#: The longest window a probe polls in (`eventually within`): one that polls longer waits on nothing.
MAX_WINDOW_MS: Final = 3_600_000


class Transition(msgspec.Struct, frozen=True, array_like=True):
    """An entity entered `state` at `at_ms` of virtual time; `reason` and `code` for failures."""

    at_ms: int
    state: str
    reason: str | None = None
    code: str | None = None


class Entity(msgspec.Struct, frozen=True, kw_only=True, tag="entity", tag_field="type"):
    """A fact: an order, payment, refund, dispute, settlement or mandate, with its parent, its
    amount in minor units of `currency`, its final `state` and every `transition`."""

    id: str
    kind: str
    parent: str | None
    amount_minor: int
    currency: str
    method: str | None
    state: str
    transitions: tuple[Transition, ...]
    attrs: dict[str, str] = {}


class SignatureShare(msgspec.Struct, frozen=True, array_like=True):
    """A signature mode and the ratio (decimal text) of messages that carry it."""

    mode: str
    share: str


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """How the messages it applies to are delivered: order, copies, delay and jitter, drops,
    signature modes, the retry ladder (`gateway`, `none`, or waits in ms), which answers count as
    failure, the per-request timeout, and expected-verdict overrides per signature mode."""

    id: int
    applies_to: tuple[str, ...]
    order: str = "sequence"
    shuffle_within_ms: int = 0
    repeat: int = 1
    delay_ms: int = 0
    jitter_ms: int = 0
    drop: str = "0"
    signatures: tuple[SignatureShare, ...] = (SignatureShare("valid", "1"),)
    retry: str | tuple[int, ...] = "gateway"
    fail_on: tuple[str, ...] = ("3xx", "4xx", "5xx", "timeout", "error")
    timeout_ms: int | None = None
    verdicts: dict[str, str] = {}


class _Node(msgspec.Struct, frozen=True, kw_only=True, tag_field="node"):
    """Base of the nodes of a check's condition (`CheckExpr`)."""


class IntConst(_Node, frozen=True, tag="int"):
    """An integer."""

    value: int


class DecimalConst(_Node, frozen=True, tag="decimal"):
    """An exact ratio or number: `0.15` for `15%`."""

    value: Decimal


class MoneyConst(_Node, frozen=True, tag="money"):
    """An amount of `currency` in minor units (a fraction only mid-computation)."""

    currency: str
    minor: Decimal


class DurationConst(_Node, frozen=True, tag="duration"):
    """A span of virtual time in milliseconds."""

    ms: int


class StrConst(_Node, frozen=True, tag="str"):
    """A string."""

    value: str


class BoolConst(_Node, frozen=True, tag="bool"):
    """`true` or `false`."""

    value: bool


class ListExpr(_Node, frozen=True, tag="list"):
    """`[items…]`."""

    items: tuple[CheckExpr, ...]


class MetricRef(_Node, frozen=True, tag="metric"):
    """A number of the run, by dotted `name` (`payments.captured`), known only after it."""

    name: str


class UnaryExpr(_Node, frozen=True, tag="unary"):
    """`op operand`: `-`, `+` or `not`."""

    op: Literal["-", "+", "not"]
    operand: CheckExpr


class BinaryExpr(_Node, frozen=True, tag="binary"):
    """`left op right`."""

    op: Literal["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"]
    left: CheckExpr
    right: CheckExpr


class CallExpr(_Node, frozen=True, tag="call"):
    """A built-in function (`round`, `floor`, `ceil`, `abs`, `min`, `max`, `rate`) of `args`."""

    func: str
    args: tuple[CheckExpr, ...]


class MapCall(_Node, frozen=True, tag="map"):
    """A `map` of the scenario applied to `arg`: `order_status(order.state)`, with the map's
    `table` (gateway word -> merchant word) carried along so the plan needs nothing else."""

    map: str
    table: dict[str, int | str | bool]
    arg: CheckExpr


CheckExpr = (
    IntConst | DecimalConst | MoneyConst | DurationConst | StrConst | BoolConst | ListExpr
    | MetricRef | UnaryExpr | BinaryExpr | CallExpr | MapCall
)
"""A check's condition with the scenario's parameters substituted and every part that does not
depend on the run folded to a constant: `disputes == round(baseline_orders * dispute_rate)`
becomes `BinaryExpr("==", MetricRef("disputes"), IntConst(150))`."""

Constant = IntConst | DecimalConst | MoneyConst | DurationConst | StrConst | BoolConst


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """An `expect CONDITION` or `finding when CONDITION "message"` of the scenario, to judge the
    run by. `name` is unique within the plan and stable while the line is (`expect disputes ==
    round(baseline_orders * dispute_rate)`); `text` is the condition as written (in canonical
    layout); `expr` the condition to evaluate over the run's metrics; `message` a finding's."""

    kind: Literal["expect", "finding"]
    name: str
    severity: str | None
    text: str
    expr: CheckExpr
    message: str | None = None


class ProbeExpect(msgspec.Struct, frozen=True, array_like=True):
    """One `expect` of a probe: its text as written and the condition, whose `MetricRef`s name
    what the probe observes (`status`, `json.status`, `headers.etag`) or what the gateway knows
    (`order.state`, `payment.amount_refunded`, `gateway.captured.INR`)."""

    text: str
    expr: CheckExpr


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    """A `probe` of the scenario, to send after the deliveries settle: the request as Jinja2
    templates (`url`, `headers`, `body`) over `base`, the parameters and the selected entity of
    `kind` (None: sent `once` for the run), the `entities` selected (plan IDs, in plan order), and
    its expectations. `eventually_ms` > 0 polls until they hold or the window ends. `oracle`
    names the stdlib or local oracle it came from; `maps` are the maps its templates name
    (`{{ api.orders }}`), so a merchant's paths are a map it can replace."""

    name: str
    severity: str | None
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    kind: str | None
    entities: tuple[str, ...] = ()
    expects: tuple[ProbeExpect, ...]
    eventually_ms: int = 0
    oracle: str | None = None
    maps: dict[str, dict[str, int | str | bool]] = {}
    selection: str = ""


class Header(msgspec.Struct, frozen=True, kw_only=True, tag="header", tag_field="type"):
    """What the plan is of: scenario, seed, resolved params (as written in the language), the
    source's sha256, the delivery policies that messages refer to by id, the checks that judge
    the run, and the probes that judge the merchant's state after it."""

    format_version: int = FORMAT_VERSION
    scenario: str
    seed: int
    params: dict[str, int | str]
    source_sha256: str
    policies: tuple[Policy, ...]
    checks: tuple[Check, ...] = ()
    warnings: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()


class Message(msgspec.Struct, frozen=True, kw_only=True, tag="message", tag_field="type"):
    """One webhook delivery to make: position `seq` in delivery order, the neutral `event` about
    `entity` that happened at `at_ms`, sent at `send_ms`. Copies of one event share `id`
    (`copy` 0 is the original, 1.. the duplicates). `signature` is the mode it is signed with;
    `verdict` the handler answer expected (None: the provider's dialect decides); `dropped`
    messages are never sent. A `forged` message is an attacker's copy of the event (signed in a
    mode no gateway sends), delivered just before the genuine one and never retried."""

    seq: int
    id: str
    copy: int
    at_ms: int
    send_ms: int
    event: str
    entity: str
    policy: int
    signature: str
    verdict: Literal["accept", "reject"] | None
    dropped: bool
    forged: bool = False


class Summary(msgspec.Struct, frozen=True, kw_only=True, tag="summary", tag_field="type"):
    """Counts over the plan: entities by kind and final state, `details` by kind (disputes by
    reason, refunds by type), messages by event (originals), faults, and the span of virtual
    time covered."""

    entities: dict[str, dict[str, int]]
    details: dict[str, dict[str, int]] = {}
    messages: dict[str, int]
    faults: dict[str, int]
    deliveries: int
    first_ms: int
    last_ms: int
    #: In a saved plan, the digest of its entity and message records (`plan.digest`), so that
    #: reading it can tell a plan edited or cut after it was written.
    records_sha256: str | None = None


Record = Header | Entity | Message | Summary
