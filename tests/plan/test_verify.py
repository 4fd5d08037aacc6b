"""Saved plans are untrusted input: a corpus of hostile edits to a real saved plan, generated here,
each refused with a clear message and exit 2 before anything is recorded (no database file, no
traceback); a plan re-saved by another JSON tool still runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonc.cli import main

pytestmark = pytest.mark.usefixtures("deadline")

Edit = Callable[[list[dict]], list[dict]]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("plan") / "sweep.ndjson"
    result = CliRunner().invoke(main, ["plan", "webhook-fault-sweep", "--set", "baseline_orders=60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def first(records: list[dict], record_type: str, **match: object) -> dict:
    return next(r for r in records if r["type"] == record_type and all(r.get(k) == v for k, v in match.items()))


def _set(record_type: str, field: str, value: object, **match: object) -> Edit:
    def edit(records: list[dict]) -> list[dict]:
        first(records, record_type, **match)[field] = value
        return records
    return edit


def _header(path: list, value: object) -> Edit:
    def edit(records: list[dict]) -> list[dict]:
        node = records[0]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return records
    return edit


def _drop_disputes(records: list[dict]) -> list[dict]:
    disputes = {r["id"] for r in records if r["type"] == "entity" and r["kind"] == "dispute"}
    records[0]["probes"] = [p for p in records[0]["probes"] if p["kind"] != "dispute"]
    return [r for r in records if not (r["type"] == "entity" and r["id"] in disputes)
            and not (r["type"] == "message" and r["entity"] in disputes)]


def _cycle(records: list[dict]) -> list[dict]:
    payments = [r for r in records if r["type"] == "entity" and r["kind"] == "payment"]
    payments[0]["parent"] = payments[1]["id"]  # a payment's parent must be an order defined before it
    return records


def _duplicate_entity(records: list[dict]) -> list[dict]:
    order = first(records, "entity", kind="order")
    return [records[0], order, *records[1:]]


def _cut(records: list[dict]) -> list[dict]:
    return records[:-1]


def _summary(field: str, value: object) -> Edit:
    def edit(records: list[dict]) -> list[dict]:
        records[-1][field] = value
        return records
    return edit


def _decimal_bomb(records: list[dict]) -> list[dict]:
    records[0]["checks"][0]["expr"] = {"node": "binary", "op": "==", "left": {"node": "metric", "name": "orders"},
                                       "right": {"node": "decimal", "value": "1e999999999"}}
    return records


def _swap_messages(records: list[dict]) -> list[dict]:
    i = next(n for n, r in enumerate(records) if r["type"] == "message")
    records[i], records[i + 1] = records[i + 1], records[i]
    return records


def _selection(edit: Callable[[list[str], list[dict]], list[str]]) -> Edit:
    """Edit the selection of the first probe that selects two entities or more."""
    def apply(records: list[dict]) -> list[dict]:
        probe = next(p for p in records[0]["probes"] if len(p["entities"]) > 1)
        probe["entities"] = edit(probe["entities"], records)
        return records
    return apply


def _other_kind(selected: list[str], records: list[dict]) -> list[str]:
    kind = next(r["kind"] for r in records if r["type"] == "entity" and r["id"] == selected[0])
    stranger = next(r["id"] for r in records if r["type"] == "entity" and r["kind"] != kind)
    return [stranger, *selected[1:]]


#: name -> (edit, what the error says); each edit keeps the rest of the file as written.
HOSTILE: dict[str, tuple[Edit, str]] = {
    "records deleted": (_drop_disputes, "do not match its digest"),
    "summary edited": (_summary("deliveries", 1), "summary does not match its records"),
    "digest removed": (_summary("records_sha256", None), "no digest of its records"),
    "header injection in an event id": (_set("message", "id", "evt_x\r\nX-Evil: 1"), "an event ID is"),
    "parent cycle": (_cycle, "its parent must be a order defined before it"),
    "entity without transitions": (_set("entity", "transitions", [], kind="order"), "1 to 64 transitions"),
    "amount 1e30": (_set("entity", "amount_minor", 10**30, kind="order"), "between 0 and 10^15"),
    "negative amount": (_set("entity", "amount_minor", -5, kind="order"), "between 0 and 10^15"),
    "unknown currency": (_set("entity", "currency", "XXY", kind="order"), "unknown currency"),
    "unknown state": (_set("entity", "state", "teleported", kind="order"), "is not a state of a order"),
    "duplicate entity id": (_duplicate_entity, "defined twice"),
    "unknown event": (_set("message", "event", "payment.vanished"), "is not an event of a"),
    "message about nothing": (_set("message", "entity", "pay_doesnotexist"), "which the plan does not define"),
    "messages out of order": (_swap_messages, "numbered 0, 1"),
    "unknown signature mode": (_set("message", "signature", "psychic"), "unknown mode"),
    "negative timeout": (_header(["policies", 0, "timeout_ms"], -5), "between 1 ms and a day"),
    "negative retry wait": (_header(["policies", 0, "retry"], [-1000]), "retry waits"),
    "share abc": (_header(["policies", 0, "drop"], "abc"), "is not a number"),
    "repeat a billion": (_header(["policies", 0, "repeat"], 1_000_000_000), "repeats messages"),
    "format_version 0": (_header(["format_version"], 0), "format_version 0"),
    "format_version 999": (_header(["format_version"], 999), "format_version 999"),
    "seed 2^64": (_header(["seed"], 2**64), "is outside 0 to 2^63"),
    "decimal 1e999999999": (_decimal_bomb, "a decimal with more than"),
    "cut off": (_cut, "ends without its summary"),
    "probe selects a stranger": (_selection(lambda ids, _: [*ids, "ord_doesnotexist"]), "which is not a"),
    "probe selects another kind": (_selection(_other_kind), "which is not a"),
    "probe selection out of order": (_selection(lambda ids, _: ids[::-1]), "not in plan order"),
    "probe selects twice": (_selection(lambda ids, _: [ids[0], *ids]), "not in plan order"),
    "probe selects a non-ID": (_selection(lambda ids, _: [*ids, "ord x"]), "other than entity IDs"),
    "probe selects a number": (_selection(lambda ids, _: [*ids, 5]), "other than entity IDs"),
}


def write(records: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_plan_is_refused_before_anything_is_recorded(case: str, saved: list[dict], tmp_path: Path) -> None:
    edit, message = HOSTILE[case]
    plan = write(edit(json.loads(json.dumps(saved))), tmp_path / "hostile.ndjson")
    db = tmp_path / "runs.duckdb"
    for args in (["run", str(plan), "--db", str(db)], ["plan", str(plan)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (case, result.output)
        assert message in result.stderr, (case, result.stderr)
        assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    assert not db.exists()


def test_a_plan_resaved_by_another_tool_still_runs(saved: list[dict], tmp_path: Path) -> None:
    plan = tmp_path / "resaved.ndjson"
    text = "".join(json.dumps(r, sort_keys=True, indent=None, separators=(", ", ": ")) + "\n" for r in saved)
    plan.write_text("\ufeff" + text, encoding="utf-8")  # a byte-order mark, spaces, other key order
    result = CliRunner().invoke(main, ["run", str(plan), "--db", str(tmp_path / "runs.duckdb")])
    assert result.exit_code == 0, result.output
    assert "completed" in result.stdout


def test_a_plan_diff_sees_what_the_records_say(saved: list[dict], tmp_path: Path) -> None:
    # The summary of a verified plan is the records' own, so a diff cannot be fooled by it.
    good = write(saved, tmp_path / "good.ndjson")
    result = CliRunner().invoke(main, ["plan", str(good), "--diff", str(good), "--detailed-exitcode"])
    assert result.exit_code == 0, result.output
    bad = write(_summary("deliveries", 1)(json.loads(json.dumps(saved))), tmp_path / "bad.ndjson")
    result = CliRunner().invoke(main, ["plan", str(good), "--diff", str(bad)])
    assert result.exit_code == 2 and "summary does not match" in result.stderr


def test_a_diff_sees_records_changed_without_changing_a_count(saved: list[dict], tmp_path: Path) -> None:
    from carbonc.plan.records import Entity, Message
    from carbonc.plan.verify import _DECODER, digest_update, records_digest

    edited = json.loads(json.dumps(saved))
    first(edited, "entity", kind="order")["amount_minor"] += 1
    digest = records_digest()  # an editor who also rewrites the digest
    for r in edited[1:-1]:
        record = _DECODER.decode(json.dumps(r))
        assert isinstance(record, (Entity, Message))
        digest_update(digest, record)
    edited[-1]["records_sha256"] = digest.hexdigest()
    good, bad = write(saved, tmp_path / "good.ndjson"), write(edited, tmp_path / "edited.ndjson")
    result = CliRunner().invoke(main, ["plan", str(bad), "--diff", str(good), "--detailed-exitcode"])
    assert result.exit_code == 3, result.output
    assert "other entities or messages (amounts, times or IDs)" in result.stdout
