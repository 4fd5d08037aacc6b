"""Delivery: resolves which policy applies to each message (whole-run `deliver`, then blocks
`for` a kind or an event glob, in source order, later settings winning), and schedules the
messages — delay, jitter, order, drops, signature modes and copies — deterministically.

Exact counts here too: `drop 2%` of 1,000 messages drops exactly 20; a signature mix of
90%/10% over 1,000 messages signs exactly 900 and 100. Which ones is drawn from the seed.

Overrides from the command line (`--webhook-order`, `--webhook-repeat`, `--webhook-signature`)
are applied after every block, so they win for every message.
"""

from __future__ import annotations

import fnmatch
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from decimal import Decimal
from itertools import chain, compress, repeat
from operator import add, lshift, or_
from typing import TypedDict, assert_never

import msgspec

from carbonc.codes import Code
from carbonc.compiler._steps import round_count
from carbonc.compiler._world import EVENTS, KIND_CODE, ONLY, World
from carbonc.compiler.rng import Stream, apportion
from carbonc.diagnostics import Diagnostic, did_you_mean
from carbonc.domain import vocabulary
from carbonc.domain.units import MAX_DURATION_MS, format_ratio
from carbonc.domain.values import Duration, Value
from carbonc.domain.vocabulary import DeliveryOverrides, Verdict
from carbonc.errors import CompileError, InternalError
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.plan.records import Policy, SignatureShare

#: Handler answers each signature mode should get, where that does not depend on the provider.
DEFAULT_VERDICTS: dict[str, Verdict] = {
    "valid": "accept", "rotation": "accept", "missing": "reject", "corrupted": "reject", "wrong_secret": "reject",
    "stale": "reject", "old_secret": "reject", "reserialized": "reject", "ms_vs_s": "reject",
    "bad_basic_auth": "reject",
}

_KINDS_BY_CODE = list(vocabulary.KINDS)

class Settings(TypedDict, total=False):
    """The delivery settings of a `Policy` that a scenario's `deliver` blocks, or the command
    line's overrides, set; what none sets keeps the `Policy` default."""

    order: str
    shuffle_within_ms: int
    repeat: int
    delay_ms: int
    jitter_ms: int
    drop: str
    signatures: tuple[SignatureShare, ...]
    retry: str | tuple[int, ...]
    fail_on: tuple[str, ...]
    timeout_ms: int | None
    verdicts: dict[str, str]


def delivery_overrides(delivery: DeliveryOverrides) -> Settings:
    """Turn `DeliveryOverrides(order="reverse", repeat=3)` into policy settings; raise
    CompileError naming each value that is not valid (the struct is typed, not checked: a
    library caller may put anything in it). `shuffle` is no override: it needs a window, which
    only a scenario gives."""
    settings: Settings = {}
    errors: list[Diagnostic] = []

    def error(flag: str, code: Code, message: str, help: str | None) -> None:
        errors.append(Diagnostic(code=code, message=message, path=flag, help=help))

    order, repeat, signature = delivery.order, delivery.repeat, delivery.signature
    if order is not None:
        if order in vocabulary.OVERRIDE_ORDERS:
            settings["order"] = order
            settings["shuffle_within_ms"] = 0
        else:
            error("--webhook-order", Code.UNKNOWN_OPTION, f"unknown webhook order `{order}`",
                  did_you_mean(str(order), vocabulary.OVERRIDE_ORDERS)
                  or "orders: " + ", ".join(f"`{o}`" for o in vocabulary.OVERRIDE_ORDERS))
    if repeat is not None:
        if not isinstance(repeat, bool) and isinstance(repeat, int) and 1 <= repeat <= vocabulary.MAX_REPEAT:
            settings["repeat"] = repeat
        else:
            error("--webhook-repeat", Code.OUT_OF_RANGE,
                  f"webhook repeat must be a whole number from 1 to {vocabulary.MAX_REPEAT}, not `{repeat}`",
                  "`1` delivers every message once, `3` three times with the same event id")
    if signature is not None:
        if signature in vocabulary.SIGNATURE_MODES:
            settings["signatures"] = (SignatureShare(str(signature), "1"),)
        else:
            error("--webhook-signature", Code.UNKNOWN_OPTION, f"unknown signature mode `{signature}`",
                  did_you_mean(str(signature), vocabulary.SIGNATURE_MODES)
                  or "modes: " + ", ".join(f"`{m}`" for m in vocabulary.SIGNATURE_MODES))
    if errors:
        raise CompileError(errors)
    return settings


class Policies:
    """Finds the delivery policy for each (kind, event), building each distinct one once;
    `overrides` (settings from `delivery_overrides`) replace what the scenario says."""

    def __init__(self, scenario: ir.Scenario, values: Mapping[str, Value], profiles: Mapping[str, ir.Profile],
                 ladders: Mapping[str, ir.Ladder], overrides: Settings | None = None):
        self.scenario, self.values, self.profiles, self.ladders = scenario, values, profiles, ladders
        self.overrides: Settings = overrides if overrides is not None else {}
        self.policies: list[Policy] = []
        #: Settings that --set values made invalid (the checker saw only the defaults).
        self.errors: dict[tuple[int, str], tuple[Code, ir.Node, str]] = {}
        self._by_settings: dict[tuple[tuple[str, str], ...], int] = {}
        self._by_event: dict[tuple[str, str], int] = {}

    def for_event(self, kind: str, event: str) -> int:
        key = (kind, event)
        found = self._by_event.get(key)
        if found is None:
            found = self._by_event[key] = self._build(kind, event)
        return found

    def _build(self, kind: str, event: str) -> int:
        settings: Settings = {}
        for deliver in self.scenario.delivers:
            if _applies(deliver.target, kind, event):
                self._apply(deliver.items, settings, set())
        settings.update(self.overrides)
        key = tuple(sorted((k, repr(v)) for k, v in settings.items()))
        if key in self._by_settings:
            policy_id = self._by_settings[key]
            old = self.policies[policy_id]
            self.policies[policy_id] = msgspec.structs.replace(old, applies_to=(*old.applies_to, event))
            return policy_id
        policy_id = len(self.policies)
        self.policies.append(Policy(id=policy_id, applies_to=(event,), **settings))
        self._by_settings[key] = policy_id
        return policy_id

    def _apply(self, items: tuple[ir.DeliverItem, ...], settings: Settings, seen: set[str]) -> None:
        signatures: list[SignatureShare] | None = None
        for item in items:
            match item:
                case ir.IncludeItem(profile=p):
                    if p.name not in seen and p.name in self.profiles:
                        self._apply(self.profiles[p.name].items, settings, seen | {p.name})
                case ir.OrderItem(mode=m, within=w):
                    settings["order"] = m.name
                    settings["shuffle_within_ms"] = self._ms(w) if w is not None else 0
                case ir.RepeatItem(value=v):
                    settings["repeat"] = self._count(v)
                case ir.DelayItem(delay=d, jitter=j):
                    settings["delay_ms"] = self._ms(d)
                    settings["jitter_ms"] = self._ms(j) if j is not None else 0
                case ir.DropItem(value=v):
                    settings["drop"] = format(self._ratio(v), "f")
                case ir.SignatureItem(mode=m, share=s):
                    if signatures is None:
                        signatures = []
                    share = format(self._ratio(s), "f") if s is not None else "rest"
                    signatures.append(SignatureShare(m.name, share))
                case ir.RetryItem(ladder=ladder):
                    settings["retry"] = self._ladder(ladder)
                case ir.FailItem(statuses=statuses):
                    settings["fail_on"] = tuple(s.name for s in statuses)
                case ir.TimeoutItem(value=v):
                    settings["timeout_ms"] = self._ms(v)
                case ir.VerdictItem(mode=m, verdict=v):
                    verdicts = dict(settings.get("verdicts", {}))
                    verdicts[m.name] = v.name
                    settings["verdicts"] = verdicts
                case _:
                    assert_never(item)
        if signatures is not None:
            total = sum((Decimal(s.share) for s in signatures if s.share != "rest"), Decimal(0))
            if total > 1:
                self._error(Code.SHARES_NOT_WHOLE, items[0], f"signature shares add up to {format_ratio(total)}")
            settings["signatures"] = _normalise_signatures(signatures)

    def _error(self, code: Code, node: ir.Node, why: str) -> None:
        # A setting shared by several events is evaluated once per event: report it once.
        self.errors.setdefault((node.span.start, why), (code, node, why))

    def _value(self, expr: ir.Expr) -> Value:
        return evaluate(expr, self.values)

    def _ms(self, expr: ir.Expr) -> int:
        v = self._value(expr)
        ms = v.ms if isinstance(v, Duration) else 0
        if not 0 <= ms <= MAX_DURATION_MS:
            self._error(Code.OUT_OF_RANGE, expr, "a delivery duration must be between zero and ten years")
            return 0
        return ms

    def _ratio(self, expr: ir.Expr) -> Decimal:
        v = self._value(expr)
        ratio = Decimal(v) if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else Decimal(-1)
        if not 0 <= ratio <= 1:
            self._error(Code.RATIO_OUT_OF_RANGE, expr, "a ratio must lie within 0–100%")
            return Decimal(0)
        return ratio

    def _count(self, expr: ir.Expr) -> int:
        v = self._value(expr)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= vocabulary.MAX_REPEAT:
            self._error(Code.OUT_OF_RANGE, expr, f"`repeat` must be a whole number from 1 to {vocabulary.MAX_REPEAT}")
            return 1
        return v

    def _ladder(self, ladder: ir.Ident | ir.ListLit) -> str | tuple[int, ...]:
        if isinstance(ladder, ir.ListLit):
            return tuple(self._ms(step) for step in ladder.items)
        if ladder.name in self.ladders:
            return tuple(self._ms(step) for step in self.ladders[ladder.name].steps.items)
        return ladder.name


def _normalise_signatures(items: list[SignatureShare]) -> tuple[SignatureShare, ...]:
    """Give the line without a share (or, if none, `valid`) the rest of the messages."""
    known = sum((Decimal(s.share) for s in items if s.share != "rest"), Decimal(0))
    rest = max(Decimal(0), Decimal(1) - known)
    out = []
    has_rest = any(s.share == "rest" for s in items)
    for s in items:
        share = rest if s.share == "rest" else Decimal(s.share)
        out.append(SignatureShare(s.mode, format(share.normalize(), "f")))
    if not has_rest and rest > 0:
        out.append(SignatureShare("valid", format(rest.normalize(), "f")))
    return tuple(out)


def _applies(target: ir.Ident | ir.StringLit | None, kind: str, event: str) -> bool:
    if target is None:
        return True
    if isinstance(target, ir.Ident):
        return vocabulary.kind_of(target.name) == kind
    return fnmatch.fnmatchcase(event, target.value)


class Schedule:
    """Every message of the plan. Per original message `k` (numbered in creation order): its
    `transition`, `event` (index into `events`), `policy`, signature `mode` (index into `modes`)
    and whether `dropped`. Their order and send times come from `delivery`, as the plan is
    written; copies of a repeated message, and the attacker's copy of a forged one, are
    expanded then too."""

    def __init__(self, transition: array[int], event: array[int], events: list[str], policy: array[int],
                 mode: array[int], dropped: array[int], policies: list[Policy], seed: int):
        self.transition, self.event, self.events = transition, event, events
        self.policy, self.mode, self.dropped = policy, mode, dropped
        self.policies, self.seed = policies, seed
        self.repeats = [max(1, p.repeat) for p in policies]
        self.modes: list[str] = list(vocabulary.SIGNATURE_MODES)
        self.warnings: list[str] = []

    def delivery(self, times: array[int], batch: int) -> Iterator[tuple[array[int], array[int]]]:
        """The originals in delivery order, `batch` at a time, each with its send time: by the
        time of its transition (`times`) plus its policy's delay, jitter and shuffle window (drawn
        from the seed), ties by number; then reversed or shuffled among its policy's own slots
        where the policy says so. Worked out as the plan is written, not kept: a million orders'
        order and send times are 42 MB."""
        bits = max(1, len(self.transition)).bit_length()
        try:
            # Numbers in whole bytes, which `_numbers` and `_sends` copy out.
            runs, width = self._sorted_runs(times, -(-bits // 8) * 8)
        except OverflowError:  # send times too late for that: numbers in as few bits as they need
            runs, width = self._sorted_runs(times, bits)
        reorders = [(pid, p) for pid, p in enumerate(self.policies) if p.order in ("reverse", "random")]
        if not reorders:
            # Merged as it is written, so the runs are the most it ever holds.
            for part in _merged(runs):
                for lo in range(0, len(part), batch):
                    chunk = part[lo:lo + batch]
                    yield _numbers(chunk, width), _sends(chunk, width)
            return
        packed = array("Q")
        for part in _merged(runs):
            packed += part
        del runs
        slots = _numbers(packed, width)
        order = array("I", slots)
        policy = self.policy
        for pid, p in reorders:
            positions = [pos for pos in range(len(slots)) if policy[slots[pos]] == pid]
            members = [slots[pos] for pos in positions]
            if p.order == "reverse":
                members.reverse()
            else:
                members = _ranked(Stream(self.seed, f"deliver/order/{pid}"), members)
            for pos, k in zip(positions, members, strict=True):
                order[pos] = k
        del slots
        for lo in range(0, len(order), batch):
            yield order[lo:lo + batch], _sends(packed[lo:lo + batch], width)

    def _sorted_runs(self, times: array[int], width: int) -> tuple[list[array[int]], int]:
        """Runs of (send time << width | message number), each sorted, and the width; raises
        OverflowError when a send time is too late for the width."""
        transition, policy, policies = self.transition, self.policy, self.policies
        delays = [p.delay_ms for p in policies]
        delayed = any(delays)  # if not, no delay is added message by message
        # Drawn per message, only for the policies that ask (a loop over every message took a
        # second for a million orders; the send times of the others are found in bulk).
        draws = [(pid, p.jitter_ms, p.shuffle_within_ms if p.order == "shuffle" else 0)
                 for pid, p in enumerate(policies)]
        draws = [(pid, jitter, shuffle) for pid, jitter, shuffle in draws if jitter or shuffle]
        jitter_stream = Stream(self.seed, "deliver/jitter")
        shuffle_stream = Stream(self.seed, "deliver/shuffle")
        runs: list[array[int]] = []
        for lo in range(0, max(1, len(transition)), _RUN):
            hi = min(len(transition), lo + _RUN)
            pids = policy[lo:hi]
            at = map(times.__getitem__, transition[lo:hi])
            if delayed:
                at = map(add, at, map(delays.__getitem__, pids))
            run = list(map(or_, map(lshift, at, repeat(width)), range(lo, hi)))
            for pid, jitter, shuffle in draws:
                for k in compress(range(lo, hi), map(pid.__eq__, pids)):
                    # A later send time, added above the message number.
                    if jitter:
                        run[k - lo] += jitter_stream.below(k, jitter + 1) << width
                    if shuffle:
                        run[k - lo] += shuffle_stream.below(k, shuffle + 1) << width
            runs.append(_sorted_run(run))
        return runs, width


def _event_codes() -> dict[tuple[int, int], int]:
    """(kind code, state code) -> index into `_EVENTS` of the event its transition produces."""
    from carbonc.compiler._world import STATE_CODE

    return {(KIND_CODE[k], STATE_CODE[k][s]): _EVENTS.index(e) for (k, s), e in EVENTS.items()}


_EVENTS = sorted(set(EVENTS.values()))
_KIND_OF_EVENT = [next(k for (k, _), e in EVENTS.items() if e == event) for event in _EVENTS]
#: (kind code << _STATE_BITS | state code) -> the code of the event a transition into it sends.
_STATE_BITS = 5
_NO_EVENT = 255
if len(vocabulary.KINDS) > 1 << (8 - _STATE_BITS) or max(map(len, vocabulary.STATES.values())) > 1 << _STATE_BITS:
    raise InternalError("a (kind, state) pair no longer fits in a byte")  # pragma: no cover
_EVENT_OF_PAIR = bytes(
    next((code for (kc, sc), code in _event_codes().items() if kc << _STATE_BITS | sc == pair), _NO_EVENT)
    for pair in range(256))


_IS_EVENT = bytes(int(code != _NO_EVENT) for code in range(256))
_KIND_BYTE = bytes((code << _STATE_BITS) & 0xFF for code in range(256))


def _pairs(kinds: array[int], states: array[int]) -> bytes:
    """Each transition's (kind code << _STATE_BITS | state code) as a byte, from its kind and state
    (each a byte), with no Python object per transition: the kinds' bytes shifted by a
    translation, then ORed with the states' as two integers, a chunk at a time."""
    pairs = bytearray()
    for lo in range(0, len(kinds), _RUN):
        high = kinds[lo:lo + _RUN].tobytes().translate(_KIND_BYTE)
        low = states[lo:lo + _RUN].tobytes()
        pairs += (int.from_bytes(high, "little") | int.from_bytes(low, "little")).to_bytes(len(low), "little")
    return bytes(pairs)


def schedule(world: World, policies: Policies, seed: int) -> Schedule:
    """Find every message, its policy, signature mode and whether it is dropped (`Schedule.delivery`
    lays them out in time). Columns stay in arrays: a million orders' worth of messages must not
    need a Python object each."""
    # 1. Originals: every transition that produces an event, with its event and policy, found
    # in bulk (a loop a transition took 2 s for a million orders): each transition's (kind,
    # state) as one byte, translated to its event's code.
    events = _pairs(world.tr_kind, world.tr_state).translate(_EVENT_OF_PAIR)
    originals = array("I", compress(range(len(events)), events.translate(_IS_EVENT)))
    event_code = array("B", events.translate(None, bytes([_NO_EVENT])))
    # Policies are numbered in the order their events first occur, as the transitions are read;
    # there are at most as many as events, so a policy id is a byte.
    pid_of = bytearray(256)
    first = {code: events.find(code) for code in set(event_code)}
    for code in sorted(first, key=first.__getitem__):
        pid_of[code] = policies.for_event(_KIND_OF_EVENT[code], _EVENTS[code])
    del events
    policy_of = array("B", bytes(event_code).translate(pid_of))
    n = len(originals)
    dropped = array("B", bytes(n))
    mode_of = array("B", bytes(n))
    modes = list(vocabulary.SIGNATURE_MODES)
    valid = modes.index("valid")
    #: Faults a policy asks for that round to no message at all: the run would test nothing.
    warnings: list[str] = []
    for pid, p in enumerate(policies.policies):
        reorders = p.order in ("reverse", "random")
        drops = bool(Decimal(p.drop))
        if len(p.signatures) == 1 and not reorders and not drops:
            # Nothing drawn at random: one pass, no per-message lists.
            code = modes.index(p.signatures[0].mode)
            if code != valid:
                for k in range(n):
                    if policy_of[k] == pid:
                        mode_of[k] = code
            continue
        # 2. Exact drops and signature modes, chosen by rank among the policy's messages.
        members = list(compress(range(n), policy_of.tobytes().translate(ONLY[pid])))
        if not members:
            continue
        k_drop = round_count(Decimal(p.drop) * len(members))
        if Decimal(p.drop) and not k_drop:
            warnings.append(f"`drop {format_ratio(Decimal(p.drop))}` of {_events(p)} drops no message at these "
                            f"parameters ({len(members):,} messages)")
        if k_drop:
            for k in _ranked(Stream(seed, f"deliver/drop/{pid}"), members)[:k_drop]:
                dropped[k] = 1
        counts = apportion(len(members), [Decimal(s.share) for s in p.signatures])
        ranked = _ranked(Stream(seed, f"deliver/signature/{pid}"), members) if len(p.signatures) > 1 else members
        for share, count in zip(p.signatures, counts, strict=True):
            if Decimal(share.share) and not count:
                warnings.append(f"`signature {share.mode} {format_ratio(Decimal(share.share))}` of {_events(p)} signs "
                                f"no message at these parameters ({len(members):,} messages)")
        start = 0
        for share, count in zip(p.signatures, counts, strict=True):
            code = modes.index(share.mode)
            for k in ranked[start:start + count]:
                mode_of[k] = code
            start += count
    plan = Schedule(originals, event_code, list(_EVENTS), policy_of, mode_of, dropped, policies.policies, seed)
    plan.warnings = warnings
    return plan


#: Messages sorted at once; larger plans are sorted in runs of this size and merged, so the
#: sort never holds more than one run's worth of Python integers (at 262,144 that run was the
#: peak of writing a million orders' plan, 12 MB above the peak at 65,536).
_RUN = 1 << 16


#: One in this many items of each run is sampled to cut the merged order into parts of about
#: `_PART` items.
_SAMPLE = 64
_PART = 1 << 15


def _merged(runs: list[array[int]]) -> Iterator[array[int]]:
    """The items of the sorted `runs` in order, as sorted parts of about `_PART` items: bounds
    sampled from the runs cut each run into slices, and each part's slices are sorted together
    (`list.sort` merges sorted stretches in C, where `heapq.merge` compared in Python)."""
    samples = sorted(chain.from_iterable(run[::_SAMPLE] for run in runs))
    step = _PART // _SAMPLE
    starts = [0] * len(runs)
    for bound in [*samples[step::step], None]:
        part: list[int] = []
        for r, run in enumerate(runs):
            end = len(run) if bound is None else bisect_left(run, bound, starts[r])
            part += run[starts[r]:end]
            starts[r] = end
        part.sort()
        yield array("Q", part)


#: Whether `_numbers` and `_sends` may copy bytes: 8-byte packed items and send times, least
#: significant byte first, and 4-byte message numbers.
_BYTEWISE = sys.byteorder == "little" and array("Q").itemsize == array("q").itemsize == 8 and array("I").itemsize == 4


def _numbers(packed: array[int], width: int) -> array[int]:
    """The message numbers of `packed` (their low `width` bits): when they are whole bytes, by
    copying bytes (a `map` an item took 0.3 s for a million orders' messages)."""
    if not (_BYTEWISE and width % 8 == 0 and width <= 32):
        return array("I", map(((1 << width) - 1).__and__, packed))
    return _bytes_of(packed, range(width // 8), array("I", [0]) * len(packed))


def _sends(packed: array[int], width: int) -> array[int]:
    """The send times of `packed` (all but their low `width` bits), as `_numbers` finds them."""
    if not (_BYTEWISE and width % 8 == 0 and width <= 32):
        return array("q", map(width.__rrshift__, packed))
    return _bytes_of(packed, range(width // 8, 8), array("q", [0]) * len(packed))


def _bytes_of(packed: array[int], wanted: range, into: array[int]) -> array[int]:
    """`into` (zeros, an item for each of `packed`) with the `wanted` bytes of each packed item
    (least significant first) as its own lowest bytes."""
    source, target = memoryview(packed).cast("B"), memoryview(into).cast("B")
    for b in wanted:
        target[b - wanted.start::into.itemsize] = source[b::8]
    return into


def _sorted_run(run: list[int]) -> array[int]:
    """`run` (packed send time and message number) sorted into an array; `run` is emptied."""
    run.sort()
    packed = array("Q", run)
    run.clear()
    return packed


def _events(policy: Policy) -> str:
    events = sorted(policy.applies_to)
    shown = ", ".join(events[:3]) + (", …" if len(events) > 3 else "")
    return f"the delivery policy for {shown}"


def _ranked(stream: Stream, members: list[int]) -> list[int]:
    """`members` in the stream's pseudo-random order (a draw per member; ties keep input order)."""
    return sorted(members, key=stream.u64)
