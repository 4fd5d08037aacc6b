"""The bar for judging merchants: every bundled scenario passes a correct merchant under `--ci`,
and each classic bug planted in the demo merchant fails the scenario meant to catch it, naming the
check and an entity with what was observed against what was expected. Both against the merchant
served on 127.0.0.1 and in-process through `--app`, each run recorded in a real DuckDB file."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from demo import PREVIOUS_SECRET, carbonc, merchant, recorded

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.stem for p in (REPO / "scenarios").glob("*.carbon"))

#: Parameters that make each bundled scenario small enough for a test, still exercising every
#: fault it has (a few hundred messages at most).
SMALL = {
    "dispute-spike": ["baseline_orders=60"], "dispute-spike-severe": ["baseline_orders=60"],
    "flash-sale": ["baseline_orders=60"], "gateway-error-burst": ["baseline_orders=80"],
    "mandate-rejection": ["baseline_orders=60"],
    "max-amount": ["baseline_orders=20", "limit_orders=10", "over_limit_orders=8", "upi_orders=4"],
    "min-amount": ["baseline_orders=20", "edge_orders=20"], "payment-decline-spike": ["baseline_orders=80"],
    "refund-storm": ["baseline_orders=60"], "secret-rotation": ["baseline_orders=60"],
    "settlement-delay": ["baseline_orders=60"], "upi-timeout": ["baseline_orders=80"],
    "vpa-not-found": ["baseline_orders=60"], "webhook-fault-sweep": ["baseline_orders=200"],
}

#: Each planted bug, the bundled scenario meant to catch it, the merchant's settings and the
#: run's flags for it, and the check that must fail.
BUGS = {
    "accept-forged": ("webhook-fault-sweep", [], [], "expect deliveries.mismatched == 0"),
    "not-idempotent": ("refund-storm", [], [], "oracle idempotency"),
    "trust-order": ("gateway-error-burst", [], [], "oracle forward_only"),
    "float-amounts": ("min-amount", [], [], "oracle amounts"),
    # Answers after the deadline: the gateway times out and retries.
    "slow": ("flash-sale", ["--slow-s", "1"], ["--timeout", "0.3", "--concurrency", "50",
                                               "--set", "baseline_orders=12"], "expect deliveries.failed == 0"),
    # Applies events 15 s late: longer than the 10 s the oracles wait for the state to show.
    "async-queue": ("upi-timeout", ["--queue-lag-s", "15"], [], "oracle forward_only"),
}

#: The in-process merchant's settings for the bugs that have them (the served one takes flags).
IN_PROCESS = {"slow": {"CARBON_DEMO_SLOW_S": "1"}, "async-queue": {"CARBON_DEMO_QUEUE_LAG_S": "15"}}


def run_scenario(scenario: str, db: Path, *, url: str | None = None, bug: str | None = None,
                 extra: list[str] = ()) -> subprocess.CompletedProcess[str]:
    """`carbonc run SCENARIO --ci` against the merchant at `url`, or in-process with `bug`."""
    small = [a for s in SMALL[scenario] for a in ("--set", s)] if "--set" not in extra else []
    target = (["--webhook-url", f"{url}/webhooks/razorpay"] if url is not None else
              ["--app", "examples.merchant.app:app", "--app-path", "/webhooks/razorpay"])
    env = {} if bug is None else {"CARBON_DEMO_BUG": bug, "CARBON_DEMO_PREVIOUS_SECRET": PREVIOUS_SECRET,
                                  "CARBON_DEMO_DB": str(db.with_suffix(".sqlite")), **IN_PROCESS.get(bug, {})}
    return carbonc("run", scenario, *small, *target, "--webhook-previous-secret", PREVIOUS_SECRET, "--ci",
                   "--db", str(db), "--junit", str(db.with_suffix(".xml")), *extra, env=env)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_correct_merchant_passes_every_bundled_scenario(scenario: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    with merchant("none") as url:
        result = run_scenario(scenario, db, url=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Merchant state (probes of its API)" in result.stdout and " 0 failed" in result.stdout
    # Every probe was judged, and judged right.
    assert recorded(db, "select count(*), count(*) filter (where passed) from checks "
                        "where kind = 'probe' and entity_id is null")[0][0] > 0
    assert recorded(db, "select count(*) from checks where passed is not true and kind != 'finding'") == [(0,)]


@pytest.mark.parametrize("scenario", ["webhook-fault-sweep", "refund-storm", "gateway-error-burst", "max-amount"])
def test_a_correct_merchant_passes_in_process(scenario: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    result = run_scenario(scenario, db, bug="none")
    assert result.returncode == 0, result.stdout + result.stderr
    assert recorded(db, "select count(*) from checks where kind = 'probe' and entity_id is not null and passed") != [
        (0,)]


def _assert_caught(result: subprocess.CompletedProcess[str], check: str, db: Path) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    failing = [line for line in result.stdout.splitlines() if line.startswith("  FAIL ")]
    assert any(check in line for line in failing), result.stdout
    if check.startswith("oracle"):
        # At least one entity, with what the merchant showed against what the gateway knows.
        assert re.search(r"^       (order|pay|rfnd|disp)_\w+: expected .+\n         observed .+", result.stdout,
                         re.MULTILINE), result.stdout
        assert "timeline of its order, as sent:" in result.stdout
        rows = recorded(db, f"select entity_id, actual, message, request from checks where kind = 'probe' "
                            f"and entity_id is not null and not passed and name like '{check}%'")
        assert rows and all(entity and actual and message and request.startswith("GET ") for entity, actual,
                            message, request in rows)
    junit = db.with_suffix(".xml").read_text()
    assert "<failure" in junit and check.split(":")[0] in junit


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_planted_bug_is_caught_by_its_scenario(bug: str, tmp_path: Path) -> None:
    scenario, merchant_args, flags, check = BUGS[bug]
    db = tmp_path / "runs.duckdb"
    with merchant(bug, *merchant_args) as url:
        result = run_scenario(scenario, db, url=url, extra=flags)
    _assert_caught(result, check, db)


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_planted_bug_is_caught_in_process(bug: str, tmp_path: Path) -> None:
    scenario, _, flags, check = BUGS[bug]
    db = tmp_path / "runs.duckdb"
    result = run_scenario(scenario, db, bug=bug, extra=flags)
    _assert_caught(result, check, db)


def test_a_queueing_merchant_passes_within_the_window(tmp_path: Path) -> None:
    # Acknowledged at once, applied a second later: `eventually within 10s` waits for it.
    db = tmp_path / "runs.duckdb"
    with merchant("async-queue", "--queue-lag-s", "1") as url:
        result = run_scenario("vpa-not-found", db, url=url, extra=["--output", "json", "--set", "baseline_orders=30"])
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    polls = recorded(db, "select max(polls), max(elapsed_ms) from checks where kind = 'probe' and entity_id is not null")
    assert polls[0][0] > 1 and polls[0][1] >= 500  # it had to ask again, and the store says how long it took
