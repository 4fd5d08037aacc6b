"""Retry ladders and virtual time, on trio's MockClock: a three-day ladder runs in milliseconds,
and every attempt is sent exactly when the ladder and `time_scale` say."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from trio.testing import MockClock

from carbonc.api import check_path, compile_source
from carbonc.exec import PlanInput, RunOptions, execute
from carbonc.exec.policy import GATEWAY_LADDERS
from carbonc.ir.values import evaluate
from carbonc.source import Source
from carbonc.store import open_store

ONE_ORDER = """
scenario one {
  phase p {
    create orders count 1 amount INR 100 method card
    pay each order { failed 100% code BAD_REQUEST_ERROR reason payment_declined }
  }
  deliver { RETRY }
}
"""


class FlakyApp:
    """An ASGI app answering 503 to the first `failures` attempts of each body, then 200."""

    def __init__(self, failures: int):
        self.failures, self.seen = failures, {}

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        key = hashlib.sha256(body).hexdigest()
        self.seen[key] = self.seen.get(key, 0) + 1
        status = 503 if self.seen[key] <= self.failures else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


class HangingApp:
    """An ASGI app that never answers within any deadline a test sets."""

    async def __call__(self, scope, receive, send):
        import trio

        await trio.sleep(3600)


def attempts(tmp_path: Path, retry: str, *, provider: str, failures: int, scale: float | None, app=None,
             timeout_s: float | None = None):
    plan = compile_source(Source(path="one.carbon", text=ONE_ORDER.replace("RETRY", retry)))
    store = open_store(tmp_path / "db.duckdb")
    try:
        result = execute(PlanInput.from_compiled(plan),
                         RunOptions(provider=provider, app=app or FlakyApp(failures), time_scale=scale,
                                    timeout_s=timeout_s), store,
                         clock=MockClock(autojump_threshold=0))
        _, found = store.query("select attempt, epoch_ms(sent_at), virtual_ms, status_code from deliveries "
                               "where run_id = ? order by attempt", [result.run_id])
    finally:
        store.close()
    return result, found


@pytest.mark.parametrize("provider", sorted(GATEWAY_LADDERS))
def test_the_gateways_own_ladder_is_followed_in_virtual_time(provider, tmp_path):
    ladder = GATEWAY_LADDERS[provider]
    result, found = attempts(tmp_path, "retry gateway", provider=provider, failures=len(ladder) + 5, scale=1.0)
    assert result.status == "completed"
    # One attempt, then one per rung, then the gateway gives up.
    assert [a for a, *_ in found] == list(range(1, len(ladder) + 2))
    waits = [b[1] - a[1] for a, b in itertools.pairwise(found)]
    assert waits == list(ladder)  # at time scale 1 a wall millisecond is a virtual one
    assert [b[2] - a[2] for a, b in itertools.pairwise(found)] == list(ladder)


def test_time_scale_divides_wall_waits_and_max_removes_them(tmp_path):
    _, found = attempts(tmp_path, "retry [1h, 2h]", provider="mock", failures=9, scale=3600.0)
    assert [b[1] - a[1] for a, b in itertools.pairwise(found)] == [1000, 2000]
    _, found = attempts(tmp_path, "retry [1h, 2h]", provider="mock", failures=9, scale=None)
    assert [b[1] - a[1] for a, b in itertools.pairwise(found)] == [0, 0]
    assert [b[2] - a[2] for a, b in itertools.pairwise(found)] == [3_600_000, 7_200_000]  # virtual time kept


def test_a_retry_waits_from_when_the_attempt_ended(tmp_path):
    # Each attempt times out after 2 s; the 1 s wait starts then, not from when it was sent.
    _, found = attempts(tmp_path, "retry [1s, 1s]", provider="mock", failures=0, scale=1.0, app=HangingApp(),
                        timeout_s=2.0)
    assert [b[1] - a[1] for a, b in itertools.pairwise(found)] == [3000, 3000]
    assert [status for *_, status in found] == [None, None, None]


def test_a_success_ends_the_ladder(tmp_path):
    _, found = attempts(tmp_path, "retry [1m, 1m, 1m, 1m]", provider="mock", failures=2, scale=1.0)
    assert [status for *_, status in found] == [503, 503, 200]


def test_the_ladders_match_the_stdlib_module():
    stdlib = Path(__file__).parents[2] / "stdlib" / "gateways.carbon"
    program = check_path(stdlib).program
    ladders = {}
    for decl in program.modules[program.root].decls:
        if type(decl).__name__ == "Ladder":
            ladders[decl.name.name] = tuple(evaluate(step, {}).ms for step in decl.steps.items)
    expected = {"razorpay": "razorpay_retries", "stripe": "stripe_live_retries", "cashfree": "cashfree_retries",
                "juspay": "juspay_retries", "standard": "standard_retries", "mock": "razorpay_retries"}
    assert {p: ladders[name] for p, name in expected.items()} == dict(GATEWAY_LADDERS)
