"""What every dialect shares: the rendered `Request`, redacted `Secrets`, the signature modes and
their verdicts, and the `Dialect` base class that turns a message into a signed request."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from carbonc.dialects._facts import Facts, Lookup
from carbonc.domain.vocabulary import NEUTRAL_EVENTS, SIGNATURE_MODES
from carbonc.errors import ExecutionError, InternalError

if TYPE_CHECKING:
    from carbonc.plan.records import Message

#: Modes every dialect can produce.
BASE_MODES: frozenset[str] = frozenset({"valid", "missing", "corrupted", "wrong_secret"})

#: The handler answer each mode should get when the provider does not change it (`future` does:
#: Stripe's verifier accepts a timestamp from the future, Standard Webhooks' rejects it).
VERDICTS: Mapping[str, str] = {
    "valid": "accept", "rotation": "accept", "missing": "reject", "corrupted": "reject",
    "wrong_secret": "reject", "stale": "reject", "future": "reject", "old_secret": "reject",
    "reserialized": "reject", "ms_vs_s": "reject", "bad_basic_auth": "reject",
}

#: Headers whose value is (or encodes) a secret: a `Request`'s repr hides them.
SENSITIVE_HEADERS = frozenset({"authorization"})

_HEX = "0123456789abcdef"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class Request(NamedTuple):
    """One webhook request, ready to send: `method`, `headers` (wire names and values) and the
    exact `body` bytes. Its repr hides credentials."""

    method: str
    headers: dict[str, str]
    body: bytes

    def storable_headers(self) -> dict[str, str]:
        """The headers without those that hold a secret: what may be recorded."""
        return {k: v for k, v in self.headers.items() if k.lower() not in SENSITIVE_HEADERS}

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k.lower() in SENSITIVE_HEADERS else v) for k, v in self.headers.items()}
        return f"Request(method={self.method!r}, headers={shown!r}, body=<{len(self.body)} bytes>)"


class Stamp(NamedTuple):
    """What a signature is about besides the body: the event's id (shared by its copies and
    retries) and the send time, epoch ms."""

    event_id: str
    now_ms: int


class Secrets:
    """The webhook secret a handler verifies with (`current`), and optionally the one it used
    before a rotation (`previous`, for `old_secret` and `rotation`; derived from `current` when
    not given). Never shown: repr and str say only which are set.

    For Juspay the secret is `username:password`, the Basic-auth credentials.
    """

    __slots__ = ("_current", "_keys", "_previous")

    def __init__(self, current: str, previous: str | None = None):
        if not current:
            raise ExecutionError("the webhook secret is empty")
        self._current = current
        self._previous = previous or None
        self._keys: dict[str, Keys] = {}

    def __repr__(self) -> str:
        previous = "<redacted>" if self._previous else "None"
        return f"Secrets(current=<redacted>, previous={previous})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would write the secrets out in the clear.
        raise TypeError("Secrets cannot be pickled")

    def keys(self, dialect: Dialect) -> Keys:
        """The signing keys `dialect` needs, prepared once per dialect."""
        found = self._keys.get(dialect.name)
        if found is None:
            current = dialect.key(self._current)
            try:
                previous = dialect.key(self._previous or dialect.derive_secret(self._current, "previous"))
            except ExecutionError as exc:
                # The dialect speaks of "the webhook secret": say which one was malformed.
                raise ExecutionError(f"--webhook-previous-secret: {exc}") from None
            wrong = dialect.key(dialect.derive_secret(self._current, "wrong"))
            found = self._keys[dialect.name] = Keys(current, previous, wrong)
        return found


class Keys(NamedTuple):
    """Prepared keys: the current secret's, the pre-rotation one's, and one the handler never had."""

    current: Any
    previous: Any
    wrong: Any

    def __repr__(self) -> str:
        return "Keys(<redacted>)"


#: HMAC's inner and outer pads (RFC 2104) as translation tables: `key.translate` XORs every byte.
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class HmacKey:
    """An HMAC-SHA256 key whose two padded key blocks are hashed once (RFC 2104): each signature
    continues from copies of those two SHA-256 states, all in C (a ~1 KB body: 1.1 µs; through
    `hmac`'s own copy, whose methods are Python, 1.5; from the key each time, 2.1). Tests check
    it against `hmac` for keys of every length around the block size."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes):
        if len(key) > 64:  # SHA-256's block: a longer key is hashed first
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def digest(self, data: bytes) -> bytes:
        """The HMAC-SHA256 of `data` under this key."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __repr__(self) -> str:
        return "HmacKey(<redacted>)"


def derived_bytes(secret: str, label: str) -> bytes:
    """32 bytes derived one-way from `secret` (a stand-in secret that reveals nothing of it)."""
    return hashlib.sha256(f"carbonc/{label}\x1f{secret}".encode()).digest()


def flip_hex(text: str) -> str:
    """`text` with its first hex digit changed: the same length and alphabet, a different value."""
    return _HEX[(_HEX.index(text[0]) + 1) % 16] + text[1:]


def flip_b64(text: str) -> str:
    """`text` with its first Base64 character changed. The first, not the last: the last one's low
    bits are padding, which decoders ignore, so changing it may not change the bytes."""
    return _B64[(_B64.index(text[0]) + 1) % 64] + text[1:]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def reserialize(body: bytes) -> bytes:
    """The body as a framework re-encodes it after parsing: `json.loads` then `json.dumps`
    (spaces after separators, `170.00` becomes `170.0`, non-ASCII escaped). A signature over the
    original bytes must not verify over these."""
    return json.dumps(json.loads(body)).encode()


class Dialect:
    """How one provider sends webhooks: its event names, envelope, headers and signature.

    A subclass sets `name`, `modes` (the signature modes it can produce), `not_applicable` (why
    each other mode cannot be), `verdict_overrides` (verdicts that differ from `VERDICTS`),
    `events` (neutral event -> its event name) and `unsupported` (neutral events it has no
    webhook for, with the warning to show), and implements `key`, `derive_secret`, `payload` and
    `sign`.
    """

    name: ClassVar[str]
    #: What in a handler's answer (lowercased) names this provider: its name or its own headers.
    named_by: ClassVar[re.Pattern[str]]
    modes: ClassVar[frozenset[str]]
    not_applicable: ClassVar[Mapping[str, str]] = MappingProxyType({})
    verdict_overrides: ClassVar[Mapping[str, str]] = MappingProxyType({})
    #: Neutral event -> the provider's event name.
    events: Mapping[str, str]
    #: Neutral event -> why the provider sends nothing for it.
    unsupported: Mapping[str, str]

    #: Whether the signature covers a time (`signed_at_ms`): only then can a verifier refuse a replay.
    signs_time: ClassVar[bool] = False
    #: Headers that carry the secret itself (Juspay's Basic auth): never stored, so a replay of
    #: the stored requests rebuilds them from the secret given again.
    credential_headers: ClassVar[frozenset[str]] = frozenset()

    #: How far `stale` and `future` timestamps are from the send time: well past the 5-minute
    #: tolerance of Stripe's and Standard Webhooks' verifiers, so a slow handler still judges them.
    skew_ms: int = 600_000

    def __init__(self) -> None:
        missing = set(NEUTRAL_EVENTS) - set(self.events) - set(self.unsupported)
        if missing:  # every neutral event is either rendered or reported as unsupported
            raise InternalError(f"the {self.name} dialect has no mapping for {', '.join(sorted(missing))}")

    def __repr__(self) -> str:
        return f"<dialect {self.name}>"

    def verdict(self, mode: str) -> str:
        """The handler answer a message signed in `mode` should get from this provider's handler."""
        return self.verdict_overrides.get(mode) or VERDICTS[mode]

    def expected(self, message: Message) -> str:
        """The verdict for `message`: the plan's, or this provider's where the plan leaves it open."""
        return message.verdict or self.verdict(message.signature)

    def ref(self, kind: str, plan_id: str) -> str:
        """The ID this provider gives the entity `plan_id` of `kind` in its webhooks, which is
        what a merchant stores and a probe asks about (`{{ payment.ref }}`)."""
        return plan_id

    def skip_reason(self, message: Message, lookup: Lookup) -> str | None:
        """Why this provider would send nothing for `message` (None: it is sent)."""
        return self.unsupported.get(message.event)

    def request(self, message: Message, lookup: Lookup, *, secrets: Secrets, now_ms: int, attempt: int = 1,
               origin_ms: int | None = None) -> Request:
        """See `carbonc.dialects.build_request`."""
        reason = self.skip_reason(message, lookup)
        if reason is not None:
            raise ExecutionError(reason)
        mode = message.signature
        if mode not in self.modes:
            raise ExecutionError(mode_error(self, mode))
        facts = Facts(message, lookup, now_ms, now_ms - message.send_ms if origin_ms is None else origin_ms)
        body = self.payload(facts)
        headers = self.sign(body, Stamp(message.id, now_ms), mode, secrets.keys(self), attempt)
        if mode == "reserialized":
            body = reserialize(body)
        return Request("POST", headers, body)

    def sign_again(self, body: bytes, event_id: str, mode: str, *, secrets: Secrets, now_ms: int,
                   attempt: int = 1) -> dict[str, str]:
        """The headers that sign `body` — bytes rendered before, such as a past run's stored ones —
        in `mode` for the event `event_id`, as if sent at `now_ms`: what a gateway's "resend" does.

        Raises ExecutionError for a mode this provider cannot produce, and for `reserialized`,
        whose signature covers bytes other than the body sent (they are not kept)."""
        if mode not in self.modes:
            raise ExecutionError(mode_error(self, mode))
        if mode == "reserialized":
            raise ExecutionError("a `reserialized` message's signature covers the body before it was re-encoded, "
                                 "which is not kept: it cannot be signed again")
        return self.sign(body, Stamp(event_id, now_ms), mode, secrets.keys(self), attempt)

    def signed_at_ms(self, headers: Mapping[str, str]) -> int | None:
        """The time (epoch ms) a request's signature covers, read from its `headers`; None when the
        provider signs no time (there is then no replay window) or the headers carry none."""
        return None

    # What a subclass implements.

    def key(self, secret: str) -> Any:
        """The signing key for `secret` (errors must not quote the secret)."""
        raise NotImplementedError

    def derive_secret(self, secret: str, label: str) -> str:
        """A secret of the same form as `secret`, derived one-way from it: the `wrong` one, or the
        `previous` one when the caller gave none."""
        raise NotImplementedError

    def payload(self, facts: Facts) -> bytes:
        """The body: the provider's envelope around the entity as of the event."""
        raise NotImplementedError

    def sign(self, body: bytes, stamp: Stamp, mode: str, keys: Keys, attempt: int) -> dict[str, str]:
        """The headers for `body` signed in `mode`, for the event and time of `stamp`."""
        raise NotImplementedError


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of the header `name` in `headers`, its name in any case (None if absent)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def mode_error(dialect: Dialect, mode: str) -> str:
    """The message for a signature mode that `dialect` cannot produce."""
    if mode not in SIGNATURE_MODES:
        return f"unknown signature mode `{mode}`"
    why = dialect.not_applicable.get(mode, "")
    return f"signature mode `{mode}` does not apply to `{dialect.name}`" + (f": {why}" if why else "")
