"""A local Razorpay orders API, from Razorpay's published API reference, for the gateway tests:
it refuses what the real API refuses (no HTTP Basic auth with the account's key id and secret, a
create that is not JSON, a missing or malformed field, a field the API does not take), answers
with bodies shaped as the reference shows them, and keeps the orders it creates by id.

    >>> fake = FakeRazorpay("rzp_test_…", "secret", script={"order_…": ["429", "hang"]})
    >>> with servers.Server(fake.respond) as srv: ...

`script` makes the first attempts at creating a plan's order (by `notes.carbonc_plan_id`)
misbehave: `429` (with `Retry-After: 1`), `500`, or `hang` (the order is created, then the
request is never answered).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import servers

_BASE62 = string.digits + string.ascii_letters
#: The fields `POST /v1/orders` takes.
_ORDER_FIELDS = frozenset({"amount", "currency", "receipt", "notes", "partial_payment", "first_payment_min_amount"})
#: The query parameters `GET /v1/orders` takes.
_LIST_PARAMS = frozenset({"from", "to", "count", "skip", "authorized", "receipt", "expand[]"})


def _error(description: str, field: str | None = None) -> bytes:
    error: dict[str, Any] = {"code": "BAD_REQUEST_ERROR", "description": description, "source": "NA", "step": "NA",
                             "reason": "NA", "metadata": {}}
    if field is not None:
        error["field"] = field
    return json.dumps({"error": error}).encode()


class FakeRazorpay:
    """Razorpay's orders API on `servers.Server`, authenticating `key_id:key_secret`."""

    def __init__(self, key_id: str, key_secret: str, script: dict[str, list[str]] | None = None):
        self.auth = "Basic " + base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()
        self.script = script or {}
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        #: Orders created per plan id: more than one is a double creation.
        self.created: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        #: Why each refused request was refused: a well-behaved client gets none.
        self.refused: list[str] = []

    def respond(self, request: servers.Received, exchange: servers.Exchange) -> None:
        status, body, fault = self._answer(request)
        if status >= 400 and status not in (429, 500):
            self.refused.append(f"{request.method} {request.path}: {status} {body.decode()}")
        if fault == "hang":
            # Processed, then never answered: only a lookup before resending keeps it from being created twice.
            exchange.wait_closed(10)
            return
        headers = {"Content-Type": "application/json"}
        if status == 429:
            headers["Retry-After"] = "1"
        exchange.send(status, body, headers)

    def _answer(self, request: servers.Received) -> tuple[int, bytes, str | None]:
        if request.headers.get("authorization") != self.auth:
            return 401, _error("The api key provided is invalid"), None
        url = urlsplit(request.path)
        if url.path == "/v1/orders" and request.method == "POST":
            return self._create(request)
        if url.path == "/v1/orders" and request.method == "GET":
            return self._list(url.query)
        found = re.fullmatch(r"/v1/orders/(order_[0-9A-Za-z]{14})", url.path)
        if found and request.method == "GET":
            with self.lock:
                order = self.orders.get(found[1])
            if order is None:
                return 400, _error("The id provided does not exist"), None
            return 200, json.dumps(order).encode(), None
        return 404, _error("The requested URL was not found on the server."), None

    def _create(self, request: servers.Received) -> tuple[int, bytes, str | None]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 400, _error("The request body must be JSON (Content-Type: application/json)"), None
        try:
            form = json.loads(request.body)
        except ValueError:
            return 400, _error("The request body is not valid JSON"), None
        if not isinstance(form, dict):
            return 400, _error("The request body must be a JSON object"), None
        extra = sorted(set(form) - _ORDER_FIELDS)
        if extra:
            return 400, _error(f"{', '.join(extra)} is/are not required and should not be sent", extra[0]), None
        amount, currency, receipt = form.get("amount"), form.get("currency"), form.get("receipt")
        if amount is None:
            return 400, _error("The amount field is required.", "amount"), None
        if not isinstance(amount, int) or isinstance(amount, bool):
            return 400, _error("The amount must be an integer.", "amount"), None
        if amount < 100:
            return 400, _error("The amount must be atleast INR 1.00.", "amount"), None
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            return 400, _error("The currency field is required.", "currency"), None
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return 400, _error("The receipt may not be greater than 40 characters.", "receipt"), None
        notes = form.get("notes", {})
        if not isinstance(notes, dict) or len(notes) > 15 or any(
                not isinstance(v, str) or len(v) > 256 for v in notes.values()):
            return 400, _error("The notes field must be an object of at most 15 strings.", "notes"), None
        plan_id = str(notes.get("carbonc_plan_id", ""))
        with self.lock:
            self.attempts[plan_id] += 1
            self.arrivals.setdefault(plan_id, []).append(time.monotonic())
            steps = self.script.get(plan_id, [])
            fault = steps[self.attempts[plan_id] - 1] if self.attempts[plan_id] <= len(steps) else None
            if fault == "429":
                return 429, _error("Too many requests"), None
            if fault == "500":
                return 500, json.dumps({"error": {"code": "SERVER_ERROR", "description": "The server encountered "
                                                  "an error. The incident has been reported to admins."}}).encode(), None
            order_id = "order_" + "".join(secrets.choice(_BASE62) for _ in range(14))
            order = {"id": order_id, "entity": "order", "amount": amount, "amount_paid": 0, "amount_due": amount,
                     "currency": currency, "receipt": receipt, "offer_id": None, "status": "created", "attempts": 0,
                     "notes": notes or [], "created_at": int(time.time())}
            self.orders[order_id] = order
            self.created[plan_id] += 1
        return 200, json.dumps(order).encode(), fault

    def _list(self, query: str) -> tuple[int, bytes, str | None]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        extra = sorted(set(params) - _LIST_PARAMS)
        if extra:
            return 400, _error(f"{', '.join(extra)} is/are not required and should not be sent", extra[0]), None
        count = params.get("count", "10")
        if not count.isdigit() or not 1 <= int(count) <= 100:
            return 400, _error("The count must be between 1 and 100.", "count"), None
        with self.lock:
            # Newest first, as the API lists them.
            items = [o for o in reversed(self.orders.values())
                     if "receipt" not in params or o["receipt"] == params["receipt"]]
        skip = int(params.get("skip", "0") or 0)
        items = items[skip:skip + int(count)]
        return 200, json.dumps({"entity": "collection", "count": len(items), "items": items}).encode(), None
