"""Turns a compiled world and schedule into plan records (header, entities, messages, summary)
one at a time, so a plan of any size streams to disk."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator

from carbonc.ir import model
from carbonc.plan._deliver import DEFAULT_VERDICTS, Policies, Schedule, event_name
from carbonc.plan._world import ID_PREFIX, KIND_CODE, World
from carbonc.plan.model import Entity, Header, Message, Summary, Transition
from carbonc.plan.rng import Stream

#: Which kind an entity's parent is.
PARENT_KIND = {"payment": "order", "refund": "payment", "dispute": "payment"}


class Ids:
    """Deterministic IDs: `pay_` + 14 base62 characters drawn from (seed, kind, index)."""

    def __init__(self, seed: int):
        self.streams = {k: Stream(seed, f"id/{k}") for k in model.KINDS}
        self.events = Stream(seed, "id/event")

    def entity(self, kind: str, idx: int) -> str:
        return f"{ID_PREFIX[kind]}_{self.streams[kind].base62(idx)}"

    def event(self, number: int) -> str:
        return f"evt_{self.events.base62(number)}"


def summarize(world: World, schedule: Schedule) -> Summary:
    """Count entities by kind and final state, messages by event, and faults."""
    entities: dict[str, dict[str, int]] = {}
    for kind in model.KINDS:
        table = world.tables[kind]
        if len(table):
            counts = Counter(table.state)
            entities[kind] = {model.STATES[kind][code]: n for code, n in sorted(counts.items())}
    details: dict[str, dict[str, int]] = {}
    for kind, attr in _ATTR_NAME.items():
        if kind == "settlement":
            continue
        table = world.tables[kind]
        counts = Counter(table.attr)
        if counts:
            details[kind] = {f"{attr} {world.strings[code]}": n
                             for code, n in sorted(counts.items(), key=lambda kv: world.strings[kv[0]]) if code}
    messages: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    deliveries = 0
    for j in range(len(schedule)):
        if schedule.copy[j] == 0:
            messages[event_name(world, schedule.transition[j])] += 1
            if schedule.dropped[j]:
                faults["dropped"] += 1
            mode = schedule.modes[schedule.mode[j]]
            if mode != "valid":
                faults[f"signature {mode}"] += 1
        else:
            faults["duplicates"] += 1
        if not schedule.dropped[j]:
            deliveries += 1
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


def entity_records(world: World, ids: Ids) -> Iterator[Entity]:
    """Every entity with its transitions, kind by kind, in creation order."""
    n = world.transitions()
    following = array("q", [-1]) * n
    heads: dict[int, array] = {KIND_CODE[k]: array("q", [-1]) * len(world.tables[k]) for k in model.KINDS}
    tails: dict[int, array] = {KIND_CODE[k]: array("q", [-1]) * len(world.tables[k]) for k in model.KINDS}
    for j in range(n):
        kc, idx = world.tr_kind[j], world.tr_idx[j]
        if heads[kc][idx] < 0:
            heads[kc][idx] = j
        else:
            following[tails[kc][idx]] = j
        tails[kc][idx] = j
    strings = world.strings
    for kind in model.KINDS:
        table = world.tables[kind]
        kc = KIND_CODE[kind]
        states = model.STATES[kind]
        parent_kind = PARENT_KIND.get(kind)
        for idx in range(len(table)):
            transitions = []
            j = heads[kc][idx]
            while j >= 0:
                transitions.append(Transition(world.tr_t[j], states[world.tr_state[j]],
                                              strings[world.tr_reason[j]] or None, strings[world.tr_code[j]] or None))
                j = following[j]
            transitions.sort(key=lambda tr: tr.at_ms)
            attr = strings[table.attr[idx]]
            parent = table.parent[idx]
            yield Entity(
                id=ids.entity(kind, idx),
                kind=kind,
                parent=ids.entity(parent_kind, parent) if parent_kind and parent >= 0 else None,
                amount_minor=table.amount[idx],
                currency=strings[table.currency[idx]],
                method=strings[table.method[idx]] or None,
                state=states[table.state[idx]],
                transitions=tuple(transitions),
                attrs={_ATTR_NAME[kind]: attr} if attr and kind in _ATTR_NAME else {},
            )


_ATTR_NAME = {"refund": "type", "dispute": "reason", "settlement": "payments"}


def message_records(world: World, schedule: Schedule, policies: Policies, ids: Ids) -> Iterator[Message]:
    """Every message in delivery order."""
    kinds = list(model.KINDS)
    for j in range(len(schedule)):
        tr = schedule.transition[j]
        mode = schedule.modes[schedule.mode[j]]
        policy = policies.policies[schedule.policy[j]]
        verdict = policy.verdicts.get(mode) or DEFAULT_VERDICTS.get(mode)
        kind = kinds[world.tr_kind[tr]]
        yield Message(
            seq=j,
            id=ids.event(schedule.event_number[j]),
            copy=schedule.copy[j],
            at_ms=world.tr_t[tr],
            send_ms=schedule.send_ms[j],
            event=event_name(world, tr),
            entity=ids.entity(kind, world.tr_idx[tr]),
            policy=schedule.policy[j],
            signature=mode,
            verdict=verdict,  # type: ignore[arg-type]
            dropped=bool(schedule.dropped[j]),
        )


def records(header: Header, world: World, schedule: Schedule, policies: Policies,
            summary: Summary) -> Iterator[Header | Entity | Message | Summary]:
    ids = Ids(header.seed)
    yield header
    yield from entity_records(world, ids)
    yield from message_records(world, schedule, policies, ids)
    yield summary
