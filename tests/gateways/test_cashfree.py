"""The Cashfree gateway against a fake of Cashfree's PG API on 127.0.0.1 (tests/support/fake_cashfree):
`carbonc run --provider cashfree --cashfree-id … --cashfree-secret … --api-base …` creates orders,
UPI payments and refunds there, and the webhooks a handler receives verify with the official
Cashfree SDK and name objects that exist in the fake. A misbehaving Cashfree is recorded and
creates nothing twice; the production host is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal

import httpx
import pytest
import servers
from cli_run import rows, run
from fake_cashfree import FakeCashfree

from carbonc import api
from carbonc.errors import ExecutionError
from carbonc.exec import RunOptions
from carbonc.gateways import RetryPolicy, choose
from carbonc.scenarios import find

CLIENT_ID = "TEST1093carbonc0fake0app0id"
SECRET = "cfsk_ma_test_carbonc0fake0client0secret0x9"

#: Captured and failed payments (real), refunds of some (real), and a pending one (simulated).
MIX = """
scenario cashfree-mix {
  about "captured, declined and pending UPI payments, some refunded"
  param orders = 10 "Orders"
  seed 7
  phase checkout {
    create orders count orders amount INR 250 method upi
    pay each order {
      failed 30% code BAD_REQUEST_ERROR reason payment_declined
      pending 10%
      captured rest
    }
  }
  phase refunds after checkout {
    refund 50% of captured payments after 1d { processed 100% amount full after 1h }
  }
}
"""




def test_the_fake_refuses_what_cashfree_refuses():
    # The fake is only evidence if it says no: unauthenticated, unversioned and malformed requests.
    fake = FakeCashfree(CLIENT_ID, SECRET)
    good = {"x-client-id": CLIENT_ID, "x-client-secret": SECRET, "x-api-version": "2023-08-01"}
    order = {"order_id": "order_probe1", "order_amount": 1.0, "order_currency": "INR",
             "customer_details": {"customer_id": "c1", "customer_phone": "9999999999"}}
    with servers.Server(fake.respond) as srv:
        def post(headers: dict[str, str], body: object) -> httpx.Response:
            return httpx.post(srv.url + "/orders", json=body, headers=headers, timeout=5)
        assert post({**good, "x-client-secret": "cfsk_ma_test_wrong"}, order).status_code == 401
        assert post({k: v for k, v in good.items() if k != "x-api-version"}, order).status_code == 400
        assert post(good, {**order, "order_amount": "1.00"}).status_code == 400
        assert post(good, {**order, "customer_details": {}}).status_code == 400
        assert httpx.post(srv.url + "/orders", content=b"order_amount=1", timeout=5,
                          headers={**good, "content-type": "application/x-www-form-urlencoded"}).status_code == 400
        created = post({**good, "x-idempotency-key": "k1"}, order)
        assert created.status_code == 200 and created.json()["order_status"] == "ACTIVE"
        # The same key replays the first answer; the same order ID without it is a conflict.
        assert post({**good, "x-idempotency-key": "k1"}, order).json() == created.json()
        assert post(good, order).status_code == 409
    assert fake.created == Counter({"k1": 1})


def test_a_real_run_delivers_webhooks_that_name_objects_existing_in_the_sandbox(tmp_path):
    fake = FakeCashfree(CLIENT_ID, SECRET)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv, servers.strict("cashfree", SECRET) as srv:
        result = run("run", "min-amount", "--set", "baseline_orders=4", "--set", "edge_orders=4",
                     "--provider", "cashfree", "--cashfree-id", CLIENT_ID, "--cashfree-secret", SECRET,
                     "--api-base", api_srv.url, "--webhook-url", srv.url + "/hooks", "--webhook-secret", SECRET,
                     "--db", str(db), "--skip-probes", "--output", "json")
        received = list(srv.requests)
    assert result.exit_code == 0, result.output
    assert not fake.refused
    # Every delivery verified with the official SDK (the strict server answers 400 otherwise).
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["total"] == len(received) > 0
    assert rows(db, "select count(*) from deliveries where status_code <> 200") == [(0,)]
    assert rows(db, "select gateway from runs") == [("cashfree",)]
    real = {e: (k, g) for e, k, g in rows(db, "select entity_id, kind, gateway_id from entities "
                                              "where gateway_status = 'real'")}
    kinds = Counter(k for k, _ in real.values())
    assert kinds == Counter({"order": 8, "payment": 8, "refund": 8})
    # Each real order is in the fake under the run's order ID, holding the plan's amount.
    for entity_id, (kind, gateway_id) in real.items():
        if kind == "order":
            assert gateway_id.startswith(entity_id + "_") and gateway_id in fake.orders
    seen_payments, seen_refunds = set(), set()
    for request in received:
        event = json.loads(request.body)
        data = event["data"]
        if event["type"] == "PAYMENT_SUCCESS_WEBHOOK":
            payment = fake.payments[data["payment"]["cf_payment_id"]]
            assert payment["order_id"] == data["order"]["order_id"] and payment["payment_status"] == "SUCCESS"
            assert Decimal(str(payment["payment_amount"])) == Decimal(str(data["payment"]["payment_amount"]))
            seen_payments.add(payment["cf_payment_id"])
        elif event["type"] == "REFUND_STATUS_WEBHOOK":
            refund = data["refund"]
            found = fake.refunds[(refund["order_id"], refund["refund_id"])]
            assert str(found["cf_refund_id"]) == str(refund["cf_refund_id"])
            assert str(found["cf_payment_id"]) == str(refund["cf_payment_id"])
            seen_refunds.add(refund["refund_id"])
    # The webhooks carry the fake's IDs, not IDs derived from the plan.
    assert seen_payments == {g for k, g in real.values() if k == "payment"} == set(fake.payments)
    assert seen_refunds == {g for k, g in real.values() if k == "refund"}
    # One creation per idempotency key, every creating call carrying one.
    assert fake.created and set(fake.created.values()) == {1}
    assert all(k.startswith("carbonc-") for k in fake.created)
    # The secret is nowhere: not in the database file's bytes, not in any output.
    assert SECRET.encode() not in db.read_bytes()
    assert SECRET not in result.output and SECRET not in (result.stderr or "")


def test_every_payment_outcome_the_sandbox_can_produce_is_real_and_in_its_planned_state(tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    fake = FakeCashfree(CLIENT_ID, SECRET)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv:
        result = run("run", str(source), "--provider", "cashfree", "--gateway", "real", "--api-base", api_srv.url,
                     "--db", str(db), env={"CASHFREE_CLIENT_ID": CLIENT_ID, "CASHFREE_CLIENT_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    assert not fake.refused
    expected = {"captured": "SUCCESS", "refunded": "SUCCESS", "failed": "FAILED"}
    payments = rows(db, "select entity_id, state, gateway_id, gateway_status, gateway_note from entities "
                        "where kind = 'payment'")
    assert {"failed", "pending", "captured"} <= {state for _, state, *_ in payments}
    for entity_id, state, gateway_id, status, note in payments:
        if state == "pending":
            assert status == "simulated" and gateway_id is None and "pending" in note
            continue
        assert status == "real", (entity_id, note)
        assert fake.payments[gateway_id]["payment_status"] == expected[state], entity_id
    # The status was asked for until the sandbox had decided it (the fake first says PENDING).
    assert rows(db, "select count(*) from gateway_calls where operation = 'fetch' and status_code = 200") == [
        (2 * sum(1 for p in payments if p[3] == "real"),)]
    assert rows(db, "select count(*) from entities where kind = 'refund' and gateway_status <> 'real'") == [(0,)]
    assert SECRET.encode() not in db.read_bytes()


def test_a_misbehaving_cashfree_is_recorded_and_nothing_is_created_twice(tmp_path):
    plan = api.load_plan(find("min-amount"), overrides={"baseline_orders": "6", "edge_orders": "4"})
    entities = [r for r in plan.records() if type(r).__name__ == "Entity"]
    orders = [e.id for e in entities if e.kind == "order"]
    payments = {e.parent: e.id for e in entities if e.kind == "payment"}
    refunded = {e.parent for e in entities if e.kind == "refund"}
    doomed = next(o for o in orders[3:] if payments[o] in refunded)  # always 500: everything under it simulated
    script = {orders[0]: ["429"], orders[1]: ["500", "500"], payments[orders[2]]: ["hang"], doomed: ["500"] * 10}
    fake = FakeCashfree(CLIENT_ID, SECRET, script)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as srv:
        credentials, _ = choose("cashfree", None, {"client_id": CLIENT_ID, "client_secret": SECRET}, environ={},
                                api_base=srv.url)
        options = RunOptions(provider="cashfree", gateway=credentials,
                             gateway_policy=RetryPolicy(attempts=4, timeout_s=1.0, backoff_s=0.05, concurrency=4))
        result = api.run(plan, options, db)
    assert result.status == "completed", result.error
    assert not fake.refused
    # Nothing created twice, whatever was retried.
    assert fake.created and max(fake.created.values()) == 1
    keys = rows(db, "select idempotency_key, count(distinct gateway_id) from gateway_calls "
                    "where idempotency_key is not null and gateway_id is not null group by 1")
    assert keys and {n for _, n in keys} == {1}
    calls = rows(db, "select entity_id, operation, attempt, status_code, error from gateway_calls")
    by = Counter((e, op) for e, op, *_ in calls)
    assert by[(orders[0], "create")] == 2 and by[(orders[1], "create")] == 3
    assert by[(payments[orders[2]], "pay")] == 2
    assert any(e == orders[0] and code == 429 for e, _, _, code, _ in calls)
    assert any(e == payments[orders[2]] and error and error.startswith("timeout") for e, _, _, _, error in calls)
    # Retry-After: 1 was honoured.
    first, second = fake.arrivals[f"carbonc-{result.run_id}-{orders[0]}-create"][:2]
    assert second - first >= 0.95
    # The order that never got made is a fact of the run; its payment and refunds are simulated because of it.
    assert by[(doomed, "create")] == 4
    (status, note), = rows(db, "select gateway_status, gateway_note from entities where entity_id = ?", doomed)
    assert status == "failed" and "HTTP 500" in note and "after 4 attempts" in note
    below = rows(db, "select distinct gateway_status from entities where entity_id = ? or parent_id = ?",
                 payments[doomed], payments[doomed])
    assert below == [("simulated",)]
    assert any("1 failed" in w for w in result.warnings)
    assert rows(db, "select count(*) from entities where kind = 'payment' and gateway_status = 'real'") == [
        (len(orders) - 1,)]
    assert SECRET.encode() not in db.read_bytes()


@pytest.mark.parametrize("where", ["flag", "env"])
def test_the_production_host_is_refused_before_anything_is_recorded(where, tmp_path):
    db = tmp_path / "runs.duckdb"
    base = "https://api.cashfree.com/pg"
    args = ["--api-base", base] if where == "flag" else []
    env = {"CARBON_CASHFREE_API_BASE": base} if where == "env" else None
    result = run("run", "min-amount", "--provider", "cashfree", "--cashfree-id", CLIENT_ID,
                 "--cashfree-secret", SECRET, *args, "--db", str(db), env=env)
    assert result.exit_code == 2, result.output
    assert "production" in result.stderr and "--allow-live" in result.stderr
    assert SECRET not in result.output and not db.exists()


def test_allow_live_lifts_the_production_refusal_and_the_sandbox_is_the_default():
    given = {"client_id": CLIENT_ID, "client_secret": SECRET}
    with pytest.raises(ExecutionError):
        choose("cashfree", None, given, environ={}, api_base="https://api.cashfree.com/pg")
    live, _ = choose("cashfree", None, given, environ={}, api_base="https://api.cashfree.com/pg", allow_live=True)
    assert live is not None and live.api_base == "https://api.cashfree.com/pg"
    sandbox, _ = choose("cashfree", None, given, environ={}, api_base=None)
    assert sandbox is not None and sandbox.api_base == "https://sandbox.cashfree.com/pg"
    assert SECRET not in repr(sandbox)


def test_gateway_real_without_the_secret_names_the_flag_and_the_variable(tmp_path):
    result = run("run", "min-amount", "--provider", "cashfree", "--cashfree-id", CLIENT_ID,
                 "--db", str(tmp_path / "x.duckdb"), env={"CASHFREE_CLIENT_SECRET": ""})
    assert result.exit_code == 2
    assert "--cashfree-secret" in result.stderr and "CASHFREE_CLIENT_SECRET" in result.stderr


def test_plan_real_shows_which_facts_are_real_and_which_simulated(tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    result = run("plan", str(source), "--provider", "cashfree", "--real")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Gateway (cashfree, real)" in out
    assert "orders paid" in out and "payments captured" in out
    assert "payments pending: a cashfree sandbox UPI payment does not stay pending" in out
    doc = json.loads(run("plan", str(source), "--provider", "cashfree", "--real", "--format", "json").stdout)
    facts = {(f["kind"], f["real"]) for f in doc["gateway"]["facts"]}
    assert facts >= {("order", True), ("payment", True), ("payment", False), ("refund", True)}


def test_the_credentials_never_reach_a_subprocess_run_s_output(tmp_path):
    fake = FakeCashfree(CLIENT_ID, SECRET)
    db = tmp_path / "runs.duckdb"
    with servers.Server(fake.respond) as api_srv:
        done = subprocess.run([sys.executable, "-m", "carbonc", "run", "min-amount", "--set", "baseline_orders=2",
                               "--set", "edge_orders=0", "--provider", "cashfree", "--api-base", api_srv.url,
                               "--gateway", "real", "--db", str(db), "--output", "json"],
                              env={"CASHFREE_CLIENT_ID": CLIENT_ID, "CASHFREE_CLIENT_SECRET": SECRET,
                                   "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
                              capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert len(fake.orders) == 2 and not fake.refused
    assert SECRET.encode() not in done.stdout + done.stderr and SECRET.encode() not in db.read_bytes()
    created = len(fake.orders) + len(fake.payments) + len(fake.refunds)
    assert f"cashfree test mode: {created} created, 0 simulated, 0 failed".encode() in done.stderr
