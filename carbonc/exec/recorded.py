"""Reads a past run back from the store, for a replay: its row, and the messages it sent, in their
order, each with its first attempt's exact request and how its attempts were answered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

import msgspec

from carbonc.store import MessageRow, Store

#: Messages read from the store at a time: a replay's memory stays flat whatever the run's size.
PAGE_MESSAGES = 1_000

_HEADERS = msgspec.json.Decoder(dict[str, str])


class RecordedRun(NamedTuple):
    """A run's row, as far as a replay of it needs."""

    run_id: str
    scenario: str
    source_sha256: str
    plan_sha256: str
    seed: int
    provider: str
    params: str
    status: str


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    """One message a past run sent: its `row` in `messages`, the provider's `event_type`, the
    verdict a correct handler gives it, its first attempt's exact `body` and `headers` (None when
    recorded by a carbonc that kept no headers), whether its last attempt `failed`, and whether any
    attempt's answer was `mismatched`."""

    row: MessageRow
    event_type: str
    expected_verdict: str
    body: str
    headers: dict[str, str] | None
    failed: bool
    mismatched: bool


def find_run(store: Store, run_id: str) -> RecordedRun | None:
    """The run `run_id`, or None if the store has none of that id."""
    _, rows = store.query("SELECT run_id, scenario, source_sha256, plan_sha256, seed, provider, params::VARCHAR, "
                          "status FROM runs WHERE run_id = ?", [run_id])
    return RecordedRun(*rows[0]) if rows else None


def latest_runs(store: Store, limit: int = 5) -> list[tuple[str, str, datetime]]:
    """The latest runs: (run id, scenario, start), newest first."""
    _, rows = store.query("SELECT run_id, scenario, started_at FROM runs ORDER BY started_at DESC, run_id DESC "
                          "LIMIT ?", [limit])
    return [(r, s, t) for r, s, t in rows]


def sent_messages(store: Store, run_id: str) -> Iterator[Sent | MessageRow]:
    """Every message of `run_id` the plan did not skip, in delivery order: a `Sent` for each that
    was sent, and its bare row for each that never was (a run without a target, or cut short)."""
    after = -1
    while True:
        _, rows = store.query(
            "SELECT m.run_id, m.message_id, m.seq, m.virtual_ms, m.send_ms, m.neutral_event, m.provider_event, "
            "  m.entity_id, m.fault, m.signature_mode, m.duplicate_of, m.event_id, m.skipped,"
            "  d.attempt, d.event_type, d.failed, d.verdict_ok, d.expected_verdict,"
            "  CASE WHEN d.attempt = 1 THEN d.request_body END, CASE WHEN d.attempt = 1 THEN d.request_headers END"
            " FROM (SELECT * FROM messages WHERE run_id = ? AND skipped IS NULL AND seq > ? ORDER BY seq LIMIT ?) m"
            " LEFT JOIN deliveries d ON d.run_id = m.run_id AND d.message_id = m.message_id"
            " ORDER BY m.seq, d.attempt", [run_id, after, PAGE_MESSAGES])
        if not rows:
            return
        yield from _messages(rows)
        after = rows[-1][2]


def _messages(rows: list[tuple[object, ...]]) -> Iterator[Sent | MessageRow]:
    """Rows of one page (a message's attempts are adjacent, first to last) grouped by message."""
    start = 0
    while start < len(rows):
        end = start
        while end + 1 < len(rows) and rows[end + 1][1] == rows[start][1]:
            end += 1
        first, last = rows[start], rows[end]
        message = MessageRow(*first[:13])  # type: ignore[arg-type]
        if first[13] is None:
            yield message
        else:
            headers = first[19]
            yield Sent(row=message, event_type=str(first[14]), expected_verdict=str(first[17]), body=str(first[18]),
                       headers=None if headers is None else _HEADERS.decode(str(headers)), failed=bool(last[15]),
                       mismatched=any(row[16] is False for row in rows[start:end + 1]))
        start = end + 1
