"""Razorpay's webhooks: `{"entity":"event",…,"payload":{…}}` signed with a hex HMAC-SHA256 of
the raw body in `X-Razorpay-Signature`, the event's ID in `x-razorpay-event-id`.

No timestamp is signed or sent, so there is no replay window (`stale`, `future` and `ms_vs_s`
do not apply), and one signature is sent (no `rotation`); retries of events created before a
secret change stay signed with the old secret (`old_secret`, on purpose).

Configurable, because the facts are uncertain [?]: `upi_timeout` — whether a UPI payment that
times out reports `payment.failed` (`"failed"`, the default) or nothing at all (`"silent"`, so
only reconciliation can notice).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from carbonc.dialects._base import BASE_MODES, Dialect, HmacKey, Keys, Stamp, derived_bytes, flip_hex
from carbonc.dialects._facts import Facts, Lookup, chars, digits, humanize, suffix
from carbonc.errors import ExecutionError

if TYPE_CHECKING:
    from carbonc.plan.records import Entity, Message

EVENTS = {
    "order.paid": "order.paid",
    "payment.authorized": "payment.authorized",
    "payment.captured": "payment.captured",
    "payment.failed": "payment.failed",
    "refund.created": "refund.created",
    "refund.processed": "refund.processed",
    "refund.failed": "refund.failed",
    "dispute.created": "payment.dispute.created",
    "dispute.under_review": "payment.dispute.under_review",
    "dispute.won": "payment.dispute.won",
    "dispute.lost": "payment.dispute.lost",
    "dispute.closed": "payment.dispute.closed",
    "settlement.processed": "settlement.processed",
    "mandate.confirmed": "token.confirmed",
    "mandate.rejected": "token.rejected",
    "mandate.cancelled": "token.cancelled",
    "mandate.paused": "token.paused",
}

UNSUPPORTED = {
    "payment.pending": "razorpay sends no webhook for a pending payment: `payment.pending` is not sent "
                       "(a UPI payment stays silent until it is captured or fails)",
    "settlement.failed": "razorpay sends only `settlement.processed`: `settlement.failed` is not sent",
}

_NO_TIMESTAMP = "razorpay signs no timestamp, so there is no replay window to test"

_DISPUTE_STATUS = {"created": "open", "under_review": "under_review", "won": "won", "lost": "lost",
                   "closed": "closed"}
_REFUND_STATUS = {"created": "pending", "processed": "processed", "failed": "failed"}
_METHOD_FIELDS = ("card_id", "bank", "wallet", "vpa")

_ENCODE = msgspec.json.Encoder().encode


class Razorpay(Dialect):
    """Razorpay (and `mock`, the simulated gateway, which speaks Razorpay).

    `account_id` names the merchant account in every envelope; `upi_timeout` is `"failed"` or
    `"silent"` (see the module docstring).
    """

    name = "razorpay"
    named_by = re.compile(r"razorpay")
    modes = BASE_MODES | {"old_secret", "reserialized"}
    not_applicable = MappingProxyType({
        "stale": _NO_TIMESTAMP, "future": _NO_TIMESTAMP, "ms_vs_s": _NO_TIMESTAMP,
        "rotation": "razorpay sends one signature; a retry after a secret change is signed with the "
                    "old secret: use `old_secret`",
        "bad_basic_auth": "only juspay authenticates with HTTP Basic auth",
    })

    def __init__(self, *, account_id: str = "acc_CarboncTestAcc", upi_timeout: str = "failed"):
        if upi_timeout not in ("failed", "silent"):
            raise ExecutionError(f"razorpay option `upi_timeout` must be `failed` or `silent`, not `{upi_timeout}`")
        self.account_id, self.upi_timeout = account_id, upi_timeout
        self.events, self.unsupported = EVENTS, UNSUPPORTED
        super().__init__()

    def skip_reason(self, message: Message, lookup: Lookup) -> str | None:
        if self.upi_timeout == "silent" and message.event == "payment.failed":
            entity = lookup.get(message.entity)
            if entity is not None and any(t.state == "timed_out" and t.at_ms == message.at_ms
                                          for t in entity.transitions):
                return "razorpay option `upi_timeout` is `silent`: a timed-out payment reports nothing"
        return super().skip_reason(message, lookup)

    def key(self, secret: str) -> HmacKey:
        return HmacKey(secret.encode())

    def derive_secret(self, secret: str, label: str) -> str:
        return derived_bytes(secret, label).hex()[:32]

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "x-razorpay-event-id": suffix(stamp.event_id)}
        if mode == "missing":
            return headers
        key = {"wrong_secret": keys.wrong, "old_secret": keys.previous}.get(mode, keys.current)
        signature = key.digest(body).hex()
        headers["X-Razorpay-Signature"] = flip_hex(signature) if mode == "corrupted" else signature
        return headers

    def payload(self, f: Facts) -> bytes:
        kind = f.entity.kind
        if kind == "order":
            contains = {"payment": self._payment(f, f.payment)} if f.payment is not None else {}
            contains["order"] = _order(f)
        elif kind == "payment":
            contains = {"payment": self._payment(f, f.entity)}
        elif kind == "refund":
            contains = {"refund": _refund(f), "payment": self._payment(f, f.payment)}
        elif kind == "dispute":
            contains = {"payment": self._payment(f, f.payment), "dispute": _dispute(f)}
        elif kind == "settlement":
            contains = {"settlement": _settlement(f)}
        else:
            contains = {"token": _token(f)}
        return _ENCODE({
            "entity": "event",
            "account_id": self.account_id,
            "event": EVENTS[f.message.event],
            "contains": list(contains),
            "payload": {name: {"entity": entity} for name, entity in contains.items()},
            "created_at": f.event_ms // 1000,
        })

    def _payment(self, f: Facts, payment: Entity | None) -> dict[str, Any] | None:
        if payment is None:
            return None
        kind = f.entity.kind
        amount, method = payment.amount_minor, payment.method or "card"
        if kind != "payment":
            status = "captured"
        elif f.state in ("failed", "timed_out"):
            status = "failed"
        else:
            status = f.state
        refunded = f.entity.amount_minor if kind == "refund" and f.state != "failed" else 0
        if refunded and refunded >= amount:
            status = "refunded"
        captured = status in ("captured", "refunded")
        failed = status == "failed"
        pid = payment.id
        out: dict[str, Any] = {
            "id": pid, "entity": "payment", "amount": amount, "currency": payment.currency,
            "status": status, "order_id": f.real_id(payment.parent) or payment.parent, "invoice_id": None,
            "international": False,
            "method": method, "amount_refunded": refunded,
            "refund_status": None if not refunded else ("full" if refunded >= amount else "partial"),
            "captured": captured, "description": None,
        }
        out.update(dict.fromkeys(_METHOD_FIELDS))
        if method == "card":
            card_id = f"card_{chars(pid, 14, 'card')}"
            out["card_id"] = card_id
            out["card"] = {"id": card_id, "entity": "card", "name": "Gaurav Kumar", "last4": "1111",
                           "network": "Visa", "type": "credit", "issuer": None, "international": False,
                           "emi": False, "sub_type": "consumer"}
        elif method == "upi":
            out["vpa"] = "success@razorpay"
        elif method == "wallet":
            out["wallet"] = "paytm"
        else:
            out["bank"] = "HDFC"
        fee = amount * 236 // 10_000 if captured else None  # 2% + 18% GST on it
        out.update({
            "email": "gaurav.kumar@example.com", "contact": "+919000090000", "notes": [],
            "fee": fee, "tax": fee * 18 // 118 if fee is not None else None,
            "error_code": (f.code or "BAD_REQUEST_ERROR") if failed else None,
            "error_description": humanize(f.reason) if failed else None,
            "error_source": ("customer" if f.state == "timed_out" else "bank") if failed else None,
            "error_step": "payment_authorization" if failed else None,
            "error_reason": (f.reason or "payment_failed") if failed else None,
            "acquirer_data": _acquirer(pid, method) if not failed else {},
            "created_at": f.created_ms(payment) // 1000,
        })
        return out


def _acquirer(pid: str, method: str) -> dict[str, Any]:
    if method == "card":
        return {"auth_code": str(digits(pid, 6, "auth"))}
    if method == "upi":
        return {"rrn": str(digits(pid, 12, "rrn"))}
    return {"bank_transaction_id": str(digits(pid, 10, "bank_txn"))}


def _order(f: Facts) -> dict[str, Any]:
    o = f.order or f.entity
    # A real run names the order the sandbox created, with the receipt it was created with.
    return {"id": f.real_id(o.id) or o.id, "entity": "order", "amount": o.amount_minor, "amount_paid": o.amount_minor,
            "amount_due": 0, "currency": o.currency, "receipt": f.real_id(o.id, "receipt") or f"rcpt_{suffix(o.id)}",
            "offer_id": None,
            "status": "paid", "attempts": 1, "notes": [], "created_at": f.created_ms(o) // 1000}


def _refund(f: Facts) -> dict[str, Any]:
    r = f.entity
    return {"id": r.id, "entity": "refund", "amount": r.amount_minor, "currency": r.currency,
            "payment_id": r.parent, "notes": [], "receipt": None,
            "acquirer_data": {"arn": str(digits(r.id, 12, "arn")) if f.state == "processed" else None},
            "created_at": f.created_ms(r) // 1000, "batch_id": None, "status": _REFUND_STATUS[f.state],
            "speed_processed": "normal", "speed_requested": "optimum"}


def _dispute(f: Facts) -> dict[str, Any]:
    d = f.entity
    created = f.created_ms(d) // 1000
    reason = d.attrs.get("reason", "fraudulent")
    return {"id": d.id, "entity": "dispute", "payment_id": d.parent, "amount": d.amount_minor,
            "currency": d.currency, "amount_deducted": d.amount_minor if f.state == "lost" else 0,
            "reason_code": reason, "reason_description": humanize(reason),
            "respond_by": created + 7 * 86_400, "status": _DISPUTE_STATUS[f.state], "phase": "chargeback",
            "comments": None, "created_at": created}


def _settlement(f: Facts) -> dict[str, Any]:
    s = f.entity
    return {"id": s.id, "entity": "settlement", "amount": s.amount_minor, "status": "processed",
            "fees": 0, "tax": 0, "utr": str(digits(s.id, 16, "utr")), "created_at": f.event_ms // 1000}


def _token(f: Facts) -> dict[str, Any]:
    m = f.entity
    created = f.created_ms(m) // 1000
    method = m.method or "upi"
    return {"id": m.id, "entity": "token", "token": chars(m.id, 14, "token"), "bank": None, "wallet": None,
            "method": method, "recurring": True,
            "recurring_details": {"status": f.state,
                                  "failure_reason": f.reason if f.state == "rejected" else None},
            "auth_type": None, "mrn": None, "used_at": f.event_ms // 1000, "created_at": created,
            "expired_at": created + 10 * 365 * 86_400, "max_amount": m.amount_minor,
            "vpa": {"username": "success", "handle": "razorpay", "name": None} if method == "upi" else None}
