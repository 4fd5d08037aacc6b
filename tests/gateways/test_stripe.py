"""The Stripe gateway end to end against localstripe: `carbonc run --stripe-key … --api-base …`
creates payment intents and refunds there, and the webhooks a handler receives carry their IDs,
verify with the official Stripe SDK, and name objects that exist in the emulator."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
import servers
from cli_run import rows, run

from carbonc.cli import main
from carbonc.cli.legacy import main as legacy_main

KEY = "sk_test_carbonc0gateway0test0key0x7Q"
WEBHOOK_SECRET = "whsec_carbonc_gateway_test_secret"

#: Payments of every outcome the Stripe adapter makes real, a refund of some, and a pending one
#: that stays simulated.
MIX = """
scenario stripe-mix {
  about "captured, authorised then captured, authorised only, declined and pending payments"
  param orders = 12 "Orders"
  seed 5
  phase checkout {
    create orders count orders amount INR 250 method card
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




def stripe_get(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)


def test_a_real_run_delivers_webhooks_that_name_payment_intents_existing_in_the_sandbox(localstripe, tmp_path):
    db = tmp_path / "runs.duckdb"
    with servers.strict("stripe", WEBHOOK_SECRET) as srv:
        result = run("run", "min-amount", "--set", "baseline_orders=4", "--set", "edge_orders=4",
                     "--provider", "stripe", "--stripe-key", KEY, "--api-base", localstripe,
                     "--webhook-url", srv.url + "/hooks", "--webhook-secret", WEBHOOK_SECRET, "--db", str(db),
                     "--skip-probes", "--output", "json")
        received = list(srv.requests)
    assert result.exit_code == 0, result.output
    # Every delivery verified with the official SDK (the strict server answers 400 otherwise).
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["total"] == len(received) > 0
    assert rows(db, "select count(*) from deliveries where status_code <> 200") == [(0,)]

    real = dict(rows(db, "select entity_id, gateway_id from entities where gateway_status = 'real'"))
    assert rows(db, "select gateway from runs") == [("stripe",)]
    assert sum(1 for e in real if e.startswith("pay_")) == 8 and sum(1 for e in real if e.startswith("rfnd_")) == 8
    seen_intents, seen_refunds = set(), set()
    for request in received:
        event = json.loads(request.body)
        obj = event["data"]["object"]
        if event["type"] == "payment_intent.succeeded":
            seen_intents.add(obj["id"])
            found = stripe_get(localstripe, f"/v1/payment_intents/{obj['id']}")
            assert found.status_code == 200, obj["id"]
            assert found.json()["status"] == "succeeded" and found.json()["amount"] == obj["amount"]
        elif event["type"] in ("refund.created", "refund.updated"):
            seen_refunds.add(obj["id"])
            assert obj["payment_intent"] in real.values()
            found = stripe_get(localstripe, f"/v1/refunds/{obj['id']}")
            assert found.status_code == 200 and found.json()["amount"] == obj["amount"]
    # The webhooks carry the sandbox's IDs, not IDs derived from the plan.
    assert seen_intents == {v for k, v in real.items() if k.startswith("pay_")}
    assert seen_refunds == {v for k, v in real.items() if k.startswith("rfnd_")}
    # Orders stay simulated, each saying why.
    notes = rows(db, "select distinct gateway_note from entities where kind = 'order'")
    assert len(notes) == 1 and "no order object" in notes[0][0]
    # The key is nowhere: not in the database file's bytes, not in any output.
    assert KEY.encode() not in db.read_bytes()
    assert KEY not in result.output and KEY not in (result.stderr or "")


def test_every_payment_outcome_the_sandbox_can_produce_is_real_and_in_its_planned_state(localstripe, tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    db = tmp_path / "runs.duckdb"
    result = run("run", str(source), "--provider", "stripe", "--gateway", "real", "--api-base", localstripe,
                 "--db", str(db), env={"STRIPE_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    expected = {"captured": "succeeded", "refunded": "succeeded", "failed": "requires_payment_method"}
    payments = rows(db, "select entity_id, state, gateway_id, gateway_status, gateway_note from entities "
                        "where kind = 'payment'")
    states = {state for _, state, *_ in payments}
    assert {"failed", "pending", "captured"} <= states
    for entity_id, state, gateway_id, status, note in payments:
        if state == "pending":
            assert status == "simulated" and gateway_id is None and "processing" in note
            continue
        assert status == "real", (entity_id, note)
        intent = stripe_get(localstripe, f"/v1/payment_intents/{gateway_id}").json()
        assert intent["status"] == expected[state], (entity_id, state, intent["status"])
        assert intent["metadata"]["carbonc_plan_id"] == entity_id
    # Authorised then captured later: a manual-capture intent, captured by its own call.
    captured_later = rows(db, "select distinct entity_id from gateway_calls where operation = 'capture'")
    assert captured_later
    for (entity_id,) in captured_later:
        (gateway_id,), = rows(db, "select gateway_id from entities where entity_id = ?", entity_id)
        assert stripe_get(localstripe, f"/v1/payment_intents/{gateway_id}").json()["capture_method"] == "manual"
    # A refund of a declined payment cannot exist; refunds of real captured payments are real.
    assert rows(db, "select count(*) from entities where kind = 'refund' and gateway_status <> 'real'") == [(0,)]
    # Created before any message was rendered, once each: one creation call per real payment.
    assert rows(db, "select count(*) from gateway_calls where operation = 'create'") == [
        (sum(1 for p in payments if p[3] == "real"),)]
    assert KEY.encode() not in db.read_bytes()


@pytest.mark.parametrize("key", ["sk_live_51HcarboncLiveKeyValue", "rk_live_51HcarboncLiveKeyValue"])
def test_a_live_key_is_refused_before_anything_is_recorded(key, tmp_path):
    db = tmp_path / "runs.duckdb"
    result = run("run", "min-amount", "--provider", "stripe", "--stripe-key", key, "--db", str(db))
    assert result.exit_code == 2
    assert "live-mode key" in result.stderr and "--allow-live" in result.stderr
    assert key not in result.output and not db.exists()


def test_a_live_key_with_allow_live_is_accepted_by_the_check(localstripe, tmp_path):
    # --allow-live lifts the refusal (here against the emulator, which takes any sk_ key).
    db = tmp_path / "runs.duckdb"
    key = "sk_live_51HcarboncLiveKeyValue"
    result = run("run", "min-amount", "--set", "baseline_orders=1", "--set", "edge_orders=0", "--provider", "stripe",
                 "--stripe-key", key, "--allow-live", "--api-base", localstripe, "--db", str(db))
    assert result.exit_code == 0, result.output
    assert rows(db, "select count(*) from entities where kind = 'payment' and gateway_status = 'real'") == [(1,)]
    assert key.encode() not in db.read_bytes() and key not in result.output


def test_gateway_real_without_a_key_names_the_flag_and_the_variable(tmp_path):
    result = run("run", "min-amount", "--provider", "stripe", "--gateway", "real", "--db", str(tmp_path / "x.duckdb"),
                 env={"STRIPE_API_KEY": ""})
    assert result.exit_code == 2
    assert "--stripe-key" in result.stderr and "STRIPE_API_KEY" in result.stderr


def test_a_key_in_the_environment_alone_keeps_the_run_simulated_and_says_so(tmp_path):
    db = tmp_path / "runs.duckdb"
    result = run("run", "min-amount", "--set", "baseline_orders=2", "--set", "edge_orders=0", "--provider", "stripe",
                 "--db", str(db), env={"STRIPE_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert "STRIPE_API_KEY is set but not used" in result.stderr
    assert rows(db, "select gateway from runs") == [("simulated",)]
    assert rows(db, "select count(*) from entities where gateway_id is not null") == [(0,)]


@pytest.mark.parametrize(("args", "expected"), [
    (["--provider", "razorpay", "--api-key", "rzp_live_abc123", "--api-secret", "rzp-secret-abc123"],
     "live-mode razorpay key"),
    (["--provider", "mock", "--gateway", "real"], "has no real gateway"),
    (["--provider", "razorpay", "--stripe-key", KEY], "--stripe-key is not for --provider razorpay"),
    (["--provider", "stripe", "--stripe-key", "pk_test_abcdefghijkl"], "not a Stripe secret key"),
    (["--provider", "stripe", "--api-base", "http://127.0.0.1:9"], "give --gateway real"),
    (["--provider", "stripe", "--stripe-key", KEY, "--api-base", "http://198.51.100.7"], "plain http"),
])
def test_a_real_run_that_cannot_be_exits_2_and_says_why(args, expected, tmp_path):
    db = tmp_path / "runs.duckdb"
    for command in (main, legacy_main):
        result = run("run", "min-amount", *args, "--db" if command is main else "--output", str(db)
                     if command is main else "json", command=command, env={"CARBON_DB": str(db)})
        assert result.exit_code == 2, (command, result.output)
        assert expected in result.stderr
        assert KEY not in result.output and "abc123" not in result.output
    assert not db.exists()


def test_plan_real_shows_which_facts_are_real_and_which_simulated(tmp_path):
    source = tmp_path / "mix.carbon"
    source.write_text(MIX)
    result = run("plan", str(source), "--provider", "stripe", "--real")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Gateway (stripe, real)" in out
    assert "real" in out and "payments captured" in out
    assert "simulated" in out and "orders paid: stripe has no order object" in out
    assert "payments pending: a card payment cannot stay processing" in out
    doc = json.loads(run("plan", str(source), "--provider", "stripe", "--real", "--format", "json").stdout)
    facts = doc["gateway"]["facts"]
    assert {(f["kind"], f["real"]) for f in facts} >= {("payment", True), ("order", False), ("refund", True)}
    assert run("plan", str(source), "--real").exit_code == 2


def test_the_key_never_reaches_a_subprocess_run_s_output(localstripe, tmp_path):
    db = tmp_path / "runs.duckdb"
    done = subprocess.run([sys.executable, "-m", "carbonc", "run", "min-amount", "--set", "baseline_orders=2",
                           "--set", "edge_orders=0", "--provider", "stripe", "--api-base", localstripe, "--gateway",
                           "real", "--db", str(db), "--output", "json"],
                          env={"STRIPE_API_KEY": KEY, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert KEY.encode() not in done.stdout + done.stderr
    assert KEY.encode() not in db.read_bytes()
    assert b"stripe test mode: 4 created" in done.stderr
