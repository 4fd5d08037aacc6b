"""Cashfree Payment Gateway's webhooks, versions 2023-08-01 and 2025-01-01:
`{"data":{…},"event_time":"…+05:30","type":"…"}` with `x-webhook-signature` =
Base64(HMAC-SHA256(secret, timestamp + raw body)), `x-webhook-timestamp` in epoch
milliseconds, `x-webhook-version` and `x-webhook-attempt`; 2025-01-01 adds `x-idempotency-key`.

Amounts are rupees written as decimals (`170.00`): the signature covers those exact bytes, so a
body re-encoded as `170` fails (`reserialized`). The SDK's verifier checks no timestamp tolerance
(`stale` and `future` do not apply); `ms_vs_s` sends the timestamp header in seconds while the
signature covers milliseconds.

Configurable, because the facts are uncertain [?]:
- the key is the PG client secret; the subscription docs call it a webhook secret. Every event
  is signed with the secret given, so pass the subscription webhook secret to test mandate events
  signed with one;
- `subscription_status_event`: the subscription status event's name, by default
  `SUBSCRIPTION_STATUS_CHANGE` in 2023-08-01 and `SUBSCRIPTION_STATUS_CHANGED` in 2025-01-01.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from carbonc.dialects._base import (
    BASE_MODES,
    Dialect,
    HmacKey,
    Keys,
    Stamp,
    b64,
    derived_bytes,
    flip_b64,
    header,
)
from carbonc.dialects._facts import Facts, digits, humanize, iso_ist, major, suffix
from carbonc.errors import ExecutionError

VERSIONS = ("2023-08-01", "2025-01-01")

UNSUPPORTED = {
    "order.paid": "cashfree reports a paid order as `PAYMENT_SUCCESS_WEBHOOK`, sent for `payment.captured`: "
                  "`order.paid` is not sent",
    "payment.authorized": "cashfree sends no webhook for an authorisation: `payment.authorized` is not sent",
    "payment.pending": "cashfree sends no webhook for a pending payment: `payment.pending` is not sent",
    "refund.created": "cashfree sends refund webhooks only for a refund's outcome: `refund.created` is not sent",
}

_NO_TOLERANCE = "cashfree's verifier checks no timestamp tolerance, so any timestamp verifies"

_METHOD = {
    "card": ("credit_card", {"card": {"channel": None, "card_number": "XXXXXXXXXXXX1111", "card_network": "visa",
                                      "card_type": "credit_card", "card_country": "IN",
                                      "card_bank_name": "HDFC BANK", "card_network_reference_id": None}}),
    "upi": ("upi", {"upi": {"channel": "collect", "upi_id": "testsuccess@gocash"}}),
    "netbanking": ("net_banking", {"netbanking": {"channel": None, "netbanking_bank_code": "3021",
                                                  "netbanking_bank_name": "HDFC Bank"}}),
    "wallet": ("wallet", {"app": {"channel": "link", "provider": "paytm", "phone": "9999999999"}}),
}
_DISPUTE_STATUS = {"created": "CHARGEBACK_CREATED", "under_review": "CHARGEBACK_UNDER_REVIEW",
                   "won": "CHARGEBACK_MERCHANT_WON", "lost": "CHARGEBACK_MERCHANT_LOST",
                   "closed": "CHARGEBACK_MERCHANT_ACCEPTED"}
_SUBSCRIPTION_STATUS = {"confirmed": "ACTIVE", "rejected": "INITIALIZED", "cancelled": "CANCELLED",
                        "paused": "ON_HOLD"}
_CUSTOMER = {"customer_name": None, "customer_id": "carbonc_customer", "customer_email": "test@example.com",
             "customer_phone": "9999999999"}

_ENCODE = msgspec.json.Encoder().encode


class Cashfree(Dialect):
    """Cashfree. `version` is the webhook version the merchant's dashboard is set to."""

    name = "cashfree"
    named_by = re.compile(r"cashfree|x-webhook-(signature|timestamp)")
    modes = BASE_MODES | {"old_secret", "reserialized", "ms_vs_s"}
    signs_time = True
    not_applicable = MappingProxyType({
        "stale": _NO_TOLERANCE, "future": _NO_TOLERANCE,
        "rotation": "cashfree sends one signature",
        "bad_basic_auth": "only juspay authenticates with HTTP Basic auth",
    })

    def __init__(self, *, version: str = "2025-01-01", subscription_status_event: str | None = None):
        if version not in VERSIONS:
            raise ExecutionError(f"cashfree webhook version `{version}` is not supported "
                                 f"(supported: {', '.join(VERSIONS)})")
        self.version = version
        status_event = subscription_status_event or (
            "SUBSCRIPTION_STATUS_CHANGE" if version == "2023-08-01" else "SUBSCRIPTION_STATUS_CHANGED")
        self.events = {
            "payment.captured": "PAYMENT_SUCCESS_WEBHOOK",
            "payment.failed": "PAYMENT_FAILED_WEBHOOK",
            "refund.processed": "REFUND_STATUS_WEBHOOK",
            "refund.failed": "REFUND_STATUS_WEBHOOK",
            "dispute.created": "DISPUTE_CREATED",
            "dispute.under_review": "DISPUTE_UPDATED",
            "dispute.won": "DISPUTE_CLOSED",
            "dispute.lost": "DISPUTE_CLOSED",
            "dispute.closed": "DISPUTE_CLOSED",
            "settlement.processed": "SETTLEMENT_SUCCESS",
            "settlement.failed": "SETTLEMENT_FAILED",
            "mandate.confirmed": "SUBSCRIPTION_AUTH_STATUS",
            "mandate.rejected": "SUBSCRIPTION_AUTH_STATUS",
            "mandate.cancelled": status_event,
            "mandate.paused": status_event,
        }
        self.unsupported = UNSUPPORTED
        super().__init__()

    def __repr__(self) -> str:
        return f"<dialect cashfree {self.version}>"

    def ref(self, kind: str, plan_id: str) -> str:
        # Cashfree numbers payments itself (`cf_payment_id`); orders, refunds and subscriptions
        # keep the merchant's IDs, which are the plan's.
        if kind == "payment":
            return str(_cf_payment_id(plan_id))
        if kind == "dispute":
            return str(digits(plan_id, 9, "dispute_id"))
        return plan_id

    def key(self, secret: str) -> HmacKey:
        return HmacKey(secret.encode())

    def derive_secret(self, secret: str, label: str) -> str:
        return "cfsk_ma_test_" + derived_bytes(secret, label).hex()[:40]

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        timestamp = str(stamp.now_ms)
        headers = {"content-type": "application/json"}
        if mode != "missing":
            key = {"wrong_secret": keys.wrong, "old_secret": keys.previous}.get(mode, keys.current)
            signature = b64(key.digest(timestamp.encode() + body))
            headers["x-webhook-signature"] = flip_b64(signature) if mode == "corrupted" else signature
        # Unit confusion: the header says seconds, the signature covered milliseconds.
        headers["x-webhook-timestamp"] = str(stamp.now_ms // 1000) if mode == "ms_vs_s" else timestamp
        headers["x-webhook-version"] = self.version
        headers["x-webhook-attempt"] = str(attempt)
        if self.version != "2023-08-01":
            # One key per event, the same on every retry and copy.
            headers["x-idempotency-key"] = b64(hashlib.sha256(f"cf-idem\x1f{stamp.event_id}".encode()).digest())
        return headers

    def signed_at_ms(self, headers: Mapping[str, str]) -> int | None:
        # Signed, but checked by no verifier of Cashfree's: a handler guards against replays itself.
        value = header(headers, "x-webhook-timestamp") or ""
        return int(value) if value.isdigit() else None

    def payload(self, f: Facts) -> bytes:
        kind = f.entity.kind
        data = {"payment": _payment, "refund": _refund, "dispute": _dispute, "settlement": _settlement,
                "mandate": _subscription}[kind](f)
        return _ENCODE({"data": data, "event_time": iso_ist(f.event_ms), "type": self.events[f.message.event]})


def _cf_payment_id(payment_id: str) -> int:
    return digits(payment_id, 10, "cf_payment_id")


def _order_id(f: Facts) -> str | None:
    # A real run gives Cashfree its own order ID (the plan's with the run's suffix): name that one.
    return f.real_id(f.order_id) or f.order_id


def _number(real: str | None) -> int | str | None:
    # Cashfree writes these IDs as numbers in a refund; a real one is kept as it came.
    return int(real) if real is not None and real.isdigit() else real


def _payment(f: Facts) -> dict[str, Any]:
    p = f.entity
    failed = f.state in ("failed", "timed_out")
    group, method = _METHOD.get(p.method or "card", _METHOD["card"])
    order_amount = f.order.amount_minor if f.order else p.amount_minor
    data: dict[str, Any] = {
        "order": {"order_id": _order_id(f), "order_amount": major(order_amount, p.currency),
                  "order_currency": p.currency, "order_tags": None},
        "payment": {
            "cf_payment_id": f.real_id(p.id) or str(_cf_payment_id(p.id)),
            "payment_status": "FAILED" if failed else "SUCCESS",
            "payment_amount": major(p.amount_minor, p.currency), "payment_currency": p.currency,
            "payment_message": humanize(f.reason) if failed else "00::Transaction success",
            "payment_time": iso_ist(f.created_ms(p)),
            "bank_reference": None if failed else str(digits(p.id, 12, "bank_ref")),
            "auth_id": None, "payment_method": method, "payment_group": group,
        },
        "customer_details": _CUSTOMER,
        "payment_gateway_details": {
            "gateway_name": "CASHFREE", "gateway_order_id": str(digits(p.id, 10, "gw_order")),
            "gateway_payment_id": str(digits(p.id, 10, "gw_payment")), "gateway_order_reference_id": None,
            "gateway_settlement": "CASHFREE", "gateway_status_code": None,
        },
        "payment_offers": None,
    }
    if failed:
        data["error_details"] = {
            "error_code": f.code or "TRANSACTION_DECLINED", "error_description": humanize(f.reason),
            "error_reason": f.reason or "payment_failed", "error_source": "customer" if f.state == "timed_out"
            else "bank", "error_code_raw": None, "error_description_raw": None, "error_subcode_raw": None,
        }
    return data


def _refund(f: Facts) -> dict[str, Any]:
    r = f.entity
    ok = f.state == "processed"
    return {"refund": {
        "cf_refund_id": _number(f.real_id(r.id, "cf_refund_id")) or digits(r.id, 8, "cf_refund_id"),
        "cf_payment_id": _number(f.real_id(r.parent)) or _cf_payment_id(r.parent or r.id),
        "refund_id": r.id, "order_id": _order_id(f), "refund_amount": major(r.amount_minor, r.currency),
        "refund_currency": r.currency, "entity": "Refund", "refund_type": "MERCHANT_INITIATED",
        "refund_arn": str(digits(r.id, 12, "arn")) if ok else None,
        "refund_status": "SUCCESS" if ok else "CANCELLED",
        "status_description": "Refund processed successfully" if ok else humanize(f.reason) or "Refund cancelled",
        "created_at": iso_ist(f.created_ms(r)), "processed_at": iso_ist(f.event_ms),
        "refund_charge": 0, "refund_note": None, "refund_splits": [], "metadata": None, "refund_mode": "STANDARD",
    }}


def _dispute(f: Facts) -> dict[str, Any]:
    d = f.entity
    created = f.created_ms(d)
    reason = d.attrs.get("reason", "fraudulent")
    payment_amount = f.payment.amount_minor if f.payment else d.amount_minor
    return {
        "dispute": {
            "dispute_id": str(digits(d.id, 9, "dispute_id")), "dispute_type": "CHARGEBACK",
            "reason_code": "4837", "reason_description": humanize(reason),
            "dispute_amount": major(d.amount_minor, d.currency), "created_at": iso_ist(created),
            "updated_at": iso_ist(f.event_ms), "respond_by": iso_ist(created + 7 * 86_400_000),
            "dispute_status": _DISPUTE_STATUS[f.state],
            "cf_dispute_remarks": humanize(_DISPUTE_STATUS[f.state].lower()),
            "dispute_action_on": "MERCHANT" if f.state == "created" else "CASHFREE",
        },
        "order_details": {
            "order_id": _order_id(f), "order_amount": major(payment_amount, d.currency), "order_currency": d.currency,
            "order_status": "PAID", "cf_payment_id": f.real_id(d.parent) or str(_cf_payment_id(d.parent or d.id)),
            "payment_amount": major(payment_amount, d.currency), "payment_currency": d.currency,
        },
        "customer_details": _CUSTOMER,
    }


def _settlement(f: Facts) -> dict[str, Any]:
    s = f.entity
    ok = f.state == "processed"
    amount = major(s.amount_minor, s.currency)
    return {"settlement": {
        "cf_settlement_id": digits(s.id, 8, "cf_settlement_id"), "settlement_currency": s.currency,
        "status": "SUCCESS" if ok else "FAILED", "utr": str(digits(s.id, 16, "utr")) if ok else None,
        "payment_amount": amount, "settlement_amount": amount, "amount_settled": amount if ok else major(0, s.currency),
        "adjustment": major(0, s.currency), "service_charge": major(0, s.currency),
        "service_tax": major(0, s.currency), "settlement_initiated_on": iso_ist(f.created_ms(s)),
        "settled_on": iso_ist(f.event_ms) if ok else None,
        "remarks": None if ok else humanize(f.reason) or "Settlement failed",
    }}


def _subscription(f: Facts) -> dict[str, Any]:
    m = f.entity
    details = {"cf_subscription_id": str(digits(m.id, 10, "cf_subscription_id")), "subscription_id": m.id,
               "subscription_status": _SUBSCRIPTION_STATUS[f.state]}
    if f.state in ("confirmed", "rejected"):
        ok = f.state == "confirmed"
        return {
            "subscription_details": details,
            "authorization_details": {
                "authorization_amount": major(100, m.currency), "authorization_amount_refund": True,
                "authorization_reference": suffix(m.id), "authorization_time": iso_ist(f.event_ms),
                "authorization_status": "ACTIVE" if ok else "FAILED",
                "payment_id": str(digits(m.id, 10, "auth_payment")), "payment_method": m.method or "upi",
                "failure_reason": None if ok else f.reason,
            },
            "customer_details": _CUSTOMER,
        }
    return {"subscription_details": details, "customer_details": _CUSTOMER}

