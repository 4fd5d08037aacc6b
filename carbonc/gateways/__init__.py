"""Makes a plan's facts real in a provider's test mode before its webhooks are sent: chooses the
gateway from the run's flags and environment (`choose`), says which facts will be real and which
stay simulated without calling anything (`coverage`), and creates them (`create_real`).

    >>> credentials = choose("stripe", "real", {"key": "sk_test_…"}, environ={}, api_base=None)
    >>> async with open_gateway(credentials, run_id, record=calls.append) as (gateway, caller):
    ...     await create_real(gateway, caller, entities_in_plan_order, on_outcome)

Stripe, Razorpay, Cashfree and Juspay are implemented; docs/gateways.md says what each makes real
and what stays simulated. See `_base` for retries, idempotency and credentials.
Nothing here imports trio or httpx until a real run starts: the command line reads `CREDENTIALS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NamedTuple

from carbonc.errors import ExecutionError
from carbonc.gateways._base import (
    Call,
    Caller,
    Created,
    Credentials,
    Failed,
    Gateway,
    Outcome,
    RetryPolicy,
    Simulated,
    check_api_base,
)

if TYPE_CHECKING:
    from carbonc.plan.records import Entity

__all__ = [
    "CREDENTIALS",
    "Call",
    "Caller",
    "CoverageLine",
    "Created",
    "CredentialFlag",
    "Credentials",
    "Failed",
    "Gateway",
    "Outcome",
    "RetryPolicy",
    "Simulated",
    "choose",
    "coverage",
    "create_real",
    "open_gateway",
]


class CredentialFlag(NamedTuple):
    """A credential: its flag, the older tool's environment variable, what it is, and its field."""

    flag: str
    env: str
    label: str
    field: str


#: Each provider's credentials, as the older tool named them; the command line derives its flags
#: from this table.
CREDENTIALS: Mapping[str, tuple[CredentialFlag, ...]] = {
    "razorpay": (CredentialFlag("--api-key", "RAZORPAY_API_KEY", "Razorpay API key id", "key_id"),
                 CredentialFlag("--api-secret", "RAZORPAY_API_SECRET", "Razorpay API key secret", "key_secret")),
    "stripe": (CredentialFlag("--stripe-key", "STRIPE_API_KEY", "Stripe secret key (sk_test_…)", "key"),),
    "cashfree": (CredentialFlag("--cashfree-id", "CASHFREE_CLIENT_ID", "Cashfree client id", "client_id"),
                 CredentialFlag("--cashfree-secret", "CASHFREE_CLIENT_SECRET", "Cashfree client secret",
                                "client_secret")),
    "juspay": (CredentialFlag("--juspay-key", "JUSPAY_API_KEY", "Juspay API key", "api_key"),
               CredentialFlag("--juspay-merchant-id", "JUSPAY_MERCHANT_ID", "Juspay merchant id", "merchant_id")),
}

def choose(provider: str, gateway: str | None, given: Mapping[str, str | None], *, environ: Mapping[str, str],
           api_base: str | None, allow_live: bool = False) -> tuple[Credentials | None, list[str]]:
    """The credentials of a real run (None: simulated) and notes to show, from `--gateway`
    (`simulated`, `real` or None), the credential flags `given` (by field), the environment and
    `--api-base`. A credential flag implies `real`; the environment supplies credentials only to
    a real run (a key kept in a shell must not make every run create objects). Raises
    ExecutionError, naming flags and variables and never a value, for a real run that cannot be."""
    flags = CREDENTIALS.get(provider, ())
    passed = [c for c in flags if given.get(c.field)]
    stray = sorted({c.flag for p, cs in CREDENTIALS.items() if p != provider for c in cs if given.get(c.field)})
    notes: list[str] = []
    if stray:
        raise ExecutionError(f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not for --provider {provider}"
                             f" (give the credentials of the provider whose gateway is used)")
    if gateway == "simulated" or (gateway is None and not passed):
        if passed:
            notes.append(f"{' and '.join(c.flag for c in passed)} not used: --gateway simulated")
        elif gateway is None and any(environ.get(c.env) for c in flags):
            set_ = " and ".join(c.env for c in flags if environ.get(c.env))
            notes.append(f"{set_} is set but not used: --provider {provider} alone runs the simulated gateway "
                         f"(give --gateway real to create real test-mode objects)")
        if allow_live:
            notes.append("--allow-live not used: the gateway is simulated")
        if api_base is not None:
            raise ExecutionError("--api-base points a real gateway at an API: give --gateway real (or the "
                                 "provider's credentials) with it")
        return None, notes
    if provider not in CREDENTIALS:
        raise ExecutionError(f"--provider {provider} has no real gateway: --gateway real needs razorpay, stripe, "
                             f"cashfree or juspay")
    values: dict[str, str] = {}
    for c in flags:
        value = given.get(c.field) or environ.get(c.env) or ""
        if not value.strip():
            raise ExecutionError(f"--gateway real with --provider {provider} needs {c.flag} (or {c.env}): the "
                                 f"{c.label}")
        values[c.field] = value.strip()
    base_var = f"CARBON_{provider.upper()}_API_BASE"
    base_flag = "--api-base" if api_base is not None else base_var
    base = api_base if api_base is not None else environ.get(base_var) or API_BASES[provider]
    credentials = Credentials(provider, values, check_api_base(base_flag, base), allow_live=allow_live)
    _check_live(credentials)
    return credentials, notes


#: Each provider's test-mode API, where a real run goes unless `--api-base` says otherwise.
API_BASES = {
    "stripe": "https://api.stripe.com",
    "razorpay": "https://api.razorpay.com",
    "cashfree": "https://sandbox.cashfree.com/pg",
    "juspay": "https://sandbox.juspay.in",
}


def _check_live(credentials: Credentials) -> None:
    if credentials.provider == "stripe":
        from carbonc.gateways.stripe import check_key

        check_key(credentials["key"], allow_live=credentials.allow_live)
    elif credentials.provider == "razorpay":
        from carbonc.gateways.razorpay import check_key as check_razorpay_key

        check_razorpay_key(credentials["key_id"], allow_live=credentials.allow_live)
    elif credentials.provider == "cashfree":
        from carbonc.gateways.cashfree import check_live_host as check_cashfree_host

        check_cashfree_host(credentials)
    elif credentials.provider == "juspay":
        from carbonc.gateways.juspay import check_live_host as check_juspay_host

        check_juspay_host(credentials)


def _adapter(credentials: Credentials, run_id: str) -> Gateway:
    if credentials.provider == "razorpay":
        from carbonc.gateways.razorpay import RazorpayGateway

        return RazorpayGateway(credentials, run_id)
    if credentials.provider == "cashfree":
        from carbonc.gateways.cashfree import CashfreeGateway

        return CashfreeGateway(credentials, run_id)
    if credentials.provider == "juspay":
        from carbonc.gateways.juspay import JuspayGateway

        return JuspayGateway(credentials, run_id)
    from carbonc.gateways.stripe import StripeGateway

    return StripeGateway(credentials, run_id)


class CoverageLine(NamedTuple):
    """`total` facts of `kind` in final `state` that will be `real` or not, and why not."""

    kind: str
    state: str
    real: bool
    reason: str | None
    total: int


def coverage(provider: str, entities: Iterable[Entity]) -> list[CoverageLine]:
    """Which of `entities` (in plan order) a real run with `provider` would create and which stay
    simulated, grouped; no credentials are needed and nothing is called. ExecutionError for a
    provider without a real gateway."""
    choose(provider, "real", {}, environ=_PLACEHOLDER_KEYS, api_base=None)  # the same refusals as a run
    gateway = _adapter(Credentials(provider, {}, API_BASES[provider]), "plan")
    outcomes: dict[str, Outcome] = {}
    counts: Counter[tuple[str, str, bool, str | None]] = Counter()
    for entity in entities:
        parent = outcomes.get(entity.parent) if entity.parent else None
        simulated = gateway.coverage(entity, parent)
        outcomes[entity.id] = simulated or Created({"id": "(planned)"})
        counts[(entity.kind, entity.state, simulated is None, simulated.reason if simulated else None)] += 1
    return [CoverageLine(*key, n) for key, n in counts.items()]


#: Stand-in credentials for `coverage`, which checks what a run would refuse without any key.
_PLACEHOLDER_KEYS = {
    "STRIPE_API_KEY": "sk_test_placeholder",
    "RAZORPAY_API_KEY": "rzp_test_placeholder", "RAZORPAY_API_SECRET": "placeholder",
    "CASHFREE_CLIENT_ID": "placeholder", "CASHFREE_CLIENT_SECRET": "placeholder",
    "JUSPAY_API_KEY": "placeholder", "JUSPAY_MERCHANT_ID": "placeholder",
}


@asynccontextmanager
async def open_gateway(credentials: Credentials, run_id: str, record: Callable[[Call], None],
                       policy: RetryPolicy | None = None) -> AsyncIterator[tuple[Gateway, Caller]]:
    """The run's gateway and its caller: one `httpx.AsyncClient` and one SSL context for the
    run, closed on leaving."""
    import ssl

    import httpx

    gateway = _adapter(credentials, run_id)
    policy = policy or RetryPolicy()
    limits = httpx.Limits(max_connections=policy.concurrency, max_keepalive_connections=policy.concurrency)
    # Deadlines are the caller's (trio's fail_after, per attempt); httpx's own are off.
    async with httpx.AsyncClient(base_url=credentials.api_base, headers=gateway.headers(), timeout=None,
                                 verify=ssl.create_default_context(), limits=limits,
                                 follow_redirects=False) as client:
        yield gateway, Caller(client, credentials, policy, record, gateway.idempotency_header)


async def create_real(gateway: Gateway, caller: Caller, entities: Iterable[Entity],
                      on_outcome: Callable[[Entity, Outcome], None]) -> None:
    """Create `entities` (in plan order: a parent before its children) at the gateway, trees
    concurrently, each entity once its parent's outcome is known; `on_outcome` hears each."""
    import trio

    outcomes: dict[str, Outcome] = {}
    done: dict[str, trio.Event] = {}

    async def one(entity: Entity, parent_done: trio.Event | None) -> None:
        if parent_done is not None:
            await parent_done.wait()
        parent = outcomes.get(entity.parent) if entity.parent else None
        outcome = await gateway.create(entity, parent, caller)
        # Only what a child needs is kept: a simulated or failed fact's children are simulated.
        outcomes[entity.id] = outcome
        on_outcome(entity, outcome)
        done[entity.id].set()

    # A task per fact in flight, not per fact of the plan: a task waiting for its parent holds a
    # slot, and its parent (earlier in the plan) already holds one or is done, so this never stalls.
    slots = trio.Semaphore(caller.policy.concurrency * 8)

    async def slotted(entity: Entity, parent_done: trio.Event | None) -> None:
        try:
            await one(entity, parent_done)
        finally:
            slots.release()

    async with trio.open_nursery() as nursery:
        for entity in entities:
            done[entity.id] = trio.Event()
            waiting = done.get(entity.parent) if entity.parent else None
            await slots.acquire()
            nursery.start_soon(slotted, entity, waiting)
