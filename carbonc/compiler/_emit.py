"""Turns a compiled world and schedule into plan records: the summary, and the entities and
messages in batches of columns (which `plan.saved.write_plan` encodes in bulk) or one at a time."""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress, islice, repeat
from operator import attrgetter, itemgetter, ne, sub
from typing import Any, Literal, NamedTuple

from carbonc.compiler._schedule import DEFAULT_VERDICTS, Policies, Schedule
from carbonc.compiler._world import KIND_CODE, World
from carbonc.compiler.ids import Ids
from carbonc.domain import vocabulary
from carbonc.domain.vocabulary import Verdict
from carbonc.errors import InternalError
from carbonc.plan.records import DETAILED_KINDS, ENTITY_ATTRS, Entity, Header, Message, Summary, Transition


def summarize(world: World, schedule: Schedule) -> Summary:
    """Count entities by kind and final state, messages by event, and faults."""
    entities: dict[str, dict[str, int]] = {}
    for kind in vocabulary.KINDS:
        table = world.tables[kind]
        if len(table):
            entities[kind] = {vocabulary.STATES[kind][code]: n
                              for code, n in _count_bytes(table.state, len(vocabulary.STATES[kind])).items()}
    details: dict[str, dict[str, int]] = {}
    for kind in DETAILED_KINDS:
        attr = ENTITY_ATTRS[kind]
        table = world.tables[kind]
        counts = Counter(table.attr)
        if counts:
            details[kind] = {f"{attr} {world.strings[code]}": n
                             for code, n in sorted(counts.items(), key=lambda kv: world.strings[kv[0]]) if code}
    messages = {schedule.events[code]: n for code, n in _count_bytes(schedule.event, len(schedule.events)).items()}
    faults: Counter[str] = Counter()
    deliveries = 0
    # Counted by (policy, mode, dropped) in bulk: the same for every message of a kind.
    for (pid, mode, dropped), n in sorted(_count_triples(schedule.policy, schedule.mode, schedule.dropped).items()):
        copies = schedule.repeats[pid]
        faults["duplicates"] += (copies - 1) * n
        if dropped:
            faults["dropped"] += n
        else:
            deliveries += copies * n
        name = schedule.modes[mode]
        if name in vocabulary.FORGERIES:
            # The attacker's copy goes out beside the genuine ones, dropped or not.
            faults[f"forged {name}"] += n
            deliveries += n
        elif mode:
            faults[f"signature {name}"] += n
    faults = +faults  # drop zero counts
    times = world.tr_t
    return Summary(
        entities=entities,
        details=details,
        messages=dict(sorted(messages.items())),
        faults=dict(sorted(faults.items())),
        deliveries=deliveries,
        first_ms=min(times) if times else 0,
        last_ms=max(times) if times else 0,
    )


def _count_bytes(column: array[int], values: int) -> dict[int, int]:
    """How many times each value below `values` occurs in a byte column, for those that do: a
    `bytes.count` a value (a `Counter` of 8 values took three times as long)."""
    data = column.tobytes()
    return {value: n for value in range(values) if (n := data.count(value))}


def _count_triples(first: array[int], second: array[int], third: array[int]) -> dict[tuple[int, int, int], int]:
    """How many times each (first[i], second[i], third[i]) occurs, for three byte columns of one
    length: counted as 4-byte integers, the three bytes side by side, a chunk at a time (a tuple
    each took almost three times as long)."""
    counts: Counter[int] = Counter()
    for lo in range(0, len(first), 1 << 16):
        chunk = first[lo:lo + (1 << 16)]
        keys = bytearray(4 * len(chunk))
        keys[0::4], keys[1::4], keys[2::4] = chunk, second[lo:lo + len(chunk)], third[lo:lo + len(chunk)]
        counts.update(array("I", keys))
    triples: dict[tuple[int, int, int], int] = {}
    for key, n in counts.items():
        a, b, c, _ = key.to_bytes(4, sys.byteorder)  # the bytes as they were laid out
        triples[a, b, c] = n
    return triples


#: Records a batch holds: enough that encoding runs in bulk, few enough to stay small (at 8,192
#: writing a million orders' plan peaked 5 MB higher, for no less CPU).
BATCH = 4096

#: A batch of records, one column per field, in the record's field order (`plan.saved.Columns`).
Columns = tuple[Iterable[Any], ...]


def entity_columns(world: World, ids: Ids) -> Iterator[Columns]:
    """Every entity with its transitions (in time order), kind by kind, in creation order."""
    # Chain each entity's transitions: heads[kind][entity] -> first, following[t] -> next, built
    # backwards (each transition put in front of its entity's chain) so no tails are needed.
    n = world.transitions()
    following = array("i", [-1]) * n
    heads = [array("i", [-1]) * len(world.tables[k]) for k in vocabulary.KINDS]
    for j, kc, idx in zip(range(n - 1, -1, -1), reversed(world.tr_kind), reversed(world.tr_idx), strict=True):
        head = heads[kc]
        following[j] = head[idx]
        head[idx] = j
    texts = [s or None for s in world.strings]
    tr_t, tr_state, tr_note = world.tr_t, world.tr_state, world.tr_note
    at_ms = itemgetter(0)
    for kind in vocabulary.KINDS:
        table = world.tables[kind]
        head = heads[KIND_CODE[kind]]
        states = vocabulary.STATES[kind]
        parent_kind = vocabulary.PARENT_KINDS.get(kind)
        attr_key = ENTITY_ATTRS.get(kind)
        # A transition's (state, reason, code) by state and note, made once.
        steps = [[(state, *note) for note in world.notes] for state in states]
        for lo in range(0, len(table), BATCH):
            hi = min(len(table), lo + BATCH)
            transitions: list[tuple[tuple[int, str, str | None, str | None], ...]] = []
            for j in head[lo:hi]:
                chain = []
                while j >= 0:
                    chain.append((tr_t[j],) + steps[tr_state[j]][tr_note[j]])
                    j = following[j]
                transitions.append(tuple(chain))
            late = table.late[lo:hi]
            if 1 in late:
                # Only an entity moved back in time has its transitions out of time order.
                for e in compress(range(hi - lo), late):
                    transitions[e] = tuple(sorted(transitions[e], key=at_ms))
            parents = table.parent[lo:hi]
            yield (
                ids.entities(kind, lo, hi),
                repeat(kind, hi - lo),
                _parents(ids, parent_kind, parents),
                table.amount[lo:hi],
                map(world.strings.__getitem__, table.currency[lo:hi]),
                map(texts.__getitem__, table.method[lo:hi]),
                map(states.__getitem__, table.state[lo:hi]),
                transitions,
                [{attr_key: texts[a]} if a else {} for a in table.attr[lo:hi]] if attr_key and table.has_attr
                else [{} for _ in range(lo, hi)],
            )


class _Rows(NamedTuple):
    """The rows one original message becomes, by its policy, signature mode and whether it is
    dropped: how many `rows`, and each one's `copy`, `signature`, `verdict`, `dropped` and `forged`."""

    rows: int
    copy: tuple[int, ...]
    signature: tuple[str, ...]
    verdict: tuple[Verdict | None, ...]
    dropped: tuple[bool, ...]
    forged: tuple[bool, ...]


class _RowsByKind(dict[tuple[int, int, int], _Rows]):
    """`_Rows` by (policy, mode, dropped), each made when first asked for."""

    def __init__(self, schedule: Schedule, policies: Policies):
        super().__init__()
        self.repeats, self.modes = schedule.repeats, schedule.modes
        self.verdicts = [{m: _verdict(p.verdicts.get(m)) or DEFAULT_VERDICTS.get(m) for m in self.modes}
                         for p in policies.policies]

    def __missing__(self, key: tuple[int, int, int]) -> _Rows:
        pid, mode, dropped = key
        copies, name, verdicts = self.repeats[pid], self.modes[mode], self.verdicts[pid]
        if name in vocabulary.FORGERIES:
            # The attacker's copy first, then the genuine ones, validly signed (and maybe dropped).
            rows = _Rows(copies + 1, (0, *range(copies)), (name, *["valid"] * copies),
                         (verdicts[name], *[verdicts["valid"]] * copies), (False, *[bool(dropped)] * copies),
                         (True, *[False] * copies))
        else:
            rows = _Rows(copies, tuple(range(copies)), (name,) * copies, (verdicts[name],) * copies,
                         (bool(dropped),) * copies, (False,) * copies)
        self[key] = rows
        return rows


def message_columns(world: World, schedule: Schedule, policies: Policies, ids: Ids) -> Iterator[Columns]:
    """Every message in delivery order, a batch of originals at a time. Each column is built in
    bulk (an `itemgetter` of the batch's numbers, not a Python loop per message): what an
    original's copies have in common is repeated, and what differs between them comes from its
    `_Rows`."""
    tr_t, tr_kind, tr_idx = world.tr_t, world.tr_kind, world.tr_idx
    transition, policy, mode, dropped, event = (schedule.transition, schedule.policy, schedule.mode, schedule.dropped,
                                                schedule.event)
    rows_of = _RowsByKind(schedule, policies)
    seq = 0
    for ks, sends in schedule.delivery(tr_t, BATCH):
        of_message = _picker(ks)
        trs = of_message(transition)
        pids = of_message(policy)
        rows, lengths = _runs(rows_of, pids, of_message(mode), of_message(dropped))
        counts = list(chain.from_iterable(map(repeat, map(_ROW_COUNT, rows), lengths)))
        total = sum(counts)
        # Each original's values, repeated for each of its rows.
        copies = tuple if total == len(counts) else _picker(list(chain.from_iterable(map(repeat, range(len(counts)),
                                                                                         counts))))

        copy, signature, verdict, drops, forged = _spread(rows, lengths)
        of_transition = _picker(trs)
        yield (
            range(seq, seq + total),
            copies(ids.events(ks)),
            copy,
            copies(of_transition(tr_t)),
            copies(sends),
            copies(list(map(schedule.events.__getitem__, of_message(event)))),
            copies(ids.each_of(of_transition(tr_kind), of_transition(tr_idx))),
            copies(pids),
            signature,
            verdict,
            drops,
            forged,
        )
        seq += total


_ROW_COUNT = attrgetter("rows")
_SPREAD = ("copy", "signature", "verdict", "dropped", "forged")
#: Runs of originals with the same (policy, mode, dropped), as a share of a batch, above which
#: `_runs` makes each original its own run.
_RUNS = 16


def _runs(rows_of: _RowsByKind, pids: Sequence[int], modes: Sequence[int],
          drops: Sequence[int]) -> tuple[list[_Rows], list[int]]:
    """A batch's originals as runs of those with the same (policy, mode, dropped): each run's
    `_Rows` and length. The runs are found on the three bytes side by side, as one integer an
    original, so only a run's first original is looked up: messages in time order come in long
    runs of one policy and mode. When they do not, each original is its own run."""
    n = len(pids)
    keys = bytearray(4 * n)
    keys[0::4], keys[1::4], keys[2::4] = pids, modes, drops
    packed = array("I", keys)
    starts = [0, *compress(range(1, n), map(ne, islice(packed, 1, None), packed)), n]
    if len(starts) * _RUNS > n:
        return list(map(rows_of.__getitem__, zip(pids, modes, drops, strict=True))), [1] * n
    return ([rows_of[pids[lo], modes[lo], drops[lo]] for lo in islice(starts, len(starts) - 1)],
            list(map(sub, islice(starts, 1, None), starts)))


def _spread(rows: list[_Rows], lengths: list[int]) -> list[list[Any]]:
    """The columns in which an original's rows differ (`_SPREAD`), for a batch of originals in
    runs (`_runs`): each column's values of a run's `rows`, times the run's `length`."""
    if len(rows) == sum(lengths):  # runs of one original each
        return [list(chain.from_iterable(map(attrgetter(field), rows))) for field in _SPREAD]
    columns: list[list[Any]] = [[] for _ in _SPREAD]
    for row, length in zip(rows, lengths, strict=True):
        for column, field in zip(columns, _SPREAD, strict=True):
            column += getattr(row, field) * length
    return columns


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function that picks the items at `indexes` out of a sequence, as a tuple: one
    `itemgetter`, reused for every column the same indexes pick from (a `map` per column took
    twice as long)."""
    if len(indexes) == 1:
        only = indexes[0]
        return lambda values: (values[only],)
    if not indexes:
        return lambda values: ()
    return itemgetter(*indexes)


def _parents(ids: Ids, kind: str | None, parents: array[int]) -> Iterable[str | None]:
    """The IDs of `parents` (entities of `kind`; -1 for none)."""
    if kind is None:
        return repeat(None)
    if not parents or min(parents) >= 0:
        return ids.each_entity(kind, parents)
    return [ids.entity(kind, p) if p >= 0 else None for p in parents]


def _verdict(word: str | None) -> Verdict | None:
    """A policy's `verdict` setting as a message's (the checker admits no other word)."""
    match word:
        case "accept" | "reject" | None:
            return word
        case _:
            raise InternalError(f"a delivery policy expects the verdict `{word}`")  # pragma: no cover


def _entity(id: str, kind: str, parent: str | None, amount_minor: int, currency: str, method: str | None,
            state: str, transitions: tuple[tuple[int, str, str | None, str | None], ...],
            attrs: dict[str, str]) -> Entity:
    return Entity(id=id, kind=kind, parent=parent, amount_minor=amount_minor, currency=currency, method=method,
                  state=state, transitions=tuple(Transition(*t) for t in transitions), attrs=attrs)


def _message(seq: int, id: str, copy: int, at_ms: int, send_ms: int, event: str, entity: str, policy: int,
             signature: str, verdict: Literal["accept", "reject"] | None, dropped: bool, forged: bool) -> Message:
    return Message(seq=seq, id=id, copy=copy, at_ms=at_ms, send_ms=send_ms, event=event, entity=entity,
                   policy=policy, signature=signature, verdict=verdict, dropped=dropped, forged=forged)


def records(header: Header, world: World, schedule: Schedule, policies: Policies,
            summary: Summary) -> Iterator[Header | Entity | Message | Summary]:
    """The plan's records one at a time, from the same columns `write_plan` writes."""
    ids = Ids(header.seed)
    yield header
    for columns in entity_columns(world, ids):
        yield from map(_entity, *columns)
    for columns in message_columns(world, schedule, policies, ids):
        yield from map(_message, *columns)
    yield summary
