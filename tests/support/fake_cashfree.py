"""A fake of Cashfree's PG API (version 2023-08-01), from its published API reference: create and
fetch orders, pay an order with a UPI collect request (the sandbox's `testsuccess@gocash` and
`testfailure@gocash` decide the outcome), fetch a payment, create and fetch refunds.

It checks what the real API checks — `x-api-version`, `x-client-id`/`x-client-secret` (Order Pay
is authenticated by the payment session instead), a JSON body with the required fields and their
types — and answers with bodies shaped as the reference shows them, keeping every object by ID. A
request carrying an `x-idempotency-key` seen before gets the first answer again. `script` makes
the first attempts of a key misbehave; `refused` lists every request it refused, and `created`
counts creations per idempotency key.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import servers

VERSIONS = ("2022-09-01", "2023-08-01", "2025-01-01")
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{3,45}")
_REFUND_ID = re.compile(r"[A-Za-z0-9_-]{3,40}")
_TIME = "2026-11-30T10:00:00+05:30"


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> tuple[int, Any]:
    return status, {"message": message, "code": code, "type": kind}


class FakeCashfree:
    """Cashfree's PG API for one merchant (`client_id`, `client_secret`)."""

    def __init__(self, client_id: str, client_secret: str, script: dict[str, list[str]] | None = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.script = script or {}  # plan id -> ["429", "500", "hang", ...] for the first attempts of its calls
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}  # payment_session_id -> order_id
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_key: dict[str, tuple[int, Any]] = {}
        self.attempts: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.created: Counter[str] = Counter()  # idempotency key -> objects created under it
        self.fetched: Counter[str] = Counter()
        self.refused: list[str] = []
        self.ids = itertools.count(5_100_000_001)

    def respond(self, request: servers.Received, exchange: servers.Exchange) -> None:
        key = request.headers.get("x-idempotency-key")
        fault = None
        with self.lock:
            if key:
                self.attempts[key] += 1
                self.arrivals.setdefault(key, []).append(time.monotonic())
                steps = self.script.get(key.split("-")[-2] if key.count("-") >= 2 else "", [])
                fault = steps[self.attempts[key] - 1] if self.attempts[key] <= len(steps) else None
            if fault == "429":
                return self._send(exchange, *_error(429, "Too many requests", "request_limit_exceeded",
                                                    "rate_limit_error"), {"Retry-After": "1"})
            if fault == "500":
                return self._send(exchange, *_error(500, "Internal server error", "internal_error", "api_error"))
            if key and key in self.by_key:
                status, body = self.by_key[key]
            else:
                status, body = self._handle(request, key)
                if status >= 400:
                    self.refused.append(f"{request.method} {request.path}: {status} {body['message']}")
                elif key:
                    self.by_key[key] = (status, body)
        if fault == "hang":
            # Processed, then never answered: only the idempotency key keeps a retry from creating again.
            exchange.wait_closed(10)
            return None
        return self._send(exchange, status, body)

    @staticmethod
    def _send(exchange: servers.Exchange, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        exchange.send(status, json.dumps(body, default=float).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _handle(self, request: servers.Received, key: str | None) -> tuple[int, Any]:
        version = request.headers.get("x-api-version")
        if version is None:
            return _error(400, "x-api-version is missing in the request", "request_failed")
        if version not in VERSIONS:
            return _error(400, f"x-api-version {version} is not valid", "request_failed")
        path, method = request.path.split("?")[0], request.method
        parts = path.strip("/").split("/")
        if (method, path) != ("POST", "/orders/sessions") and not self._authenticated(request.headers):
            return _error(401, "authentication Failed", "request_failed", "authentication_error")
        body: Any = None
        if method == "POST":
            if (request.headers.get("content-type") or "").split(";")[0].strip() != "application/json":
                return _error(400, "content-type must be application/json", "request_invalid")
            try:
                body = json.loads(request.body, parse_float=Decimal)
            except ValueError:
                return _error(400, "request body is not valid json", "request_invalid")
            if not isinstance(body, dict):
                return _error(400, "request body must be an object", "request_invalid")
        match method, parts:
            case "POST", ["orders"]:
                return self._create_order(body, key)
            case "POST", ["orders", "sessions"]:
                return self._pay(body, key)
            case "GET", ["orders", order_id]:
                return (200, self.orders[order_id]) if order_id in self.orders else _error(
                    404, "order not found", "order_not_found")
            case "GET", ["orders", order_id, "payments", payment_id]:
                return self._fetch_payment(order_id, payment_id)
            case "POST", ["orders", order_id, "refunds"]:
                return self._refund(order_id, body, key)
            case "GET", ["orders", order_id, "refunds", refund_id]:
                found = self.refunds.get((order_id, refund_id))
                return (200, found) if found else _error(404, "refund not found", "refund_not_found")
        return _error(404, f"{method} {path} is not an endpoint", "request_invalid")

    def _authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("x-client-id") == self.client_id and headers.get("x-client-secret") == self.client_secret

    def _create_order(self, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
        amount, currency = body.get("order_amount"), body.get("order_currency")
        if not isinstance(amount, Decimal | int) or isinstance(amount, bool) or amount < 1:
            return _error(400, "order_amount : must be a number of at least 1.00", "order_amount_invalid")
        if currency != "INR":
            return _error(400, "order_currency : invalid value provided", "order_currency_invalid")
        customer = body.get("customer_details")
        if not isinstance(customer, dict) or not customer.get("customer_id") or not customer.get("customer_phone"):
            return _error(400, "customer_details.customer_id and customer_phone are required",
                          "customer_details_missing")
        order_id = body.get("order_id") or f"order_{next(self.ids)}"
        if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
            return _error(400, "order_id : invalid value provided", "order_id_invalid")
        if order_id in self.orders:
            return _error(409, "order with same order id exists", "order_already_exists")
        cf_order_id = str(next(self.ids))
        session = f"session_{cf_order_id}fake"
        order = {"cf_order_id": cf_order_id, "created_at": _TIME, "customer_details": customer, "entity": "order",
                 "order_amount": amount, "order_currency": currency, "order_expiry_time": "2026-12-30T10:00:00+05:30",
                 "order_id": order_id, "order_meta": {"return_url": None, "notify_url": None,
                                                      "payment_methods": None},
                 "order_note": body.get("order_note"), "order_splits": [], "order_status": "ACTIVE",
                 "order_tags": body.get("order_tags"), "payment_session_id": session, "terminal_data": None}
        self.orders[order_id], self.sessions[session] = order, order_id
        self.created[key or order_id] += 1
        return 200, order

    def _pay(self, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
        order_id = self.sessions.get(body.get("payment_session_id") or "")
        if order_id is None:
            return _error(400, "payment_session_id : is invalid", "payment_session_id_invalid")
        method = body.get("payment_method")
        upi = method.get("upi") if isinstance(method, dict) and len(method) == 1 else None
        if not isinstance(upi, dict) or upi.get("channel") not in ("collect", "link", "qrcode"):
            return _error(400, "payment_method : invalid value provided", "payment_method_invalid")
        if upi["channel"] == "collect" and not upi.get("upi_id"):
            return _error(400, "payment_method.upi.upi_id : is missing in the request", "upi_id_missing")
        order = self.orders[order_id]
        if order["order_status"] == "PAID":
            return _error(400, "order is already paid", "order_already_paid")
        cf_payment_id = str(next(self.ids))
        success = upi.get("upi_id") == "testsuccess@gocash"
        self.payments[cf_payment_id] = {
            "cf_payment_id": cf_payment_id, "order_id": order_id, "entity": "payment", "is_captured": success,
            "order_amount": order["order_amount"], "payment_group": "upi", "payment_currency": "INR",
            "payment_amount": order["order_amount"], "payment_time": _TIME, "payment_completion_time": _TIME,
            "payment_status": "SUCCESS" if success else "FAILED",
            "payment_message": "Transaction success" if success else "Transaction failed",
            "bank_reference": "123456789012" if success else None, "auth_id": None, "authorization": None,
            "payment_method": {"upi": {"channel": upi["channel"], "upi_id": upi.get("upi_id")}},
        }
        if success:
            order["order_status"] = "PAID"
        self.created[key or cf_payment_id] += 1
        return 200, {"action": "custom", "cf_payment_id": cf_payment_id, "channel": upi["channel"],
                     "data": {"url": None, "payload": None, "content_type": None, "method": None},
                     "payment_amount": order["order_amount"], "payment_method": "upi"}

    def _fetch_payment(self, order_id: str, payment_id: str) -> tuple[int, Any]:
        payment = self.payments.get(payment_id)
        if payment is None or payment["order_id"] != order_id:
            return _error(404, "payment not found", "payment_not_found")
        self.fetched[payment_id] += 1
        # A collect request is decided a moment after it is made, as in the sandbox.
        return 200, payment if self.fetched[payment_id] > 1 else {**payment, "payment_status": "PENDING"}

    def _refund(self, order_id: str, body: dict[str, Any], key: str | None) -> tuple[int, Any]:
        order = self.orders.get(order_id)
        if order is None:
            return _error(404, "order not found", "order_not_found")
        amount, refund_id = body.get("refund_amount"), body.get("refund_id")
        if not isinstance(amount, Decimal | int) or isinstance(amount, bool) or amount <= 0:
            return _error(400, "refund_amount : must be a positive number", "refund_amount_invalid")
        if not isinstance(refund_id, str) or not _REFUND_ID.fullmatch(refund_id):
            return _error(400, "refund_id : invalid value provided", "refund_id_invalid")
        if order["order_status"] != "PAID":
            return _error(400, "refund can be initiated only on a paid order", "order_not_paid")
        if (order_id, refund_id) in self.refunds:
            return _error(409, "refund with same refund id exists", "refund_already_exists")
        refunded = sum(r["refund_amount"] for (o, _), r in self.refunds.items() if o == order_id)
        if refunded + amount > order["order_amount"]:
            return _error(400, "refund amount exceeds the amount paid", "refund_amount_invalid")
        paid = next(p for p in self.payments.values() if p["order_id"] == order_id and p["payment_status"] == "SUCCESS")
        refund = {"cf_payment_id": paid["cf_payment_id"], "cf_refund_id": str(next(self.ids)), "created_at": _TIME,
                  "entity": "refund", "metadata": None, "order_id": order_id, "processed_at": None,
                  "refund_amount": amount, "refund_arn": None, "refund_charge": 0, "refund_currency": "INR",
                  "refund_id": refund_id, "refund_mode": "STANDARD", "refund_note": body.get("refund_note"),
                  "refund_speed": {"requested": "STANDARD", "accepted": "STANDARD", "processed": None,
                                   "message": None},
                  "refund_splits": [], "refund_status": "PENDING", "refund_type": "MERCHANT_INITIATED",
                  "status_description": "In Progress"}
        self.refunds[(order_id, refund_id)] = refund
        self.created[key or refund_id] += 1
        return 200, refund
