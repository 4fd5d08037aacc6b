"""Shared helpers for plan tests: compile a bundled scenario or a snippet."""

from __future__ import annotations

from pathlib import Path

import msgspec

from carbonc.api import CheckResult, compile_source, read_or_diagnose
from carbonc.compiler import CompiledPlan
from carbonc.plan.records import Entity, Message, Summary
from carbonc.plan.verify import digest_update, records_digest
from carbonc.source import Source

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.carbon"))


def compile_file(path: Path, **kw) -> CompiledPlan:
    source = read_or_diagnose(path, f"scenarios/{path.name}")
    assert not isinstance(source, CheckResult)
    result = compile_source(source, **kw)
    assert isinstance(result, CompiledPlan), [d.message for d in result.diagnostics]
    return result


def compile_text(text: str, **kw) -> CompiledPlan | CheckResult:
    return compile_source(Source(path="test.carbon", text=text), **kw)


def as_format_1(plan: bytes) -> bytes:
    """A format-2 plan as format 1 wrote it: the same records, the header's version 1, and the
    records digest over their key-sorted encoding."""
    lines = plan.splitlines(keepends=True)
    header, body, summary = lines[0], lines[1:-1], lines[-1]
    assert header.startswith(b'{"type":"header","format_version":2,')
    decoder, digest = msgspec.json.Decoder(Entity | Message), records_digest(1)
    for line in body:
        digest_update(digest, decoder.decode(line), 1)
    summary = msgspec.json.encode(msgspec.structs.replace(msgspec.json.decode(summary, type=Summary),
                                                          records_sha256=digest.hexdigest())) + b"\n"
    return header.replace(b'"format_version":2', b'"format_version":1', 1) + b"".join(body) + summary
