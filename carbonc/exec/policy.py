"""How each message is delivered at run time: the plan's delivery policy, completed by the
provider's defaults (retry ladder, timeout) and the run's flags, and how an answer is judged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from carbonc.errors import ExecutionError
from carbonc.plan.records import Policy

_M, _H = 60_000, 3_600_000

#: Each gateway's own retry ladder (waits before each retry, ms), as stdlib/gateways.carbon
#: gives them from PROVIDERS.md; a test keeps the two equal.
GATEWAY_LADDERS: Mapping[str, tuple[int, ...]] = {
    "razorpay": (5 * _M, 10 * _M, 20 * _M, 40 * _M, 80 * _M, 160 * _M, 320 * _M, 610 * _M),
    "stripe": (1 * _H, 2 * _H, 4 * _H, 8 * _H, 16 * _H, 24 * _H, 17 * _H),
    "cashfree": (2 * _M, 10 * _M, 30 * _M),
    "juspay": (60_000, 5 * _M, 5 * _M, 10 * _M, 10 * _M, 10 * _M, 10 * _M, 10 * _M,
               1 * _H, 1 * _H, 1 * _H, 1 * _H, 1 * _H, 6 * _H, 6 * _H, 6 * _H),
    "standard": (5_000, 5 * _M, 30 * _M, 2 * _H, 5 * _H, 10 * _H, 14 * _H, 20 * _H, 24 * _H),
}
GATEWAY_LADDERS = {**GATEWAY_LADDERS, "mock": GATEWAY_LADDERS["razorpay"]}

#: How long each gateway waits for an answer (Razorpay documents 5 s; the others publish none
#: we rely on, so 10 s).
GATEWAY_TIMEOUT_S: Mapping[str, float] = {"razorpay": 5.0, "mock": 5.0}
DEFAULT_TIMEOUT_S = 10.0


class Delivery(NamedTuple):
    """Run-time settings of one policy: retry waits (ms), the per-request timeout (s), and the
    answers that count as failure (status classes, `timeout`, `error`, or exact statuses)."""

    ladder: tuple[int, ...]
    timeout_s: float
    fail_classes: frozenset[str]
    fail_statuses: frozenset[int]

    def failed(self, outcome: str, status: int | None) -> bool:
        """Whether the gateway counts this answer as a failed delivery (and retries it)."""
        return outcome in self.fail_classes or (status is not None and status in self.fail_statuses)


def resolve(policy: Policy, provider: str, timeout_s: float | None) -> Delivery:
    """Complete `policy` for `provider`; `timeout_s` (the --timeout flag) wins over both."""
    if isinstance(policy.retry, tuple):
        ladder = policy.retry
    elif policy.retry == "gateway":
        ladder = GATEWAY_LADDERS[provider]
    elif policy.retry == "none":
        ladder = ()
    else:
        raise ExecutionError(f"the plan is inconsistent: delivery policy {policy.id} has retry "
                             f"`{policy.retry}` (not `gateway`, `none` or a list of waits)")
    if timeout_s is None:
        timeout_s = (policy.timeout_ms / 1000 if policy.timeout_ms
                     else GATEWAY_TIMEOUT_S.get(provider, DEFAULT_TIMEOUT_S))
    classes = frozenset(s for s in policy.fail_on if not s.isdigit())
    statuses = frozenset(int(s) for s in policy.fail_on if s.isdigit())
    return Delivery(ladder, timeout_s, classes, statuses)


def outcome_of(status: int | None, error: str | None) -> str:
    """The answer's class: `2xx` … `5xx` by status, else `timeout` or `error`."""
    if status is not None:
        return f"{status // 100}xx" if 100 <= status < 600 else "error"
    return "timeout" if error == "timeout" else "error"


def verdict_ok(expected: str, outcome: str) -> bool:
    """A correct handler accepts (2xx) what it should accept and rejects (4xx) what it should
    reject; anything else — a 5xx, a timeout, a redirect — matches neither."""
    return outcome == ("2xx" if expected == "accept" else "4xx")
