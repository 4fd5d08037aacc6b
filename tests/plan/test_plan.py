"""The plan compiler: exact counts, the payment state machine, parameters, determinism."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from plan_helpers import REPO, SCENARIOS, compile_file, compile_text

from carbonc.api import CheckResult
from carbonc.compiler import CompiledPlan
from carbonc.compiler.rng import Stream, apportion
from carbonc.plan.describe import json_summary, text
from carbonc.plan.records import Entity, Header, Message, Summary
from carbonc.plan.saved import iter_plan, read_plan_summary, write_plan


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_text_plan(path: Path, snapshot) -> None:
    plan = compile_file(path)
    assert text(plan.header, plan.summary) == snapshot


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_json_summary(path: Path, snapshot) -> None:
    plan = compile_file(path)
    summary = json_summary(plan.header, plan.summary)
    assert {"format_version", "scenario", "seed", "params", "summary"} <= set(summary)
    assert msgspec.json.decode(msgspec.json.encode(summary, order="deterministic")) == snapshot


def test_documented_override_gives_500_orders_and_150_disputes() -> None:
    plan = compile_file(REPO / "scenarios/dispute-spike.carbon",
                        overrides={"baseline_orders": "500", "dispute_rate": "0.3"})
    assert sum(plan.summary.entities["order"].values()) == 500
    assert sum(plan.summary.entities["dispute"].values()) == 150
    assert plan.header.params["dispute_rate"] == "30%"


def test_ratio_override_accepts_percent_and_decimal_alike() -> None:
    a = compile_file(REPO / "scenarios/dispute-spike.carbon", overrides={"dispute_rate": "30%"})
    b = compile_file(REPO / "scenarios/dispute-spike.carbon", overrides={"dispute_rate": "0.3"})
    assert a.summary == b.summary


def test_exact_share_is_not_a_binomial_draw() -> None:
    for seed in (0, 1, 2, 99):
        plan = compile_file(REPO / "scenarios/dispute-spike.carbon", seed=seed)
        assert sum(plan.summary.entities["dispute"].values()) == 150  # 15% of 1000, every seed


def test_apportion_largest_remainder() -> None:
    assert apportion(1000, [Decimal("0.6"), Decimal("0.4")]) == [600, 400]
    assert apportion(7, [1, 1, 1]) == [3, 2, 2]  # ties go to the earlier part
    assert apportion(10, [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]) == [3, 3, 4]
    assert sum(apportion(12345, [Decimal("0.17"), Decimal("0.29"), Decimal("0.54")])) == 12345
    assert apportion(0, [1, 2]) == [0, 0]


def test_mix_parts_sum_to_the_population() -> None:
    plan = compile_text("""
scenario s {
  phase p {
    create orders count 997 amount INR 10
    pay each order { captured 33.3%, failed 33.3% reason a, authorized rest }
  }
}""")
    assert isinstance(plan, CompiledPlan)
    payments = plan.summary.entities["payment"]
    assert sum(payments.values()) == 997
    assert payments == {"authorized": 333, "captured": 332, "failed": 332}


def test_rng_is_counter_based() -> None:
    s = Stream(7, "x")
    assert s.u64(3) == Stream(7, "x").u64(3)
    assert s.u64(3) != Stream(8, "x").u64(3) != Stream(7, "y").u64(3)
    assert len(s.base62(1)) == 14


def _plan_bytes(tmp_path: Path, name: str, seed: int | None = None, hashseed: str = "0") -> bytes:
    out = tmp_path / f"{name}-{seed}-{hashseed}.jsonl"
    cmd = [sys.executable, "-m", "carbonc", "plan", name, "--out", str(out)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=tmp_path)
    return out.read_bytes()


def test_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    a = _plan_bytes(tmp_path, "webhook-fault-sweep", hashseed="0")
    b = _plan_bytes(tmp_path, "webhook-fault-sweep", hashseed="12345")
    c = _plan_bytes(tmp_path, "webhook-fault-sweep", hashseed="random")
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest() == hashlib.sha256(c).hexdigest()


def test_different_seed_different_plan_same_counts(tmp_path: Path) -> None:
    a = _plan_bytes(tmp_path, "refund-storm", seed=1)
    b = _plan_bytes(tmp_path, "refund-storm", seed=2)
    assert a != b
    (pa, sa), (pb, sb) = (read_plan_summary(tmp_path / "refund-storm-1-0.jsonl"),
                          read_plan_summary(tmp_path / "refund-storm-2-0.jsonl"))
    # The same counts; the records differ, and so do their digests.
    assert msgspec.structs.replace(sa, records_sha256=None) == msgspec.structs.replace(sb, records_sha256=None)
    assert sa.records_sha256 != sb.records_sha256
    assert (pa.seed, pb.seed) == (1, 2)


def test_saved_plan_round_trips(tmp_path: Path) -> None:
    plan = compile_file(REPO / "scenarios/webhook-fault-sweep.carbon")
    out = tmp_path / "plan.jsonl"
    write_plan(plan, out)
    records = list(iter_plan(out))
    assert isinstance(records[0], Header) and isinstance(records[-1], Summary)
    entities = [r for r in records if isinstance(r, Entity)]
    messages = [r for r in records if isinstance(r, Message)]
    assert len(entities) == sum(n for states in plan.summary.entities.values() for n in states.values())
    assert [m.seq for m in messages] == list(range(len(messages)))
    assert sum(1 for m in messages if not m.dropped) == plan.summary.deliveries
    assert sum(1 for m in messages if m.copy == 0 and not m.forged) == sum(plan.summary.messages.values())
    # Copies share their original's event id; send times never go backwards.
    by_id: dict[str, set[str]] = {}
    for m in messages:
        by_id.setdefault(m.id, set()).add(m.event)
    assert all(len(events) == 1 for events in by_id.values())
    assert all(a.send_ms <= b.send_ms for a, b in itertools.pairwise(messages))
    ids = {e.id for e in entities}
    assert all(m.entity in ids for m in messages)
    assert all(e.parent is None or e.parent in ids for e in entities)


def _codes(result: CompiledPlan | CheckResult) -> list[str]:
    assert isinstance(result, CheckResult), "expected diagnostics, got a plan"
    return [d.code for d in result.diagnostics if d.is_error]


BASE = """
scenario s {
  phase p {
    create orders count 10 amount INR 100
    pay each order { captured 50%, failed rest reason declined }
  }
  phase q after p {
    BODY
  }
}"""


def base(body: str) -> str:
    return BASE.replace("BODY", body)


def test_dispute_on_uncaptured_payments_is_a_diagnostic() -> None:
    result = compile_text(base("dispute each payment reason fraudulent"))
    assert _codes(result) == ["C0317"]
    assert "5 failed" in result.diagnostics[0].message


def test_capture_of_a_failed_payment_is_a_diagnostic() -> None:
    assert _codes(compile_text(base("capture each payment"))) == ["C0317"]


def test_refund_above_the_captured_amount_is_a_diagnostic() -> None:
    result = compile_text(base("refund each captured payment amount partial INR 150"))
    assert _codes(result) == ["C0318"]
    two = compile_text(base("refund each captured payment amount partial 60%\n"
                               "    refund each partially_refunded payment amount partial 60%"))
    assert _codes(two) == ["C0318"]


def test_paying_a_paid_order_again_is_a_diagnostic() -> None:
    assert _codes(compile_text(base("pay each order { captured 100% }"))) == ["C0317"]


def test_selected_state_is_respected() -> None:
    plan = compile_text(base("refund each captured payment amount full"))
    assert isinstance(plan, CompiledPlan)
    assert plan.summary.entities["refund"] == {"processed": 5}
    assert plan.summary.entities["payment"] == {"failed": 5, "refunded": 5}


def test_overrides_recheck_shares() -> None:
    text_ = """
scenario s {
  param lost = 60%
  phase p {
    create orders count 10 amount INR 100
    pay each order { captured 100% }
    dispute each captured payment reason x then { lost lost, won rest }
  }
}"""
    assert isinstance(compile_text(text_), CompiledPlan)
    assert _codes(compile_text(text_, overrides={"lost": "1.5"})) == ["C0305"]
    both = text_.replace("param lost = 60%", "param lost = 60%\n  param won = 40%").replace("won rest", "won won")
    assert isinstance(compile_text(both), CompiledPlan)
    result = compile_text(both, overrides={"lost": "70%"})
    assert _codes(result) == ["C0306"]
    assert "110%" in result.diagnostics[0].message


@pytest.mark.parametrize(("overrides", "code", "words"), [
    ({"baseline_order": "5"}, "C0204", "did you mean `baseline_orders`?"),
    ({"dispute_rate": "abc"}, "C0303", "dispute_rate"),
    ({"baseline_orders": "0.5"}, "C0303", "baseline_orders"),
    ({"dispute_rate": "150%"}, "C0305", "dispute_rate"),
    ({"avg_order_value_paise": "INR 10"}, "C0303", "avg_order_value_paise"),
])
def test_bad_overrides_name_the_parameter(overrides, code, words) -> None:
    from carbonc.api import compile_source, read_or_diagnose

    result = compile_source(read_or_diagnose(REPO / "scenarios/dispute-spike.carbon"), overrides=overrides)
    assert _codes(result) == [code]
    diag = result.diagnostics[0]
    assert diag.path == "--set"
    assert words in f"{diag.message} {diag.help}"


PAID = """
scenario s {
  phase a {
    create orders count 4 amount INR 100
    pay each order { captured 100% }
  }
  phase b after a {
    BODY
  }
}"""


@pytest.mark.parametrize(("body", "code", "words"), [
    # an order whose payment is still open is not paid again
    ("pay each paid order { captured 100% }", "C0317", "cannot"),
    # nothing left to refund after a full refund, even once the payment is disputed
    ("refund each captured payment amount full\n"
     "    dispute each refunded payment reason fraudulent\n"
     "    refund each disputed payment amount full", "C0318", "nothing is left to refund"),
    ("refund each captured payment amount partial INR 0", "C0318", "refunds nothing"),
    ("dispute each captured payment reason x amount partial INR 500", "C0308", "a dispute of INR 500.00"),
    ("settle each captured payment after 1d\n"
     "    refund each settled payment amount partial INR 10\n"
     "    settle each partially_refunded payment after 1d", "C0317", "a second time"),
])
def test_state_machine_holes_are_closed(body: str, code: str, words: str) -> None:
    result = compile_text(PAID.replace("BODY", body))
    assert _codes(result) == [code]
    assert words in result.diagnostics[-1].message


def test_an_entity_moved_back_in_time_has_its_transitions_in_time_order(tmp_path: Path) -> None:
    # Settled a day after capture, in a phase that starts after refunds made two days after it.
    body = ("refund 50% of captured payments amount partial INR 10 after 2d\n"
            "    settle each partially_refunded payment after 1d")
    plan = compile_text(PAID.replace("BODY", body))
    assert isinstance(plan, CompiledPlan)
    write_plan(plan, tmp_path / "plan.jsonl")
    for records in (list(plan.records()), list(iter_plan(tmp_path / "plan.jsonl"))):
        payments = [r for r in records if isinstance(r, Entity) and r.kind == "payment"]
        moved_back = [p for p in payments if p.state == "settled"]
        assert len(moved_back) == 2
        for p in moved_back:
            assert [t.state for t in p.transitions] == ["created", "authorized", "captured", "settled",
                                                        "partially_refunded"]
        for p in payments:
            assert [t.at_ms for t in p.transitions] == sorted(t.at_ms for t in p.transitions)


FAR = """
scenario s {
  phase a {
    create orders count 22000 amount INR 100
    pay each order { captured 100% }
  }
  phase b after a {
    refund first 2 of captured payments amount partial INR 1 after 3650d
  }
  phase c after b {
    refund first 2 of partially_refunded payments amount partial INR 1 after 3650d
  }
  phase d after c {
    refund first 2 of partially_refunded payments amount partial INR 1 after 3650d
  }
  phase e after d {
    refund first 2 of partially_refunded payments amount partial INR 1 after 3650d
  }
}"""


def test_messages_sent_after_2_to_the_40_ms_are_still_in_order() -> None:
    # 66,000 messages are numbered in 3 bytes, which leave 40 bits for a send time, and the last
    # refunds are sent 40 years in: the messages are numbered in as few bits as they need.
    plan = compile_text(FAR)
    assert isinstance(plan, CompiledPlan)
    messages = [m for m in plan.records() if isinstance(m, Message)]
    sends = [m.send_ms for m in messages]
    assert len(messages) == 66_000 + 16 and sends == sorted(sends) and sends[-1] >= 2 ** 40
    assert messages[-1].event == "refund.processed"


def test_open_payment_blocks_a_second_pay() -> None:
    text_ = PAID.replace("captured 100% }\n  }\n  phase b", "authorized 100% }\n  }\n  phase b")
    result = compile_text(text_.replace("BODY", "pay each created order { captured 100% }"))
    assert _codes(result) == ["C0317"]
    assert "still open: 4 authorized" in result.diagnostics[0].message


DELIVERY = """
scenario s {
  param base = 10%
  param dr = base * 3
  param k = 1
  param d = 5s
  param n = 4
  param per = 100 / n
  param x = 1.5
  phase a {
    create orders count 4 amount INR 100
    pay each order { captured 100% }
  }
  deliver { drop dr, repeat k, delay d }
  deliver for orders { signature missing dr, signature corrupted 50% }
  expect per > 0 and x > 0
}"""


@pytest.mark.parametrize(("overrides", "code"), [
    ({"base": "50%"}, "C0305"),
    ({"k": "0"}, "C0308"),
    ({"d": "-5s"}, "C0308"),
    ({"d": "99999999999d"}, "C0308"),
    ({"n": "0"}, "C0316"),
])
def test_overrides_that_break_delivery_settings_are_reported_once(overrides, code) -> None:
    result = compile_text(DELIVERY, overrides=overrides)
    codes = _codes(result)
    assert codes and set(codes) == {code}
    assert len({(d.span, d.message) for d in result.diagnostics}) == len(result.diagnostics)


def test_numbers_are_shown_as_written_and_ratios_as_percentages() -> None:
    plan = compile_text(DELIVERY)
    assert isinstance(plan, CompiledPlan)
    assert plan.header.params["x"] == "1.5"
    assert plan.header.params["per"] == "25"
    assert plan.header.params["base"] == "10%"
    assert plan.header.params["dr"] == "0.3"  # ratio × integer is a number in the type system


@pytest.mark.parametrize("n", [0, 1, 100, 1000, 20_000])
def test_the_first_of_a_stream_order_are_those_it_orders_first(n: int) -> None:
    s = Stream(7, "x")
    items = list(range(3, 3 + 2 * n, 2))
    for k in {0, 1, n // 100, n // 10, n // 4, n // 2, n, n + 1}:
        assert s.first(items, k) == s.order(items)[:k]


def test_the_first_of_a_stream_order_are_found_when_fewer_fall_below_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A bound that too few draws fall below: the members are all ordered.
    from carbonc.compiler import rng

    monkeypatch.setattr(rng, "isqrt", lambda k: -k // 4)
    s = Stream(7, "x")
    items = list(range(10_000))
    assert s.first(items, 2000) == s.order(items)[:2000]
