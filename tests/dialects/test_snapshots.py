"""One rendered request per provider × event, with a fixed clock and the world's fixed IDs, so any
change to what a provider is sent shows up as a snapshot diff."""

from __future__ import annotations

import pytest
from dialect_helpers import DIALECTS, FIXED_NOW_MS, SECRETS, rendered_events, world

from carbonc.dialects import Secrets, build_request, get_dialect

INDEX, MESSAGES = world()


def _cases():
    for test_id, provider, options in DIALECTS:
        for event in rendered_events(provider, options):
            yield pytest.param(provider, options, event, id=f"{test_id}-{event}")


@pytest.mark.parametrize(("provider", "options", "event"), list(_cases()))
def test_rendered_request(provider, options, event, snapshot) -> None:
    dialect = get_dialect(provider, **options)
    request = build_request(dialect, MESSAGES[event], INDEX, secrets=Secrets(SECRETS[provider]), now_ms=FIXED_NOW_MS)
    assert {"method": request.method, "headers": request.headers, "body": request.body.decode()} == snapshot
