"""Reads a saved plan as untrusted input: one streaming pass that checks every record (types,
bounds, IDs, the entity graph, references), recomputes the summary from the records and compares
it and the records' digest with what the file says, before anything runs. Saved plans travel —
attached to pull requests, kept as CI artefacts, edited by hand — so nothing in one is taken on
trust: a plan whose dispute records were deleted must not pass `expect disputes == 150`.

    >>> header, summary = verify_plan(Path("plan.ndjson"))   # raises PlanError naming the line

Memory stays flat however many entities the plan has: entities are indexed on disk as they are
read (`plan.index`, which `index_plan` keeps for the run) and references resolved there at the end;
the header's probe selections (a 100 MB line for a million orders) are read from the file in step
with the entities, in whose order they are listed (`plan.header`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import assert_never

import msgspec

from carbonc.domain import vocabulary
from carbonc.domain.units import CURRENCIES, MAX_DURATION_MS
from carbonc.errors import PlanError
from carbonc.plan.digest import digest_update, is_plan_text, records_digest
from carbonc.plan.header import NotIds, read_header, selected
from carbonc.plan.index import PlanIndex
from carbonc.plan.records import (
    DETAILED_KINDS,
    ENTITY_ATTRS,
    FORMAT_VERSION,
    MAX_WINDOW_MS,
    READABLE_VERSIONS,
    BinaryExpr,
    BoolConst,
    CallExpr,
    CheckExpr,
    DecimalConst,
    DurationConst,
    Entity,
    Header,
    IntConst,
    ListExpr,
    MapCall,
    Message,
    MetricRef,
    MoneyConst,
    Policy,
    Probe,
    StrConst,
    Summary,
    UnaryExpr,
)

#: Bounds on what a plan may hold; each error says which was passed.
MAX_ID = 64
MAX_AMOUNT_MINOR = 10**15  # ten trillion rupees: far past any payment, far below float trouble
MAX_MS = MAX_DURATION_MS  # ten years of virtual time
MAX_TIMEOUT_MS = 86_400_000
MAX_TEXT = 4096
MAX_TRANSITIONS = 64
MAX_DECIMAL_DIGITS = 40
MAX_EXPR_NODES = 10_000

_ID = re.compile(r"[A-Za-z0-9_]{1,64}")

_DECODER = msgspec.json.Decoder(Header | Entity | Message | Summary)


def verify_plan(path: Path) -> tuple[Header, Summary]:
    """Check the whole plan at `path`; return its header (probe selections and all) and the
    summary recomputed from its records (equal to the file's, or PlanError)."""
    header, summary, index = index_plan(path)
    try:
        return index.with_selections(header), summary
    finally:
        index.close()


def index_plan(path: Path) -> tuple[Header, Summary, PlanIndex]:
    """`verify_plan`, keeping the index of the plan's entities it built (the caller closes it).
    The header's probes select nothing: what they select stays in the file, for
    `PlanIndex.with_selections`."""
    try:
        index = PlanIndex(path)
    except OSError as exc:
        raise PlanError(f"cannot read `{path}`: {exc.strerror or exc}") from None
    checker = _Checker(index)
    try:
        with path.open("rb") as f:
            try:
                lean, index.selections, at = read_header(f)
            except NotIds as exc:
                raise PlanError(f"line 1: {exc}") from None
            if lean.strip():
                checker.line(1, lean, 0, at)
            f.seek(at)
            for number, line in enumerate(f, 2):
                size = len(line)
                if line.strip():
                    checker.line(number, line, at, size)
                at += size
        header, summary = checker.finish()
    except OSError as exc:
        index.close()
        raise PlanError(f"cannot read `{path}`: {exc.strerror or exc}") from None
    except BaseException:
        index.close()
        raise
    return header, summary, index


class _Checker:
    def __init__(self, index: PlanIndex) -> None:
        self.index = index
        self.header: Header | None = None
        self.summary: Summary | None = None
        self.entities: dict[str, Counter[str]] = {}
        self.details: dict[str, Counter[str]] = {}
        self.times: list[int] = []
        self.messages: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.deliveries = 0
        self.seq = 0
        self.digest = records_digest()  # again once the header says the plan's format
        self.version = FORMAT_VERSION
        self.number = 0
        #: The next ID each probe selects, and the rest of its selection: (probe, the rest).
        self.selecting: dict[str, list[tuple[int, Iterator[str]]]] = {}

    def fail(self, why: str) -> PlanError:
        return PlanError(f"line {self.number}: {why}")

    def line(self, number: int, line: bytes, at: int, size: int) -> None:
        self.number = number
        if self.summary is not None:
            raise self.fail("a record after the summary (the summary is the last line)")
        try:
            record = _DECODER.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self.fail(f"not a plan record: {_short(str(exc))}") from None
        if self.header is None:
            if not isinstance(record, Header):
                raise self.fail("a plan starts with its header")
            self.check_header(record)
            self.header = record
            self.version = record.format_version
            self.digest = records_digest(self.version)
            for selection in self.index.selections:
                self.select_next(selection.probe, selected(self.index.fd, selection))
        elif isinstance(record, Header):
            raise self.fail("a second header")
        elif isinstance(record, Entity):
            if self.seq:
                raise self.fail("an entity after the messages (entities come first)")
            self.check_entity(record)
            self.index.stage(number, record, at, size)
            for probe, rest in self.selecting.pop(record.id, ()):
                self.check_selected(probe, record)
                self.select_next(probe, rest)
            digest_update(self.digest, record, self.version)
        elif isinstance(record, Message):
            self.check_message(record)
            digest_update(self.digest, record, self.version)
        else:
            self.summary = record

    # ------------------------------------------------------------ header

    def check_header(self, h: Header) -> None:
        if h.format_version not in READABLE_VERSIONS:
            readable = " or ".join(map(str, READABLE_VERSIONS))
            raise self.fail(f"format_version {h.format_version} is not one this carbonc reads ({readable}): "
                            "plan the scenario again with this carbonc")
        _text(self, h.scenario, "the scenario name")
        if not 0 <= h.seed < 2**63:
            raise self.fail(f"the seed {h.seed} is outside 0 to 2^63 - 1")
        for name, value in h.params.items():
            _text(self, name, "a parameter name")
            if isinstance(value, str):
                _text(self, value, f"parameter `{name}`")
            elif abs(value) > 10**18:
                raise self.fail(f"parameter `{name}` is too large")
        for index, policy in enumerate(h.policies):
            if policy.id != index:
                raise self.fail(f"delivery policies must be numbered 0, 1, … in order (policy {index} says "
                                f"{policy.id})")
            self.check_policy(policy)
        for check in h.checks:
            _text(self, check.name, "a check's name")
            self.check_expr(check.expr, probe=False)
        for warning in h.warnings:
            _text(self, warning, "a warning")
        for probe in h.probes:
            self.check_probe(probe)

    def check_policy(self, p: Policy) -> None:
        where = f"delivery policy {p.id}"
        for event in p.applies_to:
            if event not in vocabulary.NEUTRAL_EVENTS:
                raise self.fail(f"{where} applies to `{_short(event)}`, which is not an event")
        if p.order not in vocabulary.ORDER_MODES:
            raise self.fail(f"{where} has the unknown order `{_short(p.order)}`")
        if not 1 <= p.repeat <= vocabulary.MAX_REPEAT:
            raise self.fail(f"{where} repeats messages {p.repeat} times (1 to {vocabulary.MAX_REPEAT})")
        for name in ("shuffle_within_ms", "delay_ms", "jitter_ms"):
            if not 0 <= getattr(p, name) <= MAX_MS:
                raise self.fail(f"{where}: `{name}` must be between 0 and ten years")
        _ratio(self, p.drop, f"{where}: the dropped share")
        total = Decimal(0)
        for share in p.signatures:
            if share.mode not in vocabulary.SIGNATURE_MODES:
                raise self.fail(f"{where} signs in the unknown mode `{_short(share.mode)}`")
            total += _ratio(self, share.share, f"{where}: the share of `{share.mode}`")
        if not p.signatures or total != 1:
            raise self.fail(f"{where}: signature shares must add up to 1")
        if isinstance(p.retry, str):
            if p.retry not in vocabulary.RETRY_KEYWORDS:
                raise self.fail(f"{where} has the unknown retry ladder `{_short(p.retry)}`")
        elif len(p.retry) > 100 or not all(0 <= wait <= MAX_MS for wait in p.retry):
            raise self.fail(f"{where}: retry waits must be at most 100, each between 0 and ten years")
        for status in p.fail_on:
            if status not in vocabulary.FAIL_STATUSES:
                raise self.fail(f"{where} fails on the unknown answer `{_short(status)}`")
        if p.timeout_ms is not None and not 1 <= p.timeout_ms <= MAX_TIMEOUT_MS:
            raise self.fail(f"{where}: the timeout must be between 1 ms and a day")
        for mode, verdict in p.verdicts.items():
            if mode not in vocabulary.SIGNATURE_MODES or verdict not in vocabulary.VERDICTS:
                raise self.fail(f"{where} has an unknown verdict setting `{_short(mode)} {_short(verdict)}`")

    def check_probe(self, probe: Probe) -> None:
        _text(self, probe.name, "a probe's name")
        if probe.method not in vocabulary.HTTP_METHODS:
            raise self.fail(f"probe `{_short(probe.name)}` has the unknown method `{_short(probe.method)}`")
        if probe.kind is not None and probe.kind not in vocabulary.KINDS:
            raise self.fail(f"probe `{_short(probe.name)}` selects the unknown kind `{_short(probe.kind)}`")
        for text in (probe.url, probe.body or "", *(v for pair in probe.headers for v in pair)):
            _text(self, text, f"probe `{_short(probe.name)}`'s request")
        if not 0 <= probe.eventually_ms <= MAX_WINDOW_MS:
            raise self.fail(f"probe `{_short(probe.name)}`: `eventually` must be at most an hour")
        for expect in probe.expects:
            self.check_expr(expect.expr, probe=True)

    def select_next(self, probe: int, rest: Iterator[str]) -> None:
        # A probe's selection is in plan order: its next ID is the next of its entities to come.
        entity = next(rest, None)
        if entity is not None:
            self.selecting.setdefault(entity, []).append((probe, rest))

    def check_selected(self, number: int, entity: Entity) -> None:
        assert self.header is not None
        probe = self.header.probes[number] if number < len(self.header.probes) else None
        if probe is None or entity.kind != probe.kind:
            name = probe.name if probe is not None else f"number {number}"
            raise PlanError(f"probe `{_short(name)}` selects `{_short(entity.id)}`, which is not a "
                            f"{probe.kind if probe is not None else 'probe'} of the plan")

    def check_expr(self, expr: CheckExpr, *, probe: bool) -> None:
        stack: list[CheckExpr] = [expr]
        seen = 0
        while stack:
            node = stack.pop()
            seen += 1
            if seen > MAX_EXPR_NODES:
                raise self.fail("a condition too large to judge")
            match node:
                case MetricRef(name=name):
                    if not probe and name not in vocabulary.METRICS:
                        raise self.fail(f"a check names `{_short(name)}`, which is not a metric")
                    _text(self, name, "a name in a condition")
                case DecimalConst(value=v):
                    _decimal(self, v)
                case MoneyConst(currency=c, minor=m):
                    _decimal(self, m)
                    if c not in CURRENCIES:
                        raise self.fail(f"the unknown currency `{_short(c)}` in a condition")
                case IntConst(value=v):
                    if abs(v) > 10**30:
                        raise self.fail("an integer in a condition is too large")
                case DurationConst() | StrConst() | BoolConst():
                    pass
                case UnaryExpr(operand=operand):
                    stack.append(operand)
                case BinaryExpr(left=left, right=right):
                    stack += [left, right]
                case CallExpr(func=func, args=args):
                    if func not in vocabulary.FUNCTIONS:
                        raise self.fail(f"a condition calls `{_short(func)}`, which is not a function")
                    stack += args
                case ListExpr(items=items):
                    stack += items
                case MapCall(arg=arg):
                    stack.append(arg)
                case _:
                    assert_never(node)

    # ------------------------------------------------------------ entities and messages

    def check_entity(self, e: Entity) -> None:
        what = f"entity `{_short(e.id)}`"
        if not _ID.fullmatch(e.id):
            raise self.fail(f"{what}: an ID is 1 to {MAX_ID} letters, digits or `_`")
        if e.kind not in vocabulary.KINDS:
            raise self.fail(f"{what} has the unknown kind `{_short(e.kind)}`")
        want = vocabulary.PARENT_KINDS.get(e.kind)
        if want is None and e.parent is not None:
            raise self.fail(f"{what}: a {e.kind} has no parent")
        # Parents come before their children, so the graph can have no cycle (`finish` checks
        # each parent once every entity is indexed).
        if want is not None and e.parent is None:
            raise self.fail(f"{what}: its parent must be a {want} defined before it, not `None`")
        if not 0 <= e.amount_minor <= MAX_AMOUNT_MINOR:
            raise self.fail(f"{what}: the amount must be between 0 and 10^15 minor units")
        if e.currency not in CURRENCIES:
            raise self.fail(f"{what} has the unknown currency `{_short(e.currency)}`")
        if e.method is not None and e.method not in vocabulary.PAYMENT_METHODS:
            raise self.fail(f"{what} has the unknown method `{_short(e.method)}`")
        states = vocabulary.STATES[e.kind]
        if e.state not in states:
            raise self.fail(f"{what}: `{_short(e.state)}` is not a state of a {e.kind}")
        if not 1 <= len(e.transitions) <= MAX_TRANSITIONS:
            raise self.fail(f"{what} must have 1 to {MAX_TRANSITIONS} transitions")
        for t in e.transitions:
            if t.state not in states or not 0 <= t.at_ms <= MAX_MS:
                raise self.fail(f"{what} has an invalid transition ({_short(t.state)} at {t.at_ms} ms)")
            for text in (t.reason, t.code):
                if text is not None:
                    _text(self, text, f"{what}'s failure reason")
        for key, value in e.attrs.items():
            _text(self, key + value, f"{what}'s attributes")
        self.entities.setdefault(e.kind, Counter())[e.state] += 1
        attr = ENTITY_ATTRS[e.kind] if e.kind in DETAILED_KINDS else None
        if attr and e.attrs.get(attr):
            self.details.setdefault(e.kind, Counter())[f"{attr} {e.attrs[attr]}"] += 1
        self.times += [t.at_ms for t in e.transitions]
        if len(self.times) > 1024:
            self.times = [min(self.times), max(self.times)]

    def check_message(self, m: Message) -> None:
        what = f"message {m.seq}"
        if m.seq != self.seq:
            raise self.fail(f"messages must be numbered 0, 1, … in order (expected {self.seq}, found {m.seq})")
        self.seq += 1
        if not _ID.fullmatch(m.id):
            raise self.fail(f"{what}: an event ID is 1 to {MAX_ID} letters, digits or `_`")
        # Whether the entity is there and of the event's kind is asked of the index at the end;
        # an event that is no event names a kind no entity has.
        kind = m.event.partition(".")[0] if m.event in vocabulary.NEUTRAL_EVENTS else ""
        self.index.cite(self.number, m.seq, m.entity, kind, m.event)
        assert self.header is not None
        if not 0 <= m.policy < len(self.header.policies):
            raise self.fail(f"{what} names delivery policy {m.policy}, which the plan does not have")
        if m.signature not in vocabulary.SIGNATURE_MODES:
            raise self.fail(f"{what} is signed in the unknown mode `{_short(m.signature)}`")
        if not 0 <= m.copy < vocabulary.MAX_REPEAT or not 0 <= m.at_ms <= MAX_MS or not 0 <= m.send_ms <= 2 * MAX_MS:
            raise self.fail(f"{what}: its copy number or times are out of range")
        if m.forged and (m.signature not in vocabulary.FORGERIES or m.dropped):
            raise self.fail(f"{what}: a forged copy is signed in a forged mode and never dropped")
        if m.forged:
            self.faults[f"forged {m.signature}"] += 1
        elif m.copy == 0:
            self.messages[m.event] += 1
            if m.dropped:
                self.faults["dropped"] += 1
            if m.signature != "valid":
                self.faults[f"signature {m.signature}"] += 1
        else:
            self.faults["duplicates"] += 1
        if not m.dropped:
            self.deliveries += 1

    # ------------------------------------------------------------ the end

    def finish(self) -> tuple[Header, Summary]:
        if self.header is None:
            raise PlanError("the file is empty: not a carbonc plan")
        if self.summary is None:
            raise PlanError(f"line {self.number}: the plan ends without its summary (cut off?)")
        if self.selecting:
            entity, [(number, _), *_] = min(self.selecting.items(), key=lambda item: item[1][0][0])
            probe = self.header.probes[number]
            raise PlanError(f"probe `{_short(probe.name)}` selects `{_short(entity)}`, which is not a {probe.kind} of "
                            "the plan (or not in plan order, as a probe's entities are listed)")
        self.check_references()
        stored = self.summary
        if stored.records_sha256 is None:
            raise PlanError("the plan has no digest of its records (written by an older carbonc, or edited): "
                            "plan the scenario again")
        if stored.records_sha256 != self.digest.hexdigest():
            raise PlanError("the plan's records do not match its digest: the file was changed after it was "
                            "written (plan the scenario again rather than editing a saved plan)")
        recomputed = Summary(
            entities={k: dict(sorted(c.items(), key=lambda kv: vocabulary.STATES[k].index(kv[0])))
                      for k, c in self.entities.items()},
            details={k: dict(sorted(c.items())) for k, c in self.details.items()},
            messages=dict(sorted(self.messages.items())),
            faults=dict(sorted(self.faults.items())),
            deliveries=self.deliveries,
            first_ms=min(self.times, default=0),
            last_ms=max(self.times, default=0),
            records_sha256=stored.records_sha256,
        )
        for field in ("entities", "messages", "faults", "deliveries", "first_ms", "last_ms"):
            if getattr(recomputed, field) != getattr(stored, field):
                raise PlanError(f"the plan's summary does not match its records ({field}: the summary says "
                                f"{_short(str(getattr(stored, field)))}, the records "
                                f"{_short(str(getattr(recomputed, field)))})")
        return self.header, recomputed


    def check_references(self) -> None:
        """Every ID defined once, every parent of the right kind and before its child, and every
        message and probe about an entity of the plan of its kind."""
        twice = self.index.build()
        if twice is not None:
            line, entity = twice
            raise PlanError(f"line {line}: entity `{_short(entity)}` is defined twice")
        orphan = self.index.first_orphan()
        if orphan is not None:
            line, entity, _, want, parent = orphan
            raise PlanError(f"line {line}: entity `{_short(entity)}`: its parent must be a {want} defined before "
                            f"it, not `{_short(str(parent))}`")
        cited = self.index.first_unresolved()
        if cited is None:
            return
        where, seq, entity, event, found = cited
        if found is None:
            raise PlanError(f"line {where}: message {seq} is about `{_short(entity)}`, which the plan does not define")
        raise PlanError(f"line {where}: message {seq}: `{_short(str(event))}` is not an event of a {found}")


def _text(checker: _Checker, text: str, what: str) -> None:
    if len(text) > MAX_TEXT or any(ord(c) < 32 and c not in "\t" for c in text) or "\x7f" in text:
        raise checker.fail(f"{what} is longer than {MAX_TEXT} characters or holds a control character")


def _decimal(checker: _Checker, value: Decimal) -> None:
    _, digits, exponent = value.as_tuple()
    # A finite Decimal's exponent is an int; a NaN's or an infinity's is "n", "N" or "F".
    if (not isinstance(exponent, int) or len(digits) > MAX_DECIMAL_DIGITS
            or not -MAX_DECIMAL_DIGITS <= exponent <= MAX_DECIMAL_DIGITS):
        raise checker.fail(f"a decimal with more than {MAX_DECIMAL_DIGITS} digits or an exponent past "
                           f"±{MAX_DECIMAL_DIGITS}")


def _ratio(checker: _Checker, text: str, what: str) -> Decimal:
    if len(text) > 64:
        raise checker.fail(f"{what} is not a ratio")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise checker.fail(f"{what} `{_short(text)}` is not a number") from None
    _decimal(checker, value)
    if not 0 <= value <= 1:
        raise checker.fail(f"{what} must be between 0 and 1")
    return value


def _short(text: str) -> str:
    """`text` safe to show: control characters escaped, at most 80 characters."""
    shown = text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 80 else shown[:80] + "…"


__all__ = ["PlanError", "digest_update", "index_plan", "is_plan_text", "records_digest", "verify_plan"]
