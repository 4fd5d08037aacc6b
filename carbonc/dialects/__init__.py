"""Renders a plan's provider-neutral messages as the exact webhook requests a provider sends —
event names, envelopes, IDs, amounts, timestamps and signatures — with no I/O.

    >>> dialect = get_dialect("stripe")
    >>> request = build_request(dialect, message, EntityIndex(entities), secrets=Secrets("whsec_…"),
    ...                  now_ms=1_700_000_000_000)
    >>> request.method, request.headers["Stripe-Signature"][:13]
    ('POST', 't=1700000000,')

Providers: `razorpay`, `stripe`, `cashfree` (webhook versions 2023-08-01 and 2025-01-01),
`juspay`, `standard` (Standard Webhooks); `mock`, the simulated gateway, speaks Razorpay.
The dialect is always the one the provider name chooses, never a substitute. Before a run,
`check_modes` says which signature modes the provider cannot produce (an input error) and
`unsupported_events` which events it would not send (a warning).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from carbonc.dialects._base import Dialect, Request, Secrets, mode_error
from carbonc.dialects._facts import EntityIndex, IndexedLookup, Lookup
from carbonc.domain.vocabulary import PROVIDERS, SIGNATURE_MODES
from carbonc.errors import ExecutionError

if TYPE_CHECKING:
    from carbonc.plan.records import Message

__all__ = [
    "PROVIDERS",
    "Dialect",
    "EntityIndex",
    "IndexedLookup",
    "Lookup",
    "Request",
    "Secrets",
    "build_request",
    "check_modes",
    "expected_verdict",
    "get_dialect",
    "provider_named_in",
    "unsupported_events",
]

def provider_named_in(text: str) -> str | None:
    """The provider whose own words `text` (a handler's answer) uses — its name, or its
    signature headers (`X-Razorpay-Signature`, `x-webhook-signature`, `webhook-id`) — or None."""
    lowered = text.lower()
    for dialect in _classes().values():
        if dialect.named_by.search(lowered):
            return dialect.name
    return None


def get_dialect(provider: str, **options: Any) -> Dialect:
    """The dialect `provider` speaks, configured by `options` (each dialect's docstring lists its
    own: `version` for cashfree, `upi_timeout` for razorpay, …). Raises ExecutionError for an
    unknown provider or option."""
    dialect = PROVIDERS.get(provider)
    if dialect is None:
        raise ExecutionError(_unknown_provider(provider))
    cls = _classes()[dialect]
    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - known)
    if unknown:
        accepted = ", ".join(f"`{k}`" for k in sorted(known)) or "none"
        raise ExecutionError(f"unknown option `{unknown[0]}` for the `{provider}` dialect (options: {accepted})")
    return cls(**options)


def build_request(dialect: Dialect, message: Message, entities: Lookup, *, secrets: Secrets, now_ms: int,
           attempt: int = 1, origin_ms: int | None = None) -> Request:
    """Render `message` as `dialect`'s request `(method, headers, body)`, signed in its
    `signature` mode with `secrets`.

    `now_ms` is the send time (epoch ms): signature timestamps are taken from it. `origin_ms` is
    the epoch time of the plan's virtual time 0, from which entity and event times in the body
    are taken; by default the message is taken to be sent on schedule (`now_ms -
    message.send_ms`), so pass the run's `origin_ms` for retries, whose body must not change.
    `attempt` counts deliveries of this message, from 1. IDs are derived from the plan's, so
    the same message renders the same bytes for the same clock, and copies of an event share
    its IDs.

    Raises ExecutionError for an event the provider does not send (see `unsupported_events`), a
    signature mode it cannot produce (see `check_modes`), an entity missing from `entities`, or a
    malformed secret. No error message contains a secret.
    """
    return dialect.request(message, entities, secrets=secrets, now_ms=now_ms, attempt=attempt, origin_ms=origin_ms)


def check_modes(provider: str, modes: Iterable[str], **options: Any) -> list[str]:
    """Error messages for each of `modes` that `provider` cannot produce (empty: all apply).
    An unknown provider is one error."""
    if provider not in PROVIDERS:
        return [_unknown_provider(provider)]
    dialect = get_dialect(provider, **options)
    return [mode_error(dialect, m) for m in dict.fromkeys(modes) if m not in dialect.modes]


def unsupported_events(provider: str, **options: Any) -> dict[str, str]:
    """Neutral events `provider` sends no webhook for, each with the warning to show; a plan's
    messages for them are not sent."""
    return dict(get_dialect(provider, **options).unsupported)


def expected_verdict(provider: str, mode: str) -> str:
    """The handler answer (`accept` or `reject`) a message signed in `mode` should get when sent
    as `provider` sends it, where the plan does not say."""
    if mode not in SIGNATURE_MODES:
        raise ExecutionError(f"unknown signature mode `{mode}`")
    return get_dialect(provider).verdict(mode)


def _unknown_provider(provider: str) -> str:
    import difflib  # only on this error path

    close = difflib.get_close_matches(provider, list(PROVIDERS), n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown provider `{provider}` (known: {', '.join(PROVIDERS)}){hint}"


def _classes() -> dict[str, type[Dialect]]:
    from carbonc.dialects.cashfree import Cashfree
    from carbonc.dialects.juspay import Juspay
    from carbonc.dialects.razorpay import Razorpay
    from carbonc.dialects.standard import Standard
    from carbonc.dialects.stripe import Stripe

    return {"razorpay": Razorpay, "stripe": Stripe, "cashfree": Cashfree, "juspay": Juspay, "standard": Standard}
