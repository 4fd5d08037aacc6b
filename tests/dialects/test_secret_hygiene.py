"""A known secret, used to render and sign in every mode and to fail in every way a render can
fail, appears nowhere: not in reprs, exception messages, tracebacks or log output."""

from __future__ import annotations

import base64
import logging
import pickle
import traceback

import msgspec
import pytest
from dialect_helpers import DIALECTS, rendered_events, world

from carbonc.dialects import Secrets, build_request, get_dialect
from carbonc.errors import ExecutionError

INDEX, MESSAGES = world()

KNOWN = {
    "razorpay": ("TOPSECRET-rzp-7f3a9c", "TOPSECRET-rzp-previous-11"),
    "stripe": ("whsec_TOPSECRETstripe7f3a9c", "whsec_TOPSECRETstripePrev"),
    "cashfree": ("cfsk_TOPSECRET_cashfree_7f3a9c", "cfsk_TOPSECRET_cashfree_prev"),
    "juspay": ("hookuser:TOPSECRET-juspay-7f3a9c", "hookuser:TOPSECRET-juspay-prev"),
    "standard": ("whsec_" + base64.b64encode(b"TOPSECRET-standard-key-32-bytes!").decode(),
                 "whsec_" + base64.b64encode(b"TOPSECRET-standard-previous-key!").decode()),
}


def _forms(secret: str) -> set[str]:
    """The secret as text, its password half, and their Base64 (what Basic auth sends)."""
    forms = {secret, base64.b64encode(secret.encode()).decode()}
    if ":" in secret:
        forms.add(secret.partition(":")[2])
    return forms


def _leaks(text: str, secrets: tuple[str, ...]) -> set[str]:
    return {form for s in secrets for form in _forms(s) if form in text}


def _exception_text(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(("test_id", "provider", "options"), DIALECTS, ids=[d[0] for d in DIALECTS])
def test_secret_appears_nowhere(test_id, provider, options, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret, previous = KNOWN[provider]
    dialect = get_dialect(provider, **options)
    secrets = Secrets(secret, previous=previous)
    seen: list[str] = [repr(secrets), str(secrets), repr(dialect), repr(secrets.keys(dialect)), repr(vars(dialect))]

    for event in rendered_events(provider, options):
        for mode in sorted(dialect.modes):
            message = msgspec.structs.replace(MESSAGES[event], signature=mode)
            request = build_request(dialect, message, INDEX, secrets=secrets, now_ms=1_700_000_000_000)
            seen += [repr(request), str(request)]
            # The body never carries it, in any form.
            assert not _leaks(request.body.decode(), (secret, previous)), (event, mode)

    # Every way a render fails, with the secret at hand.
    failures: list[BaseException] = []
    for event in dialect.unsupported:
        with pytest.raises(ExecutionError) as info:
            build_request(dialect, MESSAGES[event], INDEX, secrets=secrets, now_ms=1)
        failures.append(info.value)
    with pytest.raises(ExecutionError) as info:
        build_request(dialect, msgspec.structs.replace(MESSAGES["payment.failed"], signature="nonsense"), INDEX,
               secrets=secrets, now_ms=1)
    failures.append(info.value)
    with pytest.raises(ExecutionError) as info:
        build_request(dialect, msgspec.structs.replace(MESSAGES["payment.failed"], entity="pay_Missing0000000"), INDEX,
               secrets=secrets, now_ms=1)
    failures.append(info.value)
    # A malformed secret that still contains the known one.
    malformed = {"juspay": secret.replace(":", ""), "standard": "whsec_"}.get(provider)
    if malformed is not None:
        bad = Secrets(malformed)
        with pytest.raises(ExecutionError) as info:
            build_request(dialect, MESSAGES[rendered_events(provider, options)[0]], INDEX, secrets=bad, now_ms=1)
        failures.append(info.value)
        seen.append(repr(bad))
    with pytest.raises(TypeError) as pickled:
        pickle.dumps(secrets)
    failures.append(pickled.value)

    seen += [_exception_text(exc) for exc in failures]
    seen.append(caplog.text)
    assert not _leaks("\n".join(seen), (secret, previous))


def test_authorization_header_is_redacted_in_repr() -> None:
    request = build_request(get_dialect("juspay"), MESSAGES["payment.captured"], INDEX,
                     secrets=Secrets(KNOWN["juspay"][0]), now_ms=1)
    assert request.headers["Authorization"].startswith("Basic ")
    assert "'Authorization': '<redacted>'" in repr(request)
