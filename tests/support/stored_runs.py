"""A fixed run written through the real Store API into a real DuckDB file: every row, time and
latency chosen here, so reports of it can be compared with snapshots."""

from __future__ import annotations

from pathlib import Path

from carbonc.store import Batch, CheckRow, DeliveryRow, EntityRow, MessageRow, RunRow, open_store

#: 2026-01-02 03:04:05 UTC, in epoch milliseconds.
STARTED_MS = 1_767_323_045_000


def write_fixed_run(db: Path, run_id: str = "run_fixed_a", *, handler_fixed: bool = False,
                    started_ms: int = STARTED_MS, latency_scale: float = 1.0) -> str:
    """Write one completed run of two orders: one acknowledged after a retry, one whose payment
    the gateway gave up on (timeouts), a forged copy the handler accepted, a dropped message, and
    checks of every kind, a probe with a failing entity among them. `handler_fixed` writes the
    same run as a correct handler would have answered it. Returns the run id."""
    store = open_store(db)
    try:
        store.begin_run(RunRow(run_id=run_id, scenario="fixed", source_sha256="0" * 64, plan_sha256="1" * 64,
                               seed=7, provider="razorpay", params='{"orders": 2}', started_at_ms=started_ms,
                               version="0.0.0", target="http://127.0.0.1:8000/hooks", concurrency=2))
        entities = [EntityRow(run_id, "order_A", "order", None, "paid", 250000, "INR", None, "{}"),
                    EntityRow(run_id, "pay_A", "payment", "order_A", "captured", 250000, "INR", "card", "{}"),
                    EntityRow(run_id, "order_B", "order", None, "paid", 99900, "INR", None, "{}"),
                    EntityRow(run_id, "pay_B", "payment", "order_B", "captured", 99900, "INR", "upi", "{}")]
        messages = [
            MessageRow(run_id, "evt_1", 0, 1000, 1000, "payment.captured", "payment.captured", "pay_A", None,
                       "valid", None, "evt_1", None),
            MessageRow(run_id, "evt_2#forged", 1, 2000, 2000, "payment.captured", "payment.captured", "pay_B",
                       "forged,signature:corrupted", "corrupted", None, "evt_2", None),
            MessageRow(run_id, "evt_2", 2, 2000, 2000, "payment.captured", "payment.captured", "pay_B", None,
                       "valid", None, "evt_2", None),
            MessageRow(run_id, "evt_3", 3, 3000, 3000, "order.paid", "order.paid", "order_A", "dropped",
                       "valid", None, "evt_3", "dropped by the plan"),
        ]
        deliveries = [
            _attempt(run_id, "evt_1", 1, "payment.captured", "valid", started_ms + 10, 1000, 503, 12.5, None, "5xx",
                     True, "accept", False, "try again <later>"),
            _attempt(run_id, "evt_1", 2, "payment.captured", "valid", started_ms + 20, 301000, 200, 3.25, None,
                     "2xx", False, "accept", True, "ok"),
            _attempt(run_id, "evt_2#forged", 1, "payment.captured", "corrupted", started_ms + 30, 2000,
                     400 if handler_fixed else 200, 4.0, None, "4xx" if handler_fixed else "2xx",
                     handler_fixed, "reject", handler_fixed, "bad signature" if handler_fixed else "ok"),
            _attempt(run_id, "evt_2", 1, "payment.captured", "valid", started_ms + 40, 2000,
                     200 if handler_fixed else None, 2.0 if handler_fixed else 5000.0,
                     None if handler_fixed else "timeout", "2xx" if handler_fixed else "timeout",
                     not handler_fixed, "accept", handler_fixed, "ok" if handler_fixed else None),
        ]
        if not handler_fixed:
            deliveries.append(_attempt(run_id, "evt_2", 2, "payment.captured", "valid", started_ms + 5050, 302000,
                                       None, 5000.0, "timeout", "timeout", True, "accept", False, None))
        for d in deliveries:
            d.latency_ms *= latency_scale
        probe = "probe GET {{ base }}/payments/{{ payment.id }} for each payment"
        checks = [
            CheckRow(run_id, "expect", "expect orders == orders", "high", True, "orders == 2", "orders = 2",
                     "holds: orders = 2", "scenario"),
            CheckRow(run_id, "expect", "expect deliveries.mismatched == 0", "critical", handler_fixed,
                     "deliveries.mismatched == 0", f"deliveries.mismatched = {0 if handler_fixed else 4}",
                     "holds" if handler_fixed else "expected deliveries.mismatched == 0, but it is 4", "handler"),
            CheckRow(run_id, "finding", "finding when dropped > 0", "medium", False, "dropped > 0", "dropped = 1",
                     "a webhook was dropped: reconcile", "scenario"),
            CheckRow(run_id, "probe", probe, "high", handler_fixed, "json.status == payment.state",
                     "1 passed, 1 failed" if not handler_fixed else "2 passed", "one entity is wrong", "merchant"),
            CheckRow(run_id, "probe", probe, "high", True, "json.status == payment.state", "json.status = 'captured'",
                     None, "merchant", "pay_A", "GET http://127.0.0.1:8000/payments/pay_A", 3.0, 1),
            CheckRow(run_id, "probe", probe, "high", handler_fixed, "json.status == payment.state",
                     "json.status = 'created', payment.state = 'captured'",
                     "field: json.status is 'created', not 'captured'", "merchant", "pay_B",
                     "GET http://127.0.0.1:8000/payments/pay_B", 4.0, 1),
        ]
        store.append(Batch(entities=entities, messages=messages, deliveries=deliveries, checks=checks))
        store.finish_run(run_id, "completed", started_ms + 6000, "1" * 64)
    finally:
        store.close()
    return run_id


def _attempt(run_id: str, message_id: str, attempt: int, event: str, mode: str, sent_at_ms: int, virtual_ms: int,
             status: int | None, latency_ms: float, error: str | None, outcome: str, failed: bool, expected: str,
             verdict_ok: bool, snippet: str | None) -> DeliveryRow:
    return DeliveryRow(run_id, f"{message_id}/{attempt}", message_id, attempt, event, mode, sent_at_ms, virtual_ms,
                       status, latency_ms, error, outcome, failed, expected, verdict_ok, '{"event": "' + event + '"}',
                       snippet)
