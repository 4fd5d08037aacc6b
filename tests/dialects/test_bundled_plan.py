"""A bundled scenario's whole plan, rendered delivery by delivery: every request a handler gets
is judged by the official verifier exactly as the plan's expected verdicts say."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dialect_helpers import PREVIOUS, SECRETS, verify

from carbonc.api import compile_source, read_or_diagnose
from carbonc.compiler import CompiledPlan
from carbonc.dialects import (
    EntityIndex,
    Secrets,
    build_request,
    check_modes,
    get_dialect,
    unsupported_events,
)
from carbonc.plan.records import Entity, Header, Message

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sweep() -> tuple[Header, EntityIndex, list[Message]]:
    source = read_or_diagnose(REPO / "scenarios/webhook-fault-sweep.carbon", "webhook-fault-sweep.carbon")
    plan = compile_source(source)
    assert isinstance(plan, CompiledPlan)
    entities: list[Entity] = []
    messages: list[Message] = []
    for record in plan.records():
        if isinstance(record, Entity):
            entities.append(record)
        elif isinstance(record, Message):
            messages.append(record)
    return plan.header, EntityIndex(entities), messages


@pytest.mark.parametrize("provider", ["razorpay", "stripe", "cashfree", "standard"])
def test_every_delivery_gets_the_expected_verdict(provider, sweep) -> None:
    header, index, messages = sweep
    modes = {m.signature for m in messages}
    assert {"valid", "reserialized", "corrupted", "missing", "wrong_secret"} <= modes
    assert check_modes(provider, modes) == []
    dialect = get_dialect(provider)
    secrets = Secrets(SECRETS[provider], previous=PREVIOUS[provider])
    policies = {p.id: p for p in header.policies}
    now = int(time.time() * 1000)
    origin = now - max(m.send_ms for m in messages)  # every message in the past, the last one now
    judged = {"accept": 0, "reject": 0}
    for message in messages:
        if message.dropped or dialect.skip_reason(message, index):
            continue
        request = build_request(dialect, message, index, secrets=secrets, now_ms=now, origin_ms=origin)
        # The scenario says a handler accepts old_secret: that handler still holds the old secret.
        keeps_old = policies[message.policy].verdicts.get("old_secret") == "accept"
        handler_secrets = [SECRETS[provider]] + ([PREVIOUS[provider]] if keeps_old else [])
        accepted = any(verify(provider, request, s) for s in handler_secrets)
        expected = dialect.expected(message)
        assert accepted == (expected == "accept"), (message.seq, message.event, message.signature)
        judged[expected] += 1
    assert judged["accept"] > 1000 and judged["reject"] > 5


@pytest.mark.parametrize(("provider", "wrong"), [
    ("razorpay", set()), ("mock", set()), ("stripe", set()), ("cashfree", set()), ("standard", set()),
    ("juspay", {"reserialized"}),
])
def test_modes_a_provider_cannot_produce_are_reported_before_a_run(provider, wrong, sweep) -> None:
    _, _, messages = sweep
    errors = check_modes(provider, sorted({m.signature for m in messages}))
    assert len(errors) == len(wrong)
    assert all(any(f"`{mode}`" in e for e in errors) for mode in wrong)


def test_juspay_warns_of_the_disputes_it_will_not_send(sweep) -> None:
    _, _, messages = sweep
    warned = {m.event for m in messages} & set(unsupported_events("juspay"))
    assert {"dispute.created", "dispute.lost", "order.paid", "refund.created"} <= warned


def test_a_forgery_is_sent_beside_the_genuine_event_never_instead(sweep) -> None:
    _, _, messages = sweep
    forged = [m for m in messages if m.forged]
    assert forged and all(m.signature != "valid" and not m.dropped for m in forged)
    genuine = {m.id: m for m in messages if not m.forged and m.copy == 0}
    for m in forged:
        twin = genuine[m.id]
        assert twin.signature == "valid" and twin.verdict == "accept"
        assert twin.seq == m.seq + 1  # the attacker's copy arrives just before the genuine one
