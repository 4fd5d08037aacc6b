"""Juspay's sandbox (Express Checkout): a plan's orders become Juspay orders, its captured and
failed UPI payments become transactions on them whose test handle decides the outcome, and its
processed refunds become refunds of those orders. Everything else stays simulated, each with its
reason (see docs/gateways.md)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from carbonc.errors import ExecutionError
from carbonc.gateways._base import (
    Adapter,
    Caller,
    Created,
    Credentials,
    Failed,
    GatewayAnswer,
    Outcome,
    Simulated,
    parent_outcome_reason,
    payment_outcome,
)

if TYPE_CHECKING:
    from carbonc.plan.records import Entity

#: Juspay's production hosts: an API base on one of them creates real orders and moves real money.
LIVE_HOSTS = frozenset({"api.juspay.in", "api-ns1.juspay.in"})
#: The API version the order status API is asked for (its `version` header).
API_VERSION = "2023-06-30"
#: The sandbox dummy gateway's UPI handles: a collect request to the first is charged, to the
#: second declined.
UPI_OK, UPI_DECLINED = "success@upi", "failure@upi"
#: Order statuses a declined transaction leaves, as the order status API reports them.
_DECLINED = frozenset({"AUTHORIZATION_FAILED", "AUTHENTICATION_FAILED", "JUSPAY_DECLINED"})

_SIMULATED = {
    "dispute": "juspay has no API that raises a dispute in its sandbox",
    "settlement": "juspay settles on its own schedule; a settlement is not created per payment",
    "mandate": "juspay mandates need a customer's authorisation of the mandate; not created yet",
}
_PAYMENT_SIMULATED = {
    "captured_later": "the sandbox's UPI collect is charged at once: a payment authorised, then captured "
                      "later, is simulated",
    "authorized": "the sandbox's UPI collect is charged at once: a payment authorised and never captured "
                  "is simulated",
    "late": "a test handle cannot fail or wait and then succeed: a payment captured after failing or pending "
            "is simulated",
    "pending": "the sandbox's test handles decide a transaction at once; it cannot stay pending",
    "timed_out": "the sandbox's test handles decide a transaction at once; it cannot time out",
    "created": "a payment never attempted is not created",
}


def check_live_host(credentials: Credentials) -> None:
    """ExecutionError for an API base on Juspay's production host unless live mode is allowed.
    Juspay's keys carry no test/live mark: the host is what says which mode a run is in."""
    import httpx

    from carbonc.gateways import API_BASES

    host = httpx.URL(credentials.api_base).host
    if host in LIVE_HOSTS and not credentials.allow_live:
        raise ExecutionError(f"the juspay API base {host} is juspay's production host: carbonc creates real "
                             f"orders there, so it is refused unless --allow-live is given (the sandbox is "
                             f"{API_BASES['juspay']})")


def juspay_order_id(plan_id: str, run_id: str) -> str:
    """The merchant `order_id` of a plan's order in one run: the plan ID's own characters and six
    from the run, 20 in all (Juspay takes fewer than 21). Fixed within a run, so a retry finds
    the order it created; different between runs, since Juspay never creates an order_id twice."""
    run_tag = hashlib.blake2b(run_id.encode(), digest_size=8).hexdigest()[:6]
    return plan_id.rpartition("_")[2][:14] + run_tag


class JuspayGateway(Adapter):
    """Creates a plan's facts in Juspay's sandbox (or an emulator at `credentials.api_base`)."""

    name: ClassVar[str] = "juspay"
    #: Juspay has no idempotency header: the merchant's `order_id` and refund `unique_request_id`
    #: are looked up before any retry instead.
    idempotency_header: ClassVar[str | None] = None

    def __init__(self, credentials: Credentials, run_id: str):
        self.credentials, self.run_id = credentials, run_id

    def headers(self) -> dict[str, str]:
        # Basic auth with the API key as the user and an empty password, as Juspay's reference shows.
        token = base64.b64encode(f"{self.credentials['api_key']}:".encode()).decode()
        return {"Authorization": f"Basic {token}", "x-merchantid": self.credentials["merchant_id"],
                "version": API_VERSION}

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None:
        """Why `entity` stays simulated (None: it will be real), given its parent's outcome."""
        kind = entity.kind
        if kind in _SIMULATED:
            return Simulated(_SIMULATED[kind])
        if kind == "order":
            return None
        if kind == "payment":
            reason = _PAYMENT_SIMULATED.get(payment_outcome(entity))
            return Simulated(reason) if reason else parent_outcome_reason(parent, kind)
        if kind == "refund":
            if entity.state != "processed":
                return Simulated("the juspay sandbox decides a refund's outcome itself; a refund that fails or "
                                 "stays pending is simulated")
            return parent_outcome_reason(parent, kind)
        return Simulated(f"juspay has no {kind} the sandbox can create")

    async def make(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        if entity.kind == "order":
            return await self._order(entity, caller)
        assert isinstance(parent, Created)
        if entity.kind == "payment":
            return await self._payment(entity, parent, caller)
        return await self._refund(entity, parent, caller)

    async def _status(self, entity_id: str, order_id: str, caller: Caller) -> GatewayAnswer:
        return await caller.call(entity_id, "status", "GET", f"/orders/{order_id}")

    async def _order(self, o: Entity, caller: Caller) -> Outcome:
        order_id = juspay_order_id(o.id, self.run_id)

        async def existing() -> GatewayAnswer | None:
            answer = await self._status(o.id, order_id, caller)
            return answer if answer.status == 200 and _field(answer.body, "order_id") == order_id else None

        data = {"order_id": order_id, "amount": _rupees(o.amount_minor), "currency": o.currency,
                "customer_id": "carbonc_customer", "customer_email": "test@example.com",
                "customer_phone": "9999999999", "description": f"carbonc plan {o.id}"}
        answer = await caller.call(o.id, "create", "POST", "/orders", data=data, created_id=_juspay_id,
                                   recover=existing)
        if answer.status != 200:
            # A create whose first answer was lost may be refused as a duplicate: the order exists.
            answer = await existing() or answer
        juspay_id = _juspay_id(answer.body)
        if answer.status != 200 or juspay_id is None:
            return Failed(f"creating the order: {_error(answer, self.credentials)}")
        return Created({"id": juspay_id, "order_id": order_id})

    async def _payment(self, p: Entity, order: Created, caller: Caller) -> Outcome:
        order_id = order.ids["order_id"]
        failed = payment_outcome(p) == "failed"

        async def existing() -> GatewayAnswer | None:
            answer = await self._status(p.id, order_id, caller)
            return answer if answer.status == 200 and _field(answer.body, "txn_uuid") else None

        data = {"order_id": order_id, "merchant_id": self.credentials["merchant_id"],
                "payment_method_type": "UPI", "payment_method": "UPI", "txn_type": "UPI_COLLECT",
                "upi_vpa": UPI_DECLINED if failed else UPI_OK, "redirect_after_payment": "true", "format": "json"}
        answer = await caller.call(p.id, "create", "POST", "/txns", data=data, created_id=_txn_uuid,
                                   recover=existing)
        txn_uuid, txn_id = _txn_uuid(answer.body), _field(answer.body, "txn_id")
        if answer.status != 200 or txn_uuid is None or not isinstance(txn_id, str):
            return Failed(f"creating the transaction: {_error(answer, self.credentials)}")
        answer = await self._status(p.id, order_id, caller)
        status = _field(answer.body, "status")
        if answer.status != 200 or (status not in _DECLINED if failed else status != "CHARGED"):
            wanted = "declined" if failed else "`CHARGED`"
            return Failed(f"the order's status after its transaction is {_status_text(answer)}, not {wanted}",
                          txn_uuid)
        return Created({"id": txn_uuid, "txn_id": txn_id, "order_id": order_id})

    async def _refund(self, r: Entity, payment: Created, caller: Caller) -> Outcome:
        order_id = payment.ids["order_id"]

        async def existing() -> GatewayAnswer | None:
            answer = await self._status(r.id, order_id, caller)
            return answer if answer.status == 200 and _refund_of(answer.body, r.id) is not None else None

        data = {"unique_request_id": r.id, "amount": _rupees(r.amount_minor)}
        answer = await caller.call(r.id, "refund", "POST", f"/orders/{order_id}/refunds", data=data,
                                   created_id=lambda body: _refund_id(_refund_of(body, r.id)), recover=existing)
        refund = _refund_of(answer.body, r.id)
        if answer.status != 200 or refund is None:
            return Failed(f"creating the refund: {_error(answer, self.credentials)}")
        if refund.get("status") not in ("PENDING", "SUCCESS"):
            return Failed(f"the refund's status is {refund.get('status')!r}, not `PENDING` or `SUCCESS`")
        return Created({"id": _refund_id(refund) or r.id, "unique_request_id": r.id})


def _rupees(amount_minor: int) -> str:
    """Juspay's amounts are rupees as text with two decimals: 12345 paise is `123.45`."""
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def _juspay_id(body: Any) -> str | None:
    value = _field(body, "id")
    return value if isinstance(value, str) and value else None


def _txn_uuid(body: Any) -> str | None:
    value = _field(body, "txn_uuid")
    return value if isinstance(value, str) and value else None


def _refund_of(body: Any, unique_request_id: str) -> dict[str, Any] | None:
    refunds = _field(body, "refunds")
    if not isinstance(refunds, list):
        return None
    return next((r for r in refunds if isinstance(r, dict) and r.get("unique_request_id") == unique_request_id),
                None)


def _refund_id(refund: dict[str, Any] | None) -> str | None:
    value = refund.get("id") if refund else None
    return value if isinstance(value, str) and value else None


def _error(answer: GatewayAnswer, credentials: Credentials) -> str:
    """`HTTP 400: Juspay's error_message`, redacted and bounded."""
    message = _field(answer.body, "error_message") or _field(answer.body, "message")
    return f"HTTP {answer.status}" + (f": {credentials.redact(str(message))[:300]}" if message else "")


def _status_text(answer: GatewayAnswer) -> str:
    status = _field(answer.body, "status")
    return f"HTTP {answer.status}" + (f" with status `{status}`" if isinstance(status, str) else "")
