"""Renders a plan for people (`text`, Terraform-like) and machines (`json_summary`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import assert_never

from carbonc.domain.units import duration_text, format_ratio
from carbonc.domain.vocabulary import FORGERIES, PLURALS
from carbonc.plan.judge import condition_text, string_text
from carbonc.plan.records import Check, Header, Policy, Probe, Summary

_PLURAL = {kind: plural for plural, kind in PLURALS.items()}


def span_text(ms: int) -> str:
    """`864001000` -> `10d 0h 0m 1s`, dropping leading zero units."""
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        value, ms = divmod(ms, size)
        if value or parts:
            parts.append(f"{value}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return " ".join(parts)


def policy_words(policy: Policy) -> str:
    """Describe a delivery policy in a sentence."""
    words = []
    if policy.order == "shuffle":
        words.append(f"shuffled within {duration_text(policy.shuffle_within_ms)}")
    else:
        words.append({"sequence": "in sequence", "reverse": "in reverse order", "random": "in random order"}
                     .get(policy.order, policy.order))
    words.append("once" if policy.repeat == 1 else f"{policy.repeat} times each (same event id)")
    if policy.delay_ms or policy.jitter_ms:
        delay = f"delayed {duration_text(policy.delay_ms)}"
        if policy.jitter_ms:
            delay += f" ± up to {duration_text(policy.jitter_ms)} jitter"
        words.append(delay)
    if Decimal(policy.drop):
        words.append(f"{format_ratio(Decimal(policy.drop))} dropped")
    # A forged mode is an attacker's copy beside the genuine message, which stays validly signed.
    genuine = [s for s in policy.signatures if s.mode not in FORGERIES]
    forged = [s for s in policy.signatures if s.mode in FORGERIES]
    if len(genuine) == 1 or not any(s.mode != "valid" for s in genuine):
        words.append(f"signed {genuine[0].mode if len(genuine) == 1 else 'valid'}")
    else:
        words.append("signatures " + ", ".join(f"{s.mode} {format_ratio(Decimal(s.share))}" for s in genuine))
    if forged:
        words.append("plus forged copies of " + ", ".join(f"{format_ratio(Decimal(s.share))} ({s.mode})"
                                                          for s in forged))
    if isinstance(policy.retry, str):
        words.append({"gateway": "retried on the gateway's own ladder", "none": "never retried"}
                     .get(policy.retry, f"retried on `{policy.retry}`"))
    else:
        words.append("retried after " + ", ".join(duration_text(ms) for ms in policy.retry))
    words.append("failure on " + "/".join(policy.fail_on))
    if policy.timeout_ms:
        words.append(f"timeout {duration_text(policy.timeout_ms)}")
    for mode, verdict in sorted(policy.verdicts.items()):
        words.append(f"expect {verdict} for {mode}")
    return ", ".join(words)


def text(header: Header, summary: Summary, probe_sizes: Sequence[int] | None = None) -> str:
    """The human summary of a plan. `probe_sizes` gives how many entities each probe selects
    when `header` leaves them out (a compiled plan's outline: a million orders' probes select
    4.7 million, whose IDs the summary would make only to count them)."""
    out = [f"Plan for scenario {header.scenario} (seed {header.seed}, format {header.format_version})", ""]
    if header.params:
        out.append("Parameters:")
        width = max(len(n) for n in header.params)
        for name, value in header.params.items():
            out.append(f"  {name:<{width}} = {value}")
        out.append("")
    out.append("Entities, by final state:")
    total_entities = 0
    for kind, states in summary.entities.items():
        n = sum(states.values())
        total_entities += n
        detail = ", ".join(f"{count:,} {state}" for state, count in states.items())
        out.append(f"  + {n:>9,} {_PLURAL[kind]:<12} {detail}")
    out.append("")
    out.append("Webhook messages, by event:")
    total_messages = sum(summary.messages.values())
    width = max((len(e) for e in summary.messages), default=0)
    for event, count in summary.messages.items():
        out.append(f"  {event:<{width}}  {count:>9,}")
    out.append("")
    if summary.faults:
        out.append("Faults:")
        fault_width = max(width, *(len(f) for f in summary.faults))
        for fault, count in summary.faults.items():
            out.append(f"  {fault:<{fault_width}}  {count:>9,}")
        out.append("")
    out.append("Delivery:")
    for policy in header.policies:
        out.append(f"  {_applies(policy)}: {policy_words(policy)}")
    out.append("")
    if header.checks:
        out.append("Checks:")
        width = max(len(c.severity or "-") for c in header.checks)
        for check in header.checks:
            out.append(f"  {check.severity or '-':<{width}}  {check_line(check)}")
        out.append("")
    if header.probes:
        out.append("Probes of the merchant's state (after the deliveries settle):")
        width = max(len(p.severity or "-") for p in header.probes)
        for probe, size in zip(header.probes, _sizes(header, probe_sizes), strict=True):
            out.append(f"  {probe.severity or '-':<{width}}  {probe_line(probe, size)}")
            for expect in probe.expects:
                out.append(f"  {'':<{width}}    expect {condition_text(expect.expr)}")
        out.append("")
    out.append(f"Virtual time: {span_text(summary.first_ms)} to {span_text(summary.last_ms)} "
               f"({span_text(summary.last_ms - summary.first_ms)})")
    for warning in header.warnings:
        out.append(f"warning: {warning}")
    out.append(f"Plan: {total_entities:,} entities, {total_messages:,} messages, "
               f"{summary.deliveries:,} deliveries.")
    return "\n".join(out) + "\n"


def check_line(check: Check) -> str:
    """A check as it will be judged, parameters substituted: `expect disputes == 150`."""
    match check.kind:
        case "expect":
            return f"expect {condition_text(check.expr)}"
        case "finding":
            return f"finding when {condition_text(check.expr)} {string_text(check.message or '')}"
        case _:
            assert_never(check.kind)


def probe_line(probe: Probe, size: int | None = None) -> str:
    """`GET {{ base }}/orders/{{ order.id }} for each paid order: 150 orders, eventually within
    30s (oracle idempotency)`; `size` is how many entities it selects, if not its `entities`."""
    if probe.kind is None:
        what = "once"
    else:
        n = len(probe.entities) if size is None else size
        what = f"{probe.selection}: {n:,} {probe.kind if n == 1 else _PLURAL[probe.kind]}"
    extra = f", eventually within {span_text(probe.eventually_ms)}" if probe.eventually_ms else ""
    origin = f" (oracle {probe.oracle})" if probe.oracle else ""
    return f"{probe.method} {probe.url} {what}{extra}{origin}"


def _applies(policy: Policy) -> str:
    events = sorted(policy.applies_to)
    if len(events) > 4:
        return f"{len(events)} events ({', '.join(events[:3])}, …)"
    return ", ".join(events)


def _sizes(header: Header, probe_sizes: Sequence[int] | None) -> Sequence[int]:
    """How many entities each probe of `header` selects: `probe_sizes`, or its `entities`."""
    return [len(p.entities) for p in header.probes] if probe_sizes is None else probe_sizes


def json_summary(header: Header, summary: Summary, probe_sizes: Sequence[int] | None = None) -> dict[str, object]:
    """The machine summary: format_version, scenario, seed, resolved params, counts, delivery
    policies and checks (each with its `condition` as it will be judged); `probe_sizes` as for
    `text`."""
    return {
        "format_version": header.format_version,
        "scenario": header.scenario,
        "seed": header.seed,
        "params": header.params,
        "source_sha256": header.source_sha256,
        "summary": {
            "entities": summary.entities,
            "messages": summary.messages,
            "faults": summary.faults,
            "deliveries": summary.deliveries,
            "virtual_ms": {"first": summary.first_ms, "last": summary.last_ms},
        },
        "policies": [
            {"applies_to": sorted(p.applies_to), "description": policy_words(p)} for p in header.policies
        ],
        "checks": [
            {"kind": c.kind, "name": c.name, "severity": c.severity, "text": c.text,
             "condition": condition_text(c.expr), "message": c.message}
            for c in header.checks
        ],
        "probes": [
            {"name": p.name, "severity": p.severity, "method": p.method, "url": p.url, "kind": p.kind,
             "entities": size, "eventually_ms": p.eventually_ms, "oracle": p.oracle,
             "expects": [condition_text(e.expr) for e in p.expects]}
            for p, size in zip(header.probes, _sizes(header, probe_sizes), strict=True)
        ],
    }
