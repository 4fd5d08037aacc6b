"""`carbonc replay` end to end: a real run recorded in a DuckDB file under tmp_path, replayed against
real servers on 127.0.0.1 whose verdicts come from the gateways' official SDKs — re-signed (a
gateway's resend: accepted), exact (the stored bytes and signatures: rejected once stale), filtered
by --only, linked by replay_of, its secrets nowhere in the file, and bad input refused cleanly."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import duckdb
import pytest
import servers
from cli_run import rows
from click.testing import CliRunner
from dialect_helpers import SECRETS
from run_scenarios import FORGERIES

from carbonc.cli import main
from carbonc.cli.legacy import main as legacy_main

PROVIDERS = ["razorpay", "stripe", "cashfree", "juspay", "standard"]
#: Providers whose signature covers a time, so that an exact replay goes stale.
TIMED = ["stripe", "cashfree", "standard"]


def invoke(*args: str, command=main, env: dict[str, str] | None = None):
    return CliRunner().invoke(command, list(args), prog_name="carbonc", env=env)



def stored_requests(db: Path, run_id: str) -> list[tuple[str, dict[str, str]]]:
    """The first attempt of each message of `run_id` as stored (body, headers), in send order."""
    return [(body, json.loads(headers)) for body, headers in rows(
        db, "select d.request_body, d.request_headers from deliveries d join messages m using (run_id, message_id) "
            "where run_id = ? and d.attempt = 1 order by m.seq", run_id)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.duckdb"


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    path = tmp_path / "forgeries.carbon"
    path.write_text(FORGERIES, encoding="utf-8")
    return str(path)


def source_run(db: Path, scenario: str, provider: str, url: str, *extra: str) -> str:
    result = invoke("run", scenario, "--provider", provider, "--webhook-url", url, "--webhook-secret",
                    SECRETS[provider], "--db", str(db), "--output", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["run_id"]


def replay(db: Path, run_id: str, *args: str, provider: str | None = None, command=main):
    secret = ("--webhook-secret", SECRETS[provider]) if provider else ()
    return invoke("replay", run_id, *secret, "--db", str(db), "--output", "json", *args, command=command)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_resigned_replay_is_accepted_by_the_official_verifier(provider, db, scenario):
    with servers.strict(provider, SECRETS[provider]) as srv:
        source = source_run(db, scenario, provider, srv.url + "/hooks", "--concurrency", "1")
        before = len(srv.requests)
        result = replay(db, source, "--webhook-url", srv.url + "/hooks", "--ci", provider=provider)
        received = srv.requests[before:]
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "completed" and doc["passed"] is True and doc["mode"] == "resign"
    stored = stored_requests(db, source)
    # Every message, in its order, with its body byte for byte; the forgeries stay forgeries.
    assert [r.body.decode() for r in received] == [body for body, _ in stored]
    assert doc["deliveries"]["total"] == len(stored) == doc["messages"]["replayed"]
    assert doc["deliveries"]["mismatched"] == 0
    verdicts = "select expected_verdict, outcome, count(*) from deliveries where run_id = ? group by all order by all"
    forged = rows(db, "select count(*) from messages where run_id = ? and fault like '%forged%' and skipped is null",
                    source)[0][0]
    assert forged > 0
    assert rows(db, verdicts, doc["run_id"]) == rows(db, verdicts, source) == [
        ("accept", "2xx", len(stored) - forged), ("reject", "4xx", forged)]
    # The link, and the gateway's facts carried over.
    assert rows(db, "select replay_of, replay_mode, provider, scenario from runs where run_id = ?", doc["run_id"]) == [
        (source, "resign", provider, "forgeries")]
    assert rows(db, "select count(*) from entities where run_id = ?", doc["run_id"]) == \
        rows(db, "select count(*) from entities where run_id = ?", source)
    assert rows(db, "select replay_of from runs where run_id = ?", source) == [(None,)]


@pytest.mark.parametrize("provider", ["stripe", "standard", "cashfree"])
def test_a_resigned_replay_is_signed_now_not_as_stored(provider, db, scenario):
    with servers.strict(provider, SECRETS[provider], tolerance_s=1) as srv:
        source = source_run(db, scenario, provider, srv.url + "/hooks")
        time.sleep(2.1)  # the stored signatures are now stale for this handler
        result = replay(db, source, "--webhook-url", srv.url + "/hooks", "--ci", provider=provider)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    stored, resent = stored_requests(db, source), stored_requests(db, doc["run_id"])
    timestamp = {"stripe": "Stripe-Signature", "standard": "webhook-timestamp",
                 "cashfree": "x-webhook-timestamp"}[provider]
    assert [body for body, _ in stored] == [body for body, _ in resent]
    pairs = [(old[timestamp], new[timestamp]) for (_, old), (_, new) in zip(stored, resent, strict=True)
             if timestamp in old]
    assert pairs
    assert all(old != new for old, new in pairs)


@pytest.mark.parametrize("provider", TIMED)
def test_an_exact_replay_is_the_stored_request_and_is_rejected_once_stale(provider, db, scenario):
    with servers.strict(provider, SECRETS[provider], tolerance_s=1) as srv:
        source = source_run(db, scenario, provider, srv.url + "/hooks", "--concurrency", "1")
        time.sleep(2.1)
        before = len(srv.requests)
        result = replay(db, source, "--exact", "--tolerance", "1", "--webhook-url", srv.url + "/hooks", "--ci",
                        provider=provider)
        received = srv.requests[before:]
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    stored = stored_requests(db, source)
    # The stored bytes and signature headers, unchanged.
    assert [r.body.decode() for r in received] == [body for body, _ in stored]
    signature = {"stripe": ["stripe-signature"], "standard": ["webhook-id", "webhook-timestamp", "webhook-signature"],
                 "cashfree": ["x-webhook-signature", "x-webhook-timestamp"]}[provider]
    for request, (_, headers) in zip(received, stored, strict=True):
        lowered = {k.lower(): v for k, v in headers.items()}
        assert [request.headers.get(h) for h in signature] == [lowered.get(h) for h in signature]
    # The handler refused every one (a replay attack), and carbonc expected it to.
    assert {r for r, in rows(db, "select status_code from deliveries where run_id = ?", doc["run_id"])} == {400}
    assert doc["deliveries"]["mismatched"] == 0 and doc["passed"] is True
    assert rows(db, "select replay_mode from runs where run_id = ?", doc["run_id"]) == [("exact",)]


def test_an_exact_replay_within_the_window_verifies_like_the_original(db, scenario):
    with servers.strict("stripe", SECRETS["stripe"]) as srv:
        source = source_run(db, scenario, "stripe", srv.url + "/hooks")
        result = replay(db, source, "--exact", "--webhook-url", srv.url + "/hooks", "--ci", provider="stripe")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    forged = rows(db, "select count(*) from messages where run_id = ? and fault like '%forged%' and skipped is null",
                    source)[0][0]
    assert doc["deliveries"]["accepted"] == doc["deliveries"]["total"] - forged


def test_a_handler_that_accepts_stale_exact_replays_is_caught(db, scenario):
    with servers.strict("stripe", SECRETS["stripe"], tolerance_s=1) as strict, servers.lax() as lax:
        source = source_run(db, scenario, "stripe", strict.url + "/hooks")
        time.sleep(2.1)
        result = replay(db, source, "--exact", "--tolerance", "1", "--webhook-url", lax.url + "/hooks", "--ci",
                        provider="stripe")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is False and doc["deliveries"]["mismatched"] == doc["deliveries"]["total"]


@pytest.mark.parametrize("provider", ["razorpay", "juspay"])
def test_an_exact_replay_without_a_signed_time_still_verifies(provider, db, scenario):
    with servers.strict(provider, SECRETS[provider]) as srv:
        source = source_run(db, scenario, provider, srv.url + "/hooks")
        before = len(srv.requests)
        result = replay(db, source, "--exact", "--webhook-url", srv.url + "/hooks", "--ci", provider=provider)
        received = srv.requests[before:]
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r.body.decode() for r in received] == [body for body, _ in stored_requests(db, source)]
    assert "de-duplication by event id" in " ".join(doc["notes"])
    if provider == "juspay":
        # Basic auth holds the secret: never stored, rebuilt from the secret given again.
        assert any("rebuilt from --webhook-secret" in note for note in doc["notes"])
        assert all("Authorization" in r.headers or "authorization" in r.headers for r in received[:1])
        assert rows(db, "select count(*) from deliveries where request_headers::varchar ilike '%authorization%'") \
            == [(0,)]


def _failing_disputes() -> servers.Server:
    """200 to everything but dispute events, which get 503."""
    def respond(request, exchange):
        exchange.send(503 if b"dispute" in request.body else 200, b"")
    return servers.Server(respond)


def test_only_selects_failed_mismatched_and_event_globs(db):
    with _failing_disputes() as srv:
        result = invoke("run", "dispute-spike", "--set", "baseline_orders=20", "--webhook-url", srv.url + "/hooks",
                        "--db", str(db), "--output", "json", "--skip-probes")
        assert result.exit_code == 0, result.output
        source = json.loads(result.stdout)["run_id"]
        disputes = rows(db, "select count(*) from messages where run_id = ? and neutral_event like 'dispute.%'",
                        source)[0][0]
        assert disputes > 0
        counts = {}
        for only in ("failed", "mismatched", "dispute.*", "payment.captured"):
            before = len(srv.requests)
            done = replay(db, source, "--only", only, "--webhook-url", srv.url + "/hooks")
            assert done.exit_code == 0, done.output
            doc = json.loads(done.stdout)
            received = srv.requests[before:]
            assert len(received) == doc["messages"]["replayed"]
            counts[only] = ({json.loads(r.body)["event"] for r in received}, doc["messages"]["left_out"])
    dispute_events = {e for e, in rows(db, "select provider_event from messages where run_id = ? and "
                                           "neutral_event like 'dispute.%'", source)}
    assert counts["failed"][0] == counts["mismatched"][0] == counts["dispute.*"][0] == dispute_events
    assert counts["payment.captured"][0] == {"payment.captured"}
    total = rows(db, "select count(*) from messages where run_id = ?", source)[0][0]
    assert counts["failed"][1] == total - disputes


def test_only_that_leaves_nothing_is_refused(db, scenario):
    with servers.lax() as srv:
        source = source_run(db, scenario, "razorpay", srv.url + "/hooks")
        result = replay(db, source, "--only", "refund.*", "--webhook-url", srv.url + "/hooks")
        assert result.exit_code == 2
        assert "leaves none" in result.stderr and "Traceback" not in result.output
        result = replay(db, source, "--only", "failed", "--webhook-url", srv.url + "/hooks")
        assert result.exit_code == 2 and "nothing to replay" in result.stderr
    assert rows(db, "select count(*) from runs") == [(1,)]  # nothing recorded


def _forms(secret: str) -> set[str]:
    forms = {secret, base64.b64encode(secret.encode()).decode()}
    if ":" in secret:
        forms.add(secret.partition(":")[2])
    return forms


@pytest.mark.parametrize("provider", ["stripe", "juspay"])
@pytest.mark.parametrize("mode", ["resign", "exact"])
def test_the_secret_is_nowhere_in_the_database(provider, mode, db, scenario, tmp_path):
    secret = SECRETS[provider]
    with servers.strict(provider, secret) as srv:
        source = source_run(db, scenario, provider, srv.url + "/hooks")
        exact = ("--exact",) if mode == "exact" else ()
        result = invoke("replay", source, "--webhook-url", srv.url + "/hooks", "--db", str(db), *exact,
                        env={"CARBON_WEBHOOK_SECRET": secret})
    assert result.exit_code == 0, result.output
    assert rows(db, "select count(*) from runs where replay_of = ?", source) == [(1,)]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.duckdb*"))
    for form in _forms(secret):
        assert form.encode() not in raw, f"a form of the secret is in the database: {form[:4]}…"
        assert form not in result.output


def test_bad_input_is_refused_without_a_traceback(db, scenario, tmp_path):
    missing = invoke("replay", "run_x", "--webhook-url", "http://127.0.0.1:9/h", "--db", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and "no database" in missing.stderr
    with servers.lax() as srv:
        source = source_run(db, scenario, "stripe", srv.url + "/hooks")
        unknown = invoke("replay", "run_nope", "--webhook-url", srv.url + "/hooks", "--db", str(db))
        assert unknown.exit_code == 2 and "no run `run_nope`" in unknown.stderr and source in unknown.stderr
        cases = [
            (("replay", source, "--db", str(db)), "--webhook-url or --app"),
            (("replay", source, "--db", str(db), "--webhook-url", ""), "empty"),
            (("replay", source, "--db", str(db), "--webhook-url", srv.url, "--tolerance", "5"), "--exact"),
            (("replay", source, "--db", str(db), "--webhook-url", srv.url, "--only", " "), "--only is empty"),
            (("replay", source, "--db", str(db), "--webhook-url", "ftp://x"), "http://"),
            (("replay", source, "--db", str(db), "--app", "no_such_module:app"), "cannot import"),
            (("replay", source, "--db", str(db), "--webhook-url", srv.url, "--app", "m:app"), "not both"),
        ]
        for args, said in cases:
            result = invoke(*args)
            assert result.exit_code == 2, (args, result.output)
            assert said in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.output
    assert rows(db, "select count(*) from runs") == [(1,)]


def test_a_run_that_sent_nothing_has_nothing_to_replay(db, scenario):
    assert invoke("run", scenario, "--db", str(db)).exit_code == 0
    source, = rows(db, "select run_id from runs")[0]
    result = invoke("replay", source, "--webhook-url", "http://127.0.0.1:9/h", "--db", str(db))
    assert result.exit_code == 2 and "no stored requests" in result.stderr


def test_exact_needs_the_headers_older_runs_did_not_keep(db, scenario):
    with servers.lax() as srv:
        source = source_run(db, scenario, "stripe", srv.url + "/hooks")
        con = duckdb.connect(str(db))
        con.execute("update deliveries set request_headers = null")
        con.close()
        result = invoke("replay", source, "--exact", "--webhook-url", srv.url, "--db", str(db))
        assert result.exit_code == 2 and "without --exact" in result.stderr
        assert invoke("replay", source, "--webhook-url", srv.url, "--db", str(db)).exit_code == 0


def test_the_older_carbon_replay_command(db, scenario):
    with servers.strict("razorpay", "carbon") as srv:
        result = invoke("run", scenario, "--provider", "razorpay", "--webhook-url", srv.url + "/hooks", "--db",
                        str(db), "--output", "json")
        source = json.loads(result.stdout)["run_id"]
        before = len(srv.requests)
        result = invoke("replay", source, "--webhook-url", srv.url + "/hooks", command=legacy_main,
                        env={"CARBON_DB": str(db)})
        assert result.exit_code == 0, result.output
        assert len(srv.requests) - before == len(stored_requests(db, source))
    assert rows(db, "select count(*) from runs where replay_of = ?", source) == [(1,)]
