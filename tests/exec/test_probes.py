"""Probes against a real state API on 127.0.0.1: what they send, how they judge, and how every
way a state API can misbehave — a template that is no URL, an answer that is not JSON, a missing
field, a 500, a hang — is a failed probe with its reason, while the deliveries stay recorded."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import servers
from cli_run import rows, run
from click.testing import CliRunner

#: Three paid orders of INR 1.15; each probe asks a path of the test server that answers in one
#: way (see `state_api`).
SCENARIO = """
scenario probed {
  param n = 3
  seed 5
  phase p {
    create orders count n amount INR 1.15 method card
    pay each order { captured 100% }
  }
  deliver { retry none }
  expect orders == n severity high

  probe GET "{{ base }}/good/{{ order.id }}" for each paid order {
    expect status == 200
    expect json.status == "paid"
    expect json.amount == order.amount
    expect json.amount_paid == order.amount_paid
  } severity critical
  PROBE_UNDER_TEST
}
"""

CASES = {
    "not-json": ('probe GET "{{ base }}/text/{{ order.id }}" for each paid order { expect json.status == "paid" }',
                 "json: the answer (status 200) is not JSON"),
    "missing-field": ('probe GET "{{ base }}/empty/{{ order.id }}" for each paid order { expect json.status == "paid" }',
                      "field: the answer has no `json.status`"),
    "server-error": ('probe GET "{{ base }}/error/{{ order.id }}" for each paid order { expect status == 200 }',
                     "expected status == 200"),
    "hang": ('probe GET "{{ base }}/hang/{{ order.id }}" for each paid order { expect status == 200 }',
             "timeout: no answer within 0.5s"),
    "invalid-url": ('probe GET "{{ base }}:99999/{{ order.id }}" for each paid order { expect status == 200 }',
                    "is not a valid URL (Invalid port"),
    "null-value": ('probe GET "{{ base }}/null/{{ order.id }}" for each paid order { expect json.status == "paid" }',
                   "value: json.status == \"paid\" cannot be evaluated"),
}


def state_api(polls_before_paid: int = 0):
    """A webhook endpoint that accepts everything and a state API with one path per behaviour;
    `/slow/ID` shows the order paid only from the `polls_before_paid`-th request on."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def respond(request: servers.Received, exchange: servers.Exchange) -> None:
        if request.method == "POST":
            exchange.send(200, b"ok")
            return
        _, kind, entity = request.path.split("/", 2)
        good = json.dumps({"status": "paid", "amount": 115, "amount_paid": 115}).encode()
        if kind == "good":
            exchange.send(200, good, {"content-type": "application/json"})
        elif kind == "text":
            exchange.send(200, b"<html>paid</html>")
        elif kind == "empty":
            exchange.send(200, b"{}")
        elif kind == "null":
            exchange.send(200, b'{"status": null}')
        elif kind == "error":
            exchange.send(500, b'{"error": "database is locked"}')
        elif kind == "slow":
            with lock:
                seen[entity] = seen.get(entity, 0) + 1
                ready = seen[entity] > polls_before_paid
            exchange.send(200, good if ready else b'{"status": "pending"}')
        elif kind == "hang":
            exchange.wait_closed()
        else:
            exchange.send(404, b'{"error": "not found"}')

    return servers.Server(respond)




def scenario_file(tmp_path: Path, probe: str = "") -> str:
    path = tmp_path / "probed.carbon"
    path.write_text(SCENARIO.replace("PROBE_UNDER_TEST", probe), encoding="utf-8")
    return str(path)


def test_a_correct_state_passes_and_each_entity_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    with state_api() as srv:
        result = run("run", scenario_file(tmp_path), "--webhook-url", srv.url + "/hooks", "--db", str(db), "--ci",
                     "--output", "json")
        gets = [r.path for r in srv.requests if r.method == "GET"]
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is True and doc["probes"][0]["entities"] == 3 and doc["probes"][0]["failed"] == 0
    ids = [e for e, in rows(db, "select entity_id from entities where kind = 'order' order by entity_id")]
    assert sorted(gets) == [f"/good/{i}" for i in ids]  # the probe base is the webhook URL's origin
    assert rows(db, "select count(*), count(*) filter (where passed), min(polls) from checks "
                    "where kind = 'probe' and entity_id is not null") == [(3, 3, 1)]
    assert rows(db, "select subject, passed from checks where kind = 'probe' and entity_id is null") == [
        ("merchant", True)]


@pytest.mark.parametrize("case", list(CASES))
def test_a_misbehaving_state_api_is_a_failed_probe_with_its_reason(case: str, tmp_path: Path) -> None:
    probe, reason = CASES[case]
    db = tmp_path / "runs.duckdb"
    junit = tmp_path / "r.xml"
    with state_api() as srv:
        result = run("run", scenario_file(tmp_path, probe), "--webhook-url", srv.url + "/hooks", "--db", str(db),
                     "--ci", "--probe-timeout", "0.5", "--junit", str(junit))
        posted = sum(r.method == "POST" for r in srv.requests)
    assert result.exit_code == 1, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    assert reason in result.stdout, result.stdout
    # The failing entities are named, with the request as sent; the good probe still passed.
    failed = rows(db, "select entity_id, message, request from checks where kind = 'probe' and entity_id is not null "
                      "and not passed")
    assert len(failed) == 3 and all(reason in message for _, message, _ in failed)
    assert all(request.startswith("GET ") for *_, request in failed)
    assert rows(db, "select passed from checks where name like '%/good/%' and entity_id is null") == [(True,)]
    # Everything delivered before the probes stays recorded.
    assert rows(db, "select count(*) from deliveries") == [(posted,)] and posted == 9
    assert rows(db, "select status from runs") == [("completed",)]
    failure = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None)
    assert reason.split("`")[0].strip() in failure.find("failure").text


def run_slow_state(tmp_path: Path, window: str, polls_before_paid: int):
    """Run with a probe that waits `window` for a state shown only after some polls."""
    probe = ('probe GET "{{ base }}/slow/{{ order.id }}" for each paid order {\n'
             f'    eventually within {window}\n    expect json.status == "paid"\n  }} severity high')
    with state_api(polls_before_paid=polls_before_paid) as srv:
        return run("run", scenario_file(tmp_path, probe), "--webhook-url", srv.url + "/hooks", "--db",
                   str(tmp_path / "runs.duckdb"), "--ci")


def test_eventually_polls_until_the_state_shows(tmp_path: Path) -> None:
    result = run_slow_state(tmp_path, "5s", polls_before_paid=2)
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "runs.duckdb", "select min(polls), min(elapsed_ms) >= 200 from checks "
                "where name like '%/slow/%' and entity_id is not null") == [(3, True)]


def test_a_window_that_ends_fails_with_what_was_last_seen(tmp_path: Path) -> None:
    result = run_slow_state(tmp_path, "300ms", polls_before_paid=100)
    assert result.exit_code == 1
    assert "observed json.status = 'pending'" in result.stdout


def test_probe_headers_are_sent_and_never_recorded(tmp_path: Path) -> None:
    token = "sk_state_api_7f3a9c2e5b1d"
    db = tmp_path / "runs.duckdb"
    with state_api() as srv:
        result = run("run", scenario_file(tmp_path), "--webhook-url", srv.url + "/hooks", "--db", str(db), "--ci",
                     "--probe-header", "Authorization: env:STATE_TOKEN", "--probe-header", "X-Shop: demo",
                     "--output", "json", env={"STATE_TOKEN": f"Bearer {token}"})
        gets = [r for r in srv.requests if r.method == "GET"]
    assert result.exit_code == 0, result.output
    assert gets and all(r.headers["authorization"] == f"Bearer {token}" and r.headers["x-shop"] == "demo"
                        for r in gets)
    assert token not in result.output
    for path in tmp_path.iterdir():
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(("flag", "message"), [
    (["--probe-header", "no colon here"], "--probe-header must be `NAME: VALUE`"),
    (["--probe-header", "X-Key: env:NOT_SET_ANYWHERE"], "`NOT_SET_ANYWHERE`, which is not set"),
    (["--probe-base", "ftp://example.com"], "--probe-base must be an http(s) URL"),
    (["--probe-timeout", "nan"], "must be between"),
])
def test_bad_probe_flags_exit_2_before_anything_is_recorded(flag: list[str], message: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    result = run("run", scenario_file(tmp_path), "--webhook-url", "http://127.0.0.1:9/hooks", "--db", str(db), *flag)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not db.exists()


def test_without_a_target_probes_are_not_judged(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    result = run("run", scenario_file(tmp_path), "--db", str(db), "--output", "json")
    assert result.exit_code == 0, result.output
    probe, = [c for c in json.loads(result.stdout)["checks"] if c["kind"] == "probe"]
    assert probe["passed"] is None and "no webhook target" in probe["message"]


def test_probe_base_points_elsewhere_and_values_are_url_encoded(tmp_path: Path) -> None:
    # The state API on another server than the webhooks; a parameter goes into the URL as written.
    text = SCENARIO.replace('"{{ base }}/good/{{ order.id }}"', '"{{ base }}{{ prefix }}/{{ order.id }}"').replace(
        "param n = 3", 'param n = 3\n  param prefix = "/good"').replace("PROBE_UNDER_TEST", "")
    path = tmp_path / "s.carbon"
    path.write_text(text, encoding="utf-8")
    db = tmp_path / "runs.duckdb"
    with servers.lax() as hooks, state_api() as state:
        result = run("run", str(path), "--webhook-url", hooks.url, "--probe-base", state.url, "--db", str(db), "--ci")
        asked = [r.path for r in state.requests]
    assert result.exit_code == 0, result.output
    assert len(asked) == 3 and all(p.startswith("/good/order_") for p in asked)


def test_a_saved_plan_carries_its_probes(tmp_path: Path) -> None:
    saved = tmp_path / "plan.ndjson"
    assert run("plan", scenario_file(tmp_path), "--out", str(saved)).exit_code == 0
    db = tmp_path / "runs.duckdb"
    with state_api() as srv:
        result = run("run", str(saved), "--webhook-url", srv.url + "/hooks", "--db", str(db), "--ci")
        gets = [r.path for r in srv.requests if r.method == "GET"]
    assert result.exit_code == 0, result.output
    assert len(gets) == 3 and rows(db, "select count(*) from checks where kind = 'probe' and passed") == [(4,)]


def test_entity_values_are_one_url_segment_and_base_stays_as_written() -> None:
    from carbonc.exec.probes import _finalize_url, _Raw

    assert _finalize_url("order/../admin?x=1") == "order%2F..%2Fadmin%3Fx%3D1"
    assert _finalize_url(_Raw("http://127.0.0.1:8000/api")) == "http://127.0.0.1:8000/api"
    assert _finalize_url(115) == "115"


def test_the_older_carbon_run_probes_only_when_told_where(tmp_path: Path) -> None:
    from carbonc.cli.legacy import main as legacy_main

    db = tmp_path / "runs.duckdb"
    with state_api() as srv:
        quiet = CliRunner().invoke(legacy_main, ["run", scenario_file(tmp_path), "--webhook-url", srv.url + "/hooks",
                                                 "--ci", "--output", "json"], env={"CARBON_DB": str(db)})
        told = CliRunner().invoke(legacy_main, ["run", scenario_file(tmp_path), "--webhook-url", srv.url + "/hooks",
                                                "--probe-base", srv.url, "--ci", "--output", "json"],
                                  env={"CARBON_DB": str(db)})
    assert quiet.exit_code == 0 and "probes of your merchant's state API are not sent by `carbon run`" in quiet.stderr
    assert [c["passed"] for c in json.loads(quiet.stdout)["checks"] if c["kind"] == "probe"] == [None]
    assert told.exit_code == 0, told.output
    assert [c["passed"] for c in json.loads(told.stdout)["checks"] if c["kind"] == "probe"] == [True]


def test_review_findings_on_hostile_answers_and_flags(tmp_path: Path) -> None:
    """Deep JSON, a huge number, a HEAD probe, credentials in the probe base, a header value HTTP
    cannot carry, and a parameter named like what a probe observes."""
    deep = b'{"status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    def respond(request: servers.Received, exchange: servers.Exchange) -> None:
        if request.method == "POST":
            exchange.send(200, b"ok")
        elif request.path.startswith("/deep/"):
            exchange.send(200, deep)
        elif request.path.startswith("/huge/"):
            exchange.send(200, b'{"amount": 1e1000000}')
        elif request.path.startswith("/head/"):
            # As a server answers HEAD: the length the body would have, and no body.
            exchange.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n")
            exchange.close_after()
        else:
            exchange.send(404, b"{}")

    text = SCENARIO.replace("PROBE_UNDER_TEST", "\n  ".join([
        'probe GET "{{ base }}/deep/{{ order.id }}" for each paid order { expect json.status == "paid" }',
        'probe GET "{{ base }}/huge/{{ order.id }}" for each paid order { expect round(json.amount) == 1 }',
        'probe HEAD "{{ base }}/head/{{ order.id }}" for each paid order { expect status == 200 }',
        'probe GET "{{ base }}/nothere/{{ order.id }}" for each paid order { expect status == n }',
    ]))
    path = tmp_path / "review.carbon"
    path.write_text(text, encoding="utf-8")
    db = tmp_path / "runs.duckdb"
    with servers.Server(respond) as srv:
        base = srv.url.replace("http://", "http://alice:hunter2@")
        result = run("run", str(path), "--webhook-url", srv.url + "/hooks", "--probe-base", base, "--db", str(db),
                     "--probe-timeout", "2", "--output", "json")
        bad_header = run("run", str(path), "--webhook-url", srv.url + "/hooks", "--db", str(db),
                         "--probe-header", "Authorization: Bearer s3cr\u20act")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "completed" and doc["elapsed_s"] < 10
    by_path = {p["name"].split("}}/")[1].split("/")[0]: p for p in doc["probes"]}
    assert "not JSON" in by_path["deep"]["failures"][0]["reason"]
    assert "too large" in by_path["huge"]["failures"][0]["reason"]
    assert by_path["head"]["failed"] == 0
    # `n` is a parameter, not what the probe observes: 404 != 3 fails, rather than folding away.
    assert by_path["nothere"]["failed"] == 3
    assert "hunter2" not in result.output and "alice" not in result.output
    assert all("hunter2" not in str(row) for row in rows(db, "select request, actual, message from checks"))
    assert bad_header.exit_code == 2 and "cannot carry" in bad_header.stderr and "s3cr" not in bad_header.output
