"""Checks in the plan: `expect` and `finding` compiled with the parameters folded in, judged
over a run's metrics by `evaluate_checks`, and the metrics a plan determines by itself."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from plan_helpers import REPO, SCENARIOS, compile_file, compile_text

from carbonc.api import CheckResult, check_path
from carbonc.compiler import CompiledPlan
from carbonc.domain import vocabulary
from carbonc.ir import nodes as ir
from carbonc.plan.describe import json_summary, text
from carbonc.plan.judge import condition_text, entity_metrics, evaluate_checks
from carbonc.plan.records import (
    BinaryExpr,
    CallExpr,
    Check,
    DecimalConst,
    IntConst,
    MetricRef,
    MoneyConst,
)
from carbonc.plan.saved import read_plan_summary, write_plan

DISPUTE_SPIKE = REPO / "scenarios/dispute-spike.carbon"
#: The metrics only a run measures; the plan gives every other one.
DELIVERY_METRICS = sorted(m for m in vocabulary.METRICS if m.startswith("deliveries"))


def _compiled(text_: str, **kw) -> CompiledPlan:
    plan = compile_text(text_, **kw)
    assert isinstance(plan, CompiledPlan), [d.message for d in plan.diagnostics]
    return plan


def _scenario(body: str) -> str:
    return f"""
scenario s {{
  param baseline_orders = 100
  param dispute_rate = 15%
  phase p {{
    create orders count baseline_orders amount INR 10
    pay each order {{ captured 100% }}
  }}
  phase q after p {{
    dispute dispute_rate of captured payments reason fraudulent then {{ lost 50% after 1d, won rest after 2d }}
  }}
{body}
}}"""


def _clean_run(plan: CompiledPlan) -> dict[str, int]:
    """The metrics of a run where every delivery went as the plan expects."""
    return {**entity_metrics(plan.summary), **dict.fromkeys(DELIVERY_METRICS, 0)}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_bundled_scenarios_checks_compile_and_expectations_hold(path: Path) -> None:
    checked = check_path(path)
    assert checked.program is not None
    written = [c for c in checked.program.scenarios[0].checks if not isinstance(c, ir.Probe)]
    plan = compile_file(path)
    assert [c.kind for c in plan.header.checks] == ["expect" if isinstance(c, ir.Expect) else "finding"
                                                    for c in written]
    assert len({c.name for c in plan.header.checks}) == len(plan.header.checks)
    outcomes = evaluate_checks(plan.header.checks, _clean_run(plan))
    assert len(outcomes) == len(written)
    for outcome in outcomes:
        assert not outcome.message.startswith("cannot evaluate"), outcome
        if outcome.kind == "expect":
            assert outcome.passed, outcome


def test_entity_metrics_and_delivery_metrics_are_every_metric() -> None:
    plan = compile_file(DISPUTE_SPIKE)
    metrics = entity_metrics(plan.summary)
    assert set(metrics) | set(DELIVERY_METRICS) == vocabulary.METRICS
    assert not set(metrics) & set(DELIVERY_METRICS)
    # By final state: a disputed payment no longer counts as captured; states never reached are 0.
    assert metrics["payments.captured"] == 850 and metrics["payments.disputed"] == 150
    assert metrics["payments"] == 1000 and metrics["refunds"] == 0 and metrics["mandates.paused"] == 0
    assert metrics["messages"] == 3300 and metrics["messages.dropped"] == metrics["messages.duplicated"] == 0


def test_message_metrics_count_drops_and_copies_sent() -> None:
    plan = _compiled(_scenario("  deliver { repeat 3 drop 10% }"))
    metrics = entity_metrics(plan.summary)
    messages = sum(plan.summary.messages.values())
    assert metrics["messages"] == messages
    assert metrics["messages.dropped"] == round(messages * Decimal("0.1")) > 0
    # Two extra copies of every message that is delivered; a dropped one has none sent.
    assert metrics["messages.duplicated"] == 2 * (messages - metrics["messages.dropped"])
    assert plan.summary.deliveries == 3 * (messages - metrics["messages.dropped"])


def test_parameters_are_folded_into_constants() -> None:
    plan = compile_file(DISPUTE_SPIKE)
    by_text = {c.text: c for c in plan.header.checks}
    check = by_text["disputes == round(baseline_orders * dispute_rate)"]
    assert check.expr == BinaryExpr(op="==", left=MetricRef(name="disputes"), right=IntConst(value=150))
    assert check.name == "expect disputes == round(baseline_orders * dispute_rate)"
    assert check.severity == "high"
    more = compile_file(DISPUTE_SPIKE, overrides={"dispute_rate": "30%"})
    assert condition_text(next(c for c in more.header.checks if c.text == check.text).expr) == "disputes == 300"
    # A part that depends on the run stays a metric; the constant parts around it are folded.
    upi = compile_file(REPO / "scenarios/upi-timeout.carbon")
    stuck = next(c for c in upi.header.checks if c.text.startswith("payments.stuck =="))
    assert condition_text(stuck.expr) == "payments.stuck == 1000 - payments.captured - payments.timed_out"


def test_ratios_money_and_functions_in_conditions() -> None:
    plan = _compiled(_scenario("""
  expect rate(disputes, payments) <= dispute_rate severity low
  expect orders * INR 10 >= INR 5 * baseline_orders
  expect max(disputes, 1) * 2 > -1"""))
    rate, money, calls = plan.header.checks
    assert rate.expr == BinaryExpr(op="<=", left=CallExpr(func="rate", args=(MetricRef(name="disputes"),
                                                                             MetricRef(name="payments"))),
                                   right=DecimalConst(value=Decimal("0.15")))
    assert condition_text(rate.expr) == "rate(disputes, payments) <= 0.15"
    assert money.expr.right == MoneyConst(currency="INR", minor=Decimal(50000))  # type: ignore[union-attr]
    assert condition_text(money.expr) == "orders * INR 10.00 >= INR 500.00"
    assert condition_text(calls.expr) == "max(disputes, 1) * 2 > -1"
    assert money.severity is None
    outcomes = evaluate_checks(plan.header.checks, entity_metrics(plan.summary))
    assert [o.passed for o in outcomes] == [True, True, True]
    assert outcomes[0].actual == "disputes = 15, payments = 100"


def test_dispute_spike_checks_pass_on_a_clean_run() -> None:
    plan = compile_file(DISPUTE_SPIKE)
    outcomes = evaluate_checks(plan.header.checks, {**entity_metrics(plan.summary), "deliveries.mismatched": 0})
    assert all(o.passed for o in outcomes), outcomes
    by_name = {o.name: o for o in outcomes}
    disputes = by_name["expect disputes == round(baseline_orders * dispute_rate)"]
    assert (disputes.expected, disputes.actual, disputes.severity) == ("disputes == 150", "disputes = 150", "high")
    assert disputes.message == "holds: disputes = 150"
    finding = by_name["finding when disputes < 10"]
    assert finding.kind == "finding" and finding.passed
    assert finding.message == "the spike produced too few disputes to exercise the handler"


def test_a_wrong_count_fails_exactly_its_check() -> None:
    plan = compile_file(DISPUTE_SPIKE)
    metrics = {**entity_metrics(plan.summary), "deliveries.mismatched": 0}
    metrics.update({"disputes": 148, "disputes.lost": 88})  # two disputes went missing
    failed = [o for o in evaluate_checks(plan.header.checks, metrics) if not o.passed]
    assert [o.name for o in failed] == ["expect disputes == round(baseline_orders * dispute_rate)"]
    assert failed[0].expected == "disputes == 150"
    assert failed[0].actual == "disputes = 148"
    assert failed[0].message == "expected disputes == 150, but disputes = 148"

    metrics = {**entity_metrics(plan.summary), "deliveries.mismatched": 3}
    failed = [o for o in evaluate_checks(plan.header.checks, metrics) if not o.passed]
    assert [(o.name, o.severity, o.actual) for o in failed] == [
        ("expect deliveries.mismatched == 0", "critical", "deliveries.mismatched = 3")]


def test_a_finding_fires_when_its_condition_holds() -> None:
    plan = compile_file(DISPUTE_SPIKE)
    metrics = {**entity_metrics(plan.summary), "deliveries.mismatched": 0, "disputes": 4}
    finding = next(o for o in evaluate_checks(plan.header.checks, metrics) if o.kind == "finding")
    assert not finding.passed
    assert finding.message == "the spike produced too few disputes to exercise the handler"
    assert (finding.expected, finding.actual) == ("not (disputes < 10)", "disputes = 4")
    upi = compile_file(REPO / "scenarios/upi-timeout.carbon")
    fired = [o for o in evaluate_checks(upi.header.checks, _clean_run(upi)) if not o.passed]
    assert [(o.kind, o.actual) for o in fired] == [("finding", "payments.stuck = 150")]


def test_evaluation_errors_are_failed_outcomes_not_exceptions() -> None:
    plan = _compiled(_scenario("""
  expect disputes.lost / disputes > 0.4 severity high
  expect deliveries.mismatched == 0
  finding when disputes.won / disputes > 0.9 "most disputes won"
  expect disputes == 0 or disputes.lost / disputes > 0.4"""))
    metrics = {**entity_metrics(plan.summary), "disputes": 0, "disputes.lost": 0, "disputes.won": 0}
    ratio, unmeasured, finding, guarded = evaluate_checks(plan.header.checks, metrics)
    assert not ratio.passed
    assert ratio.message == "cannot evaluate disputes.lost / disputes > 0.4: division by zero"
    assert not unmeasured.passed
    assert unmeasured.actual == "deliveries.mismatched not measured"
    assert "did not measure `deliveries.mismatched`" in unmeasured.message
    assert not finding.passed
    assert finding.message == ("cannot evaluate disputes.won / disputes > 0.9: division by zero "
                               "(finding: most disputes won)")
    assert guarded.passed  # `or` does not evaluate its right side once the left decides


def test_a_condition_the_parameters_decide_alone() -> None:
    plan = _compiled(_scenario("  expect baseline_orders > 0"))
    (check,) = plan.header.checks
    assert condition_text(check.expr) == "true"
    (outcome,) = evaluate_checks(plan.header.checks, {})
    assert outcome.passed and outcome.expected == "baseline_orders > 0"
    assert outcome.actual == "true with these parameters"
    low = _compiled(_scenario("  expect baseline_orders > 0"), overrides={"baseline_orders": "0"})
    (outcome,) = evaluate_checks(low.header.checks, {})
    assert not outcome.passed
    assert outcome.message == "expected baseline_orders > 0, but false with these parameters"


def test_a_constant_part_that_cannot_be_computed_is_a_compile_error() -> None:
    source = _scenario("""
  param divisor = 2
  expect disputes <= baseline_orders / divisor""")
    assert isinstance(compile_text(source), CompiledPlan)
    result = compile_text(source, overrides={"divisor": "0"})
    assert isinstance(result, CheckResult)
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert diag.code == "C0316"
    assert diag.message == "this check cannot be computed with these parameter values: division by zero"
    assert diag.path == "test.carbon" and diag.span is not None and diag.span.line == 14


def test_names_are_unique_and_probes_are_left_to_the_executor() -> None:
    plan = _compiled(_scenario("""
  expect orders   >  0
  expect orders > 0 severity high
  probe GET "{{ base }}/orders/{{ order.ref }}" for each paid order {
    expect status == 200
  }"""))
    assert [c.name for c in plan.header.checks] == ["expect orders > 0", "expect orders > 0 #2"]
    assert [c.text for c in plan.header.checks] == ["orders > 0", "orders > 0"]


def test_inherited_checks_come_with_the_scenario() -> None:
    severe = compile_file(REPO / "scenarios/dispute-spike-severe.carbon")
    base = compile_file(DISPUTE_SPIKE)
    names = [c.name for c in severe.header.checks]
    assert names[:len(base.header.checks)] == [c.name for c in base.header.checks]
    assert condition_text(severe.header.checks[2].expr) == "disputes == 300"


def test_checks_are_shown_and_saved(tmp_path: Path) -> None:
    plan = compile_file(DISPUTE_SPIKE)
    shown = text(plan.header, plan.summary)
    assert "Checks:\n  high      expect orders == 1000\n" in shown
    assert '  medium    finding when disputes < 10 "the spike produced too few disputes' in shown
    summary = json_summary(plan.header, plan.summary)
    assert summary["checks"][2] == {
        "kind": "expect", "name": "expect disputes == round(baseline_orders * dispute_rate)", "severity": "high",
        "text": "disputes == round(baseline_orders * dispute_rate)", "condition": "disputes == 150",
        "message": None,
    }
    out = tmp_path / "plan.jsonl"
    write_plan(plan, out)
    header, _ = read_plan_summary(out)
    assert header.checks == plan.header.checks
    assert evaluate_checks(header.checks, _clean_run(plan)) == evaluate_checks(plan.header.checks, _clean_run(plan))


def test_checks_are_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_plan(compile_file(REPO / "scenarios/dispute-spike-severe.carbon"), a)
    write_plan(compile_file(REPO / "scenarios/dispute-spike-severe.carbon"), b)
    assert a.read_bytes() == b.read_bytes()
    # One spelling per value: a ratio written `0.150` folds to the bytes `15%` does.
    x = _compiled(_scenario("  expect disputes * 2 >= baseline_orders * dispute_rate"))
    y = _compiled(_scenario("  expect disputes * 2 >= baseline_orders * dispute_rate"),
                  overrides={"dispute_rate": "0.150"})
    assert msgspec.json.encode(x.header.checks) == msgspec.json.encode(y.header.checks)
    assert b'"value":"15"' in msgspec.json.encode(x.header.checks)


def test_a_check_round_trips_through_json() -> None:
    plan = compile_file(REPO / "scenarios/upi-timeout.carbon")
    decoded = msgspec.json.decode(msgspec.json.encode(plan.header.checks), type=tuple[Check, ...])
    assert decoded == plan.header.checks
