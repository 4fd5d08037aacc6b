"""The dialect registry and what every dialect promises beyond signatures: event coverage,
verdicts, exact money, deterministic IDs, the clock, and light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from dialect_helpers import DIALECTS, FIXED_NOW_MS, SECRETS, rendered_events, world

from carbonc.compiler._schedule import DEFAULT_VERDICTS
from carbonc.compiler._world import EVENTS
from carbonc.dialects import (
    PROVIDERS,
    EntityIndex,
    Secrets,
    build_request,
    check_modes,
    expected_verdict,
    get_dialect,
    unsupported_events,
)
from carbonc.dialects._base import reserialize
from carbonc.dialects._facts import iso_ist, iso_utc, major_text
from carbonc.domain.vocabulary import NEUTRAL_EVENTS, SIGNATURE_MODES
from carbonc.errors import ExecutionError
from carbonc.plan.records import Entity, Transition

INDEX, MESSAGES = world()


def _render(provider, event="payment.captured", *, options=None, mode="valid", now_ms=FIXED_NOW_MS, index=INDEX,
            message=None, **kw):
    message = msgspec.structs.replace(message or MESSAGES[event], signature=mode)
    return build_request(get_dialect(provider, **(options or {})), message, index,
                  secrets=Secrets(SECRETS[PROVIDERS[provider]]), now_ms=now_ms, **kw)


# The registry.

def test_mock_speaks_razorpay() -> None:
    assert get_dialect("mock").name == "razorpay"
    assert _render("mock").body == _render("razorpay").body


def test_an_unknown_provider_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ExecutionError, match=r"unknown provider `strip`.*did you mean `stripe`\?"):
        get_dialect("strip")
    assert check_modes("paypal", ["valid"]) == [
        "unknown provider `paypal` (known: mock, razorpay, stripe, cashfree, juspay, standard)"]


def test_unknown_options_and_versions_are_errors() -> None:
    with pytest.raises(ExecutionError, match="unknown option `verison` for the `cashfree` dialect"):
        get_dialect("cashfree", verison="2023-08-01")
    with pytest.raises(ExecutionError, match="cashfree webhook version `2024-01-01` is not supported"):
        get_dialect("cashfree", version="2024-01-01")


def test_an_unknown_mode_is_an_error() -> None:
    assert check_modes("stripe", ["valid", "forged"]) == ["unknown signature mode `forged`"]


@pytest.mark.parametrize(("test_id", "provider", "options"), DIALECTS, ids=[d[0] for d in DIALECTS])
def test_every_neutral_event_is_rendered_or_reported_unsupported(test_id, provider, options) -> None:
    dialect = get_dialect(provider, **options)
    unsupported = unsupported_events(provider, **options)
    assert set(dialect.events) | set(unsupported) == set(NEUTRAL_EVENTS)
    assert not set(dialect.events) & set(unsupported)
    for event, warning in unsupported.items():
        assert f"`{event}` is not sent" in warning
        with pytest.raises(ExecutionError, match="is not sent"):
            _render(provider, event, options=options)


def test_the_neutral_events_are_the_plans() -> None:
    assert set(EVENTS.values()) == set(NEUTRAL_EVENTS)


def test_juspay_reports_disputes_and_settlements_unsupported() -> None:
    unsupported = unsupported_events("juspay")
    assert {e for e in NEUTRAL_EVENTS if e.startswith(("dispute.", "settlement."))} <= set(unsupported)


def test_stripe_skips_authorized_for_automatic_capture_only() -> None:
    stripe = get_dialect("stripe")
    auto = msgspec.structs.replace(MESSAGES["payment.authorized"], entity="pay_Tst00000000001")
    assert "captures automatically" in stripe.skip_reason(auto, INDEX)
    assert stripe.skip_reason(MESSAGES["payment.authorized"], INDEX) is None  # captured a minute later


def test_razorpay_upi_timeout_can_be_silent() -> None:
    timeout = msgspec.structs.replace(MESSAGES["payment.failed"], entity="pay_Tst00000000004", at_ms=1_801_000)
    assert get_dialect("razorpay").skip_reason(timeout, INDEX) is None
    assert "silent" in get_dialect("razorpay", upi_timeout="silent").skip_reason(timeout, INDEX)
    # A declined card still reports payment.failed.
    assert get_dialect("razorpay", upi_timeout="silent").skip_reason(MESSAGES["payment.failed"], INDEX) is None


def test_cashfree_subscription_status_event_follows_the_version_and_can_be_set() -> None:
    assert get_dialect("cashfree", version="2023-08-01").events["mandate.cancelled"] == "SUBSCRIPTION_STATUS_CHANGE"
    assert get_dialect("cashfree").events["mandate.cancelled"] == "SUBSCRIPTION_STATUS_CHANGED"
    custom = get_dialect("cashfree", version="2023-08-01", subscription_status_event="SUBSCRIPTION_STATUS_CHANGED")
    assert custom.events["mandate.paused"] == "SUBSCRIPTION_STATUS_CHANGED"


# Verdicts.

@pytest.mark.parametrize("provider", sorted(set(PROVIDERS.values())))
def test_verdicts_agree_with_the_plan_where_the_plan_decides(provider) -> None:
    dialect = get_dialect(provider)
    for mode in dialect.modes:
        assert expected_verdict(provider, mode) == dialect.verdict(mode)
        if mode in DEFAULT_VERDICTS:
            assert dialect.verdict(mode) == DEFAULT_VERDICTS[mode], mode


def test_future_is_accepted_by_stripe_and_rejected_by_standard_webhooks() -> None:
    assert expected_verdict("stripe", "future") == "accept"
    assert expected_verdict("standard", "future") == "reject"
    future = msgspec.structs.replace(MESSAGES["payment.captured"], signature="future")
    assert get_dialect("stripe").expected(future) == "accept"
    assert get_dialect("stripe").expected(msgspec.structs.replace(future, verdict="reject")) == "reject"


# Money: exact decimal text in the provider's unit, never through float.

@pytest.mark.parametrize(("minor", "currency", "text"), [
    (17_000, "INR", "170.00"), (5, "INR", "0.05"), (0, "INR", "0.00"), (500, "JPY", "500"),
    (1_250, "KWD", "1.250"), (9_223_372_036_854_775_807, "INR", "92233720368547758.07"),
])
def test_major_units_are_exact(minor, currency, text) -> None:
    assert major_text(minor, currency) == text


@pytest.mark.parametrize(("provider", "field"), [("cashfree", ("data", "payment", "payment_amount")),
                                                 ("juspay", ("content", "order", "amount"))])
def test_rupee_providers_send_exact_decimals(provider, field) -> None:
    big = 123_456_789_012_345_678  # beyond a float's 53 bits: any float on the way would show
    payment = Entity(id="pay_Tst0000000BIG1", kind="payment", parent="order_Tst0000000BIG1", amount_minor=big,
                     currency="INR", method="card", state="captured",
                     transitions=(Transition(0, "created"), Transition(0, "captured")))
    order = Entity(id="order_Tst0000000BIG1", kind="order", parent=None, amount_minor=big, currency="INR",
                   method="card", state="paid", transitions=(Transition(0, "created"), Transition(0, "paid")))
    message = msgspec.structs.replace(MESSAGES["payment.captured"], entity=payment.id, at_ms=0, send_ms=0)
    body = _render(provider, message=message, index=EntityIndex([order, payment])).body
    assert b"1234567890123456.78" in body
    value = json.loads(body, parse_float=Decimal)
    for key in field:
        value = value[key]
    assert value == Decimal("1234567890123456.78")


def test_minor_unit_providers_send_integers() -> None:
    razorpay = json.loads(_render("razorpay").body)
    assert razorpay["payload"]["payment"]["entity"]["amount"] == 250_000
    stripe = json.loads(_render("stripe").body)
    assert stripe["data"]["object"]["amount"] == 250_000
    assert stripe["data"]["object"]["currency"] == "inr"


# IDs and determinism.

@pytest.mark.parametrize(("test_id", "provider", "options"), DIALECTS, ids=[d[0] for d in DIALECTS])
def test_rendering_is_deterministic_and_copies_share_ids(test_id, provider, options) -> None:
    for event in rendered_events(provider, options):
        first = _render(provider, event, options=options)
        assert _render(provider, event, options=options) == first
        copy = msgspec.structs.replace(MESSAGES[event], copy=1, seq=99)
        assert _render(provider, event, options=options, message=copy) == first


def test_provider_ids_have_the_providers_shapes() -> None:
    stripe = json.loads(_render("stripe").body)
    assert stripe["id"].startswith("evt_") and len(stripe["id"]) == 4 + 24
    assert stripe["data"]["object"]["id"].startswith("pi_") and len(stripe["data"]["object"]["id"]) == 3 + 24
    assert stripe["data"]["object"]["latest_charge"][3:] == stripe["data"]["object"]["id"][3:]
    razorpay = _render("razorpay")
    assert json.loads(razorpay.body)["payload"]["payment"]["entity"]["id"] == "pay_Tst00000000001"
    assert razorpay.headers["x-razorpay-event-id"] == "Tst00000000002"
    juspay = json.loads(_render("juspay").body)
    assert juspay["id"].startswith("evt_V2_") and len(juspay["id"]) == 7 + 32
    cashfree = json.loads(_render("cashfree").body)
    assert cashfree["data"]["payment"]["cf_payment_id"].isdigit()
    standard = _render("standard")
    assert standard.headers["webhook-id"].startswith("msg_")
    others = {_render(p, "refund.processed").body for p in ("razorpay", "stripe", "cashfree", "juspay", "standard")}
    assert len(others) == 5


def test_different_events_get_different_event_ids() -> None:
    ids = {json.loads(_render("stripe", e).body)["id"] for e in rendered_events("stripe", {})}
    assert len(ids) == len(rendered_events("stripe", {}))


# The clock.

def test_timestamps_come_from_the_injected_clock() -> None:
    assert _render("stripe").headers["Stripe-Signature"].startswith("t=1700000000,")
    assert _render("standard").headers["webhook-timestamp"] == "1700000000"
    cashfree = _render("cashfree")
    assert cashfree.headers["x-webhook-timestamp"] == "1700000000000"
    assert cashfree.headers["x-webhook-attempt"] == "1"
    assert _render("cashfree", attempt=3).headers["x-webhook-attempt"] == "3"
    # The event happened at send time minus the message's delay in the plan (5 s here).
    assert json.loads(_render("razorpay").body)["created_at"] == 1_699_999_995
    assert json.loads(cashfree.body)["event_time"] == "2023-11-15T03:43:15+05:30"
    assert json.loads(_render("juspay").body)["date_created"] == "2023-11-14T22:13:15Z"
    # An explicit origin places virtual time 0.
    origin = json.loads(_render("razorpay", origin_ms=1_600_000_000_000).body)
    assert origin["created_at"] == 1_600_000_000 + 1


def test_time_formats() -> None:
    assert iso_ist(0) == "1970-01-01T05:30:00+05:30"
    assert iso_utc(1_700_000_000_999) == "2023-11-14T22:13:20Z"


def test_retries_carry_the_same_body_and_stripe_re_signs_them() -> None:
    origin = FIXED_NOW_MS - MESSAGES["payment.captured"].send_ms  # the run's, the same for every attempt
    for provider in ("razorpay", "stripe", "cashfree", "juspay", "standard"):
        first = _render(provider, now_ms=FIXED_NOW_MS, origin_ms=origin)
        retry = _render(provider, now_ms=FIXED_NOW_MS + 30_000, attempt=2, origin_ms=origin)
        assert first.body == retry.body
    retry = _render("stripe", now_ms=FIXED_NOW_MS + 30_000, attempt=2, origin_ms=origin)
    assert retry.headers["Stripe-Signature"].startswith("t=1700000030,")


def test_cashfree_idempotency_key_only_in_2025_01_01() -> None:
    assert "x-idempotency-key" in _render("cashfree", options={"version": "2025-01-01"}).headers
    assert "x-idempotency-key" not in _render("cashfree", options={"version": "2023-08-01"}).headers


# Signature modes, on the wire.

def test_reserialized_changes_the_bytes_not_the_meaning() -> None:
    for provider in ("razorpay", "stripe", "cashfree", "standard"):
        valid, reser = _render(provider), _render(provider, mode="reserialized")
        assert reser.body != valid.body
        assert json.loads(reser.body) == json.loads(valid.body)
        assert reser.headers == valid.headers
    assert b"2500.0," in reserialize(_render("cashfree").body)


def test_ms_vs_s_is_a_unit_confusion() -> None:
    assert _render("cashfree", mode="ms_vs_s").headers["x-webhook-timestamp"] == "1700000000"
    assert _render("standard", mode="ms_vs_s").headers["webhook-timestamp"] == "1700000000000"


def test_rotation_sends_two_values() -> None:
    assert _render("stripe", mode="rotation").headers["Stripe-Signature"].count("v1=") == 2
    assert len(_render("standard", mode="rotation").headers["webhook-signature"].split(" ")) == 2


def test_juspay_bad_basic_auth_covers_three_malformations() -> None:
    seen = set()
    for n in range(30):
        message = msgspec.structs.replace(MESSAGES["payment.captured"], id=f"evt_Tst{n:011d}")
        seen.add(_render("juspay", message=message, mode="bad_basic_auth").headers["Authorization"].split(" ")[-1][:2])
    assert len(seen) == 3


def test_every_signature_mode_is_known_to_the_language() -> None:
    for provider in set(PROVIDERS.values()):
        assert get_dialect(provider).modes <= set(SIGNATURE_MODES)
    assert set().union(*(get_dialect(p).modes for p in set(PROVIDERS.values()))) == set(SIGNATURE_MODES)


# Errors.

def test_a_message_about_an_unknown_entity_is_an_error() -> None:
    message = msgspec.structs.replace(MESSAGES["payment.captured"], entity="pay_Nowhere0000000")
    with pytest.raises(ExecutionError, match="`pay_Nowhere0000000`, which the plan does not define"):
        _render("stripe", message=message)


def test_malformed_secrets_are_errors() -> None:
    with pytest.raises(ExecutionError, match="must be `username:password`"):
        build_request(get_dialect("juspay"), MESSAGES["payment.captured"], INDEX, secrets=Secrets("nocolon"), now_ms=1)
    with pytest.raises(ExecutionError, match="encodes no key"):
        build_request(get_dialect("standard"), MESSAGES["payment.captured"], INDEX, secrets=Secrets("whsec_"), now_ms=1)
    with pytest.raises(ExecutionError, match="empty"):
        Secrets("")


# Imports: dialects stay light, and planning never loads them.

def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_dialects_import_nothing_heavy() -> None:
    loaded = _modules_after("import carbonc.dialects; carbonc.dialects.get_dialect('stripe'); "
                            "[carbonc.dialects.get_dialect(p) for p in carbonc.dialects.PROVIDERS]")
    heavy = {"httpx", "trio", "duckdb", "lark", "click", "jinja2", "carbonc.plan", "carbonc.syntax",
             "carbonc.passes"}
    assert not heavy & loaded


def test_plan_and_check_do_not_import_dialects() -> None:
    loaded = _modules_after("import carbonc.api, carbonc.plan, carbonc.cli")
    assert "carbonc.dialects" not in loaded


# docs/providers.md stays true.

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def test_the_documented_verdict_table_is_the_dialects() -> None:
    lines = DOC.read_text().splitlines()
    start = lines.index("| mode | razorpay | stripe | cashfree | juspay | standard |")
    providers = ["razorpay", "stripe", "cashfree", "juspay", "standard"]
    rows = {}
    for line in lines[start + 2:start + 2 + len(SIGNATURE_MODES)]:
        cells = [c.strip().strip("*`") for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(providers, cells[1:], strict=True))
    assert set(rows) == set(SIGNATURE_MODES)
    for provider in providers:
        dialect = get_dialect(provider)
        for mode in SIGNATURE_MODES:
            assert rows[mode][provider] == (dialect.verdict(mode) if mode in dialect.modes else "—"), (provider, mode)


def test_every_provider_event_name_is_documented() -> None:
    text = DOC.read_text()
    for _, provider, options in DIALECTS:
        for event, name in get_dialect(provider, **options).events.items():
            if provider != "standard":
                assert f"`{name}`" in text, (provider, event, name)
