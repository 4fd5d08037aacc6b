"""What the gateway knows at the end of a run, for probes: each probed entity's fields (its final
state and amounts, refunds booked against a payment, an order's captured payments) and the run's
totals per currency, gathered in one pass over the plan's entities."""

from __future__ import annotations

from collections.abc import Iterable

from carbonc.plan.records import Entity, Probe

#: The final state each kind's "terminal event" reports; `delivered` asks whether any copy of
#: the event for the entity's final state reached the merchant with a 2xx.
_EVENT_STATE = {"timed_out": "failed", "stuck": "pending", "partially_refunded": "captured",
                "refunded": "captured", "disputed": "captured", "settled": "captured", "active": "confirmed"}


class GatewayFacts:
    """Fields of the entities some probe selects, and totals over every entity.

    `add` every entity of the plan (kinds in plan order: orders, then payments, refunds,
    disputes…), then `fields(entity_id)` gives what a probe's `order.…` names: `id`, `state`,
    `amount` (minor units), `amount_refunded`, `refunds`, … (see `domain.vocabulary.PROBE_FIELDS`).
    """

    def __init__(self, probes: Iterable[Probe]):
        probes = tuple(probes)
        self.watched: set[str] = {e for p in probes for e in p.entities}
        # A refund's or dispute's order is its payment's parent: remember payments' orders only
        # when such a probe needs them (a dict entry per payment otherwise wasted).
        self._orders_of_payments = any(p.kind in ("refund", "dispute") for p in probes)
        self._fields: dict[str, dict[str, str | int]] = {}
        self._order_of: dict[str, str] = {}
        #: currency -> total name -> minor units.
        self.totals: dict[str, dict[str, int]] = {}
        #: (entity id, neutral event) pairs acknowledged with a 2xx, filled in after delivery.
        self.acknowledged: set[tuple[str, str]] = set()

    def add(self, entity: Entity) -> None:
        kind, parent = entity.kind, entity.parent
        ever = {t.state for t in entity.transitions}
        # A currency appears in the totals once money moves in it (as in a merchant's ledger).
        if kind == "payment" and "captured" in ever:
            self._total(entity.currency)["captured"] += entity.amount_minor
        elif kind == "refund" and entity.state == "processed":
            self._total(entity.currency)["refunded"] += entity.amount_minor
        elif kind == "dispute":
            totals = self._total(entity.currency)
            totals["disputed"] += entity.amount_minor
            if entity.state == "lost":
                totals["lost"] += entity.amount_minor
        if parent is not None and parent in self._fields:
            self._roll_up(entity, self._fields[parent], ever)
        if kind == "payment" and parent is not None and self._orders_of_payments:
            self._order_of[entity.id] = parent
        if entity.id not in self.watched:
            return
        failure = next((t for t in reversed(entity.transitions) if t.reason or t.code), None)
        fields: dict[str, str | int] = {
            "id": entity.id, "ref": entity.id, "state": entity.state, "amount": entity.amount_minor,
            "currency": entity.currency, "method": entity.method or "",
            "reason": (failure.reason if failure else None) or entity.attrs.get("reason") or "",
            "code": (failure.code if failure else None) or "", "parent": parent or "",
        }
        if kind == "order":
            fields.update(amount_paid=0, payments=0, payment="")
        elif kind == "payment":
            fields.update(order=parent or "", amount_refunded=0, refunds=0, disputes=0)
        elif kind in ("refund", "dispute"):
            fields.update(payment=parent or "", order=self._order_of.get(parent or "", ""))
        self._fields[entity.id] = fields

    def _total(self, currency: str) -> dict[str, int]:
        return self.totals.setdefault(currency, dict.fromkeys(("captured", "refunded", "disputed", "lost"), 0))

    def _roll_up(self, child: Entity, parent: dict[str, str | int], ever: set[str]) -> None:
        if child.kind == "payment":
            parent["payments"] = int(parent["payments"]) + 1
            if "captured" in ever:
                parent["amount_paid"] = int(parent["amount_paid"]) + child.amount_minor
                parent["payment"] = child.id
        elif child.kind == "refund" and child.state == "processed":
            parent["amount_refunded"] = int(parent["amount_refunded"]) + child.amount_minor
            parent["refunds"] = int(parent["refunds"]) + 1
        elif child.kind == "dispute":
            parent["disputes"] = int(parent["disputes"]) + 1

    def fields(self, entity_id: str, kind: str) -> dict[str, object] | None:
        """The entity's fields as a probe sees them, `delivered` included; None if unknown."""
        found = self._fields.get(entity_id)
        if found is None:
            return None
        state = str(found["state"])
        event = f"{kind}.{_EVENT_STATE.get(state, state)}"
        return {**found, "delivered": (entity_id, event) in self.acknowledged}
