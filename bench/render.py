"""Benchmark the dialects: render and sign every delivery of a bundled scenario's plan, once per
provider, and report messages/s beside the bar (10,000/s per provider: rendering and signing
must stay a small part of the time a delivery takes).

    python bench/render.py [--scenario webhook-fault-sweep] [--orders 5000] [--rounds 3] [--profile]

Signature modes a provider cannot produce are rendered as `valid`; events it does not send are
left out (as a run would). Each figure is the best of `--rounds`.
"""

from __future__ import annotations

import argparse
import json
import time

import msgspec

from carbonc.api import compile_source, read_or_diagnose
from carbonc.dialects import EntityIndex, Secrets, build_request, get_dialect
from carbonc.plan.records import Entity, Message
from carbonc.scenarios import find

BAR_PER_S = 10_000

DIALECTS = [
    ("razorpay", "razorpay", {}, "bench_razorpay_secret_0123456789"),
    ("stripe", "stripe", {}, "whsec_benchbenchbenchbenchbenchbench"),
    ("cashfree 2023-08-01", "cashfree", {"version": "2023-08-01"}, "cfsk_ma_test_benchbenchbenchbench"),
    ("cashfree 2025-01-01", "cashfree", {"version": "2025-01-01"}, "cfsk_ma_test_benchbenchbenchbench"),
    ("juspay", "juspay", {}, "bench_user:bench_password"),
    ("standard", "standard", {}, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
]


def _plan(scenario: str, orders: str) -> tuple[EntityIndex, list[Message]]:
    plan = compile_source(read_or_diagnose(find(scenario)), overrides={"baseline_orders": orders})
    entities: list[Entity] = []
    messages: list[Message] = []
    for record in plan.records():
        if isinstance(record, Entity):
            entities.append(record)
        elif isinstance(record, Message) and not record.dropped:
            messages.append(record)
    return EntityIndex(entities), messages


def _deliveries(provider: str, options: dict, index: EntityIndex, messages: list[Message]) -> list[Message]:
    dialect = get_dialect(provider, **options)
    return [m if m.signature in dialect.modes else msgspec.structs.replace(m, signature="valid")
            for m in messages if dialect.skip_reason(m, index) is None]


def _time(provider: str, options: dict, secret: str, index: EntityIndex, todo: list[Message], rounds: int) -> float:
    dialect = get_dialect(provider, **options)
    secrets = Secrets(secret)
    now = int(time.time() * 1000)
    origin = now - max(m.send_ms for m in todo)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for m in todo:
            build_request(dialect, m, index, secrets=secrets, now_ms=now, origin_ms=origin)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="webhook-fault-sweep")
    ap.add_argument("--orders", default="5000", help="baseline_orders for the scenario")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="profile one provider's renders (stripe) instead")
    args = ap.parse_args()
    index, messages = _plan(args.scenario, args.orders)
    if args.profile:
        import cProfile
        import pstats

        todo = _deliveries("stripe", {}, index, messages)
        cProfile.runctx("_time('stripe', {}, 'whsec_x', index, todo, 1)", globals(), locals(), "/tmp/render.prof")
        pstats.Stats("/tmp/render.prof").sort_stats("tottime").print_stats(20)
        return
    figures = {}
    print(f"{args.scenario}, baseline_orders={args.orders}: {len(messages):,} deliveries in the plan")
    print(f"{'provider':<22}{'messages':>10}{'messages/s':>14}{'µs each':>10}{'bar':>10}{'ratio':>9}")
    for label, provider, options, secret in DIALECTS:
        todo = _deliveries(provider, options, index, messages)
        seconds = _time(provider, options, secret, index, todo, args.rounds)
        rate = len(todo) / seconds
        figures[label] = round(rate)
        print(f"{label:<22}{len(todo):>10,}{rate:>14,.0f}{1e6 / rate:>10.1f}{BAR_PER_S:>10,}{rate / BAR_PER_S:>8.2f}x")
    print(json.dumps({"messages_per_s": figures}))
    print("ratio > 1.00x means the bar is met")


if __name__ == "__main__":
    main()
