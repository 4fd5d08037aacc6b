"""The payment domain the language talks about: entity kinds and states, what each verb and
outcome accepts, delivery options, metrics and functions. Passes and the compiler share it."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal

import msgspec

#: Entity kinds, singular; the plural (`orders`) names the same kind.
KINDS: Final = ("order", "payment", "refund", "dispute", "settlement", "mandate")
PLURALS: Final = MappingProxyType({f"{k}s": k for k in KINDS})
#: Which kind an entity's parent is; the other kinds have none.
PARENT_KINDS: Final = MappingProxyType({"payment": "order", "refund": "payment", "dispute": "payment"})

#: States an entity of each kind can be in (selections filter on them: `captured payments`).
STATES: Final = MappingProxyType({
    "order": ("created", "paid", "attempted"),
    "payment": ("created", "authorized", "captured", "failed", "pending", "timed_out",
                "stuck", "refunded", "partially_refunded", "disputed", "settled"),
    "refund": ("created", "processed", "failed"),
    "dispute": ("created", "under_review", "won", "lost", "closed"),
    "settlement": ("created", "processed", "failed"),
    "mandate": ("created", "confirmed", "rejected", "cancelled", "paused", "active"),
})


def kind_of(word: str) -> str | None:
    """Return the entity kind `word` names (`orders` -> `order`), or None."""
    if word in KINDS:
        return word
    return PLURALS.get(word)


class VerbSpec:
    """What a verb acts on and accepts: target `kinds`, `clauses` (`required` among them),
    `outcomes` (the context key into OUTCOMES, or None), and `states` the target must be in
    when the selection names one."""

    def __init__(self, kinds: tuple[str, ...], clauses: frozenset[str], required: frozenset[str] = frozenset(),
                 outcomes: str | None = None, states: tuple[str, ...] = ()):
        self.kinds, self.clauses, self.required, self.outcomes, self.states = kinds, clauses, required, outcomes, states


VERBS: Final = MappingProxyType({
    "create": VerbSpec(("order", "mandate"), frozenset({"count", "amount", "method", "over"}),
                       frozenset({"count", "amount"}), outcomes="create"),
    "pay": VerbSpec(("order",), frozenset({"method", "with", "after"}), outcomes="pay",
                    states=("created", "attempted")),
    "capture": VerbSpec(("payment",), frozenset({"after"}), states=("authorized",)),
    "refund": VerbSpec(("payment",), frozenset({"amount", "after", "reason", "with"}), outcomes="refund",
                       states=("captured", "settled", "partially_refunded", "disputed")),
    "dispute": VerbSpec(("payment",), frozenset({"reason", "after", "amount", "then"}),
                        frozenset({"reason"}), outcomes="dispute",
                        states=("captured", "settled", "refunded", "partially_refunded")),
    "settle": VerbSpec(("payment",), frozenset({"after"}), frozenset({"after"}),
                       states=("captured", "partially_refunded", "refunded", "disputed")),
    "cancel": VerbSpec(("mandate",), frozenset({"after", "reason"}), states=("confirmed", "active", "paused")),
    "pause": VerbSpec(("mandate",), frozenset({"after"}), states=("confirmed", "active")),
})

_FAIL = frozenset({"reason", "code", "after"})
_AFTER = frozenset({"after"})
_NEXT = frozenset({"after", "then"})

#: Outcome contexts: a verb (`pay`), `create.mandate`, or `context.outcome` for a `then` block
#: under an outcome. Each maps outcome names to the clauses they accept.
OUTCOMES: Final = MappingProxyType({
    "pay": {"captured": _AFTER, "authorized": _NEXT, "failed": _FAIL | {"then"}, "pending": _NEXT},
    "pay.failed": {"captured": _AFTER, "failed": frozenset()},  # late authorisation, or stays failed
    "pay.authorized": {"captured": _AFTER, "failed": _FAIL},
    "pay.pending": {"captured": _AFTER, "failed": _FAIL, "timed_out": _FAIL, "stuck": frozenset()},
    "refund": {"processed": frozenset({"after", "amount"}), "failed": frozenset({"reason", "code", "after", "amount"})},
    "dispute": {"won": _AFTER, "lost": _AFTER, "closed": _AFTER, "under_review": _NEXT},
    "dispute.under_review": {"won": _AFTER, "lost": _AFTER, "closed": _AFTER},
    "create.mandate": {"confirmed": _NEXT, "rejected": _FAIL},
    "create.mandate.confirmed": {"cancelled": frozenset({"after", "reason"}), "paused": _AFTER,
                                 "active": frozenset()},
})

PAYMENT_METHODS: Final = ("card", "upi", "netbanking", "wallet", "emandate")
ORDER_MODES: Final = ("sequence", "reverse", "random", "shuffle")
#: Provider names `--provider` accepts, and the dialect each speaks (`carbonc.dialects` holds
#: the dialects; the command line lists the names without loading them). `mock` is the
#: simulated gateway, which speaks Razorpay.
PROVIDERS: Final = MappingProxyType({"mock": "razorpay", "razorpay": "razorpay", "stripe": "stripe",
                                     "cashfree": "cashfree", "juspay": "juspay", "standard": "standard"})

#: Orders a run or plan may impose on every message (`--webhook-order`).
OVERRIDE_ORDERS: Final = ("sequence", "reverse", "random")
SIGNATURE_MODES: Final = ("valid", "missing", "corrupted", "wrong_secret", "stale", "future", "old_secret",
                          "rotation", "reserialized", "ms_vs_s", "bad_basic_auth")
#: Signature modes no real gateway sends: an attacker's copy, sent beside the genuine message
#: (which still arrives, validly signed). `old_secret` and `rotation` are genuine variants.
FORGERIES: Final = frozenset({"missing", "corrupted", "wrong_secret", "stale", "future", "reserialized", "ms_vs_s",
                              "bad_basic_auth"})
#: What a merchant's handler is expected to answer a message.
Verdict = Literal["accept", "reject"]
VERDICTS: Final[tuple[Verdict, ...]] = ("accept", "reject")
RETRY_KEYWORDS: Final = ("gateway", "none")
FAIL_STATUSES: Final = ("3xx", "4xx", "5xx", "timeout", "error")
SEVERITIES: Final = ("low", "medium", "high", "critical")
HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "HEAD")

#: Provider-neutral webhook events a plan can produce; `deliver for "glob"` matches these.
NEUTRAL_EVENTS: Final = (
    "order.paid",
    "payment.authorized", "payment.captured", "payment.failed", "payment.pending",
    "refund.created", "refund.processed", "refund.failed",
    "dispute.created", "dispute.under_review", "dispute.won", "dispute.lost", "dispute.closed",
    "settlement.processed", "settlement.failed",
    "mandate.confirmed", "mandate.rejected", "mandate.cancelled", "mandate.paused",
)

#: Numbers of the run that checks can name: `payments`, `payments.captured`, `deliveries.rejected`.
METRICS: Final = frozenset(
    {f"{k}s" for k in KINDS}
    | {f"{k}s.{s}" for k in KINDS for s in STATES[k]}
    | {"messages", "messages.dropped", "messages.duplicated", "deliveries", "deliveries.accepted",
       "deliveries.rejected", "deliveries.failed", "deliveries.mismatched", "deliveries.retried"}
)

#: Fields of an entity that `where` filters and probe templates can use.
ENTITY_FIELDS: Final = ("amount", "currency", "method", "state", "ref", "id")

#: What a probe knows of the entity it selected, as the gateway knows it at the end of the run,
#: and the type of each: money as integer minor units, `delivered` whether any copy of the
#: event of its final state reached the merchant with a 2xx.
_COMMON_PROBE_FIELDS = {"id": "string", "ref": "string", "state": "string", "amount": "int", "currency": "string",
                        "method": "string", "reason": "string", "code": "string", "parent": "string",
                        "delivered": "bool"}
PROBE_FIELDS: Final = MappingProxyType({
    "order": {**_COMMON_PROBE_FIELDS, "amount_paid": "int", "payments": "int", "payment": "string"},
    "payment": {**_COMMON_PROBE_FIELDS, "order": "string", "amount_refunded": "int", "refunds": "int",
                "disputes": "int"},
    "refund": {**_COMMON_PROBE_FIELDS, "payment": "string", "order": "string"},
    "dispute": {**_COMMON_PROBE_FIELDS, "payment": "string", "order": "string"},
    "settlement": dict(_COMMON_PROBE_FIELDS),
    "mandate": dict(_COMMON_PROBE_FIELDS),
})

#: Sums over the plan that a probe sent `once` can compare with, per currency in minor units:
#: `gateway.captured.INR`; `gateway.totals` is all of them, `{"INR": {"captured": …, …}}`.
GATEWAY_TOTALS: Final = ("captured", "refunded", "disputed", "lost")

#: Most copies of one message a plan sends (`repeat`, `--webhook-repeat`): a gateway's duplicates
#: come in ones and twos, and a billion would run for days.
MAX_REPEAT: Final = 100

#: Most entities the `create`s of one plan may make, unless `CARBONC_MAX_ENTITIES` raises it for
#: a real need: `count 1_000_000_000_000` would fill memory before any error.
DEFAULT_MAX_ENTITIES: Final = 10_000_000
MAX_ENTITIES_VAR: Final = "CARBONC_MAX_ENTITIES"


def max_entities() -> int:
    """The limit on entities one plan creates: DEFAULT_MAX_ENTITIES, or the environment's."""
    import os

    raw = os.environ.get(MAX_ENTITIES_VAR, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**12 else DEFAULT_MAX_ENTITIES


#: Built-in functions: name -> (min args, max args).
FUNCTIONS: Final = MappingProxyType({
    "round": (1, 1), "floor": (1, 1), "ceil": (1, 1), "abs": (1, 1),
    "min": (2, 8), "max": (2, 8), "rate": (2, 2),
})


class DeliveryOverrides(msgspec.Struct, frozen=True, kw_only=True):
    """What `--webhook-order`, `--webhook-repeat` and `--webhook-signature` impose on every
    message, over the scenario's `deliver` blocks: an `order` of sending, a `repeat` count (1 to
    MAX_REPEAT) and a `signature` mode (one of SIGNATURE_MODES). None leaves the plan's own."""

    order: Literal["sequence", "reverse", "random"] | None = None
    repeat: int | None = None
    signature: str | None = None

    def __bool__(self) -> bool:
        return self != DeliveryOverrides()
