"""Stripe test mode: a plan's payments become payment intents confirmed with test payment methods
that produce the planned outcome (captured at once, authorised then captured, authorised only,
declined), and its processed refunds become refunds of them. Everything else stays simulated,
each with its reason (see docs/gateways.md)."""

from __future__ import annotations

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

#: The API version every request asks for: the one the Stripe dialect writes into its events.
API_VERSION = "2024-06-20"
#: Stripe's test payment methods: a card that succeeds, and one that is declined when charged
#: (its attach succeeds; a 402 `card_declined` on confirm is then the planned outcome).
CARD_OK, CARD_DECLINED = "pm_card_visa", "pm_card_chargeCustomerFail"

_SIMULATED = {
    "order": "stripe has no order object, and a Checkout Session completes only in a customer's browser",
    "dispute": "disputes are not created in the stripe sandbox yet (later: payments made with "
               "pm_card_createDispute)",
    "settlement": "stripe pays out on its own schedule; a payout is not created per payment",
    "mandate": "stripe mandates need a customer and a SetupIntent; not created yet",
}
_PAYMENT_SIMULATED = {
    "late": "a test card cannot fail or wait and then succeed: a payment captured after failing or pending "
            "is simulated",
    "pending": "a card payment cannot stay processing in stripe test mode",
    "timed_out": "a card payment cannot stay processing, then time out, in stripe test mode",
    "created": "a payment never attempted is not created",
}


def check_key(key: str, *, allow_live: bool) -> None:
    """ExecutionError unless `key` is a Stripe test secret key (or a live one with `allow_live`).
    The message names the flag, never the key."""
    if key.startswith(("sk_live_", "rk_live_")):
        if not allow_live:
            raise ExecutionError("--stripe-key is a live-mode key: carbonc creates real objects with it, so live keys "
                                 "are refused unless --allow-live is given (use an sk_test_ key)")
    elif not key.startswith(("sk_test_", "rk_test_")) or len(key) < 12:
        raise ExecutionError("--stripe-key (or STRIPE_API_KEY) is not a Stripe secret key: it should start with "
                             "sk_test_ (a publishable pk_ key cannot create payments)")


class StripeGateway(Adapter):
    """Creates a plan's facts in Stripe test mode (or an emulator at `credentials.api_base`)."""

    name: ClassVar[str] = "stripe"
    idempotency_header: ClassVar[str | None] = "Idempotency-Key"

    def __init__(self, credentials: Credentials, run_id: str):
        self.credentials, self.run_id = credentials, run_id

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials['key']}", "Stripe-Version": API_VERSION}

    def coverage(self, entity: Entity, parent: Outcome | None) -> Simulated | None:
        """Why `entity` stays simulated (None: it will be real), given its parent's outcome."""
        kind = entity.kind
        if kind in _SIMULATED:
            return Simulated(_SIMULATED[kind])
        if kind == "payment":
            outcome = payment_outcome(entity)
            reason = _PAYMENT_SIMULATED.get(outcome)
            return Simulated(reason) if reason else None
        if kind == "refund":
            if entity.state != "processed":
                return Simulated("stripe test mode fails or holds a refund only for a payment made with a "
                                 "refund-failing card; this refund stays simulated")
            return parent_outcome_reason(parent, kind)
        return Simulated(f"stripe has no {kind} the sandbox can create")

    async def make(self, entity: Entity, parent: Outcome | None, caller: Caller) -> Outcome:
        if entity.kind == "payment":
            return await self._payment(entity, caller)
        assert isinstance(parent, Created)
        return await self._refund(entity, parent, caller)

    async def _payment(self, p: Entity, caller: Caller) -> Outcome:
        outcome = payment_outcome(p)
        manual = outcome in ("captured_later", "authorized")
        data = {"amount": str(p.amount_minor), "currency": p.currency.lower(),
                "payment_method": CARD_DECLINED if outcome == "failed" else CARD_OK,
                "payment_method_types[0]": "card", "capture_method": "manual" if manual else "automatic",
                "metadata[carbonc_plan_id]": p.id, "metadata[order_id]": p.parent or ""}
        answer = await caller.call(p.id, "create", "POST", "/v1/payment_intents", data=data,
                                   idempotency_key=idempotency_key(self.run_id, p.id, "create"),
                                   created_id=_id_of("pi_"))
        intent = _id_of("pi_")(answer.body)
        if answer.status != 200 or intent is None:
            return Failed(f"creating the payment intent: {error_text(answer, self.credentials)}")
        answer = await caller.call(p.id, "confirm", "POST", f"/v1/payment_intents/{intent}/confirm",
                                   idempotency_key=idempotency_key(self.run_id, p.id, "confirm"))
        if outcome == "failed":
            error = answer.body.get("error") if isinstance(answer.body, dict) else None
            if answer.status == 402 and isinstance(error, dict) and error.get("code") == "card_declined":
                charge = error.get("charge")
                return Created({"id": intent, **({"charge": charge} if isinstance(charge, str) else {})})
            return Failed(f"the payment should have been declined, but confirming it answered "
                          f"{_status_text(answer.status, answer.body)}", intent)
        expected = "requires_capture" if manual else "succeeded"
        if answer.status != 200 or _field(answer.body, "status") != expected:
            return Failed(f"confirming the payment intent answered {_status_text(answer.status, answer.body)}, not "
                          f"`{expected}`", intent)
        if outcome == "captured_later":
            answer = await caller.call(p.id, "capture", "POST", f"/v1/payment_intents/{intent}/capture",
                                       idempotency_key=idempotency_key(self.run_id, p.id, "capture"))
            if answer.status != 200 or _field(answer.body, "status") != "succeeded":
                return Failed(f"capturing the payment intent answered {_status_text(answer.status, answer.body)}",
                              intent)
        charge = _charge_of(answer.body)
        return Created({"id": intent, **({"charge": charge} if charge else {})})

    async def _refund(self, r: Entity, payment: Created, caller: Caller) -> Outcome:
        data = {"payment_intent": payment.gateway_id, "amount": str(r.amount_minor),
                "metadata[carbonc_plan_id]": r.id}
        answer = await caller.call(r.id, "refund", "POST", "/v1/refunds", data=data,
                                   idempotency_key=idempotency_key(self.run_id, r.id, "refund"),
                                   created_id=_id_of("re_"))
        refund = _id_of("re_")(answer.body)
        if answer.status != 200 or refund is None:
            return Failed(f"creating the refund: {error_text(answer, self.credentials)}")
        if _field(answer.body, "status") not in ("succeeded", "pending"):
            return Failed(f"the refund's status is {_field(answer.body, 'status')!r}, not `succeeded`", refund)
        return Created({"id": refund})


def _id_of(prefix: str) -> Any:
    def found(body: Any) -> str | None:
        value = _field(body, "id")
        return value if isinstance(value, str) and value.startswith(prefix) else None
    return found


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def _charge_of(body: Any) -> str | None:
    charge = _field(body, "latest_charge")  # an ID, or the charge itself where it is expanded
    if isinstance(charge, dict):
        charge = charge.get("id")
    return charge if isinstance(charge, str) else None


def _status_text(status: int, body: Any) -> str:
    state = _field(body, "status")
    return f"HTTP {status}" + (f" with status `{state}`" if isinstance(state, str) else "")
