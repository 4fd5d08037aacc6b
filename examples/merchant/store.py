"""The merchant's SQLite database: orders, payments, refunds, disputes, mandates, money entries,
processed event IDs and the event queue."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id       TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    amount   {money} NOT NULL,
    currency TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    id             TEXT PRIMARY KEY,
    order_id       TEXT,
    status         TEXT NOT NULL,
    amount         {money} NOT NULL,
    currency       TEXT NOT NULL,
    failure_reason TEXT,
    credited       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments (order_id);
CREATE TABLE IF NOT EXISTS refunds (
    id         TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    amount     {money} NOT NULL,
    currency   TEXT NOT NULL,
    booked     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS disputes (
    id         TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    amount     {money} NOT NULL,
    currency   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS disputes_by_payment ON disputes (payment_id);
CREATE TABLE IF NOT EXISTS mandates (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    rejection_reason TEXT
);
-- Money that moved: a credit per captured payment, a booking per processed refund. Balances are
-- sums over these rows, so a double booking shows up everywhere at once.
CREATE TABLE IF NOT EXISTS entries (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount     {money} NOT NULL,
    currency   TEXT NOT NULL,
    order_id   TEXT,
    payment_id TEXT NOT NULL,
    refund_id  TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_order ON entries (order_id);
CREATE INDEX IF NOT EXISTS entries_by_payment ON entries (payment_id);
CREATE TABLE IF NOT EXISTS events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE TABLE IF NOT EXISTS queue (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    event_id TEXT,
    body     TEXT NOT NULL,
    apply_at REAL NOT NULL
);
"""

_STATUS_TABLES = frozenset({"orders", "payments", "refunds", "disputes", "mandates"})


class MinorUnits:
    """Money as integer minor units (paise, cents): exact, the way it should be kept."""

    column = "INTEGER"

    def to_db(self, minor: int) -> int | float:
        return minor

    def from_db(self, stored: int | float | None) -> int:
        return int(stored or 0)


class FloatMajorUnits:
    """Money as float major units (rupees, dollars), read back by truncating `value * 100`:
    115 paise is stored as 1.15 and read back as 114, since 1.15 * 100 == 114.99999999999999."""

    column = "REAL"

    def to_db(self, minor: int) -> int | float:
        return minor / 100

    def from_db(self, stored: int | float | None) -> int:
        return int((stored or 0.0) * 100)


class Store:
    """One SQLite connection and one method per operation; amounts in and out are minor units."""

    def __init__(self, path: str, money: MinorUnits | FloatMajorUnits | None = None):
        self.money = money or MinorUnits()
        # Autocommit mode: `transaction()` draws each webhook's boundaries itself.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA.format(money=self.money.column))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self._db.execute(sql, args).fetchone()

    def _write(self, sql: str, *args: Any) -> bool:
        """Run a statement; whether it changed a row."""
        return self._db.execute(sql, args).rowcount > 0

    # Processed events and the queue.

    def seen(self, provider: str, event_id: str) -> bool:
        return self._one("SELECT 1 FROM events WHERE provider = ? AND event_id = ?", provider, event_id) is not None

    def remember(self, provider: str, event_id: str) -> None:
        self._write("INSERT OR IGNORE INTO events (provider, event_id) VALUES (?, ?)", provider, event_id)

    def enqueue(self, provider: str, event_id: str | None, body: str, apply_at: float) -> None:
        self._write("INSERT INTO queue (provider, event_id, body, apply_at) VALUES (?, ?, ?, ?)",
                    provider, event_id, body, apply_at)

    def due(self, now: float) -> list[sqlite3.Row]:
        """Queued events whose time has come, in arrival order."""
        return self._db.execute("SELECT seq, provider, event_id, body FROM queue WHERE apply_at <= ? ORDER BY seq",
                                (now,)).fetchall()

    def dequeue(self, seq: int) -> None:
        self._write("DELETE FROM queue WHERE seq = ?", seq)

    # Statuses, for every table that has one.

    def status(self, table: str, row_id: str) -> str | None:
        assert table in _STATUS_TABLES
        row = self._one(f"SELECT status FROM {table} WHERE id = ?", row_id)
        return None if row is None else row["status"]

    def set_status(self, table: str, row_id: str, status: str) -> None:
        assert table in _STATUS_TABLES
        self._write(f"UPDATE {table} SET status = ? WHERE id = ?", status, row_id)

    # Orders and payments.

    def add_order(self, order_id: str, amount: int, currency: str) -> None:
        """An order first heard of through one of its payments: its amount is that payment's."""
        self._write("INSERT OR IGNORE INTO orders (id, status, amount, currency) VALUES (?, 'pending', ?, ?)",
                    order_id, self.money.to_db(amount), currency)

    def set_order_amount(self, order_id: str, amount: int, currency: str) -> None:
        self._write("INSERT INTO orders (id, status, amount, currency) VALUES (?, 'pending', ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, currency = excluded.currency",
                    order_id, self.money.to_db(amount), currency)

    def payment_statuses(self, order_id: str) -> list[str]:
        rows = self._db.execute("SELECT status FROM payments WHERE order_id = ?", (order_id,))
        return [row["status"] for row in rows]

    def add_payment(self, payment_id: str, order_id: str | None, status: str, amount: int, currency: str,
                    failure_reason: str | None) -> bool:
        """Record a payment not seen before; False if it is already known."""
        return self._write("INSERT OR IGNORE INTO payments (id, order_id, status, amount, currency, failure_reason) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           payment_id, order_id, status, self.money.to_db(amount), currency, failure_reason)

    def set_failure_reason(self, payment_id: str, reason: str | None) -> None:
        self._write("UPDATE payments SET failure_reason = ? WHERE id = ?", reason, payment_id)

    def credited(self, payment_id: str) -> bool:
        row = self._one("SELECT credited FROM payments WHERE id = ?", payment_id)
        return row is not None and bool(row["credited"])

    def credit(self, payment_id: str, order_id: str | None, amount: int, currency: str) -> None:
        """Credit a captured payment to its order and the ledger."""
        self._write("INSERT INTO entries (kind, amount, currency, order_id, payment_id) VALUES ('capture', ?, ?, ?, ?)",
                    self.money.to_db(amount), currency, order_id, payment_id)
        self._write("UPDATE payments SET credited = 1 WHERE id = ?", payment_id)

    # Refunds, disputes and mandates.

    def add_refund(self, refund_id: str, payment_id: str, status: str, amount: int, currency: str) -> bool:
        return self._write("INSERT OR IGNORE INTO refunds (id, payment_id, status, amount, currency) "
                           "VALUES (?, ?, ?, ?, ?)", refund_id, payment_id, status, self.money.to_db(amount), currency)

    def booked(self, refund_id: str) -> bool:
        row = self._one("SELECT booked FROM refunds WHERE id = ?", refund_id)
        return row is not None and bool(row["booked"])

    def book_refund(self, refund_id: str, payment_id: str, amount: int, currency: str) -> None:
        """Book a processed refund against its payment and the ledger."""
        self._write("INSERT INTO entries (kind, amount, currency, payment_id, refund_id) VALUES ('refund', ?, ?, ?, ?)",
                    self.money.to_db(amount), currency, payment_id, refund_id)
        self._write("UPDATE refunds SET booked = 1 WHERE id = ?", refund_id)

    def add_dispute(self, dispute_id: str, payment_id: str, status: str, amount: int, currency: str) -> bool:
        return self._write("INSERT OR IGNORE INTO disputes (id, payment_id, status, amount, currency) "
                           "VALUES (?, ?, ?, ?, ?)", dispute_id, payment_id, status, self.money.to_db(amount), currency)

    def save_mandate(self, mandate_id: str, status: str, rejection_reason: str | None) -> None:
        self._write("INSERT INTO mandates (id, status, rejection_reason) VALUES (?, ?, ?) ON CONFLICT (id) "
                    "DO UPDATE SET status = excluded.status, rejection_reason = excluded.rejection_reason",
                    mandate_id, status, rejection_reason)

    # The state API's views.

    def order(self, order_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM orders WHERE id = ?", order_id)
        if row is None:
            return None
        paid = self._one("SELECT SUM(amount) AS total FROM entries WHERE kind = 'capture' AND order_id = ?", order_id)
        payments = self._db.execute("SELECT id FROM payments WHERE order_id = ? ORDER BY rowid", (order_id,))
        return {"id": row["id"], "status": row["status"], "amount": self.money.from_db(row["amount"]),
                "amount_paid": self.money.from_db(paid["total"]), "currency": row["currency"],
                "payments": [p["id"] for p in payments]}

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM payments WHERE id = ?", payment_id)
        if row is None:
            return None
        refunds = self._one("SELECT SUM(amount) AS total, COUNT(*) AS n FROM entries "
                            "WHERE kind = 'refund' AND payment_id = ?", payment_id)
        disputes = self._db.execute("SELECT id FROM disputes WHERE payment_id = ? ORDER BY rowid", (payment_id,))
        return {"id": row["id"], "order_id": row["order_id"], "status": row["status"],
                "amount": self.money.from_db(row["amount"]), "amount_refunded": self.money.from_db(refunds["total"]),
                "refunds": refunds["n"], "currency": row["currency"], "failure_reason": row["failure_reason"],
                "disputes": [d["id"] for d in disputes]}

    def refund(self, refund_id: str) -> dict[str, Any] | None:
        return self._money_row("SELECT id, payment_id, status, amount, currency FROM refunds WHERE id = ?", refund_id)

    def dispute(self, dispute_id: str) -> dict[str, Any] | None:
        return self._money_row("SELECT id, payment_id, status, amount, currency FROM disputes WHERE id = ?",
                               dispute_id)

    def mandate(self, mandate_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT id, status, rejection_reason FROM mandates WHERE id = ?", mandate_id)
        return None if row is None else dict(row)

    def _money_row(self, sql: str, row_id: str) -> dict[str, Any] | None:
        row = self._one(sql, row_id)
        return None if row is None else {**dict(row), "amount": self.money.from_db(row["amount"])}

    def ledger(self) -> dict[str, dict[str, int]]:
        """Per currency: captured and refunded (from the entries), disputed and lost (from the disputes)."""
        sums: dict[str, dict[str, int | float]] = {}
        totals = self._db.execute(
            "SELECT currency, kind, SUM(amount) AS total FROM entries GROUP BY currency, kind "
            "UNION ALL SELECT currency, 'disputed', SUM(amount) FROM disputes GROUP BY currency "
            "UNION ALL SELECT currency, 'lost', SUM(amount) FROM disputes WHERE status = 'lost' GROUP BY currency")
        for row in totals:
            sums.setdefault(row["currency"], {})[row["kind"]] = row["total"]
        names = {"capture": "captured", "refund": "refunded", "disputed": "disputed", "lost": "lost"}
        return {currency: {name: self.money.from_db(found.get(kind)) for kind, name in names.items()}
                for currency, found in sorted(sums.items())}
