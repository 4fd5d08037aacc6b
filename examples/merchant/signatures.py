"""Webhook signature checks, with each gateway's official SDK, over the raw request body."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import razorpay
import razorpay.errors
import stripe

# Only the webhook utility is used, and it needs no API keys.
_razorpay = razorpay.Client(auth=("", ""))


def razorpay_signed(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    signature = headers.get("X-Razorpay-Signature", "")
    if not signature:
        return False
    for secret in secrets:
        try:
            _razorpay.utility.verify_webhook_signature(body.decode("utf-8"), signature, secret)
        # UnicodeDecodeError: no genuine event is anything but UTF-8 JSON. TypeError: compare_digest
        # refuses a signature with non-ASCII characters.
        except (razorpay.errors.SignatureVerificationError, UnicodeDecodeError, TypeError):
            continue
        return True
    return False


def stripe_signed(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> bool:
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(body.decode("utf-8"), headers.get("Stripe-Signature", ""), secret)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, TypeError):
            continue
        except (ValueError, AttributeError):
            pass  # signed, but not a JSON object: the caller rejects the body as such
        return True
    return False


# `secrets`: the current secret, then during a rotation the previous one, whose signatures the
# gateway keeps sending on retries of events created before the change.
VERIFIERS: dict[str, Callable[[bytes, Mapping[str, str], Sequence[str]], bool]] = {
    "razorpay": razorpay_signed, "stripe": stripe_signed}
