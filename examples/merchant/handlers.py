"""Turns verified Razorpay and Stripe events into changes to the merchant's books."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from examples.merchant.books import Books, Dispute, Payment, Refund

Event = dict[str, Any]
Handler = Callable[[Books, Event], None]


class MalformedEvent(ValueError):
    """A verified event that lacks what its type promises."""


def process(books: Books, provider: str, event_id: str | None, event: Event) -> str:
    """Apply one verified event in one transaction; the answer: `ok`, `duplicate` or `ignored`."""
    kind = event.get(EVENT_TYPE[provider])
    handler = HANDLERS[provider].get(kind) if isinstance(kind, str) else None
    if handler is None:
        return "ignored"  # gateways add event types; an unknown one is not an error
    with books.store.transaction():
        if books.idempotent and event_id and books.store.seen(provider, event_id):
            return "duplicate"
        try:
            handler(books, event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedEvent(f"{provider} event {event_id}: {type(exc).__name__}: {exc}") from exc
        if event_id:
            books.store.remember(provider, event_id)
    return "ok"


def _minor(value: Any) -> int:
    # Both gateways send integer minor units; anything else is a payload we do not understand.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"amount {value!r} is not integer minor units")
    return value


# Razorpay: `payload.<entity>.entity`; statuses come from the event's name.

def _rzp_payment(entity: dict[str, Any]) -> Payment:
    return Payment(entity["id"], entity.get("order_id"), _minor(entity["amount"]), entity["currency"].upper(),
                   entity.get("error_reason"))


def _rzp_payment_copy(books: Books, event: Event) -> None:
    """Order, refund and dispute events carry the payment as it is now (a refunded payment was
    captured): a merchant that missed the payment's own events learns it from them."""
    wrapper = event["payload"].get("payment")
    if wrapper is not None:
        entity = wrapper["entity"]
        status = "captured" if entity["status"] == "refunded" else entity["status"]
        if status in ("pending", "authorized", "failed", "captured"):
            books.payment(_rzp_payment(entity), status)


def _rzp_payment_event(status: str) -> Handler:
    def handle(books: Books, event: Event) -> None:
        books.payment(_rzp_payment(event["payload"]["payment"]["entity"]), status,
                      capture_event=status == "captured")
    return handle


def _rzp_order_paid(books: Books, event: Event) -> None:
    order = event["payload"]["order"]["entity"]
    books.order_paid(order["id"], _minor(order["amount"]), order["currency"].upper())
    _rzp_payment_copy(books, event)


def _rzp_refund(status: str) -> Handler:
    def handle(books: Books, event: Event) -> None:
        _rzp_payment_copy(books, event)
        r = event["payload"]["refund"]["entity"]
        books.refund(Refund(r["id"], r["payment_id"], _minor(r["amount"]), r["currency"].upper()), status)
    return handle


def _rzp_dispute(status: str) -> Handler:
    def handle(books: Books, event: Event) -> None:
        _rzp_payment_copy(books, event)
        d = event["payload"]["dispute"]["entity"]
        books.dispute(Dispute(d["id"], d["payment_id"], _minor(d["amount"]), d["currency"].upper()), status)
    return handle


def _rzp_token(books: Books, event: Event) -> None:
    token = event["payload"]["token"]["entity"]
    details = token.get("recurring_details") or {}
    status = details.get("status") or event["event"].removeprefix("token.")
    books.mandate(token["id"], status, details.get("failure_reason"))


RAZORPAY: dict[str, Handler] = {
    "payment.authorized": _rzp_payment_event("authorized"),
    "payment.captured": _rzp_payment_event("captured"),
    "payment.failed": _rzp_payment_event("failed"),
    "order.paid": _rzp_order_paid,
    "refund.created": _rzp_refund("created"),
    "refund.processed": _rzp_refund("processed"),
    "refund.failed": _rzp_refund("failed"),
    "payment.dispute.created": _rzp_dispute("open"),
    "payment.dispute.action_required": _rzp_dispute("open"),
    "payment.dispute.under_review": _rzp_dispute("under_review"),
    "payment.dispute.won": _rzp_dispute("won"),
    "payment.dispute.lost": _rzp_dispute("lost"),
    "payment.dispute.closed": _rzp_dispute("closed"),
    **dict.fromkeys(("token.confirmed", "token.rejected", "token.cancelled", "token.paused"), _rzp_token),
    # `settlement.processed` is left out: settlements are reconciled from reports, not webhooks.
}


# Stripe: `data.object`; statuses come from the object, which is a snapshot at the event's time.

_STRIPE_REFUND = {"pending": "created", "requires_action": "created", "succeeded": "processed",
                  "failed": "failed", "canceled": "failed"}
_STRIPE_DISPUTE = {"warning_needs_response": "open", "needs_response": "open",
                   "warning_under_review": "under_review", "under_review": "under_review",
                   "won": "won", "lost": "lost", "warning_closed": "closed", "charge_refunded": "closed",
                   "prevented": "closed"}


def _stripe_object(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


def _stripe_intent(status: str) -> Handler:
    def handle(books: Books, event: Event) -> None:
        pi = _stripe_object(event)
        error = pi.get("last_payment_error") or {}
        payment = Payment(pi["id"], (pi.get("metadata") or {}).get("order_id") or None, _minor(pi["amount"]),
                          pi["currency"].upper(), error.get("decline_code") or error.get("code"))
        books.payment(payment, status, capture_event=status == "captured")
    return handle


def _stripe_checkout_completed(books: Books, event: Event) -> None:
    session = _stripe_object(event)
    order_id = (session.get("metadata") or {}).get("order_id") or session["client_reference_id"]
    amount, currency = _minor(session["amount_total"]), session["currency"].upper()
    if session.get("payment_status") != "paid":
        books.order(order_id, amount, currency)  # a delayed method (a bank debit): paid later
        return
    books.order_paid(order_id, amount, currency)
    if session.get("payment_intent"):
        books.payment(Payment(session["payment_intent"], order_id, amount, currency), "captured")


def _stripe_refund(books: Books, event: Event) -> None:
    r = _stripe_object(event)
    payment_id = r.get("payment_intent") or r["charge"]
    books.refund(Refund(r["id"], payment_id, _minor(r["amount"]), r["currency"].upper()),
                 _STRIPE_REFUND.get(r["status"], "created"))


def _stripe_dispute(books: Books, event: Event) -> None:
    d = _stripe_object(event)
    payment_id = d.get("payment_intent") or d["charge"]
    books.dispute(Dispute(d["id"], payment_id, _minor(d["amount"]), d["currency"].upper()),
                  _STRIPE_DISPUTE.get(d["status"], "open"))


def _stripe_mandate(books: Books, event: Event) -> None:
    mandate = _stripe_object(event)
    if mandate["status"] == "active":
        books.mandate(mandate["id"], "confirmed")
    elif mandate["status"] == "inactive":
        # Stripe says only "inactive": one that was never active was rejected, one that was is revoked.
        previous = (event["data"].get("previous_attributes") or {}).get("status")
        if previous is None:
            previous = "active" if books.mandate_status(mandate["id"]) in ("confirmed", "paused") else "pending"
        books.mandate(mandate["id"], "cancelled" if previous == "active" else "rejected")
    else:
        books.mandate(mandate["id"], "pending")


STRIPE: dict[str, Handler] = {
    "payment_intent.processing": _stripe_intent("pending"),
    "payment_intent.amount_capturable_updated": _stripe_intent("authorized"),
    "payment_intent.succeeded": _stripe_intent("captured"),
    "payment_intent.payment_failed": _stripe_intent("failed"),
    "checkout.session.completed": _stripe_checkout_completed,
    "checkout.session.async_payment_succeeded": _stripe_checkout_completed,
    "refund.created": _stripe_refund,
    "refund.updated": _stripe_refund,
    "refund.failed": _stripe_refund,
    "charge.dispute.created": _stripe_dispute,
    "charge.dispute.updated": _stripe_dispute,
    "charge.dispute.closed": _stripe_dispute,
    "mandate.updated": _stripe_mandate,
    # `payout.*` is left out: payouts are reconciled from reports, not webhooks.
}

HANDLERS = {"razorpay": RAZORPAY, "stripe": STRIPE}
EVENT_TYPE = {"razorpay": "event", "stripe": "type"}
