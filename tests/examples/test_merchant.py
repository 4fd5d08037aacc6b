"""The demo merchant, correct (`none`) and with each bug planted, fed hand-written signed events."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio

SECRET = "carbon"
_ids = itertools.count(1)


class Client:
    """Calls the app in-process on trio, as carbonc's runs do, one request at a time."""

    def __init__(self, app: Any):
        self.app = app

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://merchant") as client:
                return await client.request(method, path, **options)
        return trio.run(send)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)


@pytest.fixture
def merchant(demo, tmp_path) -> Iterator[Any]:
    """Builds a merchant with a bug planted, on a database in tmp_path."""
    apps = []

    def build(bug: str = "none", **options: Any) -> Client:
        app = demo.create_app(bug, SECRET, str(tmp_path / f"{bug}-{len(apps)}.db"), **options)
        apps.append(app)
        return Client(app)

    yield build
    for app in apps:
        app.state.store.close()


# Razorpay: an envelope around entities, signed in X-Razorpay-Signature.

def payment(pid: str, status: str, *, order_id: str | None = "order_1", amount: int = 50000,
            error_reason: str | None = None) -> dict[str, Any]:
    return {"id": pid, "entity": "payment", "amount": amount, "currency": "INR", "status": status,
            "order_id": order_id, "method": "card", "amount_refunded": 0, "captured": status == "captured",
            "error_code": "BAD_REQUEST_ERROR" if error_reason else None, "error_reason": error_reason}


def rzp(event: str, **entities: dict[str, Any]) -> dict[str, Any]:
    return {"entity": "event", "account_id": "acc_TestAccount01", "event": event, "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": int(time.time())}


def post_rzp(client: Client, event: dict[str, Any], *, event_id: str | None = None, secret: str | None = SECRET,
             body: bytes | None = None) -> httpx.Response:
    body = json.dumps(event).encode() if body is None else body
    headers = {"Content-Type": "application/json", "x-razorpay-event-id": event_id or f"evt_{next(_ids)}"}
    if secret is not None:
        headers["X-Razorpay-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/razorpay", content=body, headers=headers)


def captured(client: Client, pid: str = "pay_1", *, event_id: str | None = None, **fields: Any) -> httpx.Response:
    return post_rzp(client, rzp("payment.captured", payment=payment(pid, "captured", **fields)), event_id=event_id)


def refund_event(state: str, *, rid: str = "rfnd_1", amount: int = 50000) -> dict[str, Any]:
    refund = {"id": rid, "entity": "refund", "amount": amount, "currency": "INR", "payment_id": "pay_1",
              "status": {"created": "pending"}.get(state, state)}
    return rzp(f"refund.{state}", refund=refund, payment=payment("pay_1", "refunded"))


# Stripe: an event object around `data.object`, signed in Stripe-Signature as t=…,v1=….

def post_stripe(client: Client, kind: str, obj: dict[str, Any], *, event_id: str | None = None,
                previous: dict[str, Any] | None = None, secret: str = SECRET, age_s: int = 0) -> httpx.Response:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    event = {"id": event_id or f"evt_{next(_ids)}", "object": "event", "api_version": "2024-06-20",
             "created": int(time.time()), "data": data, "livemode": False, "type": kind}
    body = json.dumps(event, indent=2).encode()
    t = int(time.time()) - age_s
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": f"t={t},v1={v1}"})


def intent(status: str, *, pid: str = "pi_1", decline_code: str | None = None) -> dict[str, Any]:
    error = {"code": "card_declined", "decline_code": decline_code, "type": "card_error"} if decline_code else None
    return {"id": pid, "object": "payment_intent", "amount": 2500, "currency": "usd", "status": status,
            "last_payment_error": error, "metadata": {"order_id": "order_s1"}}


def get(client: Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


# A correct merchant.

def test_health_names_the_planted_bug(merchant):
    assert get(merchant("trust-order"), "/health") == {"status": "ok", "bug": "trust-order"}


def test_a_capture_pays_its_order_once_however_often_it_arrives(merchant):
    client = merchant()
    assert post_rzp(client, rzp("payment.authorized", payment=payment("pay_1", "authorized"))).json() == {
        "status": "ok"}
    assert captured(client, event_id="evt_cap").json() == {"status": "ok"}
    assert captured(client, event_id="evt_cap").json() == {"status": "duplicate"}
    assert captured(client, event_id="evt_cap_resent").json() == {"status": "ok"}  # a new ID, the same capture

    assert get(client, "/orders/order_1") == {"id": "order_1", "status": "paid", "amount": 50000,
                                              "amount_paid": 50000, "currency": "INR", "payments": ["pay_1"]}
    assert get(client, "/payments/pay_1") == {
        "id": "pay_1", "order_id": "order_1", "status": "captured", "amount": 50000, "amount_refunded": 0,
        "refunds": 0, "currency": "INR", "failure_reason": None, "disputes": []}
    assert get(client, "/ledger") == {"currencies": {"INR": {"captured": 50000, "refunded": 0, "disputed": 0,
                                                             "lost": 0}}}


@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_forgeries_are_rejected_before_deduplication(merchant, secret):
    client = merchant()
    assert captured(client, event_id="evt_1").status_code == 200
    # A forgery reusing a processed event's ID is still a forgery, not a duplicate.
    forged = post_rzp(client, rzp("payment.captured", payment=payment("pay_1", "captured")), event_id="evt_1",
                      secret=secret)
    assert (forged.status_code, forged.json()) == (400, {"error": "invalid signature"})
    assert post_rzp(client, rzp("payment.captured", payment=payment("pay_2", "captured")),
                    secret=secret).status_code == 400
    assert client.get("/payments/pay_2").status_code == 404


def test_a_corrupted_signature_is_rejected(merchant):
    client = merchant()
    body = json.dumps(rzp("payment.captured", payment=payment("pay_1", "captured"))).encode()
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    bad = ("0" if good[0] != "0" else "1") + good[1:]
    response = client.post("/webhooks/razorpay", content=body, headers={"X-Razorpay-Signature": bad})
    assert response.status_code == 400


def test_during_a_rotation_the_previous_secret_is_accepted_too(merchant):
    client = merchant(previous_secret="carbon-old")
    assert post_rzp(client, rzp("payment.captured", payment=payment("pay_1", "captured")),
                    secret="carbon-old").status_code == 200
    assert post_stripe(client, "payment_intent.succeeded", intent("succeeded"), secret="carbon-old").status_code == 200
    assert post_rzp(client, rzp("payment.captured", payment=payment("pay_2", "captured")),
                    secret="carbon-older").status_code == 400


def test_late_events_never_move_state_backwards(merchant):
    client = merchant()
    captured(client, "pay_2")
    # The first attempt's failure and the second's authorisation arrive after the capture.
    post_rzp(client, rzp("payment.failed", payment=payment("pay_1", "failed", error_reason="payment_declined")))
    post_rzp(client, rzp("payment.authorized", payment=payment("pay_2", "authorized")))
    assert get(client, "/orders/order_1")["status"] == "paid"
    assert get(client, "/orders/order_1")["payments"] == ["pay_2", "pay_1"]
    assert get(client, "/payments/pay_2")["status"] == "captured"
    assert get(client, "/payments/pay_1")["failure_reason"] == "payment_declined"


def test_an_order_is_failed_only_while_every_attempt_has_failed(merchant):
    client = merchant()
    post_rzp(client, rzp("payment.failed", payment=payment("pay_1", "failed", error_reason="insufficient_balance")))
    assert get(client, "/orders/order_1")["status"] == "failed"
    assert get(client, "/payments/pay_1")["status"] == "failed"
    post_rzp(client, rzp("payment.authorized", payment=payment("pay_2", "authorized")))
    assert get(client, "/orders/order_1")["status"] == "pending"
    captured(client, "pay_2")
    assert get(client, "/orders/order_1")["status"] == "paid"
    assert get(client, "/orders/order_1")["amount_paid"] == 50000


def test_order_paid_gives_the_order_its_amount(merchant):
    client = merchant()
    order = {"id": "order_1", "entity": "order", "amount": 60000, "amount_paid": 60000, "currency": "INR",
             "status": "paid"}
    post_rzp(client, rzp("order.paid", payment=payment("pay_1", "captured", amount=60000), order=order))
    captured(client, amount=60000)  # the capture arriving after order.paid credits nothing more
    assert get(client, "/orders/order_1") == {"id": "order_1", "status": "paid", "amount": 60000,
                                              "amount_paid": 60000, "currency": "INR", "payments": ["pay_1"]}


def test_a_refund_is_booked_once(merchant):
    client = merchant()
    captured(client)
    post_rzp(client, refund_event("created"))
    assert get(client, "/refunds/rfnd_1")["status"] == "created"
    assert post_rzp(client, refund_event("processed"), event_id="evt_r").json() == {"status": "ok"}
    assert post_rzp(client, refund_event("processed"), event_id="evt_r").json() == {"status": "duplicate"}
    post_rzp(client, refund_event("created"))  # late
    assert get(client, "/refunds/rfnd_1") == {"id": "rfnd_1", "payment_id": "pay_1", "status": "processed",
                                              "amount": 50000, "currency": "INR"}
    paid = get(client, "/payments/pay_1")
    assert (paid["status"], paid["amount_refunded"], paid["refunds"]) == ("captured", 50000, 1)
    assert get(client, "/ledger")["currencies"]["INR"]["refunded"] == 50000


def test_a_dispute_outcome_is_final(merchant):
    client = merchant()
    captured(client)

    def dispute(state: str) -> dict[str, Any]:
        entity = {"id": "disp_1", "entity": "dispute", "payment_id": "pay_1", "amount": 50000, "currency": "INR",
                  "status": {"created": "open"}.get(state, state)}
        return rzp(f"payment.dispute.{state}", payment=payment("pay_1", "captured"), dispute=entity)

    for state in ("created", "under_review", "lost", "under_review"):
        assert post_rzp(client, dispute(state)).status_code == 200
    assert get(client, "/disputes/disp_1") == {"id": "disp_1", "payment_id": "pay_1", "status": "lost",
                                               "amount": 50000, "currency": "INR"}
    assert get(client, "/payments/pay_1")["disputes"] == ["disp_1"]
    assert get(client, "/ledger")["currencies"]["INR"] == {"captured": 50000, "refunded": 0, "disputed": 50000,
                                                           "lost": 50000}


def test_mandates_follow_their_token(merchant):
    client = merchant()

    def token(tid: str, status: str, reason: str | None = None) -> dict[str, Any]:
        entity = {"id": tid, "entity": "token", "method": "upi", "recurring": True,
                  "recurring_details": {"status": status, "failure_reason": reason}}
        return rzp(f"token.{status}", token=entity)

    post_rzp(client, token("token_1", "rejected", "mandate_declined_by_customer"))
    assert get(client, "/mandates/token_1") == {"id": "token_1", "status": "rejected",
                                                "rejection_reason": "mandate_declined_by_customer"}
    for status in ("confirmed", "paused", "confirmed", "cancelled", "confirmed"):
        post_rzp(client, token("token_2", status))
    assert get(client, "/mandates/token_2") == {"id": "token_2", "status": "cancelled", "rejection_reason": None}


def test_what_is_not_understood_is_answered_plainly(merchant):
    client = merchant()
    settlement = {"id": "setl_1", "entity": "settlement", "amount": 100, "status": "processed"}
    assert post_rzp(client, rzp("settlement.processed", settlement=settlement)).json() == {"status": "ignored"}
    assert post_rzp(client, {"event": "payment.brand_new"}).json() == {"status": "ignored"}
    assert post_rzp(client, {}, body=b"not json").status_code == 400
    assert post_rzp(client, {}, body=b"[1, 2]").status_code == 400
    # Signed, of a known type, but not integer minor units: rejected, and not remembered as done.
    response = post_rzp(client, rzp("payment.captured", payment=payment("pay_1", "captured", amount="500.00")),
                        event_id="evt_bad")
    assert (response.status_code, response.json()) == (400, {"error": "malformed event"})
    assert captured(client, event_id="evt_bad").json() == {"status": "ok"}
    for path in ("/orders/nope", "/payments/nope", "/refunds/nope", "/disputes/nope", "/mandates/nope"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (404, {"error": "not found"})


def test_bodies_over_a_mebibyte_are_refused(merchant):
    client = merchant()
    response = post_rzp(client, {}, body=b" " * (1024 * 1024 + 1))
    assert response.status_code == 413


def test_stripe_payment_intents_and_checkout(merchant):
    client = merchant()
    failed = post_stripe(client, "payment_intent.payment_failed", intent("requires_payment_method", pid="pi_0",
                                                                         decline_code="insufficient_funds"))
    assert failed.json() == {"status": "ok"}
    assert get(client, "/payments/pi_0")["failure_reason"] == "insufficient_funds"
    assert get(client, "/orders/order_s1")["status"] == "failed"
    assert post_stripe(client, "payment_intent.succeeded", intent("succeeded"), event_id="evt_s").status_code == 200
    assert post_stripe(client, "payment_intent.succeeded", intent("succeeded"), event_id="evt_s").json() == {
        "status": "duplicate"}
    session = {"id": "cs_test_1", "object": "checkout.session", "amount_total": 2500, "currency": "usd",
               "client_reference_id": "order_s1", "metadata": {"order_id": "order_s1"}, "payment_intent": "pi_1",
               "payment_status": "paid", "status": "complete"}
    assert post_stripe(client, "checkout.session.completed", session).json() == {"status": "ok"}
    assert get(client, "/orders/order_s1") == {"id": "order_s1", "status": "paid", "amount": 2500,
                                               "amount_paid": 2500, "currency": "USD", "payments": ["pi_0", "pi_1"]}
    assert post_stripe(client, "payout.paid", {"id": "po_1", "object": "payout"}).json() == {"status": "ignored"}


def test_stripe_signatures(merchant):
    client = merchant()
    assert post_stripe(client, "payment_intent.succeeded", intent("succeeded"), secret="whsec_other").status_code == 400
    assert post_stripe(client, "payment_intent.succeeded", intent("succeeded"), age_s=301).status_code == 400
    missing = client.post("/webhooks/stripe", content=b'{"id": "evt_x", "type": "payment_intent.succeeded"}')
    assert (missing.status_code, missing.json()) == (400, {"error": "invalid signature"})
    assert client.get("/payments/pi_1").status_code == 404


def test_stripe_refunds_disputes_and_mandates(merchant):
    client = merchant()
    post_stripe(client, "payment_intent.succeeded", intent("succeeded"))
    refund = {"id": "re_1", "object": "refund", "amount": 1000, "currency": "usd", "payment_intent": "pi_1",
              "charge": "ch_1", "status": "pending"}
    post_stripe(client, "refund.created", refund)
    for _ in range(2):  # Stripe's event IDs differ per event, not per delivery: two updates, one booking
        post_stripe(client, "refund.updated", {**refund, "status": "succeeded"}, previous={"status": "pending"})
    assert get(client, "/refunds/re_1")["status"] == "processed"
    assert get(client, "/payments/pi_1")["amount_refunded"] == 1000

    dispute = {"id": "dp_1", "object": "dispute", "amount": 2500, "currency": "usd", "payment_intent": "pi_1",
               "charge": "ch_1", "status": "needs_response"}
    post_stripe(client, "charge.dispute.created", dispute)
    assert get(client, "/disputes/dp_1")["status"] == "open"
    post_stripe(client, "charge.dispute.closed", {**dispute, "status": "won"})
    assert get(client, "/disputes/dp_1")["status"] == "won"

    def mandate(mid: str, status: str, previous: str) -> None:
        post_stripe(client, "mandate.updated", {"id": mid, "object": "mandate", "status": status},
                    previous={"status": previous})

    mandate("mandate_1", "inactive", "pending")
    mandate("mandate_2", "active", "pending")
    mandate("mandate_2", "inactive", "active")
    assert get(client, "/mandates/mandate_1")["status"] == "rejected"
    assert get(client, "/mandates/mandate_2")["status"] == "cancelled"
    assert get(client, "/ledger") == {"currencies": {"USD": {"captured": 2500, "refunded": 1000, "disputed": 2500,
                                                             "lost": 0}}}


# Each bug.

@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_accept_forged_takes_anything(merchant, secret):
    client = merchant("accept-forged")
    forged = rzp("payment.captured", payment=payment("pay_1", "captured"))
    assert post_rzp(client, forged, event_id="evt_f", secret=secret).json() == {"status": "ok"}
    assert post_rzp(client, forged, event_id="evt_f", secret=secret).json() == {"status": "duplicate"}
    assert get(client, "/orders/order_1")["amount_paid"] == 50000


def test_not_idempotent_books_every_delivery(merchant):
    client = merchant("not-idempotent")
    for _ in range(3):
        assert captured(client, event_id="evt_cap").json() == {"status": "ok"}
    for _ in range(2):
        post_rzp(client, refund_event("processed"), event_id="evt_r")
    assert get(client, "/orders/order_1")["amount_paid"] == 150000
    paid = get(client, "/payments/pay_1")
    assert (paid["amount_refunded"], paid["refunds"]) == (100000, 2)
    assert get(client, "/ledger")["currencies"]["INR"]["captured"] == 150000
    assert get(client, "/ledger")["currencies"]["INR"]["refunded"] == 100000


def test_trust_order_lets_a_late_event_win(merchant):
    client = merchant("trust-order")
    captured(client, "pay_2")
    post_rzp(client, rzp("payment.failed", payment=payment("pay_1", "failed", error_reason="payment_declined")))
    assert get(client, "/orders/order_1")["status"] == "failed"
    post_rzp(client, rzp("payment.authorized", payment=payment("pay_2", "authorized")))
    assert get(client, "/payments/pay_2")["status"] == "authorized"
    assert get(client, "/orders/order_1")["amount_paid"] == 50000  # still credited once


def test_float_amounts_lose_a_paisa(merchant):
    client = merchant("float-amounts")
    captured(client, amount=115)
    post_rzp(client, refund_event("processed", amount=115))
    order = get(client, "/orders/order_1")
    assert (order["amount"], order["amount_paid"]) == (114, 114)
    paid = get(client, "/payments/pay_1")
    assert (paid["amount"], paid["amount_refunded"]) == (114, 114)
    assert get(client, "/ledger")["currencies"]["INR"]["captured"] == 114
    captured(client, "pay_2", order_id="order_2", amount=50000)
    assert get(client, "/orders/order_2")["amount"] == 50000  # round rupees survive, which hides the bug


def test_slow_answers_late_but_books_right(merchant):
    client = merchant("slow", slow_s=0.2)
    started = time.monotonic()
    assert captured(client, event_id="evt_1").json() == {"status": "ok"}
    assert time.monotonic() - started >= 0.2
    assert captured(client, event_id="evt_1").json() == {"status": "duplicate"}
    assert get(client, "/orders/order_1")["amount_paid"] == 50000


def test_slow_keeps_its_work_when_the_gateway_hangs_up_under_trio(demo, tmp_path):
    app = demo.create_app("slow", SECRET, str(tmp_path / "slow.db"), slow_s=5.0)
    body = json.dumps(rzp("payment.captured", payment=payment("pay_1", "captured"))).encode()
    headers = {"X-Razorpay-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
               "x-razorpay-event-id": "evt_1"}

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://merchant") as client:
            with trio.move_on_after(0.1) as timeout:
                await client.post("/webhooks/razorpay", content=body, headers=headers)
            assert timeout.cancelled_caught
            return (await client.get("/orders/order_1")).json()

    try:
        assert trio.run(scenario)["status"] == "paid"
    finally:
        app.state.store.close()


def test_async_queue_applies_events_after_a_lag(merchant):
    client = merchant("async-queue", queue_lag_s=0.2)
    assert captured(client, event_id="evt_1").json() == {"status": "queued"}
    assert captured(client, event_id="evt_1").json() == {"status": "queued"}
    assert post_rzp(client, rzp("payment.captured", payment=payment("pay_9", "captured")),
                    secret="wrong").status_code == 400
    assert client.get("/orders/order_1").status_code == 404
    time.sleep(0.25)
    assert get(client, "/orders/order_1")["amount_paid"] == 50000


# The app's construction and its command line.

def test_unknown_bugs_are_refused(demo, tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown bug"):
        demo.create_app("typo", db_path=str(tmp_path / "x.db"))
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module("examples.merchant.__main__").main(["--bug", "typo"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_app_is_built_from_the_environment(demo, tmp_path):
    app = demo.app_from_environment({"CARBON_DEMO_BUG": "float-amounts", "CARBON_DEMO_DB": str(tmp_path / "env.db")})
    try:
        assert get(Client(app), "/health")["bug"] == "float-amounts"
        assert (tmp_path / "env.db").exists()
    finally:
        app.state.store.close()
