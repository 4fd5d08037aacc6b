"""Stripe's webhooks: a pretty-printed `event` object, signed in `Stripe-Signature:
t=<unix s>,v1=<hex>` with HMAC-SHA256 over `f"{t}.{body}"`, keyed with the whole `whsec_…`
string. De-duplication is on the body's `id`.

Stripe's verifier rejects only timestamps older than its tolerance (`stale`); a timestamp from
the future passes (`future` is accepted). During a secret roll several `v1` values are sent and
any match passes (`rotation`). Each retry gets a new `t` and signature, so `t` is the send time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from carbonc.dialects._base import BASE_MODES, Dialect, HmacKey, Keys, Stamp, derived_bytes, flip_hex, header
from carbonc.dialects._facts import Facts, Lookup, chars, humanize, long_id

if TYPE_CHECKING:
    from carbonc.plan.records import Entity, Message

EVENTS = {
    "order.paid": "checkout.session.completed",
    "payment.authorized": "payment_intent.amount_capturable_updated",
    "payment.captured": "payment_intent.succeeded",
    "payment.failed": "payment_intent.payment_failed",
    "payment.pending": "payment_intent.processing",
    "refund.created": "refund.created",
    "refund.processed": "refund.updated",
    "refund.failed": "refund.failed",
    "dispute.created": "charge.dispute.created",
    "dispute.under_review": "charge.dispute.updated",
    "dispute.won": "charge.dispute.closed",
    "dispute.lost": "charge.dispute.closed",
    "dispute.closed": "charge.dispute.closed",
    "settlement.processed": "payout.paid",
    "settlement.failed": "payout.failed",
    "mandate.confirmed": "mandate.updated",
    "mandate.rejected": "mandate.updated",
    "mandate.cancelled": "mandate.updated",
}

UNSUPPORTED = {
    "mandate.paused": "stripe mandates cannot be paused: `mandate.paused` is not sent",
}

_PI_STATUS = {"authorized": "requires_capture", "captured": "succeeded", "failed": "requires_payment_method",
              "timed_out": "requires_payment_method", "pending": "processing"}
_REFUND_STATUS = {"created": "pending", "processed": "succeeded", "failed": "failed"}
# Stripe has no "closed without an outcome": accepting a dispute makes it `lost`.
_DISPUTE_STATUS = {"created": "needs_response", "under_review": "under_review", "won": "won", "lost": "lost",
                   "closed": "lost"}
_DISPUTE_REASONS = frozenset({
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details",
    "insufficient_funds", "product_not_received", "product_unacceptable", "subscription_canceled",
    "unrecognized"})
# `data.previous_attributes.status` of the events that report a change: the object's Stripe
# status in the neutral state it left.
_PREVIOUS_STATUS = {
    "refund.processed": {"created": "pending"},
    **{event: {"created": "needs_response", "under_review": "under_review"}
       for event in ("dispute.under_review", "dispute.won", "dispute.lost", "dispute.closed")},
    **{event: {"created": "pending", "confirmed": "active", "active": "active", "paused": "inactive"}
       for event in ("mandate.confirmed", "mandate.rejected", "mandate.cancelled")},
}

_ENCODE = msgspec.json.Encoder().encode
_FORMAT = msgspec.json.format


class Stripe(Dialect):
    """Stripe. `api_version` is the account's API version, written into every event."""

    name = "stripe"
    named_by = re.compile(r"stripe")
    modes = BASE_MODES | {"stale", "future", "old_secret", "rotation", "reserialized"}
    signs_time = True
    verdict_overrides = MappingProxyType({"future": "accept"})
    not_applicable = MappingProxyType({
        "ms_vs_s": "stripe's `t` is in seconds and its verifier accepts any future time, so a "
                   "timestamp in milliseconds still verifies: use `future`",
        "bad_basic_auth": "only juspay authenticates with HTTP Basic auth",
    })

    def __init__(self, *, api_version: str = "2024-06-20"):
        self.api_version = api_version
        self.events, self.unsupported = EVENTS, UNSUPPORTED
        super().__init__()

    def ref(self, kind: str, plan_id: str) -> str:
        # Orders are Checkout's `client_reference_id` / `metadata.order_id`: the plan's own ID.
        prefix = {"payment": "pi", "refund": "re", "dispute": "dp", "settlement": "po", "mandate": "mandate"}.get(kind)
        if kind == "payment":
            return _ids(plan_id)[0]
        return plan_id if prefix is None else f"{prefix}_{long_id(plan_id, 24, 'stripe')}"

    def skip_reason(self, message: Message, lookup: Lookup) -> str | None:
        if message.event == "payment.authorized":
            payment = lookup.get(message.entity)
            if payment is not None and not _captured_later(payment):
                return ("stripe captures automatically: a payment authorised and captured at once reports "
                        "only `payment_intent.succeeded`, so its `payment.authorized` is not sent")
        return super().skip_reason(message, lookup)

    def key(self, secret: str) -> HmacKey:
        return HmacKey(secret.encode())

    def derive_secret(self, secret: str, label: str) -> str:
        return "whsec_" + derived_bytes(secret, label).hex()[:32]

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
        if mode == "missing":
            return headers
        t = stamp.now_ms // 1000 + {"stale": -1, "future": 1}.get(mode, 0) * (self.skew_ms // 1000)
        signed = f"{t}.".encode() + body
        key = {"wrong_secret": keys.wrong, "old_secret": keys.previous}.get(mode, keys.current)
        v1 = key.digest(signed).hex()
        if mode == "corrupted":
            v1 = flip_hex(v1)
        if mode == "rotation":
            # The pre-rotation value first: a handler that checks only the first `v1` rejects this.
            v1 = keys.previous.digest(signed).hex() + ",v1=" + v1
        headers["Stripe-Signature"] = f"t={t},v1={v1}"
        return headers

    def signed_at_ms(self, headers: Mapping[str, str]) -> int | None:
        value = header(headers, "Stripe-Signature") or ""
        t = next((part[2:] for part in value.split(",") if part.startswith("t=")), "")
        return int(t) * 1000 if t.isdigit() else None

    def payload(self, f: Facts) -> bytes:
        event = f.message.event
        obj = _OBJECTS[f.entity.kind](f)
        data: dict[str, Any] = {"object": obj}
        previous = _PREVIOUS_STATUS.get(event, {}).get(f.previous or "")
        if previous is not None:
            data["previous_attributes"] = {"status": previous}
        api_triggered = event == "refund.created"  # refunds are created through the API
        body = {
            "id": f"evt_{long_id(f.message.id, 24, 'stripe')}",
            "object": "event",
            "api_version": self.api_version,
            "created": f.event_ms // 1000,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": f"req_{chars(f.entity.id, 14, 'req')}" if api_triggered else None,
                        "idempotency_key": _uuid(f.entity.id) if api_triggered else None},
            "type": EVENTS[event],
        }
        return _FORMAT(_ENCODE(body), indent=2)


def _ids(payment_id: str, f: Facts | None = None) -> tuple[str, str]:
    """The payment's intent and charge IDs: the real gateway's where it created them (`f` given),
    else derived (a charge created by a PaymentIntent shares its suffix)."""
    tail = long_id(payment_id, 24, "stripe")
    pi, ch = f"pi_{tail}", f"ch_{tail}"
    if f is not None:
        pi, ch = f.real_id(payment_id) or pi, f.real_id(payment_id, "charge") or ch
    return pi, ch


def _uuid(plan_id: str) -> str:
    h = chars(plan_id, 32, "uuid").lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _authorized_at(payment: Entity) -> int | None:
    return next((t.at_ms for t in payment.transitions if t.state == "authorized"), None)


def _captured_later(payment: Entity) -> bool:
    """Whether the payment was authorised and captured apart (manual capture), not at once."""
    authorized = _authorized_at(payment)
    captured = next((t.at_ms for t in payment.transitions if t.state == "captured"), None)
    return authorized is not None and captured != authorized


def _method_type(method: str | None) -> str:
    return method if method in ("card", "upi") else "card"


def _payment_intent(f: Facts) -> dict[str, Any]:
    p = f.entity
    pi, ch = _ids(p.id, f)
    status = _PI_STATUS[f.state]
    failed = f.state in ("failed", "timed_out")
    kind = _method_type(p.method)
    error = None
    if failed:
        error = {"code": "card_declined" if kind == "card" else "payment_method_provider_decline",
                 "decline_code": f.reason or "generic_decline", "message": humanize(f.reason) or "Payment failed",
                 "type": "card_error" if kind == "card" else "invalid_request_error"}
    return {
        "id": pi, "object": "payment_intent", "amount": p.amount_minor,
        "amount_capturable": p.amount_minor if status == "requires_capture" else 0,
        "amount_received": p.amount_minor if status == "succeeded" else 0,
        "capture_method": "manual" if _captured_later(p) else "automatic",
        "client_secret": f"{pi}_secret_{chars(p.id, 25, 'client_secret')}",
        "confirmation_method": "automatic", "created": f.created_ms(p) // 1000,
        "currency": p.currency.lower(), "customer": None, "description": None,
        "last_payment_error": error, "latest_charge": None if status == "processing" else ch,
        "livemode": False, "metadata": {"order_id": p.parent or ""},
        "payment_method": f"pm_{long_id(p.id, 24, 'pm')}", "payment_method_types": [kind], "status": status,
    }


def _checkout_session(f: Facts) -> dict[str, Any]:
    o = f.entity
    return {
        "id": f"cs_test_{chars(o.id, 58, 'checkout')}", "object": "checkout.session",
        "amount_subtotal": o.amount_minor, "amount_total": o.amount_minor, "client_reference_id": o.id,
        "created": f.created_ms(o) // 1000, "currency": o.currency.lower(), "customer": None,
        "livemode": False, "metadata": {"order_id": o.id}, "mode": "payment",
        "payment_intent": _ids(f.payment.id, f)[0] if f.payment else None,
        "payment_method_types": [_method_type(o.method)], "payment_status": "paid", "status": "complete",
        "url": None,
    }


def _refund(f: Facts) -> dict[str, Any]:
    r = f.entity
    pi, ch = _ids(r.parent or r.id, f)
    return {
        "id": f.real_id(r.id) or f"re_{long_id(r.id, 24, 'stripe')}", "object": "refund", "amount": r.amount_minor,
        "balance_transaction": f"txn_{long_id(r.id, 24, 'txn')}", "charge": ch,
        "created": f.created_ms(r) // 1000, "currency": r.currency.lower(),
        "failure_reason": "declined" if f.state == "failed" else None, "metadata": {}, "payment_intent": pi,
        "reason": "requested_by_customer", "receipt_number": None, "source_transfer_reversal": None,
        "status": _REFUND_STATUS[f.state], "transfer_reversal": None,
    }


def _dispute(f: Facts) -> dict[str, Any]:
    d = f.entity
    pi, ch = _ids(d.parent or d.id, f)
    created = f.created_ms(d) // 1000
    reason = d.attrs.get("reason", "general")
    return {
        "id": f"dp_{long_id(d.id, 24, 'stripe')}", "object": "dispute", "amount": d.amount_minor,
        "balance_transactions": [], "charge": ch, "created": created, "currency": d.currency.lower(),
        "evidence_details": {"due_by": created + 7 * 86_400, "has_evidence": False, "past_due": False,
                             "submission_count": 0},
        "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": pi,
        "reason": reason if reason in _DISPUTE_REASONS else "general", "status": _DISPUTE_STATUS[f.state],
    }


def _payout(f: Facts) -> dict[str, Any]:
    s = f.entity
    failed = f.state == "failed"
    return {
        "id": f"po_{long_id(s.id, 24, 'stripe')}", "object": "payout", "amount": s.amount_minor,
        "arrival_date": f.event_ms // 1000, "automatic": True,
        "balance_transaction": f"txn_{long_id(s.id, 24, 'txn')}", "created": f.created_ms(s) // 1000,
        "currency": s.currency.lower(), "description": "STRIPE PAYOUT",
        "destination": f"ba_{long_id(s.id, 24, 'bank')}",
        "failure_code": (f.reason or "account_closed") if failed else None,
        "failure_message": humanize(f.reason or "account_closed") if failed else None,
        "livemode": False, "metadata": {}, "method": "standard", "source_type": "card",
        "statement_descriptor": None, "status": "failed" if failed else "paid", "type": "bank_account",
    }


def _mandate(f: Facts) -> dict[str, Any]:
    m = f.entity
    kind = _method_type(m.method)
    return {
        "id": f"mandate_{long_id(m.id, 24, 'stripe')}", "object": "mandate",
        "customer_acceptance": {"accepted_at": f.created_ms(m) // 1000,
                                "online": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
                                "type": "online"},
        "livemode": False, "multi_use": {}, "payment_method": f"pm_{long_id(m.id, 24, 'pm')}",
        "payment_method_details": {kind: {}, "type": kind},
        "status": "active" if f.state == "confirmed" else "inactive", "type": "multi_use",
    }


_OBJECTS = {"order": _checkout_session, "payment": _payment_intent, "refund": _refund, "dispute": _dispute,
            "settlement": _payout, "mandate": _mandate}
