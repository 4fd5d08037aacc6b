"""A Stripe that misbehaves — 429 with Retry-After, 500, a request processed but never answered —
is data: the run finishes, every attempt is recorded in `gateway_calls`, a call that never
succeeds leaves its fact `failed` (its children simulated), and nothing is created twice (the
fake counts creations by idempotency key, as Stripe keys them)."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections import Counter
from urllib.parse import parse_qsl

import servers
from cli_run import rows

from carbonc import api
from carbonc.exec import RunOptions
from carbonc.gateways import RetryPolicy, choose
from carbonc.scenarios import find

KEY = "sk_test_carbonc0fake0stripe0key"


class FakeStripe:
    """Payment intents and refunds as Stripe's API reference describes them, checking each request
    is authenticated and carries an idempotency key; an answer is replayed for a key seen before.
    `script` decides per (operation, plan id) how the first attempts misbehave."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = script  # plan id -> ["429", "500", "hang", ...] for its first attempts
        self.lock = threading.Lock()
        self.by_key: dict[str, tuple[int, bytes]] = {}
        self.created: Counter[str] = Counter()  # plan id + operation -> objects created
        self.attempts: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.intents: dict[str, dict] = {}
        self.ids = itertools.count(1)
        self.refused: list[str] = []

    def respond(self, request: servers.Received, exchange: servers.Exchange) -> None:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            self.refused.append("auth")
            return exchange.send(401, b'{"error": {"message": "Invalid API Key provided"}}')
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            self.refused.append(f"{request.method} {request.path} without an idempotency key")
            return exchange.send(400, b'{"error": {"message": "bad request"}}')
        form = dict(parse_qsl(request.body.decode()))
        with self.lock:
            self.attempts[key] += 1
            self.arrivals.setdefault(key, []).append(time.monotonic())
            plan_id = key.split("-")[-2]
            step = self.script.get(plan_id, [])
            fault = step[self.attempts[key] - 1] if self.attempts[key] <= len(step) else None
            if fault == "429":
                return exchange.send(429, b'{"error": {"message": "Too many requests"}}', {"Retry-After": "1"})
            if fault == "500":
                return exchange.send(500, b'{"error": {"message": "An unknown error occurred"}}')
            if fault == "huge":  # an answer no API object needs: refused, not held in memory
                return exchange.send(200, b"{" + b" " * (2 << 20) + b"}", {"Content-Type": "application/json"})
            if key in self.by_key:
                status, body = self.by_key[key]  # Stripe replays the first answer for a key
            else:
                status, body = self.handle(request.path, form)
                self.by_key[key] = (status, body)
        if fault == "hang":
            # Processed, then never answered: only the idempotency key keeps a retry from creating again.
            exchange.wait_closed(10)
            return None
        return exchange.send(status, body, {"Content-Type": "application/json"})

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, bytes]:
        if path == "/v1/payment_intents":
            if not form.get("amount", "").isdigit() or form.get("payment_method") not in (
                    "pm_card_visa", "pm_card_chargeCustomerFail"):
                return 400, b'{"error": {"message": "malformed payment intent"}}'
            pi = f"pi_fake{next(self.ids):06d}"
            self.created[form["metadata[carbonc_plan_id]"] + ":intent"] += 1
            self.intents[pi] = {"id": pi, "object": "payment_intent", "amount": int(form["amount"]),
                                "status": "requires_confirmation", "capture_method": form["capture_method"]}
            return 200, json.dumps(self.intents[pi]).encode()
        if path.startswith("/v1/payment_intents/") and path.endswith("/confirm"):
            intent = self.intents[path.split("/")[3]]
            intent["status"] = "succeeded"
            intent["latest_charge"] = "ch_" + intent["id"][3:]
            return 200, json.dumps(intent).encode()
        if path == "/v1/refunds":
            self.created[form["metadata[carbonc_plan_id]"] + ":refund"] += 1
            return 200, json.dumps({"id": f"re_fake{next(self.ids):06d}", "object": "refund", "status": "succeeded",
                                    "amount": int(form["amount"])}).encode()
        return 404, b'{"error": {"message": "unknown path"}}'



def test_a_misbehaving_gateway_is_recorded_and_nothing_is_created_twice(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "6", "edge_orders": "4"})
    entities = [r for r in plan.records() if type(r).__name__ == "Entity"]
    payments = [e.id for e in entities if e.kind == "payment"]
    refunded = {e.parent for e in entities if e.kind == "refund"}
    doomed = next(p for p in payments[3:] if p in refunded)  # always 500: its refunds stay simulated
    script = {payments[0]: ["429"], payments[1]: ["500", "500"], payments[2]: ["hang"],
              doomed: ["500"] * 10}
    fake = FakeStripe(script)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as srv:
        credentials, _ = choose("stripe", None, {"key": KEY}, environ={}, api_base=srv.url)
        options = RunOptions(provider="stripe", gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=4, timeout_s=1.0, backoff_s=0.05, concurrency=4))
        result = api.run(plan, options, db)
    assert result.status == "completed", result.error
    assert not fake.refused
    # Nothing created twice, whatever was retried.
    assert fake.created and max(fake.created.values()) == 1
    # Every attempt is a row: the 429, the two 500s and the hang before each success.
    calls = rows(db, "select entity_id, operation, attempt, status_code, error from gateway_calls")
    by = Counter((e, op) for e, op, *_ in calls)
    assert by[(payments[0], "create")] == 2 and by[(payments[1], "create")] == 3 and by[(payments[2], "create")] == 2
    assert any(e == payments[0] and code == 429 for e, _, _, code, _ in calls)
    assert any(e == payments[2] and error and error.startswith("timeout") for e, _, _, _, error in calls)
    # Retry-After: 1 was honoured.
    first, second = fake.arrivals[f"carbonc-{result.run_id}-{payments[0]}-create"][:2]
    assert second - first >= 0.95
    # The one that never succeeded is a fact of the run, and its refunds are simulated because of it.
    assert by[(doomed, "create")] == 4
    (status, note), = rows(db, f"select gateway_status, gateway_note from entities where entity_id = '{doomed}'")
    assert status == "failed" and "HTTP 500" in note and "after 4 attempts" in note
    refund_states = rows(db, f"select distinct gateway_status from entities where kind = 'refund' and parent_id = '{doomed}'")
    assert refund_states == [("simulated",)]
    assert any("1 failed" in w for w in result.warnings)
    # Every other payment and refund is real, with the ID the fake created.
    assert rows(db, f"select count(*) from entities where kind = 'payment' and gateway_status = 'real' "
                     f"and entity_id <> '{doomed}'") == [(len(payments) - 1,)]
    assert KEY.encode() not in db.read_bytes()


def test_a_gateway_that_asks_to_wait_too_long_fails_the_call_not_the_run(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "1", "edge_orders": "0"})

    def respond(request: servers.Received, exchange: servers.Exchange) -> None:
        exchange.send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "3600"})

    db = tmp_path / "runs.duckdb"
    with servers.Server(respond) as srv:
        credentials, _ = choose("stripe", None, {"key": KEY}, environ={}, api_base=srv.url)
        result = api.run(plan, RunOptions(provider="stripe", gateway=credentials,
                                          gateway_policy=RetryPolicy(max_wait_s=5)), db)
    assert result.status == "completed"
    (note,), = rows(db, "select gateway_note from entities where kind = 'payment'")
    assert "asked to wait 3600 s" in note
    assert rows(db, "select count(*) from gateway_calls") == [(1,)]


def test_a_run_interrupted_while_creating_says_which_real_objects_exist(tmp_path):
    # The fake raises SIGINT in this process as the second confirmation arrives (a Ctrl-C at a
    # known moment: the first payment is real by then), then answers it; creation stops, and the store says exactly which of the
    # plan's facts were made real (each one the fake holds) and which the gateway never saw.
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "6", "edge_orders": "0"})
    entities = [r for r in plan.records() if type(r).__name__ == "Entity"]
    fake = FakeStripe({})
    confirms = itertools.count(1)

    def respond(request: servers.Received, exchange: servers.Exchange) -> None:
        if request.path.endswith("/confirm") and next(confirms) == 2:
            signal.raise_signal(signal.SIGINT)
        fake.respond(request, exchange)

    db = tmp_path / "runs.duckdb"
    with servers.Server(respond) as srv, servers.lax() as hooks:
        credentials, _ = choose("stripe", None, {"key": KEY}, environ={}, api_base=srv.url)
        options = RunOptions(provider="stripe", url=hooks.url, gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=2, timeout_s=2.0, backoff_s=0.05, concurrency=1))
        result = api.run(plan, options, db)
        delivered = len(hooks.requests)
    assert result.status == "interrupted" and delivered == 0
    recorded = rows(db, "select entity_id, gateway_status, gateway_id, gateway_note from entities")
    assert sorted(e for e, *_ in recorded) == sorted(e.id for e in entities)  # every fact has its row
    real = {gateway_id for _, status, gateway_id, _ in recorded if status == "real"}
    assert real and real <= set(fake.intents)
    unreached = [note for _, status, _, note in recorded if status == "simulated" and note and "interrupted" in note]
    assert unreached
    assert any("interrupted before" in w and "created" in w for w in result.warnings)


def test_an_oversized_gateway_answer_is_refused_not_read(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "2", "edge_orders": "0"})
    payments = [r.id for r in plan.records() if type(r).__name__ == "Entity" and r.kind == "payment"]
    fake = FakeStripe({payments[0]: ["huge"] * 10})
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as srv:
        credentials, _ = choose("stripe", None, {"key": KEY}, environ={}, api_base=srv.url)
        options = RunOptions(provider="stripe", gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=2, timeout_s=5.0, backoff_s=0.05, concurrency=2))
        result = api.run(plan, options, db)
    assert result.status == "completed", result.error
    (status, note), = rows(db, f"select gateway_status, gateway_note from entities where entity_id = '{payments[0]}'")
    assert status == "failed" and "more than 1,048,576 bytes: not read" in note
    assert rows(db, "select count(*) from entities where kind = 'payment' and gateway_status = 'real'") == [(1,)]
