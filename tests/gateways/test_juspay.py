"""The Juspay gateway end to end against a local Juspay API built from its reference
(`fake_juspay`): `carbonc run --juspay-key … --juspay-merchant-id … --api-base …` creates
orders, transactions and refunds there, the webhooks a handler receives carry their IDs, and a
Juspay that misbehaves is data: the run finishes, every attempt is recorded, and nothing is
created twice although Juspay has no idempotency key."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import servers
from cli_run import rows, run
from fake_juspay import FakeJuspay

from carbonc import api
from carbonc.exec import RunOptions
from carbonc.gateways import RetryPolicy, choose
from carbonc.scenarios import find

KEY = "8D2F0A7C1B3E4F5A6B7C8D9E0F1A2B3C"
MERCHANT = "carbonc_test_merchant"
WEBHOOK_SECRET = "merchant:j5-hook-s3cret"

#: UPI payments of every outcome: captured and declined ones are real, the rest simulated.
MIX = """
scenario juspay-mix {
  about "captured, declined, pending and authorised-then-captured UPI payments"
  param orders = 12 "Orders"
  seed 9
  phase checkout {
    create orders count orders amount INR 250 method upi
    pay each order {
      failed 25% code BAD_REQUEST_ERROR reason payment_declined
      pending 10%
      authorized 20% then { captured 100% after 1h }
      captured rest
    }
  }
  phase refunds after checkout {
    refund 50% of captured payments after 1d { processed 100% amount full after 1h }
  }
}
"""




def test_a_real_run_delivers_webhooks_that_name_orders_existing_in_the_sandbox(tmp_path):
    fake = FakeJuspay(KEY, MERCHANT)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv, servers.strict("juspay", WEBHOOK_SECRET) as hooks:
        result = run("run", "min-amount", "--set", "baseline_orders=4", "--set", "edge_orders=4",
                     "--provider", "juspay", "--juspay-key", KEY, "--juspay-merchant-id", MERCHANT,
                     "--api-base", api_srv.url, "--webhook-url", hooks.url + "/hooks",
                     "--webhook-secret", WEBHOOK_SECRET, "--db", str(db), "--skip-probes", "--output", "json")
        received = list(hooks.requests)
    assert result.exit_code == 0, result.output
    assert not fake.refused, fake.refused
    # Every delivery passed the strict endpoint's Basic auth check.
    assert json.loads(result.stdout)["deliveries"]["total"] == len(received) > 0
    assert rows(db, "select count(*) from deliveries where status_code <> 200") == [(0,)]
    assert rows(db, "select gateway from runs") == [("juspay",)]
    real = dict(rows(db, "select entity_id, gateway_id from entities where gateway_status = 'real'"))
    assert sum(1 for e in real if e.startswith("order_")) == 8 and sum(1 for e in real if e.startswith("pay_")) == 8
    assert sum(1 for e in real if e.startswith("rfnd_")) > 0
    # The webhooks carry the fake's IDs, and every one names an object that exists there.
    orders_by_juspay_id = {o["id"]: o for o in fake.orders.values()}
    seen_orders = set()
    for request in received:
        order = json.loads(request.body)["content"]["order"]
        held = fake.orders[order["order_id"]]
        assert order["id"] == held["id"] and order["id"] in orders_by_juspay_id
        assert order["txn_uuid"] == held["txn_uuid"] and order["txn_id"] == held["txn_id"]
        for refund in order.get("refunds", []):
            assert refund["id"] in {r["id"] for r in held["refunds"]}
            assert refund["unique_request_id"] in real
        seen_orders.add(order["id"])
    assert seen_orders == {v for k, v in real.items() if k.startswith("order_")}
    # Created once each.
    assert fake.creates and max(fake.creates.values()) == 1
    # The key is nowhere: not in the database file's bytes, not in any output.
    assert KEY.encode() not in db.read_bytes()
    assert KEY not in result.output and KEY not in (result.stderr or "")


def test_captured_and_declined_payments_are_real_and_the_rest_simulated_with_a_reason(tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    fake = FakeJuspay(KEY, MERCHANT)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv:
        result = run("run", str(source), "--provider", "juspay", "--gateway", "real", "--db", str(db),
                     env={"JUSPAY_API_KEY": KEY, "JUSPAY_MERCHANT_ID": MERCHANT,
                          "CARBON_JUSPAY_API_BASE": api_srv.url})
    assert result.exit_code == 0, result.output
    payments = rows(db, "select e.entity_id, e.state, e.gateway_id, e.gateway_status, e.gateway_note, "
                        "o.gateway_id from entities e join entities o on o.entity_id = e.parent_id "
                        "where e.kind = 'payment'")
    states = {state for _, state, *_ in payments}
    assert {"failed", "pending", "captured", "refunded"} <= states
    by_juspay_id = {o["id"]: o for o in fake.orders.values()}
    for entity_id, state, gateway_id, status, note, order_id in payments:
        order = by_juspay_id[order_id]  # every order is real
        if state == "pending":
            assert status == "simulated" and gateway_id is None and "cannot stay pending" in note
            assert "txn_uuid" not in order
        elif status == "simulated":
            assert "authorised, then captured" in note, (entity_id, note)
        else:
            assert status == "real", (entity_id, note)
            assert order["txn_uuid"] == gateway_id
            assert order["status"] == ("AUTHORIZATION_FAILED" if state == "failed" else "CHARGED")
    assert rows(db, "select count(*) from entities where kind = 'refund' and gateway_status = 'real'") != [(0,)]
    assert KEY.encode() not in db.read_bytes() and KEY not in result.output


def test_a_misbehaving_juspay_is_recorded_and_nothing_is_created_twice(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "6", "edge_orders": "4"})
    entities = [r for r in plan.records() if type(r).__name__ == "Entity"]
    orders = [e.id for e in entities if e.kind == "order"]
    suffix = {o: o.rpartition("_")[2] for o in orders}
    payment_of = {e.parent: e.id for e in entities if e.kind == "payment"}
    refunded = {e.parent for e in entities if e.kind == "refund"}
    with_refunds = [o for o in orders if payment_of[o] in refunded]
    doomed = orders[5]  # its order always fails: its payment and refunds stay simulated
    script = {("orders", suffix[orders[0]]): ["429"], ("orders", suffix[orders[1]]): ["500", "500"],
              ("orders", suffix[orders[2]]): ["hang"], ("txns", suffix[orders[3]]): ["hang"],
              ("refunds", suffix[with_refunds[0]]): ["hang"], ("orders", suffix[doomed]): ["500"] * 10}
    fake = FakeJuspay(KEY, MERCHANT, script)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as srv:
        credentials, _ = choose("juspay", None, {"api_key": KEY, "merchant_id": MERCHANT}, environ={},
                                api_base=srv.url)
        options = RunOptions(provider="juspay", gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=4, timeout_s=1.0, backoff_s=0.05, concurrency=4))
        result = api.run(plan, options, db)
    assert result.status == "completed", result.error
    assert not fake.refused, fake.refused
    # Nothing created twice, counted by order_id: the hung calls were found by looking them up.
    assert fake.creates and max(fake.creates.values()) == 1
    assert len(fake.orders) == len(orders) - 1
    calls = rows(db, "select entity_id, operation, attempt, method, status_code, error from gateway_calls")
    posts = Counter((e, op) for e, op, _, method, *_ in calls if method == "POST")
    assert posts[(orders[0], "create")] == 2 and posts[(orders[1], "create")] == 3
    assert any(e == orders[0] and code == 429 for e, _, _, _, code, _ in calls)
    # A hung create is retried as a look-up, which finds the order: one POST, then a GET.
    assert posts[(orders[2], "create")] == 1
    assert any(e == orders[2] and error and error.startswith("timeout") for e, _, _, _, _, error in calls)
    assert any(e == orders[2] and method == "GET" and code == 200 for e, _, _, method, code, _ in calls)
    assert posts[(payment_of[orders[3]], "create")] == 1
    hung_refunds = [e.id for e in entities if e.kind == "refund" and e.parent == payment_of[with_refunds[0]]]
    assert sum(posts[(r, "refund")] for r in hung_refunds) == len(hung_refunds)
    # The order that never succeeded is a fact of the run; its payment and refunds are simulated.
    assert posts[(doomed, "create")] == 4
    (status, note), = rows(db, "select gateway_status, gateway_note from entities where entity_id = ?", doomed)
    assert status == "failed" and "HTTP 500" in note and "after 4 attempts" in note
    assert rows(db, "select gateway_status from entities where entity_id = ?", payment_of[doomed]) == [("simulated",)]
    assert any("1 failed" in w for w in result.warnings)
    assert rows(db, "select count(*) from entities where gateway_status = 'real' and kind in ('order', 'payment')") \
        == [(2 * len(orders) - 2,)]
    assert KEY.encode() not in db.read_bytes()


@pytest.mark.parametrize("base", ["https://api.juspay.in", "https://api-ns1.juspay.in/"])
def test_the_production_host_is_refused_before_anything_is_recorded(base, tmp_path):
    db = tmp_path / "runs.duckdb"
    for how in ("flag", "env"):
        args = ["--api-base", base] if how == "flag" else []
        result = run("run", "min-amount", "--provider", "juspay", "--juspay-key", KEY, "--juspay-merchant-id",
                     MERCHANT, *args, "--db", str(db), env={"CARBON_JUSPAY_API_BASE": base})
        assert result.exit_code == 2, result.output
        assert "production host" in result.stderr and "--allow-live" in result.stderr
        assert KEY not in result.output
    assert not db.exists()


def test_the_sandbox_is_the_default_and_a_missing_merchant_id_is_named(tmp_path):
    credentials, _ = choose("juspay", "real", {"api_key": KEY, "merchant_id": MERCHANT}, environ={}, api_base=None)
    assert credentials is not None and credentials.api_base == "https://sandbox.juspay.in"
    assert KEY not in repr(credentials)
    result = run("run", "min-amount", "--provider", "juspay", "--juspay-key", KEY, "--db", str(tmp_path / "x.duckdb"),
                 env={"JUSPAY_MERCHANT_ID": ""})
    assert result.exit_code == 2
    assert "--juspay-merchant-id" in result.stderr and "JUSPAY_MERCHANT_ID" in result.stderr
    assert KEY not in result.output


def test_plan_real_shows_which_juspay_facts_are_real_and_which_simulated(tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    result = run("plan", str(source), "--provider", "juspay", "--real")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Gateway (juspay, real)" in out
    assert "orders paid" in out and "payments captured" in out and "refunds processed" in out
    assert "payments pending: the sandbox's test handles decide a transaction at once" in out
    doc = json.loads(run("plan", str(source), "--provider", "juspay", "--real", "--format", "json").stdout)
    facts = {(f["kind"], f["state"], f["real"]) for f in doc["gateway"]["facts"]}
    assert {("order", "paid", True), ("payment", "captured", True), ("payment", "failed", True),
            ("payment", "pending", False), ("refund", "processed", True)} <= facts
