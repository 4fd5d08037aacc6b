"""Compares two plans in Terraform's manner: grouped, with `+`, `-` and `~` lines and a
one-line summary. Only summaries, parameters and policies are compared, so plans of any size
diff in constant memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from carbonc.plan.describe import _PLURAL, policy_words, probe_line
from carbonc.plan.judge import condition_text
from carbonc.plan.records import Header, Policy, Summary

_SETTING_WORDS = {
    "order": "webhook order", "shuffle_within_ms": "shuffle window", "repeat": "webhook repeat",
    "delay_ms": "webhook delay", "jitter_ms": "webhook jitter", "drop": "dropped share",
    "signatures": "signatures", "retry": "retry ladder", "fail_on": "failure on",
    "timeout_ms": "request timeout", "verdicts": "expected verdicts",
}


class PlanDiff(msgspec.Struct, frozen=True):
    """Grouped change lines and counts of additions, removals and changes."""

    groups: list[tuple[str, list[str]]]
    added: int
    removed: int
    changed: int

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff(old: tuple[Header, Summary], new: tuple[Header, Summary]) -> PlanDiff:
    """Return what changes from `old` to `new`."""
    (oh, os_), (nh, ns) = old, new
    counts = {"+": 0, "-": 0, "~": 0}
    groups: list[tuple[str, list[str]]] = []

    def add(group: list[str], sign: str, text: str) -> None:
        counts[sign] += 1
        group.append(f"{sign} {text}")

    scenario: list[str] = []
    if oh.scenario != nh.scenario:
        add(scenario, "~", f"scenario: {oh.scenario} → {nh.scenario}")
    if oh.seed != nh.seed:
        add(scenario, "~", f"seed: {oh.seed} → {nh.seed}")
    groups.append(("Scenario", scenario))

    params: list[str] = []
    for name in _union(oh.params, nh.params):
        if name not in oh.params:
            add(params, "+", f"param {name} = {nh.params[name]}")
        elif name not in nh.params:
            add(params, "-", f"param {name} = {oh.params[name]}")
        elif oh.params[name] != nh.params[name]:
            add(params, "~", f"param {name}: {oh.params[name]} → {nh.params[name]}")
    groups.append(("Parameters", params))

    entities: list[str] = []
    for kind in _union(os_.entities, ns.entities):
        before, after = os_.entities.get(kind, {}), ns.entities.get(kind, {})
        total = sum(after.values()) - sum(before.values())
        plural = _PLURAL.get(kind, kind)
        details = _detail_delta(os_.details.get(kind, {}), ns.details.get(kind, {}))
        if total:
            sign = "+" if total > 0 else "-"
            add(entities, sign, f"{abs(total):,} {plural}" + (f" ({details})" if details else ""))
        states = [f"{s} {before.get(s, 0):,} → {after.get(s, 0):,}" for s in _union(before, after)
                  if before.get(s, 0) != after.get(s, 0)]
        if states and not (total and len(states) == 1):
            add(entities, "~", f"{plural} by state: " + ", ".join(states))
        elif details and not total:
            add(entities, "~", f"{plural}: {details}")
    groups.append(("Entities", entities))

    messages: list[str] = []
    for event in _union(os_.messages, ns.messages):
        delta = ns.messages.get(event, 0) - os_.messages.get(event, 0)
        if delta:
            add(messages, "+" if delta > 0 else "-", f"{abs(delta):,} {event}")
    for fault in _union(os_.faults, ns.faults):
        a, b = os_.faults.get(fault, 0), ns.faults.get(fault, 0)
        if a != b:
            add(messages, "~", f"{fault}: {a:,} → {b:,}")
    groups.append(("Messages", messages))

    delivery: list[str] = []
    for events, setting, old_text, new_text in _policy_changes(oh.policies, nh.policies):
        add(delivery, "~", f"{_SETTING_WORDS.get(setting, setting)} ({events}): {old_text} → {new_text}")
    groups.append(("Delivery", delivery))

    checks: list[str] = []
    old_checks = {c.name: condition_text(c.expr) for c in oh.checks}
    new_checks = {c.name: condition_text(c.expr) for c in nh.checks}
    for name in _union(old_checks, new_checks):
        if name not in old_checks:
            add(checks, "+", f"{new_checks[name]}")
        elif name not in new_checks:
            add(checks, "-", f"{old_checks[name]}")
        elif old_checks[name] != new_checks[name]:
            add(checks, "~", f"{old_checks[name]} → {new_checks[name]}")
    old_probes = {p.name: p for p in oh.probes}
    new_probes = {p.name: p for p in nh.probes}
    for name in _union(old_probes, new_probes):
        was, now = old_probes.get(name), new_probes.get(name)
        if was is None:
            add(checks, "+", probe_line(new_probes[name]))
            continue
        if now is None:
            add(checks, "-", probe_line(was))
            continue
        if len(was.entities) != len(now.entities) or was.entities != now.entities:
            add(checks, "~", f"{was.method} {was.url}: {len(was.entities):,} → {len(now.entities):,} entities"
                if len(was.entities) != len(now.entities) else f"{was.method} {was.url}: other entities selected")
        ea = [condition_text(e.expr) for e in was.expects]
        eb = [condition_text(e.expr) for e in now.expects]
        for text in eb:
            if text not in ea:
                add(checks, "+", f"{was.method} {was.url}: expect {text}")
        for text in ea:
            if text not in eb:
                add(checks, "-", f"{was.method} {was.url}: expect {text}")
        if ea == eb and msgspec.json.encode(was.expects) != msgspec.json.encode(now.expects):
            add(checks, "~", f"{was.method} {was.url}: a map its expectations use changed")
        if was.maps != now.maps:
            add(checks, "~", f"{was.method} {was.url}: a map its templates use changed")
        for what in ("severity", "eventually_ms", "headers", "body", "method"):
            if getattr(was, what) != getattr(now, what):
                add(checks, "~", f"{was.method} {was.url}: {what.replace('_ms', '')} changed")
    groups.append(("Checks and probes", checks))

    records: list[str] = []
    if (os_.records_sha256 and ns.records_sha256 and os_.records_sha256 != ns.records_sha256
            and not any(lines for _, lines in groups)):
        # Every count and setting equal, the records not: amounts, times or IDs changed.
        add(records, "~", "the same counts and settings, other entities or messages (amounts, times or IDs)")
    groups.append(("Records", records))

    return PlanDiff([(name, lines) for name, lines in groups if lines], counts["+"], counts["-"], counts["~"])


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    return sorted(set(a) | set(b))


def _detail_delta(before: dict[str, int], after: dict[str, int]) -> str:
    parts = []
    for key in _union(before, after):
        delta = after.get(key, 0) - before.get(key, 0)
        if delta:
            parts.append(f"{key} {delta:+,}" if before.get(key) or delta < 0 else key)
    return ", ".join(parts)


def _setting_text(policy: Policy | None, setting: str) -> str:
    if policy is None:
        return "(none)"
    value = getattr(policy, setting)
    if setting == "signatures":
        return ", ".join(f"{s.mode} {s.share}" for s in value)
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "(default)"
    return str(value)


def _policy_changes(old: tuple[Policy, ...], new: tuple[Policy, ...]) -> Iterator[tuple[str, str, str, str]]:
    """Yield (events, setting, old text, new text), grouping events whose change is the same."""
    by_event_old = {e: p for p in old for e in p.applies_to}
    by_event_new = {e: p for p in new for e in p.applies_to}
    changes: dict[tuple[str, str, str], list[str]] = {}
    for event in _union(by_event_old, by_event_new):
        a, b = by_event_old.get(event), by_event_new.get(event)
        if a is None or b is None:
            continue  # the event itself appears or disappears: shown under Messages
        for setting in _SETTING_WORDS:
            ta, tb = _setting_text(a, setting), _setting_text(b, setting)
            if ta != tb:
                changes.setdefault((setting, ta, tb), []).append(event)
    for (setting, ta, tb), events in sorted(changes.items(), key=lambda kv: (kv[1][0], kv[0])):
        shown = ", ".join(events[:3]) + (f", … ({len(events)} events)" if len(events) > 3 else "")
        yield shown, setting, ta, tb


def diff_text(d: PlanDiff, new_name: str, old_name: str) -> str:
    """Text of a diff, ending with Terraform's one-line summary."""
    out = [f"Comparing {new_name} with {old_name}", ""]
    for name, lines in d.groups:
        out.append(f"{name}:")
        out += [f"  {line}" for line in lines]
        out.append("")
    if not d.has_changes:
        out.append("No changes. The plans are the same.")
    else:
        out.append(f"Plan: {d.added} to add, {d.changed} to change, {d.removed} to remove.")
    return "\n".join(out) + "\n"


__all__ = ["PlanDiff", "diff", "diff_text", "policy_words"]
