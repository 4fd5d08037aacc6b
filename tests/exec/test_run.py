"""`carbonc run` end to end through click's CliRunner: a real server on 127.0.0.1 (verifying
signatures with the official SDKs where it matters), a real DuckDB file in tmp_path, and every
answer judged and recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import servers
from cli_run import rows, run
from run_scenarios import FORGERIES, TINY

from carbonc.cli.legacy import main as legacy_main
from carbonc.store import open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def scenario(tmp_path: Path):
    def write(text: str, name: str = "s.carbon") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_every_attempt_is_recorded_and_the_summary_adds_up(db: Path, tmp_path: Path):
    with servers.lax() as srv:
        result = run("run", "dispute-spike", "--set", "baseline_orders=70", "--webhook-url", srv.url + "/hooks",
                     "--db", str(db), "--output", "json", "--concurrency", "8", "--skip-probes")
        received = srv.requests
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "completed" and doc["passed"] is True
    total = doc["deliveries"]["total"]
    assert total == len(received) == 230  # 70 orders x 3 messages, 10 disputes x 2
    assert rows(db, "select count(*), count(distinct delivery_id) from deliveries") == [(total, total)]
    assert rows(db, "select count(*) from messages") == [(total,)]
    assert rows(db, "select kind, count(*) from entities group by 1 order by 1") == [
        ("dispute", 10), ("order", 70), ("payment", 70)]
    assert rows(db, "select status, scenario, provider, seed from runs") == [("completed", "dispute-spike", "mock", 7)]
    # The bodies recorded are the bodies sent.
    sent = sorted(r.body.decode() for r in received)
    assert sorted(b for b, in rows(db, "select request_body from deliveries")) == sent
    # Each check is a row, and all of dispute-spike's pass against a correct handler.
    checks = rows(db, "select kind, passed from checks where kind != 'probe'")
    assert len(checks) == len([c for c in doc["checks"] if c["kind"] != "probe"]) >= 5
    assert all(passed for _, passed in checks)
    # The probes were skipped, and say so rather than passing.
    assert rows(db, "select distinct passed, message from checks where kind = 'probe'") == [
        (None, "not judged: --skip-probes")]
    # The plan's hash is the hash of the saved plan.
    out = tmp_path / "plan.ndjson"
    assert run("plan", "dispute-spike", "--set", "baseline_orders=70", "--out", str(out)).exit_code == 0
    assert rows(db, "select plan_sha256 from runs") == [(hashlib.sha256(out.read_bytes()).hexdigest(),)]


def test_a_run_opens_the_database_once(db: Path, monkeypatch):
    # Each open and close of the file costs ~15 ms of CPU: the run keeps it open from its start
    # (the file checked and prepared) through its batches, checks and end, when no reader asks
    # and rows never stop coming for long (probing a merchant for a while lets readers in).
    import carbonc.exec.writer
    import carbonc.store

    opened: list[bool] = []
    real = carbonc.store.connect

    def connect(path, *, read_only, config):
        opened.append(read_only)
        return real(path, read_only=read_only, config=config)

    monkeypatch.setattr(carbonc.store, "connect", connect)
    # Rows never stop coming for a flush interval, however slow the machine: an idle writer
    # lets readers in, and then opens the file again (as it should).
    monkeypatch.setattr(carbonc.exec.writer, "FLUSH_INTERVAL_S", 600.0)
    with servers.lax() as srv:
        result = run("run", "dispute-spike", "--set", "baseline_orders=70", "--webhook-url", srv.url + "/hooks",
                     "--db", str(db), "--output", "json", "--workers", "1", "--skip-probes")
    assert result.exit_code == 0, result.output
    assert opened == [False]
    assert rows(db, "select status from runs") == [("completed",)]


@pytest.mark.parametrize("provider", ["mock", "razorpay", "stripe", "cashfree", "juspay", "standard"])
def test_a_correct_handler_passes_ci_and_one_that_accepts_forgeries_fails(provider, db, scenario, tmp_path):
    from dialect_helpers import SECRETS

    dialect = "razorpay" if provider == "mock" else provider
    secret = SECRETS[dialect]
    path = scenario(FORGERIES)
    junit = tmp_path / "report.xml"
    with servers.strict(dialect, secret) as srv:
        ok = run("run", path, "--provider", provider, "--webhook-url", srv.url, "--webhook-secret", secret,
                 "--db", str(db), "--ci", "--junit", str(junit), "--output", "json")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["deliveries"]["mismatched"] == 0 and doc["deliveries"]["total"] == len(srv.requests)
    # Every event this provider sends arrived, genuine ones accepted and forged ones rejected.
    verdicts = doc["verdicts"]
    assert all(v["mismatched"] == 0 for v in verdicts.values())
    assert verdicts["none"]["ok"] > 0 and sum(v["ok"] for f, v in verdicts.items() if f != "none") > 0
    assert doc["deliveries"]["by_outcome"]["2xx"] == verdicts["none"]["ok"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 3

    with servers.lax() as srv:
        bad = run("run", path, "--provider", provider, "--webhook-url", srv.url, "--webhook-secret", secret,
                  "--db", str(db), "--ci", "--junit", str(junit))
    assert bad.exit_code == 1, bad.output
    assert "FAIL expect deliveries.mismatched == 0 [critical]" in bad.stdout
    failed = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")
              if case.find("failure") is not None]
    assert len(failed) == 1 and "deliveries.mismatched" in failed[0]
    # Without --ci a failing check is reported, not an exit code.
    with servers.lax() as srv:
        assert run("run", path, "--provider", provider, "--webhook-url", srv.url, "--db", str(db)).exit_code == 0


def test_retries_resend_the_same_event_and_are_recorded_as_attempts(db, scenario):
    path = scenario(FORGERIES.replace("retry none", "retry [1s, 1s, 1s]").replace(
        "signature valid 70%\n    signature missing 10%\n    signature corrupted 10%\n    signature wrong_secret 10%",
        "signature valid"))
    with servers.flaky(failures=2, status=503) as srv:
        result = run("run", path, "--webhook-url", srv.url, "--db", str(db), "--output", "json")
        received = srv.requests
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["total"] == 30 * 3 == len(received)
    assert doc["deliveries"]["retried"] == 60 and doc["deliveries"]["by_outcome"]["5xx"] == 60
    attempts = rows(db, "select message_id, list(attempt order by attempt), list(status_code order by attempt), "
                        "count(distinct request_body) from deliveries group by 1")
    assert len(attempts) == 30
    assert all(a == [1, 2, 3] and s == [503, 503, 200] and bodies == 1 for _, a, s, bodies in attempts)
    # The same event id on every attempt, as Razorpay sends it.
    by_body: dict[bytes, set[str]] = {}
    for r in received:
        by_body.setdefault(r.body, set()).add(r.headers["x-razorpay-event-id"])
    assert all(len(ids) == 1 for ids in by_body.values()) and len(by_body) == 30
    # A 503 on a genuine message is a mismatch (the handler failed it), so the check fails.
    assert doc["deliveries"]["mismatched"] == 60


@pytest.mark.parametrize(("server", "error", "status"), [
    (servers.garbage, "protocol", None),
    (servers.resetting, "reset", None),
    (servers.redirecting, "redirect", 302),
    (lambda: servers.huge(size=10 * 1024 * 1024), "oversized", 200),
    (servers.hanging, "timeout", None),
])
def test_a_misbehaving_endpoint_is_data_not_a_crash(server, error, status, db, scenario):
    path = scenario(TINY)
    with server() as srv:
        result = run("run", path, "--webhook-url", srv.url + "/hooks", "--db", str(db), "--timeout", "0.3",
                     "--output", "json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert rows(db, "select error, status_code, verdict_ok from deliveries") == [(error, status, error == "oversized")] * 2
    assert json.loads(result.stdout)["deliveries"]["errors"] == {error: 2}


def test_refused_and_unresolvable_targets_are_recorded(db, scenario):
    path = scenario(TINY)
    for url, kind in [(servers.refused_url(), "refused"), ("http://no-such-host.invalid/", "dns")]:
        result = run("run", path, "--webhook-url", url, "--db", str(db), "--output", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["deliveries"]["errors"] == {kind: 2}
    assert rows(db, "select error, count(*) from deliveries group by 1 order by 1") == [("dns", 2), ("refused", 2)]


def test_without_a_target_the_gateway_side_still_runs(db):
    result = run("run", "refund-storm", "--set", "baseline_orders=30", "--db", str(db), "--output", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["target"] is None and doc["deliveries"]["total"] == 0 and doc["status"] == "completed"
    assert rows(db, "select count(*) from deliveries") == [(0,)]
    assert rows(db, "select count(*) > 0 from messages") == [(True,)]
    assert rows(db, "select count(*) from entities where kind = 'order'") == [(30,)]


def test_flags_override_the_scenarios_delivery(db, scenario):
    path = scenario(TINY)
    with servers.lax() as srv:
        result = run("run", path, "--webhook-url", srv.url, "--db", str(db), "--webhook-repeat", "3",
                     "--webhook-signature", "missing", "--webhook-order", "reverse", "--output", "json")
        received = srv.requests
    assert result.exit_code == 0, result.output
    # A forgery is added beside the genuine message: per message, the attacker's unsigned copy
    # first, then the three genuine, signed copies.
    assert len(received) == 8
    assert sum("x-razorpay-signature" not in r.headers for r in received) == 2
    # Copies carry the original's event id.
    assert len({r.headers["x-razorpay-event-id"] for r in received}) == 2
    assert rows(db, "select count(*) from messages where duplicate_of is not null") == [(6,)]
    assert rows(db, "select signature_mode, expected_verdict, verdict_ok, count(*) from deliveries group by all "
                    "order by 1") == [("missing", "reject", False, 2), ("valid", "accept", True, 6)]


def test_a_saved_plan_runs_and_refuses_changes(db, tmp_path):
    out = tmp_path / "p.ndjson"
    assert run("plan", "dispute-spike", "--set", "baseline_orders=10", "--out", str(out)).exit_code == 0
    with servers.lax() as srv:
        result = run("run", str(out), "--webhook-url", srv.url, "--db", str(db), "--output", "json",
                     "--skip-probes")
        assert json.loads(result.stdout)["deliveries"]["total"] == 34 == len(srv.requests)
    refused = run("run", str(out), "--webhook-repeat", "2", "--db", str(db))
    assert refused.exit_code == 2 and "saved plan" in refused.output


def test_a_saved_plan_records_what_the_same_plan_compiled_in_process_does(tmp_path):
    # Stripe skips messages by looking their entities up; with a target every message's order
    # tree is looked up too (the saved plan's in its index on disk).
    out = tmp_path / "p.ndjson"
    plan = ("dispute-spike", "--set", "baseline_orders=40")
    assert run("plan", *plan, "--out", str(out)).exit_code == 0
    recorded = []
    for source, db in ((plan, tmp_path / "compiled.duckdb"), ((str(out),), tmp_path / "saved.duckdb")):
        with servers.lax() as srv:
            result = run("run", *source, "--provider", "stripe", "--webhook-url", srv.url, "--db", str(db),
                         "--skip-probes")
            assert result.exit_code == 0, result.output
            sent = sorted((r.headers["stripe-signature"] != "", json.loads(r.body)["type"],
                           json.loads(r.body)["data"]["object"]["id"]) for r in srv.requests)
        recorded.append((
            rows(db, "select * exclude (run_id) from entities order by entity_id"),
            rows(db, "select * exclude (run_id) from messages order by message_id"),
            rows(db, "select message_id, attempt, event_type, outcome from deliveries order by all"),
            sent))
    assert recorded[0] == recorded[1]
    assert len(recorded[0][2]) > 50


def test_a_saved_plans_hash_is_the_hash_of_its_bytes(db, tmp_path):
    out = tmp_path / "p.ndjson"
    assert run("plan", "dispute-spike", "--set", "baseline_orders=10", "--out", str(out)).exit_code == 0
    # Re-saved by another tool: other spacing and a byte-order mark, the same records.
    resaved = tmp_path / "resaved.ndjson"
    lines = [json.dumps(json.loads(line), separators=(", ", ": ")) for line in out.read_text().splitlines()]
    resaved.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    for plan in (out, resaved):
        result = run("run", str(plan), "--db", str(db))
        assert result.exit_code == 0, result.output
    assert {h for h, in rows(db, "select plan_sha256 from runs")} == {
        hashlib.sha256(out.read_bytes()).hexdigest(), hashlib.sha256(resaved.read_bytes()).hexdigest()}


def test_the_callback_gets_the_summary_and_its_failure_is_not_fatal(db, scenario):
    path = scenario(TINY)
    with servers.lax() as hook, servers.lax() as callback:
        result = run("run", path, "--webhook-url", hook.url, "--db", str(db), "--callback-url", callback.url + "/cb")
        assert result.exit_code == 0, result.output
        posted, = callback.requests
    summary = json.loads(posted.body)
    assert posted.path == "/cb" and summary["passed"] is True and summary["deliveries"]["total"] == 2
    with servers.lax() as hook:
        result = run("run", path, "--webhook-url", hook.url, "--db", str(db), "--callback-url", servers.refused_url())
    assert result.exit_code == 0
    assert "warning: the callback failed" in result.stderr


def test_an_asgi_app_is_called_in_process(db, monkeypatch, scenario):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "support"))  # where `asgi_app` is
    path = scenario(FORGERIES)
    result = run("run", path, "--app", "asgi_app:app", "--app-path", "/hooks/razorpay", "--db", str(db),
                 "--webhook-secret", "app-secret", "--ci", "--output", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # 30 genuine messages, and 9 forged copies beside them (30% of the messages' modes are forgeries).
    assert doc["target"] == "asgi_app:app (ASGI, in-process)" and doc["deliveries"]["total"] == 39
    assert doc["deliveries"]["mismatched"] == 0


def test_terminal_summary(db, scenario):
    path = scenario(FORGERIES)
    with servers.lax() as srv:
        result = run("run", path, "--webhook-url", srv.url, "--db", str(db))
    out = result.stdout
    assert "Deliveries by event" in out and "order.paid" in out and "payment.captured" in out
    assert "Verdicts by fault" in out and "signature:missing" in out
    assert "Latency: p50" in out
    # A fact of the plan is not a pass for the handler: the two are counted apart.
    assert "Scenario facts (the plan itself, not your handler): 1 passed, 0 failed" in out
    assert "Handler checks (answers to webhooks): 0 passed, 1 failed" in out
    assert f"Recorded in {db}" in out
    assert "\r" not in result.stderr  # no progress bar when not on a terminal


def test_the_carbon_alias_runs_with_the_older_flags(db, monkeypatch):
    monkeypatch.setenv("CARBON_DB", str(db))
    monkeypatch.setenv("RAZORPAY_API_SECRET", "rzp-api-secret-value")
    with servers.lax() as srv:
        result = run("run", "dispute-spike", "--provider", "razorpay", "--set", "baseline_orders=70",
                     "--webhook-url", srv.url, "--webhook-repeat", "2", "--webhook-order", "random",
                     "--webhook-signature", "valid", "--api-key", "rzp_test_key_value", "--gateway", "simulated",
                     "--ci", "--output", "json", command=legacy_main)
        assert len(srv.requests) == 460
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["total"] == 460
    # The older tool's keys, for scripts that read them.
    assert doc["webhooks"]["total"] == doc["webhooks"]["ok"] == 460 and doc["webhooks"]["failed_5xx"] == 0
    assert [f["check"] for f in doc["findings"]] == [c["name"] for c in doc["checks"]]
    # The credential is not used by a simulated run, and the run says so (without --gateway simulated
    # the flag would make the run real, creating orders in Razorpay test mode: see tests/gateways).
    assert "--api-key not used: --gateway simulated" in result.stderr
    assert "rzp_test_key_value" not in result.output and "rzp-api-secret-value" not in result.output
    assert rows(db, "select count(*) from runs") == [(1,)]


#: Where each provider puts the id a handler de-duplicates on.
EVENT_ID = {
    "razorpay": lambda r: r.headers["x-razorpay-event-id"],
    "stripe": lambda r: json.loads(r.body)["id"],
    "cashfree": lambda r: r.headers["x-idempotency-key"],
    "juspay": lambda r: json.loads(r.body)["id"],
    "standard": lambda r: r.headers["webhook-id"],
}


@pytest.mark.parametrize("provider", sorted(EVENT_ID))
def test_copies_and_retries_carry_the_originals_event_id(provider, db, scenario):
    path = scenario(TINY.replace("retry none", "retry [1s]"))
    with servers.flaky(failures=1, status=503) as srv:
        result = run("run", path, "--provider", provider, "--webhook-url", srv.url, "--db", str(db),
                     "--webhook-repeat", "2", "--output", "json")
        received = srv.requests
    assert result.exit_code == 0, result.output
    sent = json.loads(result.stdout)["deliveries"]["total"]
    assert sent == len(received) > 0
    ids: dict[str, list] = {}
    for r in received:
        ids.setdefault(EVENT_ID[provider](r), []).append(r)
    # Each event: two copies with one body; the server fails the first request it sees of a body,
    # so one copy is retried: three requests, all under the event's one id.
    assert {len(group) for group in ids.values()} == {3}
    assert rows(db, "select count(distinct event_id) from messages where skipped is null") == [(len(ids),)]


def test_a_handler_set_up_for_the_older_tool_still_verifies(db, scenario):
    # carbon-layer signed with the secret `carbon` when given none; so does carbonc.
    path = scenario(FORGERIES)
    with servers.strict("razorpay", "carbon") as srv:
        result = run("run", path, "--webhook-url", srv.url, "--ci", command=legacy_main,
                     env={"CARBON_WEBHOOK_SECRET": None, "CARBON_DB": str(db)})
    assert result.exit_code == 0, result.output


def test_a_finding_is_reported_and_fails_nothing(db, tmp_path):
    junit = tmp_path / "r.xml"
    with servers.lax() as srv:  # 20 orders: 3 disputes, and the "too few disputes" finding fires
        result = run("run", "dispute-spike", "--set", "baseline_orders=20", "--webhook-url", srv.url, "--db", str(db),
                     "--ci", "--junit", str(junit), "--output", "json", "--skip-probes")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    finding, = [c for c in doc["checks"] if c["kind"] == "finding"]
    assert finding["passed"] is False and doc["passed"] is True
    case, = [c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == finding["name"]]
    assert case.find("failure") is None and "too few disputes" in case.find("system-out").text


def test_without_a_target_handler_checks_are_not_judged_and_ci_is_refused(db):
    result = run("run", "dispute-spike", "--set", "baseline_orders=70", "--db", str(db), "--output", "json")
    assert result.exit_code == 0, result.output
    judged = {c["name"]: c["passed"] for c in json.loads(result.stdout)["checks"]}
    assert judged["expect deliveries.mismatched == 0"] is None
    assert judged["expect orders == baseline_orders"] is True
    assert rows(db, "select passed from checks where name like '%deliveries%'") == [(None,)]
    refused = run("run", "dispute-spike", "--db", str(db), "--ci")
    assert refused.exit_code == 2 and "--ci judges a webhook handler" in refused.stderr
    # The older tool ignored --ci without a URL; its alias still does, and says so.
    legacy = run("run", "dispute-spike", "--set", "baseline_orders=70", "--ci", command=legacy_main,
                 env={"CARBON_DB": str(db)})
    assert legacy.exit_code == 0 and "--ci applies only with --webhook-url" in legacy.stderr


@pytest.mark.parametrize("flags", [["--webhook-url", ""], ["--webhook-url", "http://127.0.0.1:9/",
                                                            "--webhook-signature", "stale"]])
def test_input_a_run_cannot_use_is_refused_before_anything_is_recorded(flags, db):
    result = run("run", "dispute-spike", "--db", str(db), *flags)
    assert result.exit_code == 2, result.output
    assert not db.exists()


def test_a_rotation_is_tested_with_the_previous_secret(db):
    args = ["run", "secret-rotation", "--set", "baseline_orders=100", "--webhook-secret", "now-one",
            "--db", str(db), "--ci", "--output", "json", "--skip-probes"]
    with servers.strict("razorpay", "now-one", previous="old-one") as srv:
        without = run(*args, "--webhook-url", srv.url)
        with_it = run(*args, "--webhook-url", srv.url, "--webhook-previous-secret", "old-one")
    assert without.exit_code == 1 and "give --webhook-previous-secret" in without.stderr
    assert with_it.exit_code == 0, with_it.output
    verdicts = json.loads(with_it.stdout)["verdicts"]
    assert sum(v["ok"] for f, v in verdicts.items() if "old_secret" in f) > 0
    assert all(v["mismatched"] == 0 for v in verdicts.values())


def test_faults_that_round_to_nothing_are_warned_about(db):
    with servers.lax() as srv:  # 30 orders: too few messages for the sweep's 5% forgeries
        result = run("run", "webhook-fault-sweep", "--set", "baseline_orders=30", "--webhook-url", srv.url,
                     "--webhook-previous-secret", "old", "--db", str(db), "--output", "json", "--skip-probes")
    assert result.exit_code == 0, result.output
    warned = [w for w in json.loads(result.stdout)["warnings"] if "signs no message at these parameters" in w]
    assert warned and all(f"warning: {w}" in result.stderr for w in warned)
    assert any("`signature missing 5%`" in w for w in warned)


def test_url_credentials_do_not_cover_juspays_own_auth_faults(db, scenario):
    path = scenario(TINY)
    with servers.strict("juspay", "merchant:s3cret") as srv:
        url = srv.url.replace("http://", "http://merchant:s3cret@")
        result = run("run", path, "--provider", "juspay", "--webhook-url", url, "--webhook-secret", "merchant:s3cret",
                     "--webhook-signature", "missing", "--ci", "--db", str(db), "--output", "json")
        # Each message's forged copy goes without auth (the URL's credentials do not fill it in);
        # the genuine copy beside it carries Juspay's own.
        unsigned = [r for r in srv.requests if "authorization" not in r.headers]
        assert len(unsigned) == 2 and len(srv.requests) == 4
    assert result.exit_code == 0, result.output
    assert "credentials in --webhook-url are not sent with --provider juspay" in result.stderr


def test_messages_about_bad_secrets_and_urls_name_the_flag_and_echo_nothing(db):
    secret = run("run", "dispute-spike", "--provider", "juspay", "--webhook-url", "http://127.0.0.1:9/x",
                 "--webhook-previous-secret", "no-colon-here", "--db", str(db))
    assert secret.exit_code == 2 and "--webhook-previous-secret:" in secret.stderr
    assert "no-colon-here" not in secret.output
    url = run("run", "dispute-spike", "--webhook-url", "alice:pw@host/x", "--db", str(db))
    assert url.exit_code == 2 and "(it has no scheme)" in url.stderr and "alice" not in url.output
    assert not db.exists()


def test_the_circuit_breaker_stops_sending_to_a_dead_endpoint(db):
    dead = servers.refused_url()
    result = run("run", "dispute-spike", "--set", "baseline_orders=200", "--webhook-url", dead, "--db", str(db),
                 "--ci", "--skip-probes", "--output", "json")
    assert result.exit_code == 1  # --ci fails: the handler was never tested
    doc = json.loads(result.stdout)
    assert doc["endpoint_down"] and "20 attempts in a row" in doc["endpoint_down"]
    attempts = rows(db, "select count(*) from deliveries")[0][0]
    assert 20 <= attempts < 40  # stopped, not 660 messages × a ladder of retries
    skipped = rows(db, "select count(*) from messages where skipped like 'endpoint down%'")[0][0]
    assert skipped > 600
    # Turned off, every message is tried, on the gateway's whole ladder (refusals are instant).
    off = run("run", "dispute-spike", "--set", "baseline_orders=20", "--webhook-url", dead, "--db", str(db),
              "--circuit-breaker", "0", "--skip-probes", "--output", "json", "--timeout", "0.5")
    assert json.loads(off.stdout)["endpoint_down"] is None


def test_a_mismatch_names_the_delivery_in_the_summary_and_junit(db, scenario, tmp_path):
    path = scenario(FORGERIES)
    junit = tmp_path / "r.xml"
    with servers.lax() as srv:
        result = run("run", path, "--webhook-url", srv.url, "--db", str(db), "--ci", "--junit", str(junit))
    assert result.exit_code == 1
    forged_id, = rows(db, "select delivery_id from deliveries where not verdict_ok order by delivery_id limit 1")
    notes = result.stdout.split("First mismatched answer, by fault:")[1].split("\n\n")[0]
    assert "#forged/1" in notes and (" to payment." in notes or " to order." in notes)
    text = next(c.find("failure").text for c in ET.parse(junit).getroot().iter("testcase")
                if c.get("name") == "expect deliveries.mismatched == 0")
    assert "first mismatched" in text and "#forged/1" in text
    assert forged_id[0].endswith("#forged/1")


# When not one genuine message was answered as it should be, the summary says what to look at.

RAZORPAY_REFUSAL = b'{"error": "missing X-Razorpay-Signature header"}'


@pytest.mark.parametrize(("serve", "flags", "hint"), [
    (lambda: servers.lax(400, RAZORPAY_REFUSAL), ["--provider", "stripe"],
     "its answer names razorpay: is it a razorpay handler? give --provider razorpay (this run sent stripe's webhooks)"),
    (lambda: servers.lax(400, RAZORPAY_REFUSAL), ["--provider", "razorpay"],
     "hint: the handler rejected every genuine message: is it verifying with the secret given to --webhook-secret"),
    # mock speaks Razorpay: a Razorpay handler's words are no reason to suggest another provider.
    (lambda: servers.lax(400, RAZORPAY_REFUSAL), ["--provider", "mock"],
     "hint: the handler rejected every genuine message: is it verifying with the secret given to --webhook-secret"),
    (lambda: servers.lax(404, b"not found"), [],
     "hint: every genuine message got 404: is the path in --webhook-url (or --app-path) right?"),
])
def test_a_handler_that_fails_every_genuine_message_gets_a_hint(db, scenario, serve, flags, hint):
    with serve() as srv:
        result = run("run", scenario(TINY), "--webhook-url", srv.url, "--db", str(db), "--skip-probes", *flags)
    assert result.exit_code == 0, result.output
    hints = [line for line in result.stdout.splitlines() if line.startswith("hint:")]
    assert len(hints) == 1 and hint in hints[0], result.stdout


def test_an_endpoint_that_refuses_every_connection_gets_a_hint(db, scenario):
    # With the circuit breaker off the run completes, every attempt refused: without the hint
    # the summary showed latency figures as if something had answered.
    result = run("run", scenario(TINY), "--webhook-url", servers.refused_url(), "--db", str(db),
                 "--circuit-breaker", "0", "--skip-probes")
    assert result.exit_code == 0, result.output
    assert ("hint: no genuine message got an answer (refused): nothing listens at the webhook URL's port: "
            "is the handler running?") in result.stdout


def test_a_timeline_shows_each_attempt_at_its_own_virtual_time(db, scenario):
    # Before, a retry was shown at its message's virtual time, as if it had gone out at once.
    path = scenario(TINY.replace("retry none", "retry [1m]"))
    with servers.flaky(failures=1, status=503) as srv:
        result = run("run", path, "--webhook-url", srv.url, "--db", str(db), "--output", "json")
    assert result.exit_code == 0, result.output
    (run_id, entity), = rows(db, "select run_id, entity_id from messages order by seq limit 1")
    with open_store(db, read_only=True) as store:
        steps = store.timeline(run_id, entity)
    retried = {s.message_id for s in steps if s.attempt == 2}
    assert retried
    for message_id in retried:
        first, second = sorted((s for s in steps if s.message_id == message_id), key=lambda s: s.attempt or 0)
        assert second.virtual_ms - first.virtual_ms == 60_000
