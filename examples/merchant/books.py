"""The merchant's rules for orders, payments, refunds, disputes and mandates, whichever gateway
reported the change."""

from __future__ import annotations

from dataclasses import dataclass

from examples.merchant.store import Store


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str | None
    amount: int
    currency: str
    failure_reason: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Dispute:
    id: str
    payment_id: str
    amount: int
    currency: str


# Statuses only move up these ladders: webhooks arrive late, twice and out of order, so an event
# reporting an earlier status than the one recorded is stale, not news.
_LADDERS = {
    "payments": {"pending": 0, "authorized": 1, "failed": 2, "captured": 3},
    "refunds": {"created": 0, "failed": 1, "processed": 2},
    "disputes": {"open": 0, "under_review": 1, "won": 2, "lost": 2, "closed": 2},
}
# A mandate may be paused and resumed, but a rejected or revoked one stays dead.
_FINAL_MANDATE = frozenset({"rejected", "cancelled"})
# What an order's status is when all we go by is the latest event about one of its payments.
_ORDER_STATUS = {"captured": "paid", "failed": "failed", "authorized": "pending", "pending": "pending"}


class Books:
    """Applies changes to the store. `forward_only=False` lets the latest event win (the
    `trust-order` bug); `idempotent=False` drops de-duplication and books every delivery again
    (the `not-idempotent` bug)."""

    def __init__(self, store: Store, *, forward_only: bool = True, idempotent: bool = True):
        self.store, self.forward_only, self.idempotent = store, forward_only, idempotent

    def payment(self, p: Payment, status: str, *, capture_event: bool = False) -> None:
        """A payment reported in `status`. `capture_event`: the event is the capture itself, not a
        copy of the payment inside an order, refund or dispute event."""
        if p.order_id is not None:
            self.store.add_order(p.order_id, p.amount, p.currency)
        reason = p.failure_reason if status == "failed" else None
        known = not self.store.add_payment(p.id, p.order_id, status, p.amount, p.currency, reason)
        if known and self._moves("payments", p.id, status):
            self.store.set_status("payments", p.id, status)
            self.store.set_failure_reason(p.id, reason)
        if status == "captured" and (not self.store.credited(p.id) or (capture_event and not self.idempotent)):
            self.store.credit(p.id, p.order_id, p.amount, p.currency)
        self._settle_order(p.order_id, status)

    def order(self, order_id: str, amount: int, currency: str) -> None:
        """An order's amount as the gateway states it (better than guessing it from a payment)."""
        self.store.set_order_amount(order_id, amount, currency)

    def order_paid(self, order_id: str, amount: int, currency: str) -> None:
        self.order(order_id, amount, currency)
        self.store.set_status("orders", order_id, "paid")

    def refund(self, r: Refund, status: str) -> None:
        if (not self.store.add_refund(r.id, r.payment_id, status, r.amount, r.currency)
                and self._moves("refunds", r.id, status)):
            self.store.set_status("refunds", r.id, status)
        if status == "processed" and (not self.idempotent or not self.store.booked(r.id)):
            self.store.book_refund(r.id, r.payment_id, r.amount, r.currency)

    def dispute(self, d: Dispute, status: str) -> None:
        if (not self.store.add_dispute(d.id, d.payment_id, status, d.amount, d.currency)
                and self._moves("disputes", d.id, status)):
            self.store.set_status("disputes", d.id, status)

    def mandate(self, mandate_id: str, status: str, rejection_reason: str | None = None) -> None:
        if self.forward_only and self.store.status("mandates", mandate_id) in _FINAL_MANDATE:
            return
        self.store.save_mandate(mandate_id, status, rejection_reason if status == "rejected" else None)

    def mandate_status(self, mandate_id: str) -> str | None:
        return self.store.status("mandates", mandate_id)

    def _moves(self, table: str, row_id: str, status: str) -> bool:
        """Whether an event reporting `status` changes the row's recorded status."""
        current = self.store.status(table, row_id)
        if not self.forward_only:
            return status != current
        ladder = _LADDERS[table]
        return current is None or ladder[status] > ladder[current]

    def _settle_order(self, order_id: str | None, payment_status: str) -> None:
        if order_id is None:
            return
        if not self.forward_only:
            self.store.set_status("orders", order_id, _ORDER_STATUS[payment_status])
            return
        if self.store.status("orders", order_id) == "paid":
            return
        # Paid once any attempt is captured; failed only while every attempt so far has failed.
        statuses = self.store.payment_statuses(order_id)
        if "captured" in statuses:
            status = "paid"
        elif statuses and all(s == "failed" for s in statuses):
            status = "failed"
        else:
            status = "pending"
        self.store.set_status("orders", order_id, status)
