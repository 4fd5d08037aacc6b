"""The demo merchant's ASGI app: Razorpay and Stripe webhooks in, order and ledger state out."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.merchant.books import Books
from examples.merchant.handlers import MalformedEvent, process
from examples.merchant.signatures import VERIFIERS
from examples.merchant.store import FloatMajorUnits, MinorUnits, Store

BUGS = {
    "none": "a correct merchant",
    "accept-forged": "skips signature verification",
    "not-idempotent": "no de-duplication: every delivery of a capture or refund is booked again",
    "trust-order": "the latest event wins: a late failure un-pays an order",
    "float-amounts": "keeps money as float rupees and truncates it back to paise",
    "slow": "answers each webhook only after the gateway has given up",
    "async-queue": "acknowledges at once and applies events 15 s later (--queue-lag-s)",
}
MAX_BODY_BYTES = 1 << 20

log = logging.getLogger(__name__)


def create_app(bug: str = "none", secret: str = "carbon", db_path: str | None = None, slow_s: float = 6.0,
               queue_lag_s: float = 15.0, previous_secret: str | None = None) -> Starlette:
    """The merchant with `bug` planted, its database at `db_path` (default: a new temporary one).
    `previous_secret`: during a secret rotation, the old secret, still accepted."""
    if bug not in BUGS:
        raise ValueError(f"unknown bug `{bug}`; choose one of: {', '.join(BUGS)}")
    if db_path is None:
        db_path = str(Path(tempfile.mkdtemp(prefix="carbon-merchant-")) / "merchant.db")
    store = Store(db_path, FloatMajorUnits() if bug == "float-amounts" else MinorUnits())
    books = Books(store, forward_only=bug != "trust-order", idempotent=bug != "not-idempotent")
    secrets = (secret,) if previous_secret is None else (secret, previous_secret)
    merchant = _Merchant(books, bug, secrets, slow_s, queue_lag_s)
    views = {"orders": store.order, "payments": store.payment, "refunds": store.refund,
             "disputes": store.dispute, "mandates": store.mandate}
    routes = [
        Route("/webhooks/razorpay", merchant.razorpay, methods=["POST"]),
        Route("/webhooks/stripe", merchant.stripe, methods=["POST"]),
        *(Route(f"/{name}/{{id}}", merchant.view(lookup), methods=["GET"]) for name, lookup in views.items()),
        Route("/ledger", merchant.ledger, methods=["GET"]),
        Route("/health", merchant.health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.store = store
    return app


def app_from_environment(environ: Mapping[str, str] = os.environ) -> Starlette:
    return create_app(bug=environ.get("CARBON_DEMO_BUG", "none"), secret=environ.get("CARBON_DEMO_SECRET", "carbon"),
                      db_path=environ.get("CARBON_DEMO_DB") or None,
                      slow_s=float(environ.get("CARBON_DEMO_SLOW_S", "6.0")),
                      queue_lag_s=float(environ.get("CARBON_DEMO_QUEUE_LAG_S", "15.0")),
                      previous_secret=environ.get("CARBON_DEMO_PREVIOUS_SECRET") or None)


def __getattr__(name: str) -> Any:
    # `app` is built on first use rather than at import, so importing `create_app` creates no database.
    if name == "app":
        globals()["app"] = built = app_from_environment()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():  # the declared length may be absent or wrong
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BodyTooLarge
    return bytes(body)


def _error(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


class _Merchant:
    """The endpoints, over one app's books."""

    def __init__(self, books: Books, bug: str, secrets: tuple[str, ...], slow_s: float, queue_lag_s: float):
        self.books, self.bug, self._secrets = books, bug, secrets
        self.slow_s, self.queue_lag_s = slow_s, queue_lag_s

    async def razorpay(self, request: Request) -> JSONResponse:
        return await self._webhook(request, "razorpay", request.headers.get("x-razorpay-event-id"))

    async def stripe(self, request: Request) -> JSONResponse:
        return await self._webhook(request, "stripe", None)

    async def _webhook(self, request: Request, provider: str, event_id: str | None) -> JSONResponse:
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            return _error("body too large", 413)
        if self.bug != "accept-forged" and not VERIFIERS[provider](body, request.headers, self._secrets):
            return _error("invalid signature", 400)
        # Parsed only once verified: nothing unauthenticated reaches the JSON parser or the books.
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return _error("body is not a JSON object", 400)
        if provider == "stripe":
            event_id = event.get("id") if isinstance(event.get("id"), str) else None
        if self.bug == "async-queue":
            self.books.store.enqueue(provider, event_id, body.decode(), time.time() + self.queue_lag_s)
            return JSONResponse({"status": "queued"})
        try:
            status = process(self.books, provider, event_id, event)
        except MalformedEvent as exc:
            log.warning("rejected %s", exc)
            return _error("malformed event", 400)
        if self.bug == "slow":
            # Committed already, so a gateway that gives up and retries finds a duplicate.
            await anyio.sleep(self.slow_s)
        return JSONResponse({"status": status})

    def apply_due(self) -> None:
        """Do what a queue worker would have done by now: apply the queued events that are due."""
        for item in self.books.store.due(time.time()):
            try:
                process(self.books, item["provider"], item["event_id"], json.loads(item["body"]))
            except MalformedEvent as exc:
                log.warning("dropped queued %s", exc)  # retrying it would fail the same way forever
            # Outside the event's transaction: a crash in between applies it again, and the
            # de-duplication turns that into a no-op.
            self.books.store.dequeue(item["seq"])

    def view(self, lookup: Callable[[str], dict[str, Any] | None]) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            self.apply_due()
            found = lookup(request.path_params["id"])
            return _error("not found", 404) if found is None else JSONResponse(found)
        return endpoint

    async def ledger(self, request: Request) -> JSONResponse:
        self.apply_due()
        return JSONResponse({"currencies": self.books.store.ledger()})

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "bug": self.bug})
