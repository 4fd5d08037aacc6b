"""A local Juspay Express Checkout API for the gateway tests, built from Juspay's published API
reference: create order (`POST /orders`), order status (`GET /orders/{order_id}`), transaction
(`POST /txns`) and refund (`POST /orders/{order_id}/refunds`). It refuses what the real API
refuses — a request without Basic auth carrying the API key as user and an empty password, or
without the `x-merchantid` header; a body that is not form-encoded; a missing or malformed
field — answers with bodies shaped as the reference shows them, and keeps every object it
created. The sandbox's dummy gateway is modelled as deciding a UPI collect at once by its handle.

`script` makes the first attempts of a POST misbehave, by operation and the plan ID inside the
order ID: `{("orders", "E8u6LQziH3XiED"): ["429", "500", "hang"]}`. A `hang` is processed, then
never answered."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import servers

_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,20}")
_AMOUNT = re.compile(r"\d+(\.\d{1,2})?")
_FORM = "application/x-www-form-urlencoded"
_DECIDED = {"success@upi": ("CHARGED", 21), "failure@upi": ("AUTHORIZATION_FAILED", 27)}


class FakeJuspay:
    """Juspay's API for one merchant (`merchant_id`, authenticated by `api_key`)."""

    def __init__(self, api_key: str, merchant_id: str, script: dict[tuple[str, str], list[str]] | None = None):
        self.api_key, self.merchant_id = api_key, merchant_id
        self.script = script or {}
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}  # by the merchant's order_id
        #: Objects created, by kind and the merchant's own ID: order_id (orders, txns), unique_request_id (refunds).
        self.creates: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.refused: list[str] = []  # every request refused as malformed or unauthenticated
        self.ids = itertools.count(1)

    def respond(self, request: servers.Received, exchange: servers.Exchange) -> None:
        path = request.path.split("?")[0]
        status, body, fault = self._answer(request, path)
        if fault == "429":
            return exchange.send(429, _json({"status": "error", "error_message": "Too many requests"}),
                                 {"Retry-After": "1", "Content-Type": "application/json"})
        if fault == "500":
            return exchange.send(500, _json({"status": "error", "error_message": "Internal error"}),
                                 {"Content-Type": "application/json"})
        if fault == "hang":
            exchange.wait_closed(10)
            return None
        if status >= 400 and body.get("error_code") != "object_not_found":  # a look-up's 404 is an answer
            self.refused.append(f"{request.method} {path}: {status} {body.get('error_message')}")
        return exchange.send(status, _json(body), {"Content-Type": "application/json"})

    def _answer(self, request: servers.Received, path: str) -> tuple[int, dict[str, Any], str | None]:
        auth = self._authenticated(request, required=path != "/txns")
        if auth is not None:
            return 401, auth, None
        parts = path.strip("/").split("/")
        with self.lock:
            if request.method == "GET" and len(parts) == 2 and parts[0] == "orders":
                order = self.orders.get(parts[1])
                return (200, _status(order), None) if order else (404, _error("object_not_found",
                                                                              "Order not found"), None)
            if request.method != "POST":
                return 404, _error("invalid_request", f"no {request.method} {path}"), None
            if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
                return 400, _error("invalid_request", f"Content-Type must be {_FORM}"), None
            form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            if parts == ["orders"]:
                operation, order_id = "orders", form.get("order_id", "")
            elif parts == ["txns"]:
                operation, order_id = "txns", form.get("order_id", "")
            elif len(parts) == 3 and parts[0] == "orders" and parts[2] == "refunds":
                operation, order_id = "refunds", parts[1]
            else:
                return 404, _error("invalid_request", f"no POST {path}"), None
            key = (operation, order_id[:14])
            self.attempts[key] += 1
            faults = self.script.get(key, [])
            fault = faults[self.attempts[key] - 1] if self.attempts[key] <= len(faults) else None
            if fault in ("429", "500"):
                return 0, {}, fault
            handle = {"orders": self._create_order, "txns": self._txn, "refunds": self._refund}[operation]
            status, body = handle(order_id, form)
            return status, body, fault

    def _authenticated(self, request: servers.Received, *, required: bool) -> dict[str, Any] | None:
        header = request.headers.get("authorization")
        if header is None and not required:
            return None
        expected = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
        if header != expected:
            return _error("access_denied", "Authentication failed")
        if request.headers.get("x-merchantid") != self.merchant_id:
            return _error("access_denied", "x-merchantid is missing or not this key's merchant")
        return None

    def _create_order(self, order_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not _ORDER_ID.fullmatch(order_id):
            return 400, _error("invalid_request", "order_id must be alphanumeric, fewer than 21 characters")
        amount = _amount(form.get("amount", ""))
        if amount is None or amount <= 0:
            return 400, _error("invalid_request", "Invalid amount")
        if order_id in self.orders:
            return 400, _error("invalid_request", "Order with this order_id already exists")
        self.creates[("order", order_id)] += 1
        juspay_id = f"ordeh_{next(self.ids):032x}"
        self.orders[order_id] = {"id": juspay_id, "order_id": order_id, "merchant_id": self.merchant_id,
                                 "amount": float(amount), "currency": form.get("currency", "INR"),
                                 "customer_id": form.get("customer_id", ""), "status": "NEW", "status_id": 10,
                                 "txns": [], "refunds": []}
        return 200, {"status": "CREATED", "status_id": 1, "id": juspay_id, "order_id": order_id,
                     "payment_links": {"web": f"https://sandbox.juspay.in/orders/{juspay_id}/payment-page",
                                       "expiry": None}}

    def _txn(self, order_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            return 400, _error("invalid_request", "Order not found")
        if form.get("merchant_id") != self.merchant_id:
            return 400, _error("invalid_request", "merchant_id does not match")
        missing = [f for f in ("payment_method_type", "payment_method", "txn_type", "upi_vpa") if not form.get(f)]
        if missing or form["payment_method_type"] != "UPI" or form["txn_type"] != "UPI_COLLECT":
            return 400, _error("invalid_request", f"a UPI collect needs {', '.join(missing) or 'UPI_COLLECT'}")
        if order["status"] == "CHARGED":
            return 400, _error("invalid_request", "Order already charged")
        self.creates[("txn", order_id)] += 1
        txn_id = f"{self.merchant_id}-{order_id}-{len(order['txns']) + 1}"
        txn_uuid = f"moz{next(self.ids):016x}"
        order["status"], order["status_id"] = _DECIDED.get(form["upi_vpa"], ("PENDING_VBV", 23))
        order["txns"].append(txn_uuid)
        order["txn_id"], order["txn_uuid"] = txn_id, txn_uuid
        order["payment_method_type"], order["payer_vpa"] = "UPI", form["upi_vpa"]
        return 200, {"order_id": order_id, "txn_id": txn_id, "txn_uuid": txn_uuid, "status": "PENDING_VBV",
                     "payment": {"authentication": {"method": "GET",
                                                    "url": f"https://sandbox.juspay.in/v2/pay/start/{txn_uuid}"}}}

    def _refund(self, order_id: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            return 404, _error("object_not_found", "Order not found")
        request_id, amount = form.get("unique_request_id", ""), _amount(form.get("amount", ""))
        if not request_id or amount is None or amount <= 0:
            return 400, _error("invalid_request", "unique_request_id and amount are required")
        if order["status"] != "CHARGED":
            return 400, _error("invalid_request", "Order is not charged: it cannot be refunded")
        if any(r["unique_request_id"] == request_id for r in order["refunds"]):
            return 400, _error("invalid_request", "Request Id already exists")
        refunded = sum(Decimal(str(r["amount"])) for r in order["refunds"])
        if refunded + amount > Decimal(str(order["amount"])):
            return 400, _error("invalid_request", "Refund amount exceeds the order's amount")
        self.creates[("refund", request_id)] += 1
        order["refunds"].append({"id": f"{next(self.ids):012d}", "unique_request_id": request_id,
                                 "amount": float(amount), "status": "PENDING", "ref": "", "sent_to_gateway": False,
                                 "initiated_by": "API", "refund_type": "STANDARD"})
        return 200, _status(order)


def _status(order: dict[str, Any]) -> dict[str, Any]:
    """The order status API's answer for `order`."""
    refunded = sum(Decimal(str(r["amount"])) for r in order["refunds"])
    body = {k: v for k, v in order.items() if k != "txns"}
    body.update(refunded=refunded > 0 and refunded == Decimal(str(order["amount"])),
                amount_refunded=float(refunded), refunds=[dict(r) for r in order["refunds"]])
    return body


def _amount(text: str) -> Decimal | None:
    if not _AMOUNT.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"status": "error", "error_code": code, "error_message": message}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
