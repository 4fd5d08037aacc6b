"""Standard Webhooks (the scheme Svix uses), carrying the neutral events as they are:
`{"type":"payment.captured","timestamp":"…Z","data":{…}}` with `webhook-id` (the same on every
retry and copy), `webhook-timestamp` (unix seconds) and `webhook-signature`
(space-separated `v1,<base64>` values of HMAC-SHA256 over `f"{id}.{timestamp}.{body}"`, keyed
with the bytes the `whsec_…` secret encodes).

The verifier rejects timestamps more than 5 minutes away in either direction, so `stale`,
`future` and `ms_vs_s` (a timestamp in milliseconds) are all rejected; `rotation` sends two
`v1` values and passes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from carbonc.dialects._base import (
    BASE_MODES,
    Dialect,
    HmacKey,
    Keys,
    Stamp,
    b64,
    derived_bytes,
    flip_b64,
    header,
)
from carbonc.dialects._facts import Facts, chars, iso_utc_ms
from carbonc.domain.vocabulary import NEUTRAL_EVENTS
from carbonc.errors import ExecutionError

_PARENT_FIELD = {"payment": "order_id", "refund": "payment_id", "dispute": "payment_id"}

_ENCODE = msgspec.json.Encoder().encode


class Standard(Dialect):
    """Standard Webhooks: every neutral event, under its own name."""

    name = "standard"
    named_by = re.compile(r"standard ?webhooks|svix|(?<!x-)webhook-(id|signature|timestamp)")
    modes = BASE_MODES | {"stale", "future", "old_secret", "rotation", "reserialized", "ms_vs_s"}
    signs_time = True
    not_applicable = MappingProxyType({"bad_basic_auth": "only juspay authenticates with HTTP Basic auth"})

    def __init__(self) -> None:
        self.events = {e: e for e in NEUTRAL_EVENTS}
        self.unsupported = {}
        super().__init__()

    def key(self, secret: str) -> HmacKey:
        encoded = secret.removeprefix("whsec_")
        try:
            # Strict: a typo in the secret must be an error, not silently a different key.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ExecutionError("the standard webhooks secret must be `whsec_` followed by Base64") from None
        if not key:
            raise ExecutionError("the standard webhooks secret encodes no key")
        return HmacKey(key)

    def derive_secret(self, secret: str, label: str) -> str:
        return "whsec_" + b64(derived_bytes(secret, label))

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        msg_id = f"msg_{chars(stamp.event_id, 27, 'standard')}"
        skew = {"stale": -1, "future": 1}.get(mode, 0) * self.skew_ms
        # ms_vs_s: the timestamp written (and signed) in milliseconds instead of seconds.
        timestamp = str(stamp.now_ms if mode == "ms_vs_s" else (stamp.now_ms + skew) // 1000)
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": timestamp}
        if mode == "missing":
            return headers
        signed = f"{msg_id}.{timestamp}.".encode() + body
        key = {"wrong_secret": keys.wrong, "old_secret": keys.previous}.get(mode, keys.current)
        signature = b64(key.digest(signed))
        if mode == "corrupted":
            signature = flip_b64(signature)
        value = f"v1,{signature}"
        if mode == "rotation":
            value = f"v1,{b64(keys.previous.digest(signed))} {value}"
        headers["webhook-signature"] = value
        return headers

    def signed_at_ms(self, headers: Mapping[str, str]) -> int | None:
        value = header(headers, "webhook-timestamp") or ""
        return int(value) * 1000 if value.isdigit() else None

    def payload(self, f: Facts) -> bytes:
        e = f.entity
        data: dict[str, Any] = {"id": e.id, "object": e.kind, "status": f.state, "amount": e.amount_minor,
                                "currency": e.currency}
        if e.method:
            data["method"] = e.method
        parent = _PARENT_FIELD.get(e.kind)
        if parent:
            data[parent] = e.parent
        if e.kind == "order" and f.payment is not None:
            data["payment_id"] = f.payment.id
        if f.reason or f.code:
            data["failure"] = {"reason": f.reason, "code": f.code}
        if e.attrs:
            data["attrs"] = dict(sorted(e.attrs.items()))
        data["created_at"] = iso_utc_ms(f.created_ms(e))
        return _ENCODE({"type": f.message.event, "timestamp": iso_utc_ms(f.event_ms), "data": data})
