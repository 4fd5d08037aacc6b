"""The simulated gateway (`--provider mock`, and every provider until real sandboxes land): it
holds the plan's facts as a gateway would — each entity in its final state, each message under
the provider's event name — and says which messages the provider would not send."""

from __future__ import annotations

import base64

import msgspec

from carbonc.dialects import Dialect, Lookup
from carbonc.plan.records import Entity, Header, Message
from carbonc.store.rows import EntityRow, MessageRow

#: Secrets messages are signed with when the run gives none. They are public test values: a
#: handler configured with one is only ever a test handler. `carbon` is carbon-layer's default,
#: so a handler set up for the older tool still verifies; Juspay and Standard Webhooks need a
#: secret of their own form.
_TEST_SECRETS = {
    "razorpay": "carbon",
    "stripe": "carbon",
    "cashfree": "carbon",
    "juspay": "carbonc:test_webhook_password",
    "standard": "whsec_" + base64.b64encode(b"carbonc test webhook secret key!").decode(),
}


def default_secret(dialect: str) -> str:
    """The built-in test secret for `dialect` (see `_TEST_SECRETS`)."""
    return _TEST_SECRETS[dialect]


class SimulatedGateway:
    """Turns plan records into the rows the gateway side of a run records."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self._encode = msgspec.json.Encoder().encode

    def entity_row(self, run_id: str, entity: Entity) -> EntityRow:
        return EntityRow(run_id, entity.id, entity.kind, entity.parent, entity.state, entity.amount_minor,
                         entity.currency, entity.method, self._encode(entity.attrs).decode())

    def message_row(self, run_id: str, message: Message, header: Header, lookup: Lookup) -> tuple[str, MessageRow]:
        """The message's row, and its id in the store (copies get `ID#N`, an attacker's copy
        `ID#forged`)."""
        message_id = f"{message.id}#forged" if message.forged else (
            message.id if message.copy == 0 else f"{message.id}#{message.copy}")
        policy = header.policies[message.policy]
        faults = []
        if message.dropped:
            faults.append("dropped")
        if message.copy:
            faults.append("duplicate")
        if policy.delay_ms or policy.jitter_ms:
            faults.append("delayed")
        if policy.order != "sequence":
            faults.append("reordered")
        if message.forged:
            faults.append("forged")
        if message.signature != "valid":
            faults.append(f"signature:{message.signature}")
        skipped = "dropped by the plan" if message.dropped else self.dialect.skip_reason(message, lookup)
        return message_id, MessageRow(
            run_id=run_id, message_id=message_id, seq=message.seq, virtual_ms=message.at_ms, send_ms=message.send_ms,
            neutral_event=message.event, provider_event=self.dialect.events.get(message.event),
            entity_id=message.entity, fault=",".join(faults) or None, signature_mode=message.signature,
            duplicate_of=message.id if message.copy or message.forged else None, event_id=message.id, skipped=skipped)
