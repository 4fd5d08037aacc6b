"""The store's tables (a contract: users and CI query these names), created when missing."""

from __future__ import annotations

#: How a column of large texts is compressed. DuckDB's default for text (FSST) cost ~1 KB webhook
#: bodies more than anything else in a delivery row: 200,000 delivery rows appended 5,000 at a
#: time took 17.2 µs of CPU a row and 90 MB with it, 13.0 µs and 27 MB with zstd. (A file made
#: by an older carbonc keeps its tables as they were.)
_LARGE_TEXT = "USING COMPRESSION zstd"

#: table -> [(column, DuckDB type)], in order. Rows are staged as JSON whose keys are these
#: names, except timestamps, staged as epoch milliseconds under `<name>_ms`.
TABLES: dict[str, list[tuple[str, str]]] = {
    "runs": [
        ("run_id", "VARCHAR PRIMARY KEY"), ("scenario", "VARCHAR"), ("source_sha256", "VARCHAR"),
        ("plan_sha256", "VARCHAR"), ("seed", "BIGINT"), ("provider", "VARCHAR"), ("params", "JSON"),
        ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("status", "VARCHAR"), ("version", "VARCHAR"),
        ("target", "VARCHAR"), ("time_scale", "VARCHAR"), ("concurrency", "INTEGER"), ("replay_of", "VARCHAR"),
        ("replay_mode", "VARCHAR"), ("gateway", "VARCHAR"),
        ("shard", "VARCHAR"), ("checks_plan", "JSON"), ("merged_from", "VARCHAR"),
        ("workers", "INTEGER"),
    ],
    "entities": [
        ("run_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("kind", "VARCHAR"), ("parent_id", "VARCHAR"),
        ("state", "VARCHAR"), ("amount_minor", "BIGINT"), ("currency", "VARCHAR"), ("method", "VARCHAR"),
        ("attrs", "JSON"), ("gateway_id", "VARCHAR"), ("gateway_status", "VARCHAR"), ("gateway_note", "VARCHAR"),
    ],
    "messages": [
        ("run_id", "VARCHAR"), ("message_id", "VARCHAR"), ("seq", "BIGINT"), ("virtual_ms", "BIGINT"),
        ("send_ms", "BIGINT"), ("neutral_event", "VARCHAR"), ("provider_event", "VARCHAR"), ("entity_id", "VARCHAR"),
        ("fault", "VARCHAR"), ("signature_mode", "VARCHAR"), ("duplicate_of", "VARCHAR"), ("event_id", "VARCHAR"),
        ("skipped", "VARCHAR"),
    ],
    "deliveries": [
        ("run_id", "VARCHAR"), ("delivery_id", "VARCHAR"), ("message_id", "VARCHAR"), ("attempt", "INTEGER"),
        ("event_type", "VARCHAR"), ("signature_mode", "VARCHAR"), ("sent_at", "TIMESTAMP"), ("virtual_ms", "BIGINT"),
        ("status_code", "INTEGER"), ("latency_ms", "DOUBLE"), ("error", "VARCHAR"), ("outcome", "VARCHAR"),
        ("failed", "BOOLEAN"), ("expected_verdict", "VARCHAR"), ("verdict_ok", "BOOLEAN"),
        ("request_body", f"VARCHAR {_LARGE_TEXT}"),
        ("response_snippet", "VARCHAR"), ("request_headers", "JSON"),
    ],
    "checks": [
        ("run_id", "VARCHAR"), ("kind", "VARCHAR"), ("name", "VARCHAR"), ("severity", "VARCHAR"),
        ("passed", "BOOLEAN"), ("expected", "VARCHAR"), ("actual", "VARCHAR"), ("message", "VARCHAR"),
        ("subject", "VARCHAR"), ("entity_id", "VARCHAR"), ("request", "VARCHAR"), ("elapsed_ms", "DOUBLE"),
        ("polls", "INTEGER"),
    ],
    "gateway_calls": [
        ("run_id", "VARCHAR"), ("entity_id", "VARCHAR"), ("operation", "VARCHAR"), ("attempt", "INTEGER"),
        ("method", "VARCHAR"), ("path", "VARCHAR"), ("idempotency_key", "VARCHAR"), ("sent_at", "TIMESTAMP"),
        ("status_code", "INTEGER"), ("latency_ms", "DOUBLE"), ("error", "VARCHAR"), ("gateway_id", "VARCHAR"),
    ],
}

#: Timestamp columns, staged as `<name>_ms` (epoch milliseconds, UTC).
TIMESTAMPS = frozenset({"started_at", "finished_at", "sent_at"})


def create_statements() -> list[str]:
    """CREATE TABLE IF NOT EXISTS for every table."""
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{name} {kind}' for name, kind in columns)})"
        for table, columns in TABLES.items()
    ]


def upgrade_statements(existing: dict[str, list[str]]) -> list[str]:
    """ALTER TABLE … ADD COLUMN for each column a file made by an older carbonc lacks."""
    out = []
    for table, columns in TABLES.items():
        have = existing.get(table)
        if have is None:
            continue
        out += [f"ALTER TABLE {table} ADD COLUMN {name} {kind}" for name, kind in columns if name not in have]
    return out


def staged_select(table: str) -> str:
    """`INSERT … SELECT` from a staged newline-delimited JSON file (the one parameter)."""
    columns = TABLES[table]
    picks, types = [], []
    for name, kind in columns:
        base = kind.split()[0]
        if name in TIMESTAMPS:
            picks.append(f"epoch_ms({name}_ms)")
            types.append(f"{name}_ms: 'BIGINT'")
        else:
            picks.append(name)
            types.append(f"{name}: '{'VARCHAR' if base == 'JSON' else base}'")
    names = ", ".join(name for name, _ in columns)
    return (f"INSERT INTO {table} ({names}) SELECT {', '.join(picks)} FROM read_json(?, "
            f"format = 'newline_delimited', columns = {{{', '.join(types)}}})")
