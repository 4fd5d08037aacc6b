"""Cashfree's sandbox: a plan's orders become Cashfree orders, its captured and failed payments
become UPI collect payments on them with the sandbox's test handles (which decide the outcome),
and its processed refunds become refunds of those orders. Everything else stays simulated, each
with its reason (see docs/gateways.md)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from carbonc.errors import ExecutionError
from carbonc.gateways._base import (
    Adapter,
    Caller,
    Created,
    Credentials,
    Failed,
    Outcome,
    Simulated,
    error_text,
    idempotency_key,
    parent_outcome_reason,
    payment_outcome,
)

if TYPE_CHECKING:
    from carbonc.plan.records import Entity

#: Production, where orders are paid with real money.
LIVE_HOST = "api.cashfree.com"
#: The API version every request asks for: the one the Cashfree dialect's webhooks default to
#: describing objects of.
API_VERSION = "2023-08-01"
#: The sandbox's test UPI handles: a collect request to the first succeeds, to the second fails.
UPI_OK, UPI_FAILS = "testsuccess@gocash", "testfailure@gocash"
#: A UPI collect payment is decided a few seconds after it is made: how often, and how long apart,
#: its status is asked for before it counts as not decided.
POLLS, POLL_INTERVAL_S = 10, 1.0

_SIMULATED = {
    "dispute": "cashfree's sandbox has no API that raises a dispute",
    "settlement": "cashfree settles on its own schedule; a settlement is not created per payment",
    "mandate": "cashfree subscriptions (UPI Autopay) are not created yet",
}
_PAYMENT_SIMULATED = {
    "captured_later": "cashfree's test UPI handles capture at once: a payment authorised and captured later "
                      "is simulated",
    "authorized": "cashfree's test UPI handles capture at once: a payment left authorised is simulated",
    "late": "a test UPI handle cannot fail or wait and then succeed: a payment captured after failing or pending "
            "is simulated",
    "pending": "a cashfree sandbox UPI payment does not stay pending",
    "timed_out": "a cashfree sandbox UPI payment does not stay pending, then time out",
    "created": "a payment never attempted is not created",
}
#: Payment statuses that are not yet an outcome.
_UNDECIDED = frozenset({"PENDING", "NOT_ATTEMPTED"})


def check_live_host(credentials: Credentials) -> None:
    """ExecutionError for an API base on Cashfree's production host unless live mode is allowed:
    carbonc creates real orders and payments there."""
    import httpx

    from carbonc.gateways import API_BASES

    if httpx.URL(credentials.api_base).host == LIVE_HOST and not credentials.allow_live:
        raise ExecutionError(f"the cashfree API base is production ({LIVE_HOST}): carbonc creates real orders and "
                             f"payments there, so it is refused unless --allow-live is given (the sandbox is "
                             f"{API_BASES['cashfree']})")


def order_id(plan_id: str, run_id: str) -> str:
    """The merchant's order ID a run gives Cashfree: the plan's, with the run's own suffix (Cashfree
    refuses an order ID it has seen, and the plan's IDs repeat from run to run); at most the
    45 characters Cashfree allows."""
    suffix = re.sub(r"[^A-Za-z0-9]", "", run_id)[-8:]
    return f"{plan_id}_{suffix}"[:45]


class CashfreeGateway(Adapter):
    """Creates a plan's facts in Cashfree's sandbox (or an emulator at `credentials.api_base`)."""

    name: ClassVar[str] = "cashfree"
    idempotency_header: ClassVar[str | None] = "x-idempotency-key"

    def __init__(self, credentials: Credentials, run_id: str):
        self.credentials, self.run_id = credentials, run_id

    def headers(self) -> dict[str, str]:
        return {"x-client-id": self.credentials["client_id"], "x-client-secret": self.credentials["client_secret"],
                "x-api-version": API_VERSION}

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None:
        """Why `entity` stays simulated (None: it will be real), given its parent's outcome."""
        kind = entity.kind
        if kind == "order":
            return None
        if kind in _SIMULATED:
            return Simulated(_SIMULATED[kind])
        if kind == "payment":
            reason = _PAYMENT_SIMULATED.get(payment_outcome(entity))
            return Simulated(reason) if reason else parent_outcome_reason(parent, kind)
        if kind == "refund":
            if entity.state != "processed":
                return Simulated("cashfree's sandbox processes every refund: a refund that fails or stays pending "
                                 "is simulated")
            return parent_outcome_reason(parent, kind)
        return Simulated(f"cashfree has no {kind} the sandbox can create")

    async def make(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        if entity.kind == "order":
            return await self._order(entity, caller)
        assert isinstance(parent, Created)
        if entity.kind == "payment":
            return await self._payment(entity, parent, caller)
        return await self._refund(entity, parent, caller)

    async def _order(self, o: Entity, caller: Caller) -> Outcome:
        oid = order_id(o.id, self.run_id)
        body = {"order_id": oid, "order_amount": _amount(o), "order_currency": o.currency,
                "customer_details": {"customer_id": "carbonc_customer", "customer_phone": "9999999999",
                                     "customer_email": "test@example.com"},
                "order_note": f"carbonc plan {o.id}", "order_tags": {"carbonc_plan_id": o.id}}
        answer = await caller.call(o.id, "create", "POST", "/orders", json=body,
                                   idempotency_key=idempotency_key(self.run_id, o.id, "create"),
                                   created_id=_text("order_id"))
        session, cf_order = _text("payment_session_id")(answer.body), _text("cf_order_id")(answer.body)
        if answer.status != 200 or _text("order_id")(answer.body) != oid or session is None:
            return Failed(f"creating the order: {error_text(answer, self.credentials)}")
        return Created({"id": oid, "session": session, **({"cf_order_id": cf_order} if cf_order else {})})

    async def _payment(self, p: Entity, order: Created, caller: Caller) -> Outcome:
        failed = payment_outcome(p) == "failed"
        oid = order.gateway_id
        body = {"payment_session_id": order.ids["session"],
                "payment_method": {"upi": {"channel": "collect", "upi_id": UPI_FAILS if failed else UPI_OK}}}
        answer = await caller.call(p.id, "pay", "POST", "/orders/sessions", json=body,
                                   idempotency_key=idempotency_key(self.run_id, p.id, "pay"),
                                   created_id=_text("cf_payment_id"))
        payment = _text("cf_payment_id")(answer.body)
        if answer.status != 200 or payment is None:
            return Failed(f"paying the order: {error_text(answer, self.credentials)}")
        status = await self._decided(p.id, f"/orders/{oid}/payments/{payment}", caller)
        expected = "FAILED" if failed else "SUCCESS"
        if status != expected:
            return Failed(f"the payment's status is {status!r}, not `{expected}`", payment)
        return Created({"id": payment, "order_id": oid})

    async def _decided(self, entity_id: str, path: str, caller: Caller) -> str | None:
        """The payment's status once the sandbox has decided it (or the last one seen)."""
        import trio

        status = None
        for poll in range(POLLS):
            answer = await caller.call(entity_id, "fetch", "GET", path)
            status = _text("payment_status")(answer.body) if answer.status == 200 else None
            if status not in _UNDECIDED:
                return status
            if poll + 1 < POLLS:
                await trio.sleep(POLL_INTERVAL_S)
        return status

    async def _refund(self, r: Entity, payment: Created, caller: Caller) -> Outcome:
        oid = payment.ids["order_id"]
        body = {"refund_amount": _amount(r), "refund_id": r.id, "refund_note": f"carbonc plan {r.id}"}
        answer = await caller.call(r.id, "refund", "POST", f"/orders/{oid}/refunds", json=body,
                                   idempotency_key=idempotency_key(self.run_id, r.id, "refund"),
                                   created_id=_text("cf_refund_id"))
        cf_refund = _text("cf_refund_id")(answer.body)
        if answer.status != 200 or cf_refund is None or _text("refund_id")(answer.body) != r.id:
            return Failed(f"creating the refund: {error_text(answer, self.credentials)}")
        status = _text("refund_status")(answer.body)
        if status not in ("PENDING", "SUCCESS"):
            return Failed(f"the refund's status is {status!r}, not `PENDING` or `SUCCESS`", r.id)
        return Created({"id": r.id, "cf_refund_id": cf_refund, "order_id": oid})


def _amount(entity: Entity) -> Decimal:
    """Rupees from paise, exactly (`170.00`): no float on the way. Cashfree's currencies all have
    two decimals."""
    return (Decimal(entity.amount_minor) / 100).quantize(Decimal("0.01"))


def _text(name: str) -> Any:
    """A reader of the answer's field `name` as text (Cashfree writes some IDs as numbers)."""
    def found(body: Any) -> str | None:
        value = body.get(name) if isinstance(body, dict) else None
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None
    return found

