"""A saved plan's entities indexed on disk answer as the in-memory index does, and its header is
read in pieces: what its probes select stays in the file until asked for."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import msgspec
import pytest
from plan_helpers import REPO, compile_file

import carbonc.plan.header as header_module
from carbonc.dialects import EntityIndex
from carbonc.plan.header import read_header, selected
from carbonc.plan.records import Entity, Header
from carbonc.plan.saved import write_plan
from carbonc.plan.verify import index_plan, verify_plan


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = compile_file(REPO / "scenarios" / "dispute-spike.carbon", overrides={"baseline_orders": "300"})
    out = tmp_path_factory.mktemp("plan") / "plan.ndjson"
    write_plan(plan, out)
    return out


def entities_of(path: Path) -> list[Entity]:
    return [msgspec.json.decode(line, type=Entity) for line in path.read_bytes().splitlines()
            if b'"type":"entity"' in line]


def test_the_index_on_disk_answers_as_the_one_in_memory(saved: Path) -> None:
    entities = entities_of(saved)
    kinds = {e.kind for e in entities}
    assert {"order", "payment", "dispute"} <= kinds  # every depth of an order tree
    memory = EntityIndex(entities)
    _, _, disk = index_plan(saved)
    try:
        assert len(disk) == len(memory) == len(entities)
        assert list(disk) == list(memory) == entities
        for entity in entities:
            assert disk.get(entity.id) == memory.get(entity.id) == entity
            assert disk.root_of(entity.id) == memory.root_of(entity.id) is not None
            assert disk.payment_of(entity.id) == memory.payment_of(entity.id)
        assert any(disk.payment_of(e.id) is not None for e in entities)
        for absent in ("ord_nothere", ""):
            assert disk.get(absent) is None and disk.root_of(absent) is None and disk.payment_of(absent) is None
    finally:
        disk.close()


def test_roots_in_memory_do_not_depend_on_the_order_entities_come_in(saved: Path) -> None:
    # A plan lists parents first, and the index keeps each root as it goes; children given
    # before their parents (no plan does) still find their root, by walking up.
    entities = entities_of(saved)
    forward, backward = EntityIndex(entities), EntityIndex(reversed(entities))
    for entity in entities:
        root = forward.root_of(entity.id)
        assert root is not None and backward.root_of(entity.id) == root
        assert forward.get(root).parent is None
        assert (root == entity.id) == (entity.parent is None)


def test_the_index_holds_no_entity_in_memory(saved: Path) -> None:
    entities = entities_of(saved)
    # Once before measuring: what the first index of a process loads for good (a codec its
    # checks use, SQLite's and the regex module's caches…) is not what an index holds, and
    # whether an earlier test loaded it depends on the order tests run in.
    index_plan(saved)[2].close()
    tracemalloc.start()
    try:
        in_memory = EntityIndex(entities)
        held_in_memory = tracemalloc.get_traced_memory()[0]
        del in_memory
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        _, _, index = index_plan(saved)
        held_on_disk = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    index.close()
    # What the index keeps in Python is a header without selections and a few buffers, not
    # the entities: a tenth of what the in-memory index needs already at 300 orders.
    assert held_on_disk < held_in_memory / 10


def test_a_header_is_read_without_what_its_probes_select(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = saved.read_bytes().split(b"\n", 1)[0]
    header = msgspec.json.decode(line, type=Header)
    assert sum(len(p.entities) for p in header.probes) > 300
    lean_header = msgspec.structs.replace(header, probes=tuple(msgspec.structs.replace(p, entities=())
                                                                    for p in header.probes))
    as_written = json.loads(line)
    spaced = json.dumps(as_written, separators=(" , ", " : ")).encode()  # still one line
    reordered = json.dumps(dict(reversed(as_written.items()))).encode()
    for block in (1 << 16, 7):  # a small block cuts IDs, keys and strings
        monkeypatch.setattr(header_module, "_BLOCK", block)
        for text in (line, b"\xef\xbb\xbf" + spaced, reordered):
            path = saved.with_name("variant.ndjson")
            path.write_bytes(text + b"\n{}\n")
            with path.open("rb") as f:
                lean, selections, end = read_header(f)
                assert msgspec.json.decode(lean, type=Header) == lean_header
                assert end == len(text) + 1
                read_back = {s.probe: list(selected(f.fileno(), s)) for s in selections}
            assert read_back == {n: list(p.entities) for n, p in enumerate(header.probes)}


def test_verifying_gives_the_whole_header_and_indexing_leaves_selections_in_the_file(saved: Path) -> None:
    header = msgspec.json.decode(saved.read_bytes().split(b"\n", 1)[0], type=Header)
    assert verify_plan(saved)[0] == header
    lean, _, index = index_plan(saved)
    try:
        assert all(not p.entities for p in lean.probes)
        assert index.with_selections(lean) == header
    finally:
        index.close()
