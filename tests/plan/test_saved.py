"""Saved plans: `write_plan` writes in bulk exactly what the records are, and the bytes of the
bundled scenarios' plans do not drift (determinism is a contract, across releases too)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest
from plan_helpers import REPO, as_format_1, compile_file, compile_text

from carbonc.compiler import CompiledPlan
from carbonc.domain.vocabulary import DeliveryOverrides
from carbonc.plan.records import Entity, Message, Summary
from carbonc.plan.saved import hashed_records, write_plan
from carbonc.plan.verify import PlanError, digest_update, records_digest, verify_plan

#: The sha256 of saved plans. A change here is a change of every plan a user has saved: it needs
#: a reason (a new `format_version`, a changed meaning), never a refactoring. Format 2 changed the
#: records digest only: each plan's entity and message lines are those of format 1, byte for byte
#: (`test_format_1_plans_still_read` rebuilds format 1's bytes from format 2's).
GOLDEN = {
    ("refund-storm", None): "1bfd8e71dd502432cf82350a0f09c32fb614828eff23e5cfc17a3b906bbfef89",
    ("webhook-fault-sweep", None): "1b602996b3dca6fc619ae2091126ffa745d7a6529cd62451c0efe698bb401c0d",
    ("webhook-fault-sweep", DeliveryOverrides(order="random", repeat=3)):
        "1b9c89f268d4949cccd35dd842c75e1c9b2543310041f93f425d7acd17975cc1",
    ("mandate-rejection", None): "77f65b10b4ece43ec02db9effd6807f9cbde80402cd040d9f282bed4220838d4",
    ("settlement-delay", None): "d436e18fb32d05744f3622d31facbf9ba94877697e096594c70fbb20a2d90fb1",
}
#: The same plans as format 1 wrote them (carbonc before format 2).
GOLDEN_FORMAT_1 = {
    ("refund-storm", None): "13488bcfb4a8c58ee2883019e647296eff3d0ab3f34064fdeaaa5978e7b020ab",
    ("webhook-fault-sweep", None): "069f291fc8005ef58eebaf49ea33b43c5267b38168d9fb6a8e5c02af1d83b26b",
    ("webhook-fault-sweep", DeliveryOverrides(order="random", repeat=3)):
        "a1ca849a032d02d699e56c27910f41c0b2463e143716c3fc5418fb33b8afab95",
    ("mandate-rejection", None): "02f512d316866fe4d67352cd8890c89264d155a0bc6f5e251c26e8dc0c81e1fa",
    ("settlement-delay", None): "1b82f286b0feecb4df4988c291e525a3a729d0757ca8f34ed81aa407150426e1",
}


@pytest.mark.parametrize(("name", "delivery"), list(GOLDEN), ids=lambda v: v if isinstance(v, str) else "")
def test_saved_plan_bytes_do_not_drift(tmp_path: Path, name: str, delivery: DeliveryOverrides | None) -> None:
    out = tmp_path / "plan.ndjson"
    write_plan(compile_file(REPO / f"scenarios/{name}.carbon", delivery=delivery), out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == GOLDEN[(name, delivery)]


@pytest.mark.parametrize(("name", "delivery"), list(GOLDEN_FORMAT_1), ids=lambda v: v if isinstance(v, str) else "")
def test_format_1_plans_still_read(tmp_path: Path, name: str, delivery: DeliveryOverrides | None) -> None:
    plan = compile_file(REPO / f"scenarios/{name}.carbon", delivery=delivery)
    out = tmp_path / "plan.ndjson"
    write_plan(plan, out)
    old = tmp_path / "format-1.ndjson"
    old.write_bytes(as_format_1(out.read_bytes()))
    # Byte for byte what carbonc wrote before format 2: its records were not touched.
    assert hashlib.sha256(old.read_bytes()).hexdigest() == GOLDEN_FORMAT_1[(name, delivery)]
    header, summary = verify_plan(old)
    assert header.format_version == 1
    assert msgspec.structs.replace(summary, records_sha256=None) == plan.summary
    # A format-1 plan is still checked: its records edited, its digest no longer holds.
    edited = old.read_bytes().replace(b'"amount_minor":', b'"amount_minor":1', 1)
    old.write_bytes(edited)
    with pytest.raises(PlanError, match="do not match its digest"):
        verify_plan(old)


def _one_by_one(plan: CompiledPlan) -> bytes:
    """The plan as `records()` gives it, each record encoded on its own line, digest included."""
    encoder, digest, lines = msgspec.json.Encoder(), records_digest(), []
    for record in plan.records():
        if isinstance(record, (Entity, Message)):
            digest_update(digest, record)
        elif isinstance(record, Summary):
            record = msgspec.structs.replace(record, records_sha256=digest.hexdigest())
        lines.append(encoder.encode(record) + b"\n")
    return b"".join(lines)


@pytest.mark.parametrize("delivery", [None, DeliveryOverrides(order="random", repeat=2)], ids=["as-written", "random"])
def test_a_compiled_plan_read_back_while_hashed_is_its_records(tmp_path: Path,
                                                               delivery: DeliveryOverrides | None) -> None:
    # What a run of a compiled plan reads: its records, made once and encoded, hashed as saved.
    plan = compile_file(REPO / "scenarios/webhook-fault-sweep.carbon", delivery=delivery)
    plan_hash = hashlib.sha256()
    read = list(hashed_records(plan, plan_hash))
    out = tmp_path / "plan.ndjson"
    write_plan(plan, out)
    assert plan_hash.hexdigest() == hashlib.sha256(out.read_bytes()).hexdigest()
    records = list(plan.records())
    assert read[:-1] == records[1:-1]
    assert read[-1] == msgspec.structs.replace(records[-1], records_sha256=read[-1].records_sha256)
    assert read[-1].records_sha256 is not None


@pytest.mark.parametrize("delivery", [None, DeliveryOverrides(order="reverse", signature="future"),
                                      DeliveryOverrides(order="random", repeat=2)], ids=["as-written", "reverse",
                                                                                         "random"])
def test_bulk_write_is_the_records_one_by_one(tmp_path: Path, delivery: DeliveryOverrides | None) -> None:
    # Copies, forged copies, drops, shuffles and probes: everything the bulk writer expands.
    plan = compile_file(REPO / "scenarios/webhook-fault-sweep.carbon", delivery=delivery)
    out = tmp_path / "plan.ndjson"
    write_plan(plan, out)
    assert out.read_bytes() == _one_by_one(plan)
    verify_plan(out)


class _RecordsOnly:
    """A plan that only gives its records one by one (as an `exec.PlanInput` does)."""

    def __init__(self, plan: CompiledPlan):
        self.records = plan.records


def test_a_plan_of_records_is_written_as_a_compiled_one(tmp_path: Path) -> None:
    plan = compile_file(REPO / "scenarios/webhook-fault-sweep.carbon")
    write_plan(plan, tmp_path / "bulk.ndjson")
    write_plan(_RecordsOnly(plan), tmp_path / "records.ndjson")
    assert (tmp_path / "bulk.ndjson").read_bytes() == (tmp_path / "records.ndjson").read_bytes()


def test_where_is_judged_per_entity_whatever_it_reads(tmp_path: Path) -> None:
    # A `where` is evaluated once per distinct value of what it reads: amounts drawn from a range
    # (many values), a state (few), an ID (one per entity, never shared).
    plan = compile_text('''
scenario s {
  seed 3
  phase p {
    create orders count 300 amount between INR 1 and INR 9
    pay each order { captured 60%, failed rest }
  }
  probe GET "/o/{{ order.id }}" for each order where amount >= INR 5 { expect status == 200 }
  probe GET "/p/{{ payment.id }}" for each payment where state == "captured" and amount < INR 3 {
    expect status == 200
  }
  probe GET "/p/{{ payment.id }}" for each payment where id < "pay_M" { expect status == 200 }
}
''')
    assert isinstance(plan, CompiledPlan)
    entities = [r for r in plan.records() if isinstance(r, Entity)]
    orders = [e.id for e in entities if e.kind == "order" and e.amount_minor >= 500]
    cheap_captured = [e.id for e in entities if e.kind == "payment" and e.state == "captured" and e.amount_minor < 300]
    early = [e.id for e in entities if e.kind == "payment" and e.id < "pay_M"]
    assert [p.entities for p in plan.header.probes] == [tuple(orders), tuple(cheap_captured), tuple(early)]
    assert all(len(ids) > 10 for ids in (orders, cheap_captured, early))
    out = tmp_path / "plan.ndjson"
    write_plan(plan, out)
    assert out.read_bytes() == _one_by_one(plan)


def test_a_plan_is_read_as_it_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A run's workers read the plan written for them as it grows: every record, and the hash of
    # the whole file, whatever the pace of the writer; the reader waits for what is not there yet.
    import threading
    import time

    from carbonc.plan import saved

    plan = compile_file(REPO / "scenarios/webhook-fault-sweep.carbon")
    out = tmp_path / "plan.ndjson"
    pieces = list(saved.plan_bytes(plan))

    class Slow:
        """The compiled plan's bytes, a piece at a time with pauses in between."""

        def __iter__(self):
            for piece in pieces:
                time.sleep(0.01)
                yield piece

    monkeypatch.setattr(saved, "plan_bytes", lambda _plan: Slow())
    writer = threading.Thread(target=saved.write_growing, args=(plan, out))
    writer.start()
    header = saved.read_growing_header(out)
    digest = hashlib.sha256()
    records = list(saved.iter_hashed(out, digest, growing=True))
    writer.join()
    assert header == plan.header
    assert digest.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest() == hashlib.sha256(out.read_bytes()).hexdigest()
    assert len(records) == len(out.read_bytes().splitlines()) - 1
    assert not (tmp_path / "plan.ndjson.partial").exists()


def test_a_plan_that_stops_growing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from carbonc.errors import ExecutionError
    from carbonc.plan import saved

    monkeypatch.setattr(saved, "GROWING_WAIT_S", 0.2)
    out = tmp_path / "plan.ndjson"
    (tmp_path / "plan.ndjson.partial").write_bytes(b'{"type":"header"')  # its writer died here
    with pytest.raises(ExecutionError, match="stopped growing"):
        saved.read_growing_header(out)
    with pytest.raises(ExecutionError, match="stopped growing"):
        list(saved.iter_hashed(tmp_path / "never.ndjson", hashlib.sha256(), growing=True))

