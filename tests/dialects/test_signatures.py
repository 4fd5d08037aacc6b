"""Every provider × every neutral event it sends × every signature mode that applies: the
provider's official SDK verifier accepts exactly the modes whose expected verdict is accept."""

from __future__ import annotations

import hashlib
import hmac
import time

import msgspec
import pytest
from dialect_helpers import DIALECTS, PREVIOUS, SECRETS, rendered_events, verify, world

from carbonc.dialects import Secrets, build_request, check_modes, get_dialect
from carbonc.dialects._base import HmacKey
from carbonc.domain.vocabulary import SIGNATURE_MODES
from carbonc.errors import ExecutionError

INDEX, MESSAGES = world()


def _cases():
    for test_id, provider, options in DIALECTS:
        dialect = get_dialect(provider, **options)
        for event in rendered_events(provider, options):
            for mode in sorted(dialect.modes):
                yield pytest.param(provider, options, event, mode, id=f"{test_id}-{event}-{mode}")


@pytest.mark.parametrize(("provider", "options", "event", "mode"), list(_cases()))
def test_official_verifier_agrees_with_expected_verdict(provider, options, event, mode) -> None:
    dialect = get_dialect(provider, **options)
    message = msgspec.structs.replace(MESSAGES[event], signature=mode)
    # The SDKs check timestamps against the wall clock, so this is sent now.
    request = build_request(dialect, message, INDEX, secrets=Secrets(SECRETS[provider]), now_ms=int(time.time() * 1000))
    accepted = verify(provider, request, SECRETS[provider])
    assert accepted == (dialect.verdict(mode) == "accept")


def _having(mode: str) -> list:
    return [pytest.param(p, o, id=i) for i, p, o in DIALECTS if mode in get_dialect(p, **o).modes]


@pytest.mark.parametrize(("provider", "options"), _having("old_secret"))
def test_a_handler_that_kept_the_old_secret_accepts_old_secret(provider, options) -> None:
    """`old_secret` is signed with the `previous` secret given: a handler configured with it
    (the policy `verdict old_secret accept`) verifies, one with only the new secret does not."""
    dialect = get_dialect(provider, **options)
    event = rendered_events(provider, options)[0]
    message = msgspec.structs.replace(MESSAGES[event], signature="old_secret")
    request = build_request(dialect, message, INDEX, secrets=Secrets(SECRETS[provider], previous=PREVIOUS[provider]),
                     now_ms=int(time.time() * 1000))
    assert verify(provider, request, PREVIOUS[provider])
    assert not verify(provider, request, SECRETS[provider])


@pytest.mark.parametrize(("provider", "options"), _having("rotation"))
def test_rotation_carries_one_value_per_secret(provider, options) -> None:
    """`rotation` passes because one of its two values is current: the other is the previous
    secret's, so the verifier with only that one accepts it too, and a wrong secret does not."""
    dialect = get_dialect(provider, **options)
    message = msgspec.structs.replace(MESSAGES["payment.captured"], signature="rotation")
    request = build_request(dialect, message, INDEX, secrets=Secrets(SECRETS[provider], previous=PREVIOUS[provider]),
                     now_ms=int(time.time() * 1000))
    assert verify(provider, request, SECRETS[provider])
    assert verify(provider, request, PREVIOUS[provider])
    assert not verify(provider, request, dialect.derive_secret(SECRETS[provider], "unrelated"))


@pytest.mark.parametrize(("test_id", "provider", "options"), DIALECTS, ids=[d[0] for d in DIALECTS])
def test_modes_that_do_not_apply_are_errors(test_id, provider, options) -> None:
    dialect = get_dialect(provider, **options)
    others = [m for m in SIGNATURE_MODES if m not in dialect.modes]
    errors = check_modes(provider, [*SIGNATURE_MODES, "valid"], **options)
    assert len(errors) == len(others)
    for mode, error in zip(others, errors, strict=True):
        assert f"signature mode `{mode}` does not apply to `{provider}`: " in error
        message = msgspec.structs.replace(MESSAGES["payment.failed"], signature=mode)
        with pytest.raises(ExecutionError, match=f"`{mode}` does not apply"):
            build_request(dialect, message, INDEX, secrets=Secrets(SECRETS[provider]), now_ms=1)


def test_a_retry_in_the_tolerance_window_verifies_and_one_signed_long_ago_does_not() -> None:
    """Stripe signs each attempt at its send time: the request must be rendered when sent."""
    message = MESSAGES["payment.captured"]
    dialect = get_dialect("stripe")
    old = build_request(dialect, message, INDEX, secrets=Secrets(SECRETS["stripe"]),
                 now_ms=int(time.time() * 1000) - 3_600_000)
    assert not verify("stripe", old, SECRETS["stripe"])


@pytest.mark.parametrize("key_length", [0, 1, 31, 32, 63, 64, 65, 100, 200])
@pytest.mark.parametrize("body", [b"", b"{}", bytes(range(256)) * 5])
def test_hmac_key_signs_as_hmac_does(key_length, body) -> None:
    key = bytes((7 * i + key_length) % 256 for i in range(key_length))
    signer = HmacKey(key)
    assert signer.digest(body) == hmac.new(key, body, hashlib.sha256).digest()
    assert signer.digest(body) == signer.digest(body)  # the kept states are copied, never used up
