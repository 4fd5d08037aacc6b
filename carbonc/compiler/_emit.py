"""Turns a compiled world and schedule into plan records (header, entities, messages, summary)
one at a time, so a plan of any size streams to disk."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator

from carbonc.compiler._schedule import DEFAULT_VERDICTS, Policies, Schedule, event_name
from carbonc.compiler._world import EVENTS, KIND_CODE, World
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
            counts = Counter(table.state)
            entities[kind] = {vocabulary.STATES[kind][code]: n for code, n in sorted(counts.items())}
    details: dict[str, dict[str, int]] = {}
    for kind in DETAILED_KINDS:
        attr = ENTITY_ATTRS[kind]
        table = world.tables[kind]
        counts = Counter(table.attr)
        if counts:
            details[kind] = {f"{attr} {world.strings[code]}": n
                             for code, n in sorted(counts.items(), key=lambda kv: world.strings[kv[0]]) if code}
    messages: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    deliveries = 0
    repeats = schedule.repeats
    by_event: Counter[tuple[int, int]] = Counter()
    for k in range(len(schedule.transition)):
        tr = schedule.transition[k]
        by_event[(world.tr_kind[tr], world.tr_state[tr])] += 1
        copies = repeats[schedule.policy[k]]
        faults["duplicates"] += copies - 1
        if schedule.dropped[k]:
            faults["dropped"] += 1
        else:
            deliveries += copies
        mode = schedule.mode[k]
        if schedule.forged(k):
            # The attacker's copy goes out beside the genuine ones, dropped or not.
            faults[f"forged {schedule.modes[mode]}"] += 1
            deliveries += 1
        elif mode:
            faults[f"signature {schedule.modes[mode]}"] += 1
    for (kc, sc), count in by_event.items():
        kind = vocabulary.KINDS[kc]
        messages[EVENTS[(kind, vocabulary.STATES[kind][sc])]] += count
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


def entity_records(world: World, ids: Ids) -> Iterator[Entity]:
    """Every entity with its transitions, kind by kind, in creation order."""
    # Chain each entity's transitions: heads[kind][entity] -> first, following[t] -> next.
    n = world.transitions()
    following = array("i", [-1]) * n
    heads: dict[int, array[int]] = {KIND_CODE[k]: array("i", [-1]) * len(world.tables[k]) for k in vocabulary.KINDS}
    tails: dict[int, array[int]] = {KIND_CODE[k]: array("i", [-1]) * len(world.tables[k]) for k in vocabulary.KINDS}
    for j in range(n):
        kc, idx = world.tr_kind[j], world.tr_idx[j]
        if heads[kc][idx] < 0:
            heads[kc][idx] = j
        else:
            following[tails[kc][idx]] = j
        tails[kc][idx] = j
    del tails
    strings = world.strings
    for kind in vocabulary.KINDS:
        table = world.tables[kind]
        kc = KIND_CODE[kind]
        states = vocabulary.STATES[kind]
        parent_kind = vocabulary.PARENT_KINDS.get(kind)
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
                attrs={ENTITY_ATTRS[kind]: attr} if attr and kind in ENTITY_ATTRS else {},
            )


def message_records(world: World, schedule: Schedule, policies: Policies, ids: Ids) -> Iterator[Message]:
    """Every message in delivery order."""
    kinds = list(vocabulary.KINDS)
    verdicts = [{m: _verdict(p.verdicts.get(m)) or DEFAULT_VERDICTS.get(m) for m in schedule.modes}
                for p in policies.policies]
    event_id = entity_id = ""
    last = -1
    for seq, k, copy, send_ms, forged in schedule:
        tr = schedule.transition[k]
        mode = schedule.modes[schedule.mode[k]]
        pid = schedule.policy[k]
        if k != last:
            event_id = ids.event(k)
            entity_id = ids.entity(kinds[world.tr_kind[tr]], world.tr_idx[tr])
            last = k
        if not forged and mode in vocabulary.FORGERIES:
            mode = "valid"  # the genuine message beside the attacker's copy
        yield Message(
            seq=seq,
            id=event_id,
            copy=copy,
            at_ms=world.tr_t[tr],
            send_ms=send_ms,
            event=event_name(world, tr),
            entity=entity_id,
            policy=pid,
            signature=mode,
            verdict=verdicts[pid][mode],
            dropped=bool(schedule.dropped[k]) and not forged,
            forged=forged,
        )


def _verdict(word: str | None) -> Verdict | None:
    """A policy's `verdict` setting as a message's (the checker admits no other word)."""
    match word:
        case "accept" | "reject" | None:
            return word
        case _:
            raise InternalError(f"a delivery policy expects the verdict `{word}`")  # pragma: no cover


def records(header: Header, world: World, schedule: Schedule, policies: Policies,
            summary: Summary) -> Iterator[Header | Entity | Message | Summary]:
    ids = Ids(header.seed)
    yield header
    yield from entity_records(world, ids)
    yield from message_records(world, schedule, policies, ids)
    yield summary
