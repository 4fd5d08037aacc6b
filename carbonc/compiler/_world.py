"""The world a plan builds: entities and their transitions, held in compact columns so a
million orders fit in memory (about 20 bytes per entity once built, and 16 per transition)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import NamedTuple

from carbonc.domain.vocabulary import KINDS, PARENT_KINDS, STATES
from carbonc.errors import InternalError
from carbonc.plan.records import ENTITY_ATTRS

#: The neutral webhook event a transition into (kind, state) produces, if any.
EVENTS: dict[tuple[str, str], str] = {
    ("order", "paid"): "order.paid",
    ("payment", "authorized"): "payment.authorized",
    ("payment", "captured"): "payment.captured",
    ("payment", "failed"): "payment.failed",
    ("payment", "timed_out"): "payment.failed",
    ("payment", "pending"): "payment.pending",
    ("refund", "created"): "refund.created",
    ("refund", "processed"): "refund.processed",
    ("refund", "failed"): "refund.failed",
    ("dispute", "created"): "dispute.created",
    ("dispute", "under_review"): "dispute.under_review",
    ("dispute", "won"): "dispute.won",
    ("dispute", "lost"): "dispute.lost",
    ("dispute", "closed"): "dispute.closed",
    ("settlement", "processed"): "settlement.processed",
    ("settlement", "failed"): "settlement.failed",
    ("mandate", "confirmed"): "mandate.confirmed",
    ("mandate", "rejected"): "mandate.rejected",
    ("mandate", "cancelled"): "mandate.cancelled",
    ("mandate", "paused"): "mandate.paused",
}

KIND_CODE = {k: i for i, k in enumerate(KINDS)}
STATE_CODE = {k: {s: i for i, s in enumerate(STATES[k])} for k in KINDS}

#: A table for `bytes.translate`, by byte value: that byte to 1, every other to 0 (a byte column
#: translated by `ONLY[code]` says which of its items are `code`, for `itertools.compress`).
ONLY = [bytes(value) + b"\x01" + bytes(255 - value) for value in range(256)]

#: Neutral ID prefixes (the simulated gateway speaks Razorpay, whose IDs look like these).
ID_PREFIX = {"order": "order", "payment": "pay", "refund": "rfnd", "dispute": "disp",
             "settlement": "setl", "mandate": "token"}


class Table:
    """Entities of one kind, one column per attribute; an entity is its row index."""

    def __init__(self, kind: str):
        self.kind = kind
        # Only kinds that have a parent, or an attribute, hold a column of them (a million
        # orders' would be 4 MB of -1, and as much of zeros).
        self.has_parent, self.has_attr = kind in PARENT_KINDS, kind in ENTITY_ATTRS
        self.parent = array("i")
        self.amount = array("q")
        self.currency = array("H")
        self.method = array("H")
        self.state = array("B")
        self.last_t = array("q")
        self.attr = array("H")
        # Payments only: the amount refunded so far, when captured (-1: not captured), and
        # whether settled. Orders only: their latest payment (-1: none).
        self.reserved = array("q")
        self.captured = array("q")
        self.settled = array("B")
        self.payment = array("i")
        #: 1 for an entity moved at a time before one of its earlier transitions: the only kind
        #: of entity whose transitions, in the order they were made, are not in time order.
        self.late = bytearray()

    def __len__(self) -> int:
        return len(self.state)


class Step(NamedTuple):
    """One step of `World.move_each`: its `entities` of `kind` enter `state`, with a failure
    `reason` and `code` if any."""

    kind: str
    entities: Sequence[int]
    state: str
    reason: str | None = None
    code: str | None = None


class World:
    """Every entity, every transition, and the strings they refer to (interned)."""

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self._string_ids: dict[str, int] = {"": 0}
        self.tables = {k: Table(k) for k in KINDS}
        self.tr_t = array("q")
        self.tr_kind = array("B")
        self.tr_idx = array("i")
        self.tr_state = array("B")
        #: A transition's failure reason and code, as one index into `notes` (0: neither).
        self.tr_note = array("H")
        self.notes: list[tuple[str | None, str | None]] = [(None, None)]
        self._note_ids: dict[tuple[str | None, str | None], int] = {(None, None): 0}

    def intern(self, text: str | None) -> int:
        if not text:
            return 0
        found = self._string_ids.get(text)
        if found is None:
            found = self._string_ids[text] = len(self.strings)
            self.strings.append(text)
        return found

    def add(self, kind: str, *, parent: int, amount: int, currency: str, method: str | None, at: int,
            state: str, attr: str | None = None) -> int:
        """Create an entity in `state` at time `at`; return its index."""
        t = self.tables[kind]
        idx = len(t.state)
        code = STATE_CODE[kind][state]
        strings = self._string_ids
        if t.has_parent:
            t.parent.append(parent)
        elif parent >= 0:
            raise InternalError(f"a {kind} has no parent")  # pragma: no cover
        t.amount.append(amount)
        t.currency.append(strings.get(currency) or self.intern(currency))
        t.method.append((strings.get(method) or self.intern(method)) if method else 0)
        t.state.append(code)
        t.last_t.append(at)
        t.late.append(0)
        if t.has_attr:
            t.attr.append(self.intern(attr) if attr else 0)
        if kind == "payment":
            t.reserved.append(0)
            t.captured.append(-1)
            t.settled.append(0)
        elif kind == "order":
            t.payment.append(-1)
        self.tr_t.append(at)
        self.tr_kind.append(KIND_CODE[kind])
        self.tr_idx.append(idx)
        self.tr_state.append(code)
        self.tr_note.append(0)
        return idx

    def add_many(self, kind: str, *, parents: Iterable[int] | None, amounts: Iterable[int], currencies: Iterable[int],
                 methods: Iterable[int], ats: Sequence[int], state: str) -> range:
        """Create an entity in `state` at each time of `ats`, as `add` would one by one, with
        their parents, amounts and strings (as codes from `intern`) given as columns; return
        their indexes. A million orders made one `add` at a time took a second."""
        t = self.tables[kind]
        if t.has_attr:
            raise InternalError(f"a {kind} is made with its attribute")  # pragma: no cover
        first, n = len(t.state), len(ats)
        code = STATE_CODE[kind][state]
        if t.has_parent:
            t.parent.extend(iter(parents) if parents is not None else _same(t.parent, -1, n))
        elif parents is not None:
            raise InternalError(f"a {kind} has no parent")  # pragma: no cover
        # `iter`: an array extends an array only with one of its own type.
        t.amount.extend(iter(amounts))
        t.currency.extend(iter(currencies))
        t.method.extend(iter(methods))
        t.state.extend(_same(t.state, code, n))
        t.last_t.extend(iter(ats))
        t.late.extend(bytes(n))
        if kind == "payment":
            t.reserved.extend(_same(t.reserved, 0, n))
            t.captured.extend(_same(t.captured, -1, n))
            t.settled.extend(_same(t.settled, 0, n))
        elif kind == "order":
            t.payment.extend(_same(t.payment, -1, n))
        if not len(t.state) == len(t.amount) == len(t.currency) == len(t.method) == len(t.last_t) == first + n:
            raise InternalError(f"{kind}s were made from columns of different lengths")  # pragma: no cover
        self.tr_t.extend(iter(ats))
        self.tr_kind.extend(_same(self.tr_kind, KIND_CODE[kind], n))
        self.tr_idx.extend(range(first, first + n))
        self.tr_state.extend(_same(self.tr_state, code, n))
        self.tr_note.extend(_same(self.tr_note, 0, n))
        return range(first, first + n)

    def move_each(self, ats: Sequence[int], steps: Sequence[Step]) -> None:
        """For each time `ats[i]`, every step's entity `i` enters the step's state at that time,
        step after step, as `move` would one by one: transitions for `i` before those for `i + 1`.
        A step's entities are distinct, and differ from the other steps' except at the same `i`.
        Three moves a payment, one at a time, took 1.5 s for a million orders."""
        n = len(ats)
        if not steps or not n:
            return
        width = len(steps)
        if any(len(step.entities) != n for step in steps):
            raise InternalError("moves of different lengths")  # pragma: no cover
        self.tr_t.extend(chain.from_iterable(zip(*[ats] * width, strict=True)) if width > 1 else iter(ats))
        self.tr_kind.extend(bytes(KIND_CODE[step.kind] for step in steps) * n)
        self.tr_idx.extend(chain.from_iterable(zip(*[step.entities for step in steps], strict=True)) if width > 1
                           else iter(steps[0].entities))
        self.tr_state.extend(bytes(STATE_CODE[step.kind][step.state] for step in steps) * n)
        self.tr_note.extend(array("H", [self._note(step.reason or None, step.code or None)
                                        if step.reason or step.code else 0 for step in steps]) * n)
        for step in steps:
            t = self.tables[step.kind]
            code, states, last_t = STATE_CODE[step.kind][step.state], t.state, t.last_t
            for idx, at in zip(step.entities, ats, strict=True):
                states[idx] = code
                if at > last_t[idx]:
                    last_t[idx] = at
                elif at < last_t[idx]:
                    t.late[idx] = 1
            if step.state == "captured" and step.kind == "payment":
                captured = t.captured
                for idx, at in zip(step.entities, ats, strict=True):
                    captured[idx] = at

    def move(self, kind: str, idx: int, at: int, state: str, reason: str | None = None,
             code: str | None = None) -> None:
        """Record that entity `idx` entered `state` at `at`."""
        t = self.tables[kind]
        state_code = STATE_CODE[kind][state]
        t.state[idx] = state_code
        if state == "captured" and kind == "payment":
            t.captured[idx] = at
        if at > t.last_t[idx]:
            t.last_t[idx] = at
        elif at < t.last_t[idx]:
            t.late[idx] = 1
        self.tr_t.append(at)
        self.tr_kind.append(KIND_CODE[kind])
        self.tr_idx.append(idx)
        self.tr_state.append(state_code)
        self.tr_note.append(self._note(reason or None, code or None) if reason or code else 0)

    def _note(self, reason: str | None, code: str | None) -> int:
        found = self._note_ids.get((reason, code))
        if found is None:
            found = self._note_ids[(reason, code)] = len(self.notes)
            self.notes.append((reason, code))
        return found

    def drop_bookkeeping(self) -> None:
        """Free the columns only building the world reads (each entity's last transition time, a
        payment's refunded and capture amounts and settled flag, an order's latest payment): 37
        bytes an order, and a plan, once built, is only read."""
        for table in self.tables.values():
            for column in (table.last_t, table.reserved, table.captured, table.settled, table.payment):
                del column[:]

    def state_of(self, kind: str, idx: int) -> str:
        return STATES[kind][self.tables[kind].state[idx]]

    def transitions(self) -> int:
        return len(self.tr_t)


def _same(column: array[int], value: int, n: int) -> array[int]:
    """`n` times `value`, as an array like `column` to extend it with: copied in bulk, where an
    array extended from `repeat` took an item at a time (0.4 s of a million orders' compile)."""
    return array(column.typecode, [value]) * n
