"""Shared helpers for the dialect tests: a small world with one message per neutral event, the
secrets each provider is tested with, and each provider's official verifier, called the way a
handler calls it."""

from __future__ import annotations

import base64
import binascii
import hmac
import warnings

import razorpay
import razorpay.errors
import standardwebhooks
import stripe

from carbonc.dialects import EntityIndex, Request, get_dialect
from carbonc.domain.vocabulary import NEUTRAL_EVENTS
from carbonc.plan.records import Entity, Message, Transition

with warnings.catch_warnings():
    # cashfree-pg decorates its API with a decorator pydantic 2 deprecates: noise, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    import cashfree_pg.api_client

#: Every dialect under test: (test id, provider, options).
DIALECTS = [
    ("razorpay", "razorpay", {}),
    ("stripe", "stripe", {}),
    ("cashfree-2023-08-01", "cashfree", {"version": "2023-08-01"}),
    ("cashfree-2025-01-01", "cashfree", {"version": "2025-01-01"}),
    ("juspay", "juspay", {}),
    ("standard", "standard", {}),
]

SECRETS = {
    "razorpay": "rzp_whsec_4kQ8nZ2mV7pL1xR9",
    "stripe": "whsec_5f3b1c9e7a2d4f6b8c0e1a3d5f7b9c2e",
    "cashfree": "cfsk_ma_test_9d2f7a1c4e6b8d0f2a4c6e8b0d2f4a6c",
    "juspay": "merchant_hooks:Jp-7vQ2xL9mK4tR8",
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
#: The secret in force before the rotation, for handlers that keep it configured.
PREVIOUS = {
    "razorpay": "rzp_whsec_old_0aB1cD2eF3gH",
    "stripe": "whsec_0ld5ecret0ld5ecret0ld5ecret00",
    "cashfree": "cfsk_ma_test_old_1a2b3c4d5e6f7a8b9c0d",
    "juspay": "merchant_hooks:old-password-1",
    "standard": "whsec_" + base64.b64encode(b"the-pre-rotation-key-32-bytes!!!").decode(),
}

FIXED_NOW_MS = 1_700_000_000_000


def _id(prefix: str, n: int) -> str:
    return f"{prefix}_Tst{n:011d}"


def _entity(kind: str, n: int, parent: str | None, transitions: list[tuple], *, method: str | None = None,
            amount: int = 250_000, attrs: dict[str, str] | None = None) -> Entity:
    prefix = {"order": "order", "payment": "pay", "refund": "rfnd", "dispute": "disp", "settlement": "setl",
              "mandate": "token"}[kind]
    return Entity(id=_id(prefix, n), kind=kind, parent=parent, amount_minor=amount, currency="INR",
                  method=method, state=transitions[-1][1],
                  transitions=tuple(Transition(*t) for t in transitions), attrs=attrs or {})


def world() -> tuple[EntityIndex, dict[str, Message]]:
    """Entities that pass through every neutral event, and one message per event."""
    o1, o2, o3, o4, o5 = (_entity("order", n, None, [(0, "created"), (1_000, "paid")], method="card")
                          for n in range(1, 6))
    h, d = 3_600_000, 86_400_000
    p_auto = _entity("payment", 1, o1.id, [(1_000, "created"), (1_000, "authorized"), (1_000, "captured"),
                                           (2 * h, "refunded")], method="card")
    p_manual = _entity("payment", 2, o2.id, [(1_000, "created"), (1_000, "authorized"), (60_000, "captured")],
                       method="card")
    p_failed = _entity("payment", 3, o3.id, [(1_000, "created"),
                                             (1_000, "failed", "payment_declined", "BAD_REQUEST_ERROR")],
                       method="card")
    p_upi = _entity("payment", 4, o4.id, [(1_000, "created"), (1_000, "pending"),
                                          (1_801_000, "timed_out", "payment_timed_out", "BAD_REQUEST_ERROR")],
                    method="upi")
    p_disputed = _entity("payment", 5, o5.id, [(1_000, "created"), (1_000, "authorized"), (1_000, "captured"),
                                               (d, "disputed")], method="upi")
    r_ok = _entity("refund", 1, p_auto.id, [(h, "created"), (2 * h, "processed")], attrs={"type": "full"})
    r_bad = _entity("refund", 2, p_manual.id, [(h, "created"),
                                               (2 * h, "failed", "insufficient_merchant_balance", "BAD_REQUEST_ERROR")],
                    amount=100_000, attrs={"type": "partial"})
    dsp_won = _entity("dispute", 1, p_disputed.id, [(d, "created"), (3 * d, "under_review"), (10 * d, "won")],
                      attrs={"reason": "fraudulent"})
    dsp_lost = _entity("dispute", 2, p_disputed.id, [(d, "created"), (7 * d, "lost")],
                       attrs={"reason": "product_not_received"})
    dsp_closed = _entity("dispute", 3, p_disputed.id, [(d, "created"), (5 * d, "closed")],
                         attrs={"reason": "duplicate"})
    s_ok = _entity("settlement", 1, None, [(3 * d, "created"), (3 * d, "processed")], amount=12_345_600,
                   attrs={"payments": "40"})
    s_bad = _entity("settlement", 2, None, [(3 * d, "created"),
                                            (3 * d, "failed", "bank_account_invalid", "SETTLEMENT_FAILED")],
                    amount=500_050)
    m_cancel = _entity("mandate", 1, None, [(0, "created"), (0, "confirmed"), (2 * d, "cancelled", "customer_request")],
                       method="upi", amount=1_500_000)
    m_reject = _entity("mandate", 2, None, [(0, "created"),
                                            (0, "rejected", "mandate_declined_by_customer", "BAD_REQUEST_ERROR")],
                       method="upi", amount=1_500_000)
    m_pause = _entity("mandate", 3, None, [(0, "created"), (0, "confirmed"), (d, "paused")], method="upi",
                      amount=1_500_000)
    entities = [o1, o2, o3, o4, o5, p_auto, p_manual, p_failed, p_upi, p_disputed, r_ok, r_bad, dsp_won,
                dsp_lost, dsp_closed, s_ok, s_bad, m_cancel, m_reject, m_pause]
    about = {
        "order.paid": (o1, 1_000), "payment.authorized": (p_manual, 1_000), "payment.captured": (p_auto, 1_000),
        "payment.failed": (p_failed, 1_000), "payment.pending": (p_upi, 1_000),
        "refund.created": (r_ok, h), "refund.processed": (r_ok, 2 * h), "refund.failed": (r_bad, 2 * h),
        "dispute.created": (dsp_won, d), "dispute.under_review": (dsp_won, 3 * d), "dispute.won": (dsp_won, 10 * d),
        "dispute.lost": (dsp_lost, 7 * d), "dispute.closed": (dsp_closed, 5 * d),
        "settlement.processed": (s_ok, 3 * d), "settlement.failed": (s_bad, 3 * d),
        "mandate.confirmed": (m_pause, 0), "mandate.rejected": (m_reject, 0),
        "mandate.cancelled": (m_cancel, 2 * d), "mandate.paused": (m_pause, d),
    }
    assert set(about) == set(NEUTRAL_EVENTS)
    messages = {}
    for seq, event in enumerate(NEUTRAL_EVENTS):
        entity, at = about[event]
        messages[event] = Message(seq=seq, id=_id("evt", seq), copy=0, at_ms=at, send_ms=at + 5_000, event=event,
                                  entity=entity.id, policy=0, signature="valid", verdict=None, dropped=False)
    return EntityIndex(entities), messages


def rendered_events(provider: str, options: dict) -> list[str]:
    """The neutral events `provider` sends for the world's messages."""
    dialect = get_dialect(provider, **options)
    index, messages = world()
    return [e for e in NEUTRAL_EVENTS if dialect.skip_reason(messages[e], index) is None]


# The official verifiers. Each returns True when the SDK accepts the request and False when it
# raises its verification error; anything else it raises fails the test.

def verify(provider: str, request: Request, secret: str, *, tolerance_s: int | None = None) -> bool:
    headers = request.headers
    body = request.body
    if provider == "razorpay":
        try:
            # A handler passes the header, or "" when there is none.
            return razorpay.Client().utility.verify_webhook_signature(
                body.decode(), headers.get("X-Razorpay-Signature", ""), secret)
        except razorpay.errors.SignatureVerificationError:
            return False
    if provider == "stripe":
        try:
            stripe.Webhook.construct_event(body, headers.get("Stripe-Signature"), secret,
                                           tolerance=300 if tolerance_s is None else tolerance_s)
            return True
        except stripe.SignatureVerificationError:
            return False
    if provider == "cashfree":
        client = cashfree_pg.api_client.Cashfree(XEnvironment=cashfree_pg.api_client.Cashfree.SANDBOX,
                                                 XClientId="TEST_CLIENT_ID", XClientSecret=secret)
        try:
            client.PGVerifyWebhookSignature(headers.get("x-webhook-signature"), body.decode(),
                                            headers["x-webhook-timestamp"])
            return True
        except Exception as exc:  # the SDK raises a bare Exception on a mismatch
            if type(exc) is not Exception:
                raise
            return False
    if provider == "standard":
        try:
            standardwebhooks.Webhook(secret).verify(body, headers)
            return True
        except standardwebhooks.WebhookVerificationError:
            return False
    if provider == "juspay":
        return basic_auth_matches(headers.get("Authorization"), secret)
    raise AssertionError(provider)


def basic_auth_matches(header: str | None, secret: str) -> bool:
    """What Juspay's docs ask of the receiver: decode the `Authorization: Basic` credentials and
    compare them with the username and password set in the dashboard."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return False
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, colon, password = decoded.partition(":")
    expected_user, _, expected_password = secret.partition(":")
    return bool(colon) and hmac.compare_digest(username, expected_user) and \
        hmac.compare_digest(password, expected_password)
