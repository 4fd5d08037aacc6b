"""Delivery overrides (`--webhook-order`, `--webhook-repeat`, `--webhook-signature`): imposed on
every message over the scenario's own `deliver` blocks, and shown in the plan's policies."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from plan_helpers import REPO, compile_file, compile_text

from carbonc.api import CheckResult
from carbonc.compiler import CompiledPlan
from carbonc.domain.vocabulary import DeliveryOverrides
from carbonc.plan.records import Message, SignatureShare
from carbonc.plan.saved import write_plan

SWEEP = REPO / "scenarios/webhook-fault-sweep.carbon"
DISPUTE_SPIKE = REPO / "scenarios/dispute-spike.carbon"


def _messages(plan: CompiledPlan) -> list[Message]:
    return [r for r in plan.records() if isinstance(r, Message)]


def _originals_by_policy(plan: CompiledPlan) -> dict[int, list[str]]:
    by_policy: dict[int, list[str]] = defaultdict(list)
    for m in _messages(plan):
        if m.copy == 0:
            by_policy[m.policy].append(m.id)
    return dict(by_policy)


def test_reverse_order_reverses_each_policys_messages_in_their_slots() -> None:
    # The sweep's own blocks shuffle, reorder, drop and mix signatures, per kind of event.
    forward = compile_file(SWEEP, delivery=DeliveryOverrides(order="sequence"))
    backward = compile_file(SWEEP, delivery=DeliveryOverrides(order="reverse"))
    assert len(backward.header.policies) == len(forward.header.policies) > 1
    assert all(p.order == "reverse" and p.shuffle_within_ms == 0 for p in backward.header.policies)
    fwd, bwd = _originals_by_policy(forward), _originals_by_policy(backward)
    assert fwd.keys() == bwd.keys()
    for pid in fwd:
        assert bwd[pid] == fwd[pid][::-1]
    # Only the order changes: the same slots in time, the same drops and signatures per event.
    # (Forged copies travel with their genuine message, just before it.)
    a, b = _messages(forward), _messages(backward)
    assert [m.send_ms for m in a if not m.forged] == [m.send_ms for m in b if not m.forged]
    assert ({(m.id, m.copy, m.forged): (m.signature, m.dropped) for m in a}
            == {(m.id, m.copy, m.forged): (m.signature, m.dropped) for m in b})
    assert all(b[i + 1].id == m.id and not b[i + 1].forged for i, m in enumerate(b) if m.forged)


def test_repeat_delivers_every_message_n_times_with_one_event_id() -> None:
    once = compile_file(DISPUTE_SPIKE)
    thrice = compile_file(DISPUTE_SPIKE, delivery=DeliveryOverrides(repeat=3))
    assert [p.repeat for p in thrice.header.policies] == [3]
    assert thrice.summary.deliveries == 3 * once.summary.deliveries
    assert thrice.summary.faults["duplicates"] == 2 * once.summary.deliveries
    messages = _messages(thrice)
    assert len(messages) == 3 * len(_messages(once))
    for i in range(0, len(messages), 3):
        group = messages[i:i + 3]
        assert [m.copy for m in group] == [0, 1, 2]
        assert len({m.id for m in group}) == 1
        assert [m.seq for m in group] == [i, i + 1, i + 2]


def test_repeat_override_replaces_the_scenarios_own() -> None:
    plan = compile_file(SWEEP, delivery=DeliveryOverrides(repeat=1))
    assert {p.repeat for p in plan.header.policies} == {1}
    assert "duplicates" not in plan.summary.faults


def test_signature_mode_applies_to_every_message() -> None:
    plan = compile_file(SWEEP, delivery=DeliveryOverrides(signature="missing"))
    assert all(p.signatures == (SignatureShare("missing", "1"),) for p in plan.header.policies)
    messages = _messages(plan)
    # Every message gets an attacker's unsigned copy beside it; the genuine ones stay valid.
    forged = [m for m in messages if m.forged]
    genuine = [m for m in messages if not m.forged]
    assert {(m.signature, m.verdict) for m in forged} == {("missing", "reject")}
    assert {(m.signature, m.verdict) for m in genuine} == {("valid", "accept")}
    assert len(forged) == sum(1 for m in genuine if m.copy == 0) == sum(plan.summary.messages.values())
    # What the scenario says besides the signature still holds (drops, order, copies).
    assert plan.summary.faults["dropped"] == compile_file(SWEEP).summary.faults["dropped"]


def test_overrides_combine_and_show_in_the_plan() -> None:
    from carbonc.plan.describe import text

    plan = compile_file(DISPUTE_SPIKE, delivery=DeliveryOverrides(order="random", repeat=2, signature="corrupted"))
    assert ("in random order, 2 times each (same event id), signed valid, plus forged copies of 100% (corrupted)"
            in text(plan.header, plan.summary))


def test_no_override_is_byte_identical(tmp_path: Path) -> None:
    outs = []
    for i, kw in enumerate(({}, {"delivery": None}, {"delivery": {}})):
        out = tmp_path / f"{i}.jsonl"
        write_plan(compile_file(SWEEP, **kw), out)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


@pytest.mark.parametrize(("delivery", "code", "path", "message", "help"), [
    ({"order": "revers"}, "C0311", "--webhook-order", "unknown webhook order `revers`", "did you mean `reverse`?"),
    ({"order": "shuffle"}, "C0311", "--webhook-order", "unknown webhook order `shuffle`",
     "orders: `sequence`, `reverse`, `random`"),
    ({"repeat": 0}, "C0308", "--webhook-repeat", "webhook repeat must be a whole number from 1 to 100, not `0`",
     "`1` delivers every message once, `3` three times with the same event id"),
    ({"repeat": "3"}, "C0308", "--webhook-repeat", "webhook repeat must be a whole number from 1 to 100, not `3`",
     "`1` delivers every message once, `3` three times with the same event id"),
    ({"signature": "wrong-secret"}, "C0311", "--webhook-signature", "unknown signature mode `wrong-secret`",
     "did you mean `wrong_secret`?"),
])
def test_invalid_overrides_are_compile_errors(delivery, code, path, message, help) -> None:
    result = compile_text(DISPUTE_SPIKE.read_text(), delivery=DeliveryOverrides(**delivery))
    assert isinstance(result, CheckResult)
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert (diag.code, diag.path, diag.message, diag.help) == (code, path, message, help)


def test_every_invalid_override_is_reported_at_once() -> None:
    result = compile_text(DISPUTE_SPIKE.read_text(), delivery=DeliveryOverrides(order="x", repeat=-1, signature="y"))
    assert isinstance(result, CheckResult)
    assert [d.path for d in result.diagnostics if d.is_error] == ["--webhook-order", "--webhook-repeat",
                                                                  "--webhook-signature"]


def test_a_fault_share_too_small_for_the_plan_is_a_warning_in_the_header():
    from plan_helpers import compile_text

    text = """
scenario s {
  phase p {
    create orders count 3 amount INR 100 method card
    pay each order { captured 100% }
  }
  deliver { signature missing 1%
            drop 1% }
}
"""
    plan = compile_text(text)
    assert plan.header.warnings == (
        "`drop 1%` of the delivery policy for order.paid, payment.authorized, payment.captured drops no message "
        "at these parameters (9 messages)",
        "`signature missing 1%` of the delivery policy for order.paid, payment.authorized, payment.captured signs "
        "no message at these parameters (9 messages)",
    )
    assert compile_text(text.replace("count 3", "count 40")).header.warnings == ()
