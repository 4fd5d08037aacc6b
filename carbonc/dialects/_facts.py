"""A message resolved for rendering: its entity as of the event, the payment and order around
it, the clock; and the helpers every dialect formats with — provider IDs derived from the plan's
IDs, money as exact decimal text, and times in each provider's form."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import msgspec

from carbonc.domain.units import exponent
from carbonc.errors import ExecutionError

if TYPE_CHECKING:
    from carbonc.plan.records import Entity, Message


class Lookup(Protocol):
    """Where a dialect finds entities: by ID, and an order's captured payment (an order does not
    point at its payment, but `order.paid` reports both)."""

    def get(self, entity_id: str) -> Entity | None: ...

    def payment_of(self, order_id: str) -> Entity | None: ...

    def real(self, entity_id: str) -> Mapping[str, str] | None:
        """The IDs a real gateway's sandbox gave the entity, by name (`id`, `charge`, …); None
        when it is simulated."""
        ...


#: How many decoded entities an `EntityIndex` keeps at hand (entities are frozen: shared safely).
_RECENT_ENTITIES = 4096


class EntityIndex:
    """A `Lookup` over a plan's entities, held in memory as MessagePack: a third of the size of
    the objects (a run holds every entity of its plan), decoded in about a microsecond."""

    def __init__(self, entities: Iterable[Entity] = ()):
        from carbonc.plan.records import Entity

        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Entity).decode
        self._by_id: dict[str, bytes] = {}
        #: The entities decoded lately: a message's entity, its payment and its order are looked
        #: up again for its other messages, which come close together in a plan.
        self._recent: dict[str, Entity] = {}
        self._paid: dict[str, str] = {}
        self._real: dict[str, dict[str, str]] = {}
        #: Each entity's root, kept as it is added after its parent (as a plan lists them): a
        #: message's tree is found by one lookup, not by decoding each of its ancestors.
        self._roots: dict[str, str] = {}
        for entity in entities:
            self.add(entity)

    def add(self, entity: Entity) -> None:
        self._by_id[entity.id] = self._encode(entity)
        self._recent.pop(entity.id, None)
        parent = entity.parent
        if parent is None:
            self._roots[entity.id] = entity.id
        elif parent in self._roots:
            self._roots[entity.id] = self._roots[parent]
        if entity.kind == "payment" and entity.parent is not None and any(
                t.state == "captured" for t in entity.transitions):
            self._paid[entity.parent] = entity.id

    def get(self, entity_id: str) -> Entity | None:
        entity = self._recent.get(entity_id)
        if entity is None:
            found = self._by_id.get(entity_id)
            if found is None:
                return None
            if len(self._recent) >= _RECENT_ENTITIES:
                self._recent.clear()  # bounded; cheaper than keeping them in order of use
            entity = self._recent[entity_id] = self._decode(found)
        return entity

    def payment_of(self, order_id: str) -> Entity | None:
        payment = self._paid.get(order_id)
        return None if payment is None else self.get(payment)

    def set_real(self, entity_id: str, ids: Mapping[str, str]) -> None:
        """Record the IDs the real gateway gave `entity_id` (see `Lookup.real`)."""
        self._real[entity_id] = dict(ids)

    def real(self, entity_id: str) -> Mapping[str, str] | None:
        return self._real.get(entity_id)

    def __iter__(self) -> Iterator[Entity]:
        """Every entity, in the order added (the plan's)."""
        for found in self._by_id.values():
            yield self._decode(found)

    def root_of(self, entity_id: str) -> str | None:
        """The entity at the top of `entity_id`'s parents (a refund's order), None if unknown."""
        root = self._roots.get(entity_id)
        if root is not None:
            return root
        entity = self.get(entity_id)
        while entity is not None and entity.parent is not None and entity.parent in self._by_id:
            entity = self.get(entity.parent)
        return None if entity is None else entity.id

    def __len__(self) -> int:
        return len(self._by_id)


class Entities(Protocol):
    """A plan's entities kept elsewhere (a saved plan's on-disk index, `plan.index.PlanIndex`)."""

    def get(self, entity_id: str) -> Entity | None: ...

    def payment_of(self, order_id: str) -> Entity | None: ...

    def root_of(self, entity_id: str) -> str | None: ...

    def __iter__(self) -> Iterator[Entity]: ...

    def __len__(self) -> int: ...


class IndexedLookup:
    """A `Lookup` over `entities` kept elsewhere, with the IDs a real gateway gave them in this run
    (the entities may serve several runs; those IDs are one run's)."""

    def __init__(self, entities: Entities):
        self._entities = entities
        self.get, self.payment_of, self.root_of = entities.get, entities.payment_of, entities.root_of
        self._real: dict[str, dict[str, str]] = {}

    def set_real(self, entity_id: str, ids: Mapping[str, str]) -> None:
        """Record the IDs the real gateway gave `entity_id` (see `Lookup.real`)."""
        self._real[entity_id] = dict(ids)

    def real(self, entity_id: str) -> Mapping[str, str] | None:
        return self._real.get(entity_id)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._entities)

    def __len__(self) -> int:
        return len(self._entities)


class Facts:
    """What `message` reports, resolved: the `entity`, the `state` it entered (with the failure
    `reason` and `code`) and the one it left (`previous`), the `payment` and `order` around it
    (None where there is none), and the clock: `now_ms` is the send time, `origin_ms` the epoch
    time of virtual time 0."""

    __slots__ = ("_lookup", "code", "entity", "message", "now_ms", "order", "origin_ms", "payment", "previous",
                 "reason", "state")

    def __init__(self, message: Message, lookup: Lookup, now_ms: int, origin_ms: int):
        entity = lookup.get(message.entity)
        if entity is None:
            raise ExecutionError(f"message `{message.id}` is about `{message.entity}`, which the plan does not define")
        kind, _, state = message.event.partition(".")
        if entity.kind != kind:
            raise ExecutionError(f"message `{message.id}` reports `{message.event}` about a {entity.kind}")
        self.message, self.entity, self.now_ms, self.origin_ms = message, entity, now_ms, origin_ms
        self._lookup = lookup
        # The transition reported: the last one into the event's state by the event's time (a
        # timed-out payment reports `payment.failed`). A payload is a snapshot as of the event,
        # never the entity's final state.
        self.state, self.previous, self.reason, self.code = state, None, None, None
        wanted = ("failed", "timed_out") if message.event == "payment.failed" else (state,)
        before = None
        for t in entity.transitions:
            if t.at_ms <= message.at_ms and t.state in wanted:
                self.state, self.previous, self.reason, self.code = t.state, before, t.reason, t.code
            before = t.state
        payment = order = None
        if kind == "payment":
            payment = entity
            order = lookup.get(entity.parent) if entity.parent else None
        elif kind in ("refund", "dispute"):
            payment = lookup.get(entity.parent) if entity.parent else None
            order = lookup.get(payment.parent) if payment is not None and payment.parent else None
        elif kind == "order":
            order, payment = entity, lookup.payment_of(entity.id)
        self.payment, self.order = payment, order

    def real_id(self, entity_id: str | None, name: str = "id") -> str | None:
        """The ID named `name` a real gateway gave `entity_id` (None: simulated, or no such ID)."""
        if entity_id is None:
            return None
        found = self._lookup.real(entity_id)
        return None if found is None else found.get(name)

    @property
    def event_ms(self) -> int:
        """When the event happened, epoch ms."""
        return self.origin_ms + self.message.at_ms

    def created_ms(self, entity: Entity) -> int:
        """When `entity` was created, epoch ms."""
        return self.origin_ms + entity.transitions[0].at_ms

    def reached_ms(self, entity: Entity, state: str) -> int | None:
        """When `entity` first entered `state` by the event's time, epoch ms (None: it had not)."""
        for t in entity.transitions:
            if t.at_ms > self.message.at_ms:
                break
            if t.state == state:
                return self.origin_ms + t.at_ms
        return None

    @property
    def order_id(self) -> str | None:
        if self.order is not None:
            return self.order.id
        return self.payment.parent if self.payment is not None else None


# Money: integer minor units in, exact decimal text out. Nothing goes through float.

def major_text(minor: int, currency: str) -> str:
    """`17000, "INR"` -> `"170.00"`; `500, "JPY"` -> `"500"`; `1250, "KWD"` -> `"1.250"`."""
    places = exponent(currency)
    if places == 0:
        return str(minor)
    sign, minor = ("-", -minor) if minor < 0 else ("", minor)
    whole, frac = divmod(minor, 10 ** places)
    return f"{sign}{whole}.{frac:0{places}d}"


def major(minor: int, currency: str) -> msgspec.Raw:
    """The amount as a JSON number in major units, written exactly (`170.00`, never `170.0`)."""
    return msgspec.Raw(major_text(minor, currency).encode())


# IDs: derived from the plan's IDs, so a plan renders the same on every run and copies of one
# event carry the same IDs.

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TABLE = bytes(_BASE62[b % 62] for b in range(256))


# Kept for the entities of recent messages: a payment's IDs are derived again for each message
# about its order (dispute-spike: two in three derivations were repeats, 0.4 µs each).
@functools.lru_cache(maxsize=4096)
def _digest(plan_id: str, salt: str, size: int) -> bytes:
    return hashlib.blake2b(f"{salt}\x1f{plan_id}".encode(), digest_size=size).digest()


def suffix(plan_id: str) -> str:
    """The random part of a plan ID (`pay_8GbsNZNokYbb8c` -> `8GbsNZNokYbb8c`)."""
    return plan_id.partition("_")[2] or plan_id


def chars(plan_id: str, length: int, salt: str) -> str:
    """`length` base62 characters derived from `plan_id`, distinct per `salt`."""
    return _digest(plan_id, salt, length).translate(_TABLE).decode("ascii")


def long_id(plan_id: str, length: int, salt: str) -> str:
    """The plan ID's own characters, extended to `length` with derived ones (Stripe's 24)."""
    own = suffix(plan_id)
    return own + chars(plan_id, length - len(own), salt) if length > len(own) else own[:length]


def digits(plan_id: str, length: int, salt: str) -> int:
    """A `length`-digit number derived from `plan_id` (Cashfree's numeric IDs)."""
    low: int = 10 ** (length - 1)  # `length` is at least 1: an int, never a fraction
    return low + int.from_bytes(_digest(plan_id, salt, 16), "big") % (9 * low)


def hex_id(plan_id: str, length: int, salt: str) -> str:
    """`length` lowercase hex digits derived from `plan_id` (Juspay's IDs)."""
    return _digest(plan_id, salt, (length + 1) // 2).hex()[:length]


# Times.

def iso_utc(ms: int) -> str:
    """`2024-01-24T09:25:21Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def iso_utc_ms(ms: int) -> str:
    """`2024-01-24T09:25:21.123Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


_IST_S = 19_800  # +05:30


def iso_ist(ms: int) -> str:
    """`2024-04-17T16:43:01+05:30` (India Standard Time has no daylight saving)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+05:30", time.gmtime(ms // 1000 + _IST_S))


def humanize(reason: str | None) -> str:
    """`payment_declined` -> `Payment declined`."""
    return reason.replace("_", " ").capitalize() if reason else ""
