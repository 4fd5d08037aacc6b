"""Juspay Express Checkout's webhooks: `{"id":"evt_V2_…","event_name":…,"date_created":"…Z",
"content":{"order":{…}}}`, authenticated not by a body signature but by HTTP Basic auth with the
username and password the merchant set in the dashboard. The body's `id` is the idempotency key.

Signature faults become auth faults: `missing` sends no `Authorization`, `wrong_secret` the
right username with a wrong password, `corrupted` a damaged token, `bad_basic_auth` a malformed
header. Nothing is timestamped or signed, so the timestamp and body modes do not apply.

Uncertain [?]: that Basic auth is the scheme (the secret given is `username:password`); that
Juspay sends no dispute or settlement webhooks (both are reported as unsupported).
`MANDATE_REVOKED` (for `mandate.cancelled`) is in Juspay's event table though not in every
product's docs.
"""

from __future__ import annotations

import hashlib
import re
from types import MappingProxyType
from typing import Any

import msgspec

from carbonc.dialects._base import (
    BASE_MODES,
    Dialect,
    Keys,
    Stamp,
    b64,
    derived_bytes,
    flip_b64,
)
from carbonc.dialects._facts import (
    Facts,
    chars,
    digits,
    hex_id,
    humanize,
    iso_utc,
    major,
    major_text,
)
from carbonc.errors import ExecutionError

EVENTS = {
    "payment.captured": "ORDER_SUCCEEDED",
    "payment.failed": "ORDER_FAILED",
    "payment.pending": "TXN_CREATED",
    "refund.processed": "ORDER_REFUNDED",
    "refund.failed": "ORDER_REFUND_FAILED",
    "mandate.confirmed": "MANDATE_ACTIVATED",
    "mandate.rejected": "MANDATE_FAILED",
    "mandate.cancelled": "MANDATE_REVOKED",
}

_NO_DISPUTES = "juspay has no dispute webhook: `{}` is not sent"
_NO_SETTLEMENTS = "juspay has no settlement webhook: `{}` is not sent"
UNSUPPORTED = {
    "order.paid": "juspay reports a paid order as `ORDER_SUCCEEDED`, sent for `payment.captured`: "
                  "`order.paid` is not sent",
    "payment.authorized": "juspay sends no webhook for an authorisation: `payment.authorized` is not sent",
    "refund.created": "juspay sends refund webhooks only for a refund's outcome: `refund.created` is not sent",
    **{e: _NO_DISPUTES.format(e) for e in ("dispute.created", "dispute.under_review", "dispute.won",
                                           "dispute.lost", "dispute.closed")},
    **{e: _NO_SETTLEMENTS.format(e) for e in ("settlement.processed", "settlement.failed")},
    "mandate.paused": "juspay sends no webhook for a paused mandate: `mandate.paused` is not sent",
}

_NOTHING_SIGNED = "juspay signs nothing and sends no timestamp: it authenticates with HTTP Basic auth"

# Order status and its numeric id, as Juspay's order status API reports them.
_STATUS = {"captured": ("CHARGED", 21), "failed": ("AUTHORIZATION_FAILED", 27),
           "timed_out": ("AUTHENTICATION_FAILED", 26), "pending": ("PENDING_VBV", 23)}
_METHOD = {"card": ("CARD", "VISA"), "upi": ("UPI", "UPI"), "netbanking": ("NB", "NB_HDFC"),
           "wallet": ("WALLET", "PAYTM"), "emandate": ("NB", "NB_HDFC")}
_MANDATE_STATUS = {"confirmed": "ACTIVE", "rejected": "FAILURE", "cancelled": "REVOKED"}

_ENCODE = msgspec.json.Encoder().encode


class Juspay(Dialect):
    """Juspay. `merchant_id` is the merchant's Juspay ID, written into orders and transaction IDs."""

    name = "juspay"
    named_by = re.compile(r"juspay")
    modes = BASE_MODES | {"bad_basic_auth"}
    credential_headers = frozenset({"Authorization"})
    not_applicable = MappingProxyType({
        "stale": _NOTHING_SIGNED, "future": _NOTHING_SIGNED, "ms_vs_s": _NOTHING_SIGNED,
        "reserialized": _NOTHING_SIGNED, "rotation": _NOTHING_SIGNED,
        "old_secret": "juspay sends the credentials currently set in its dashboard; there is no old secret",
    })

    def __init__(self, *, merchant_id: str = "carbonc_merchant"):
        self.merchant_id = merchant_id
        self.events, self.unsupported = EVENTS, UNSUPPORTED
        super().__init__()

    def key(self, secret: str) -> str:
        username, colon, password = secret.partition(":")
        if not colon or not username or not password:
            raise ExecutionError("the juspay webhook secret must be `username:password` (HTTP Basic auth "
                                 "credentials), with neither part empty")
        return secret

    def derive_secret(self, secret: str, label: str) -> str:
        # The same username with another password: the fault a handler most often gets wrong.
        return secret.partition(":")[0] + ":" + derived_bytes(secret, label).hex()[:24]

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if mode == "missing":
            return headers
        if mode == "bad_basic_auth":
            headers["Authorization"] = _malformed(stamp.event_id, keys.current)
            return headers
        token = b64((keys.wrong if mode == "wrong_secret" else keys.current).encode())
        headers["Authorization"] = "Basic " + (flip_b64(token) if mode == "corrupted" else token)
        return headers

    def payload(self, f: Facts) -> bytes:
        event = self.events[f.message.event]
        content = {"mandate": _mandate(f)} if f.entity.kind == "mandate" else {"order": self._order(f)}
        return _ENCODE({"id": f"evt_V2_{hex_id(f.message.id, 32, 'juspay_event')}", "event_name": event,
                        "date_created": iso_utc(f.event_ms), "content": content})

    def _order(self, f: Facts) -> dict[str, Any]:
        p = f.payment
        if p is None:
            raise ExecutionError(f"message `{f.message.id}` is about a refund whose payment the plan does not define")
        plan_order = p.parent or p.id
        # In a real run the sandbox's order, transaction and refund IDs replace the derived ones.
        order_id = f.real_id(p.parent, "order_id") or plan_order
        currency = p.currency
        refund = f.entity if f.entity.kind == "refund" else None
        status, status_id = _STATUS["captured"] if refund else _STATUS[f.state]
        refunded = refund.amount_minor if refund is not None and f.state == "processed" else 0
        method_type, method = _METHOD.get(p.method or "card", _METHOD["card"])
        txn_id = f.real_id(p.id, "txn_id") or f"{self.merchant_id}-{order_id}-1"
        txn_uuid = f.real_id(p.id) or "moz" + chars(p.id, 16, "txn_uuid").lower()
        failed = status_id in (26, 27)
        created = iso_utc(f.created_ms(p))
        out: dict[str, Any] = {
            "id": f.real_id(p.parent) or f"ordeh_{hex_id(plan_order, 32, 'juspay_order')}",
            "merchant_id": self.merchant_id,
            "order_id": order_id, "customer_id": "carbonc_customer", "customer_email": "test@example.com",
            "customer_phone": "9999999999", "product_id": "", "status": status, "status_id": status_id,
            "amount": major(p.amount_minor, currency), "currency": currency, "refunded": refunded >= p.amount_minor,
            "amount_refunded": major(refunded, currency),
            "effective_amount": major(p.amount_minor - refunded, currency),
            "date_created": created, "last_updated": iso_utc(f.event_ms), "return_url": "",
            "txn_id": txn_id, "txn_uuid": txn_uuid, "payment_method_type": method_type,
            "payment_method": method, "auth_type": "THREE_DS" if method_type == "CARD" else "",
            "bank_error_code": (f.code or "") if failed else "",
            "bank_error_message": humanize(f.reason) if failed else "",
            "txn_detail": {
                "txn_id": txn_id, "order_id": order_id, "txn_uuid": txn_uuid, "status": status,
                "error_code": (f.code or "") if failed else "", "error_message": humanize(f.reason) if failed else "",
                "gateway": "RAZORPAY", "gateway_id": 23, "currency": currency,
                "net_amount": major(p.amount_minor, currency), "txn_amount": major(p.amount_minor, currency),
                "created": created, "express_checkout": False, "redirect": True,
            },
            "payment_gateway_response": {
                "txn_id": txn_id, "rrn": "" if failed else str(digits(p.id, 12, "rrn")),
                "epg_txn_id": f"pay_{chars(p.id, 14, 'epg')}", "resp_code": "" if failed else "captured",
                "resp_message": humanize(f.reason) if failed else "", "auth_id_code": "", "created": created,
            },
        }
        if method_type == "CARD":
            out["card"] = {"last_four_digits": "1111", "card_isin": "411111", "card_brand": "VISA",
                           "card_type": "CREDIT", "card_issuer": "HDFC Bank", "expiry_month": "12",
                           "expiry_year": "2030", "name_on_card": "Test User"}
        elif method_type == "UPI":
            out["payer_vpa"] = "success@upi"
        if refund is not None:
            ok = f.state == "processed"
            out["refunds"] = [{
                "id": f.real_id(refund.id) or str(digits(refund.id, 12, "juspay_refund")),
                "unique_request_id": refund.id,
                "ref": str(digits(refund.id, 12, "arn")) if ok else "", "amount": major(refund.amount_minor, currency),
                "created": iso_utc(f.created_ms(refund)), "status": "SUCCESS" if ok else "FAILURE",
                "error_message": "" if ok else humanize(f.reason) or "Refund failed",
                "error_code": "" if ok else (f.code or "REFUND_FAILED"), "sent_to_gateway": True,
                "initiated_by": "API", "refund_source": "RAZORPAY", "refund_type": "STANDARD",
            }]
        return out


def _mandate(f: Facts) -> dict[str, Any]:
    m = f.entity
    method_type, _ = _METHOD.get(m.method or "upi", _METHOD["upi"])
    created = f.created_ms(m)
    return {
        "mandate_id": m.id, "mandate_token": chars(m.id, 20, "mandate_token"),
        "status": _MANDATE_STATUS[f.state], "max_amount": major_text(m.amount_minor, m.currency),
        "currency": m.currency, "frequency": "ASPRESENTED", "amount_rule": "VARIABLE",
        "start_date": str(created // 1000), "end_date": str(created // 1000 + 10 * 365 * 86_400),
        "payment_info": {"payment_method_type": method_type, "payer_vpa": "success@upi" if method_type == "UPI"
                         else None},
        "failure_reason": humanize(f.reason) if f.state == "rejected" else None,
        "date_created": iso_utc(created), "last_updated": iso_utc(f.event_ms),
    }


def _malformed(message_id: str, secret: str) -> str:
    """One of three malformed `Authorization` headers, chosen by the message so a run covers all:
    credentials without the `:`, a token that is not Base64, or the scheme alone."""
    choice = hashlib.blake2b(message_id.encode(), digest_size=1).digest()[0] % 3
    if choice == 0:
        return "Basic " + b64(secret.partition(":")[0].encode())
    if choice == 1:
        return "Basic !!not-base64!!"
    return "Basic"
