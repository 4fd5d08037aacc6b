"""Razorpay test mode: a plan's orders become Razorpay orders (`POST /v1/orders`), whose IDs the
webhooks then carry. Payments stay simulated — Razorpay creates them only through Checkout in a
customer's browser — and so do their captures, refunds and everything else, each with its reason
(see docs/gateways.md)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from carbonc.errors import ExecutionError
from carbonc.gateways._base import (
    Adapter,
    Caller,
    CallFailed,
    Created,
    Credentials,
    Failed,
    GatewayAnswer,
    Outcome,
    Simulated,
    error_text,
)

if TYPE_CHECKING:
    from carbonc.plan.records import Entity

#: Razorpay refuses a longer `receipt`.
RECEIPT_MAX = 40

_PAYMENT = ("razorpay creates a payment only through Checkout in a customer's browser; the API cannot make a "
            "test payment on an order (S2S payments need a feature enabled on the account: later)")
_SIMULATED = {
    "payment": _PAYMENT,
    "refund": "its payment is simulated, so this refund is too (a razorpay refund needs a real payment)",
    "dispute": "disputes are raised by the card network; the razorpay API cannot create one",
    "settlement": "razorpay settles on its own schedule; a settlement is not created per payment",
    "mandate": "a razorpay token needs the customer's authentication in Checkout; not created",
}


def check_key(key_id: str, *, allow_live: bool) -> None:
    """ExecutionError unless `key_id` is a Razorpay test key id (or a live one with `allow_live`).
    The message names the flag, never the key."""
    if key_id.startswith("rzp_live_"):
        if not allow_live:
            raise ExecutionError("--api-key is a live-mode razorpay key: carbonc creates real objects with it, so "
                                 "live keys are refused unless --allow-live is given (use an rzp_test_ key)")
    elif not key_id.startswith("rzp_test_") or len(key_id) < 12:
        raise ExecutionError("--api-key (or RAZORPAY_API_KEY) is not a razorpay key id: it should start with "
                             "rzp_test_")


def receipt_of(run_id: str, entity_id: str) -> str:
    """The order's `receipt`: its plan ID and a digest of the run, so a retry finds the order this
    run created and another run of the same plan does not (at most `RECEIPT_MAX` characters)."""
    run = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    receipt = f"{entity_id}-{run}"
    return receipt if len(receipt) <= RECEIPT_MAX else hashlib.sha256(receipt.encode()).hexdigest()[:RECEIPT_MAX]


class RazorpayGateway(Adapter):
    """Creates a plan's orders in Razorpay test mode (or an emulator at `credentials.api_base`)."""

    name: ClassVar[str] = "razorpay"
    #: Razorpay's orders API takes no idempotency key: a retry first looks the order up by receipt.
    idempotency_header: ClassVar[str | None] = None

    def __init__(self, credentials: Credentials, run_id: str):
        self.credentials, self.run_id = credentials, run_id

    def headers(self) -> dict[str, str]:
        pair = f"{self.credentials['key_id']}:{self.credentials['key_secret']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None:
        """Why `entity` stays simulated (None: it will be real), given its parent's outcome."""
        if entity.kind == "order":
            return None
        return Simulated(_SIMULATED.get(entity.kind, f"razorpay has no {entity.kind} the sandbox can create"))

    async def make(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        return await self._order(entity, caller)

    async def _order(self, o: Entity, caller: Caller) -> Outcome:
        receipt = receipt_of(self.run_id, o.id)

        async def lookup() -> GatewayAnswer | None:
            # The orders this run made with this receipt: one if an unanswered attempt created it.
            answer = await caller.call(o.id, "lookup", "GET", "/v1/orders?" + urlencode({"receipt": receipt}),
                                       idempotency_key=receipt)
            items = _field(answer.body, "items")
            if answer.status != 200 or not isinstance(items, list):
                raise CallFailed(f"looking the order up by receipt before resending: "
                                 f"{error_text(answer, self.credentials)}")
            found = [i for i in items if _field(i, "receipt") == receipt and _order_id(i)]
            return GatewayAnswer(200, found[0]) if found else None

        body = {"amount": o.amount_minor, "currency": o.currency.upper(), "receipt": receipt,
                "notes": {"carbonc_plan_id": o.id, "carbonc_run_id": self.run_id}}
        answer = await caller.call(o.id, "create", "POST", "/v1/orders", json=body, idempotency_key=receipt,
                                   created_id=_order_id, recover=lookup)
        order = _order_id(answer.body)
        if answer.status != 200 or order is None:
            return Failed(f"creating the order: {error_text(answer, self.credentials)}")
        if _field(answer.body, "amount") != o.amount_minor or _field(answer.body, "receipt") != receipt:
            return Failed("the order razorpay answered with does not have the amount and receipt asked for", order)
        return Created({"id": order, "receipt": receipt})


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def _order_id(body: Any) -> str | None:
    value = _field(body, "id")
    return value if isinstance(value, str) and value.startswith("order_") else None
