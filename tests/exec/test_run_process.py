"""`carbonc run` as a real process against real servers on 127.0.0.1, each test with its own
DuckDB file: killed mid-run, interrupted, racing another run for the database, run twice,
keeping its secrets out of everything it writes, and refusing bad input without a traceback.

Waits are generous and asserted on counts, never on timings: a `Gate` server answers a fixed
number of requests and holds the rest, so what a run has sent and finished is known exactly."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import servers
from gate import Gate
from processes import LONG_RUN, WAIT_S, WORKERS, no_traceback, query, wait_requests, wait_until
from run_scenarios import FORGERIES

from carbonc.store import open_store


def test_a_killed_run_keeps_every_flushed_row_and_is_marked_interrupted(carbonc, tmp_path):
    db = tmp_path / "runs.duckdb"
    answered = 2000
    with Gate(open_for=answered) as gate:
        proc = carbonc.start("run", *LONG_RUN, "--webhook-url", gate.url, "--db", str(db))
        # Once every worker holds an unanswered request, all `answered` attempts have been handed
        # to the writer and no more can be.
        wait_requests(gate.server, answered + WORKERS, proc)
        # Wait (on content, not time) until the writer has committed them, reading the database
        # the run is writing (a reader gets in between its batches).
        def flushed() -> bool:
            with open_store(db, read_only=True) as store:
                return store.query("select count(*) from deliveries")[1] == [(answered,)]

        wait_until(flushed, "the answered deliveries are in the database")
        proc.kill()
        proc.communicate(timeout=WAIT_S)
        received = gate.server.requests
    assert proc.returncode == -signal.SIGKILL
    assert len(received) == answered + WORKERS  # never more in flight than --concurrency

    # Before anything writes the file again, `runs` already lists the dead process's run as
    # interrupted: no process holds the writer's lock (the file still says `running`).
    listed = carbonc.run("runs", "--db", str(db), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [r["status"] for r in json.loads(listed.stdout)] == ["interrupted"]
    with open_store(db, read_only=True) as store:
        assert store.query("select status from runs")[1] == [("running",)]

    # The file opens cleanly, and opening it marks the dead process's run interrupted.
    assert query(db, "select status, finished_at is not null from runs") == [("interrupted", True)]
    # Every answered attempt is recorded as it was sent, and nothing that was never answered is.
    recorded = query(db, "select request_body, status_code from deliveries")
    assert sorted(recorded) == sorted((body.decode(), 200) for body in gate.answered)
    assert len(recorded) < len(received)
    # The rows a delivery depends on were flushed with or before it.
    assert query(db, "select count(*) from deliveries d anti join messages m using (run_id, message_id)") == [(0,)]
    assert query(db, "select kind, count(*) from entities where kind in ('order', 'payment') group by 1 order by 1"
                 ) == [("order", 3000), ("payment", 3000)]

    # The file takes the next run.
    with servers.lax() as srv:
        again = carbonc.run("run", "dispute-spike", "--skip-probes", "--set", "baseline_orders=5", "--webhook-url", srv.url,
                            "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert sorted(query(db, "select status from runs")) == [("completed",), ("interrupted",)]


@pytest.mark.parametrize(("signum", "workers"), [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-2-workers"])
def test_an_interrupted_run_finishes_what_is_in_flight_and_records_everything_sent(signum, workers, carbonc, tmp_path):
    db = tmp_path / "runs.duckdb"
    with servers.slow(0.01) as srv:
        proc = carbonc.start("run", *LONG_RUN, "--webhook-url", srv.url, "--db", str(db), "--output", "json",
                             "--workers", str(workers))
        wait_requests(srv, 100, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=WAIT_S)
        received = srv.requests
    assert proc.returncode == 1, err
    no_traceback(out, err)
    doc = json.loads(out)
    assert doc["status"] == "interrupted" and doc["checks"] == []
    assert doc["deliveries"]["total"] < doc["messages"]["planned"]  # it really was cut short
    assert query(db, "select run_id, status, finished_at is not null, workers from runs") == [
        (doc["run_id"], "interrupted", True, workers)]
    # Everything sent was answered (in-flight attempts finish) and recorded.
    recorded = query(db, "select request_body from deliveries")
    assert len(recorded) == doc["deliveries"]["total"] == len(received)
    assert sorted(body for body, in recorded) == sorted(r.body.decode() for r in received)
    assert query(db, "select count(*) from checks") == [(0,)]  # an incomplete run is not judged


def test_a_second_interrupt_abandons_the_attempts_in_flight(carbonc, tmp_path):
    db = tmp_path / "runs.duckdb"
    answered = 50
    with Gate(open_for=answered) as gate:
        proc = carbonc.start("run", *LONG_RUN, "--webhook-url", gate.url, "--db", str(db), "--output", "json")
        wait_requests(gate.server, answered + WORKERS, proc)
        proc.send_signal(signal.SIGINT)
        # The first signal waits for the held attempts (their deadline is minutes away).
        time.sleep(1.0)
        assert proc.poll() is None
        # Signals sent close together may arrive as one: repeat until it exits.
        deadline = time.monotonic() + WAIT_S
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.5)
        out, err = proc.communicate(timeout=WAIT_S)
        received = gate.server.requests
    assert proc.returncode == 1, err
    no_traceback(out, err)
    assert json.loads(out)["status"] == "interrupted"
    assert len(received) == answered + WORKERS
    assert query(db, "select status from runs") == [("interrupted",)]
    # Every request that went out is recorded: the answered ones with their answer, the
    # abandoned ones as such.
    recorded = query(db, "select request_body, status_code, error from deliveries")
    assert sorted(r[:2] for r in recorded if r[1] is not None) == sorted((b.decode(), 200) for b in gate.answered)
    abandoned = [r for r in recorded if r[1] is None]
    assert len(abandoned) == WORKERS and {r[2] for r in abandoned} == {"abandoned"}
    assert sorted(r[0] for r in recorded) == sorted(r.body.decode() for r in received)


def test_a_second_run_on_a_database_in_use_is_refused_and_the_first_is_unharmed(carbonc, tmp_path):
    db = tmp_path / "runs.duckdb"
    with Gate(open_for=10) as gate, servers.lax() as other:
        first = carbonc.start("run", "dispute-spike", "--skip-probes", "--set", "baseline_orders=30", "--concurrency", "2",
                              "--webhook-url", gate.url, "--db", str(db), "--output", "json")
        wait_requests(gate.server, 12, first)  # mid-run, holding the database

        second = carbonc.run("run", "dispute-spike", "--skip-probes", "--set", "baseline_orders=5", "--webhook-url", other.url,
                             "--db", str(db))
        assert second.returncode == 1
        no_traceback(second.stdout, second.stderr)
        assert (f"error: the database `{db}` is in use by another carbonc process (pid {first.pid})"
                in second.stderr)
        assert other.requests == []  # refused before sending anything
        assert first.poll() is None

        gate.release()
        out, err = first.communicate(timeout=WAIT_S)
        received = gate.server.requests
    assert first.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "completed" and doc["deliveries"]["total"] == len(received) > 12
    assert query(db, "select run_id, status from runs") == [(doc["run_id"], "completed")]
    assert query(db, "select count(*), count(distinct delivery_id) from deliveries") == [(len(received),) * 2]


def test_runs_one_after_another_are_both_recorded(carbonc, tmp_path):
    db = tmp_path / "runs.duckdb"
    docs, received = [], []
    for n in (5, 10):
        with servers.lax() as srv:
            result = carbonc.run("run", "dispute-spike", "--skip-probes", "--set", f"baseline_orders={n}", "--webhook-url", srv.url,
                                 "--db", str(db), "--output", "json")
            received.append(len(srv.requests))
        assert result.returncode == 0, result.stderr
        docs.append(json.loads(result.stdout))
    assert docs[0]["run_id"] != docs[1]["run_id"]
    assert sorted(query(db, "select run_id, status from runs")) == sorted(
        (doc["run_id"], "completed") for doc in docs)
    per_run = dict(query(db, "select run_id, count(*) from deliveries group by 1"))
    assert [per_run[doc["run_id"]] for doc in docs] == [doc["deliveries"]["total"] for doc in docs] == received
    assert received[0] < received[1]


# Secrets. Each case: provider, secret, whether it is given by flag or CARBON_WEBHOOK_SECRET, and
# whether the endpoint verifies it (strict), refuses connections, or the secret is malformed.
_STANDARD_KEY = b"s3cr3t-DO-NOT-LEAK-standard-key!"
SECRET_CASES = [
    ("mock", "s3cr3t-DO-NOT-LEAK-123", "flag", "strict"),
    ("razorpay", "rzp-s3cr3t-DO-NOT-LEAK-env", "env", "strict"),
    ("juspay", "user:p4ssw0rd-LEAK", "flag", "strict"),
    ("juspay", "user:p4ssw0rd-LEAK-env", "env", "strict"),
    ("stripe", "whsec_s3cr3tDONOTLEAKstripe", "flag", "strict"),
    ("cashfree", "cfsk_s3cr3t-DO-NOT-LEAK", "flag", "strict"),
    ("standard", "whsec_" + base64.b64encode(_STANDARD_KEY).decode(), "flag", "strict"),
    ("mock", "s3cr3t-DO-NOT-LEAK-refused", "flag", "refused"),
    ("juspay", "no-colon-p4ssw0rd-LEAK", "flag", "malformed"),
    ("standard", "whsec_s3cr3t-DO-NOT-LEAK!", "env", "malformed"),
]


def _forms(secret: str) -> set[str]:
    """The secret, its Base64 (Basic auth), its password half, and a Standard Webhooks key's
    encoded and decoded forms."""
    forms = {secret, base64.b64encode(secret.encode()).decode()}
    if ":" in secret:
        forms.add(secret.partition(":")[2])
    if secret.startswith("whsec_"):
        forms.add(secret.removeprefix("whsec_"))
    if secret.endswith(base64.b64encode(_STANDARD_KEY).decode()):
        forms.add(_STANDARD_KEY.decode())
    return forms


def _stored_text(db: Path) -> str:
    """Every value of every column of every table, as text."""
    out = []
    with open_store(db) as store:
        for table, columns in store.tables().items():
            for column in columns:
                out += [str(v) for v, in store.query(f'select cast("{column}" as varchar) from {table}')[1]]
    return "\n".join(out)


@pytest.mark.parametrize(("provider", "secret", "given", "endpoint"), SECRET_CASES,
                         ids=[f"{p}-{g}-{e}" for p, _, g, e in SECRET_CASES])
def test_the_webhook_secret_leaks_nowhere(provider, secret, given, endpoint, carbonc, tmp_path):
    db, junit, source = tmp_path / "runs.duckdb", tmp_path / "report.xml", tmp_path / "forgeries.carbon"
    source.write_text(FORGERIES, encoding="utf-8")
    args = ["run", str(source), "--provider", provider, "--db", str(db), "--junit", str(junit), "--ci",
            "--output", "json" if given == "env" else "terminal"]
    extra_env = {"CARBON_WEBHOOK_SECRET": secret} if given == "env" else None
    if given == "flag":
        args += ["--webhook-secret", secret]
    with servers.strict("razorpay" if provider == "mock" else provider, secret) as srv, servers.lax() as callback:
        url = srv.url if endpoint != "refused" else servers.refused_url()
        result = carbonc.run(*args, "--webhook-url", url + "/hooks", "--callback-url", callback.url, env=extra_env)
        received, posted = srv.requests, callback.requests
    no_traceback(result.stdout, result.stderr)

    if endpoint == "malformed":
        assert result.returncode == 2 and "webhook" in result.stderr and "secret" in result.stderr
        assert received == [] and posted == []
    else:
        # The secret was used (a correct handler passes --ci only if it verified the genuine
        # messages with it), and every output was written.
        assert result.returncode == (0 if endpoint == "strict" else 1), result.stdout + result.stderr
        assert (len(received) > 0) == (endpoint == "strict")
        assert junit.exists() and len(posted) == 1
        run_id = json.loads(posted[0].body)["run_id"]
        assert run_id in result.stdout

    stored = _stored_text(db) if db.exists() else ""
    if endpoint != "malformed":
        assert run_id in stored and "forgeries" in stored  # the scan reads what was recorded
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.duckdb*"))
    places = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "the stored values": stored,
        "the database file": raw.decode("latin-1"),
        "the JUnit report": junit.read_text(encoding="utf-8") if junit.exists() else "",
        "the callback": b"".join(p.body for p in posted).decode("utf-8"),
    }
    leaks = {(where, form) for where, text in places.items() for form in _forms(secret) if form in text}
    assert not leaks


def test_a_password_in_the_webhook_url_leaks_nowhere(carbonc, tmp_path):
    db, junit = tmp_path / "runs.duckdb", tmp_path / "report.xml"
    with servers.lax() as srv, servers.lax() as callback:
        url = srv.url.replace("http://", "http://hookuser:url-p4ss-LEAK@") + "/hooks?token=ok"
        result = carbonc.run("run", "dispute-spike", "--skip-probes", "--set", "baseline_orders=5", "--webhook-url", url,
                             "--db", str(db), "--junit", str(junit), "--callback-url", callback.url)
        assert len(srv.requests) > 0
        posted = callback.requests
    assert result.returncode == 0, result.stderr
    stored = _stored_text(db)
    assert srv.url + "/hooks" in stored  # the target is recorded, without its credentials
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.duckdb*")).decode("latin-1")
    for text in (result.stdout, result.stderr, stored, raw, junit.read_text(encoding="utf-8"),
                 posted[0].body.decode()):
        assert "url-p4ss-LEAK" not in text


# Bad input: (id, arguments, extra environment, exit code, what stderr must match).
BAD_INPUT = [
    ("db-is-a-directory", ["--db", "adir"], {}, 2, r"'--db': .*is a directory"),
    ("CARBON_DB-is-a-directory", [], {"CARBON_DB": "adir"}, 1, r"error: `adir` is a directory, not a database file"),
    ("unknown-provider", ["--provider", "paypal"], {}, 2, r"Invalid value for '--provider': 'paypal' is not one of"),
    ("time-scale-abc", ["--time-scale", "abc"], {}, 2, r"'--time-scale': 'abc' is neither a number nor `max`"),
    ("time-scale-zero", ["--time-scale", "0"], {}, 2, r"'--time-scale': must be a positive number"),
    ("concurrency-0", ["--concurrency", "0"], {}, 2, r"Invalid value for '--concurrency': 0 is not in the range"),
    ("ftp-url", ["--webhook-url", "ftp://x"], {}, 2, r"error: the webhook URL must start with http:// or https://"),
    ("url-bad-port", ["--webhook-url", "http://127.0.0.1:99999/"], {}, 2, r"error: invalid webhook URL: Port"),
    ("app-without-colon", ["--app", "myapp"], {}, 2, r"error: --app must be `module:attribute`, not `myapp`"),
    ("app-and-url", ["--app", "m:a", "--webhook-url", "http://127.0.0.1:9/"], {}, 2,
     r"error: give --webhook-url or --app, not both"),
    ("unknown-param", ["--set", "nope=1"], {}, 2, r"--set: error\[C\d{4}\]: unknown parameter `nope`"),
]


@pytest.mark.parametrize(("args", "extra_env", "code", "message"), [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_a_clear_message_not_a_traceback(args, extra_env, code, message, carbonc, tmp_path):
    (tmp_path / "adir").mkdir()
    db_args = [] if "--db" in args or "CARBON_DB" in extra_env else ["--db", str(tmp_path / "runs.duckdb")]
    result = carbonc.run("run", "dispute-spike", "--set", "baseline_orders=2", *args, *db_args, env=extra_env)
    assert result.returncode == code, result.stderr
    assert re.search(message, result.stderr), result.stderr
    no_traceback(result.stdout, result.stderr)
    assert list((tmp_path / "adir").iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(carbonc, tmp_path):
    junk = tmp_path / "notes.duckdb"
    content = b"my notes, not a database\n\x00\xff" * 200
    junk.write_bytes(content)
    result = carbonc.run("run", "dispute-spike", "--set", "baseline_orders=2", "--db", str(junk))
    assert result.returncode == 1
    assert f"error: `{junk}` is not a DuckDB database" in result.stderr
    no_traceback(result.stdout, result.stderr)
    assert junk.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]


def test_a_carbon_syntax_error_is_a_diagnostic_and_exit_2(carbonc, tmp_path):
    (tmp_path / "broken.carbon").write_text(
        "scenario s {\n  phase p {\n    create orders count 3 amount INR 100 method card\n"
        "    pay each order { captured 100% \n  }\n}\n", encoding="utf-8")
    result = carbonc.run("run", "broken.carbon", "--db", str(tmp_path / "runs.duckdb"))
    assert result.returncode == 2
    assert re.search(r"^broken\.carbon:\d+:\d+: error\[C\d{4}\]: ", result.stderr, re.MULTILINE), result.stderr
    no_traceback(result.stdout, result.stderr)
    assert result.stdout == ""
