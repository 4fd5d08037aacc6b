"""The Razorpay gateway end to end against a local Razorpay orders API built from its reference
(tests/support/fake_razorpay.py): `carbonc run --provider razorpay --api-key … --api-secret …
--api-base …` creates the plan's orders there, and the webhooks a handler receives verify with the
official Razorpay SDK and name orders that exist in it; payments and what follows stay simulated,
each saying why. A misbehaving API (429, 500, a create processed but never answered) is recorded
and creates nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
import servers
from cli_run import rows, run
from fake_razorpay import FakeRazorpay

from carbonc import api
from carbonc.cli import main
from carbonc.cli.legacy import main as legacy_main
from carbonc.exec import RunOptions
from carbonc.gateways import RetryPolicy, choose
from carbonc.scenarios import find

KEY_ID = "rzp_test_Carbonc0Fake0Key"
KEY_SECRET = "carbonc-razorpay-fake-key-secret-9Qx"
WEBHOOK_SECRET = "carbonc_razorpay_gateway_webhook_secret"




def no_secret_in(db: Path, *texts: str) -> None:
    data = db.read_bytes()
    for secret in (KEY_ID, KEY_SECRET):
        assert secret.encode() not in data
        assert all(secret not in text for text in texts)


def orders_named(received: list[servers.Received]) -> Counter[str]:
    """Every order ID the webhooks name: an order event's order, and each payment's `order_id`."""
    named: Counter[str] = Counter()
    for request in received:
        payload = json.loads(request.body)["payload"]
        if "order" in payload:
            named[payload["order"]["entity"]["id"]] += 1
        if payload.get("payment", {}).get("entity"):
            named[payload["payment"]["entity"]["order_id"]] += 1
    return named


def test_a_real_run_delivers_webhooks_that_name_orders_existing_in_the_sandbox(tmp_path):
    fake = FakeRazorpay(KEY_ID, KEY_SECRET)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv, servers.strict("razorpay", WEBHOOK_SECRET) as hooks:
        result = run("run", "min-amount", "--set", "baseline_orders=4", "--set", "edge_orders=3",
                     "--provider", "razorpay", "--api-key", KEY_ID, "--api-secret", KEY_SECRET,
                     "--api-base", api_srv.url, "--webhook-url", hooks.url + "/hooks",
                     "--webhook-secret", WEBHOOK_SECRET, "--db", str(db), "--skip-probes", "--output", "json")
        received = list(hooks.requests)
        assert result.exit_code == 0, result.output
        # Every request the adapter made was well-formed and authenticated.
        assert not fake.refused, fake.refused
        # Every delivery verified with the official Razorpay SDK (the strict server answers 400 otherwise).
        assert json.loads(result.stdout)["deliveries"]["total"] == len(received) > 0
        assert rows(db, "select count(*) from deliveries where status_code <> 200") == [(0,)]

        real = dict(rows(db, "select entity_id, gateway_id from entities where gateway_status = 'real'"))
        assert rows(db, "select gateway from runs") == [("razorpay",)]
        assert len(real) == 7 and all(e.startswith("order_") for e in real)
        assert set(real.values()) == set(fake.orders) and max(fake.created.values()) == 1
        # The webhooks carry the sandbox's order IDs, never the plan's, and each exists there.
        named = orders_named(received)
        assert set(named) == set(real.values())
        for order_id in named:
            found = httpx.get(f"{api_srv.url}/v1/orders/{order_id}", auth=(KEY_ID, KEY_SECRET), timeout=5)
            assert found.status_code == 200, order_id
        for request in received:
            order = json.loads(request.body)["payload"].get("order", {}).get("entity")
            if order:
                sandbox = fake.orders[order["id"]]
                assert (order["amount"], order["currency"], order["receipt"]) == (
                    sandbox["amount"], sandbox["currency"], sandbox["receipt"])
        for plan_id, order_id in real.items():
            assert fake.orders[order_id]["notes"]["carbonc_plan_id"] == plan_id
    # Payments and refunds stay simulated, each saying why.
    notes = dict(rows(db, "select kind, any_value(gateway_note) from entities where gateway_status = 'simulated' "
                          "group by kind"))
    assert "only through Checkout" in notes["payment"] and "its payment is simulated" in notes["refund"]
    # One create per order, recorded with the receipt the lookup would use.
    calls = rows(db, "select operation, method, path, status_code, idempotency_key, gateway_id from gateway_calls")
    assert len(calls) == 7 and {c[:4] for c in calls} == {("create", "POST", "/v1/orders", 200)}
    assert {c[5] for c in calls} == set(real.values())
    assert all(fake.orders[c[5]]["receipt"] == c[4] for c in calls)
    no_secret_in(db, result.output, result.stderr or "")


def test_a_misbehaving_api_is_recorded_and_no_order_is_created_twice(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "5", "edge_orders": "3"})
    orders = [r.id for r in plan.records() if type(r).__name__ == "Entity" and r.kind == "order"]
    doomed = orders[3]
    script = {orders[0]: ["429"], orders[1]: ["500", "500"], orders[2]: ["hang"], doomed: ["500"] * 10}
    fake = FakeRazorpay(KEY_ID, KEY_SECRET, script)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as srv:
        credentials, _ = choose("razorpay", None, {"key_id": KEY_ID, "key_secret": KEY_SECRET}, environ={},
                                api_base=srv.url)
        options = RunOptions(provider="razorpay", gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=4, timeout_s=1.0, backoff_s=0.05, concurrency=4))
        result = api.run(plan, options, db)
    assert result.status == "completed", result.error
    assert not fake.refused, fake.refused
    # Nothing created twice, whatever was retried: the hung create was found by its receipt.
    assert max(fake.created.values()) == 1 and fake.created[orders[2]] == 1
    assert fake.attempts[orders[2]] == 1
    calls = rows(db, "select entity_id, operation, attempt, status_code, error from gateway_calls")
    by = Counter((e, op) for e, op, *_ in calls)
    assert by[(orders[0], "create")] == 2 and by[(orders[0], "lookup")] == 1
    assert by[(orders[1], "create")] == 3 and by[(orders[1], "lookup")] == 2
    assert by[(orders[2], "create")] == 1 and by[(orders[2], "lookup")] == 1
    assert any(e == orders[0] and code == 429 for e, _, _, code, _ in calls)
    assert any(e == orders[2] and error and error.startswith("timeout") for e, _, _, _, error in calls)
    # Retry-After: 1 was honoured.
    first, second = fake.arrivals[orders[0]][:2]
    assert second - first >= 0.95
    # The hung create is real all the same, with the ID the fake gave it.
    (gateway_id, status), = rows(db, "select gateway_id, gateway_status from entities where entity_id = ?", orders[2])
    assert status == "real" and gateway_id in fake.orders
    # The one that never succeeded is a fact of the run: every attempt, and a lookup before each resend.
    assert by[(doomed, "create")] == 4 and by[(doomed, "lookup")] == 4
    (status, note), = rows(db, "select gateway_status, gateway_note from entities where entity_id = ?", doomed)
    assert status == "failed" and "HTTP 500" in note and "after 4 attempts" in note
    assert any("1 failed" in w for w in result.warnings)
    assert rows(db, "select count(*) from entities where kind = 'order' and gateway_status = 'real'") == [
        (len(orders) - 1,)]
    no_secret_in(db)


def test_a_wrong_secret_is_refused_by_the_api_and_recorded_without_the_secret(tmp_path):
    fake = FakeRazorpay(KEY_ID, KEY_SECRET)
    db = tmp_path / "runs.duckdb"
    wrong = "carbonc-not-the-razorpay-secret-Zz"
    with servers.Server(fake.respond) as srv:
        result = run("run", "min-amount", "--set", "baseline_orders=2", "--set", "edge_orders=0",
                     "--provider", "razorpay", "--api-key", KEY_ID, "--api-secret", wrong,
                     "--api-base", srv.url, "--db", str(db))
    assert result.exit_code == 0, result.output
    assert fake.refused and not fake.orders
    assert rows(db, "select distinct gateway_status, gateway_note from entities where kind = 'order'") == [
        ("failed", "creating the order: HTTP 401: The api key provided is invalid")]
    assert wrong.encode() not in db.read_bytes() and wrong not in result.output


@pytest.mark.parametrize("command", [main, legacy_main])
def test_a_live_key_is_refused_before_anything_is_recorded(command, tmp_path):
    db = tmp_path / "runs.duckdb"
    key = "rzp_live_Carbonc0LiveKey0"
    result = run("run", "min-amount", "--provider", "razorpay", "--api-key", key, "--api-secret", KEY_SECRET,
                 *(["--db", str(db)] if command is main else []), command=command, env={"CARBON_DB": str(db)})
    assert result.exit_code == 2
    assert "live-mode razorpay key" in result.stderr and "--allow-live" in result.stderr
    assert key not in result.output and KEY_SECRET not in result.output and not db.exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--api-key", "key_Carbonc0Malformed", "--api-secret", KEY_SECRET], "not a razorpay key id"),
    (["--api-key", KEY_ID], "needs --api-secret (or RAZORPAY_API_SECRET)"),
])
def test_a_malformed_or_incomplete_credential_exits_2_naming_the_flag(args, expected, tmp_path):
    db = tmp_path / "runs.duckdb"
    result = run("run", "min-amount", "--provider", "razorpay", *args, "--db", str(db),
                 env={"RAZORPAY_API_SECRET": None, "RAZORPAY_API_KEY": None})
    assert result.exit_code == 2 and expected in result.stderr
    assert "Carbonc0" not in result.output and KEY_SECRET not in result.output and not db.exists()


def test_the_older_tool_s_form_runs_the_real_gateway(tmp_path):
    fake = FakeRazorpay(KEY_ID, KEY_SECRET)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv, servers.strict("razorpay", WEBHOOK_SECRET) as hooks:
        result = run("run", "min-amount", "--set", "baseline_orders=2", "--set", "edge_orders=0",
                     "--provider", "razorpay", "--api-key", KEY_ID, "--api-secret", KEY_SECRET,
                     "--webhook-url", hooks.url, "--webhook-secret", WEBHOOK_SECRET, "--output", "json",
                     command=legacy_main, env={"CARBON_DB": str(db), "CARBON_RAZORPAY_API_BASE": api_srv.url})
        received = list(hooks.requests)
    assert result.exit_code == 0, result.output
    assert not fake.refused and len(fake.orders) == 2
    assert received and set(orders_named(received)) == set(fake.orders)
    assert rows(db, "select count(*) from deliveries where status_code <> 200") == [(0,)]
    no_secret_in(db, result.output, result.stderr or "")


def test_plan_real_shows_the_orders_real_and_the_rest_simulated(tmp_path):
    result = run("plan", "min-amount", "--provider", "razorpay", "--real")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Gateway (razorpay, real)" in out
    real = [line.split()[1:] for line in out.splitlines() if line.startswith("  real ")]
    assert real and all(words[1] == "orders" for words in real)
    assert "payments captured: razorpay creates a payment only through Checkout" in out
    doc = json.loads(run("plan", "min-amount", "--provider", "razorpay", "--real", "--format", "json").stdout)
    facts = {(f["kind"], f["real"]) for f in doc["gateway"]["facts"]}
    assert ("order", True) in facts and ("payment", False) in facts and ("payment", True) not in facts
