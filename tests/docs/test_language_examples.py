"""Keeps docs/language.md true: every ```carbon block in it is checked by the compiler, and the
reference tables are compared with `carbonc.domain.vocabulary`.

How a block is checked is said by its fence's info string: the word `carbon`, then
space-separated `key=value` options and flags.

    ```carbon                     a complete program: `check_source` reports nothing (no error,
                                  no warning), and `carbonc fmt` would leave it unchanged
    ```carbon fragment=phase      statements: checked inside `scenario doc-example { phase main { … } }`
    ```carbon fragment=scenario   scenario items: checked inside `scenario doc-example { … }`
    ```carbon fragment=deliver    delivery settings: checked inside `scenario doc-example { deliver { … } }`
    ```carbon ... use=gateways,faults
                                  (fragments) put `use "gateways"` and `use "faults"` above the wrapper
    ```carbon ... error=C0304     the block must report C0304, and every error it reports must be one
                                  of the listed codes (comma-separated: error=C0303,C0304)
    ```carbon ... warning=W0401   the same for warnings; without it a block may report no warning
    ```carbon file=NAME.carbon    the block is also saved as NAME.carbon beside the examples, so that
                                  other blocks can `use "./NAME.carbon"` (it is checked itself too)
    ```carbon name=ID             gives the block an ID ...
    ```carbon formats=ID          ... and this block must be exactly what `carbonc fmt` makes of it
    ```carbon layout=free         a complete program that is deliberately not in canonical layout

Blocks in any other language (```text, ```sh) are not checked. Each block is checked as
`Source(path="docs/language.md#N", text=…)` where N is the line of its opening fence, so a
failure points at the block; the file is placed in a temporary directory, which is where local
`use` paths are resolved from.

Tables follow a `<!-- table:NAME -->` marker; their backticked cells must match the vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from carbonc.api import check_source
from carbonc.diagnostics import diagnostic_text
from carbonc.domain import vocabulary
from carbonc.fmt import format_source
from carbonc.source import Source

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"

_FENCE = re.compile(r"^```(\S*)(.*)$")
_OPTIONS = {"fragment", "use", "error", "warning", "file", "name", "formats", "layout"}
_FRAGMENTS = {"scenario", "phase", "deliver"}


@dataclass
class Block:
    line: int  # line of the opening fence, 1-based
    text: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"docs/language.md#{self.line}"

    @property
    def codes(self) -> tuple[set[str], set[str]]:
        split = lambda key: {c for c in self.options.get(key, "").split(",") if c}  # noqa: E731
        return split("error"), split("warning")


def _doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def carbon_blocks(text: str) -> list[Block]:
    """Every ```carbon block of `text`, with its options."""
    blocks: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, rest = m.group(1), m.group(2)
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"docs/language.md:{start + 1}: code block is not closed"
        i += 1
        if lang != "carbon":
            continue
        options: dict[str, str] = {}
        for word in rest.split():
            key, _, value = word.partition("=")
            assert key in _OPTIONS, f"docs/language.md:{start + 1}: unknown block option `{key}`"
            options[key] = value
        blocks.append(Block(start + 1, "\n".join(body) + "\n", options))
    return blocks


BLOCKS = carbon_blocks(_doc_text()) if DOC.exists() else []


def wrapped(block: Block) -> str:
    """The program a block is checked as."""
    kind = block.options.get("fragment")
    if kind is None:
        return block.text
    assert kind in _FRAGMENTS, f"{block.path}: unknown fragment kind `{kind}`"
    uses = "".join(f'use "{m}"\n' for m in block.options.get("use", "").split(",") if m)
    body = block.text
    if kind == "phase":
        body = f"phase main {{\n{body}}}\n"
    elif kind == "deliver":
        body = f"deliver {{\n{body}}}\n"
    return f"{uses}scenario doc-example {{\n{body}}}\n"


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every `file=` block, where every example is checked from."""
    root = tmp_path_factory.mktemp("language-examples")
    for block in BLOCKS:
        name = block.options.get("file")
        if name:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
    return root


def test_the_document_has_examples() -> None:
    assert DOC.exists(), "docs/language.md is missing"
    assert len(BLOCKS) >= 40


@pytest.mark.parametrize("block", BLOCKS, ids=[f"L{b.line}" for b in BLOCKS])
def test_example_checks(block: Block, examples_dir: Path) -> None:
    name = block.options.get("file") or f"doc-{block.line}.carbon"
    source = Source(path=block.path, text=wrapped(block), file=str(examples_dir / name))
    result = check_source(source)
    shown = "\n".join(diagnostic_text(d, result.sources.get(d.path)) for d in result.diagnostics) or "(none)"
    want_errors, want_warnings = block.codes
    got_errors = {d.code for d in result.diagnostics if d.is_error}
    got_warnings = {d.code for d in result.diagnostics if not d.is_error}
    assert got_errors == want_errors, f"{block.path}: expected errors {sorted(want_errors)}, got:\n{shown}"
    if not want_errors:  # a program with errors skips the unused-parameter pass
        assert got_warnings == want_warnings, f"{block.path}: expected warnings {sorted(want_warnings)}, got:\n{shown}"


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if "fragment" not in b.options and "error" not in b.options
     and b.options.get("layout") != "free"],
    ids=lambda b: f"L{b.line}",
)
def test_complete_example_is_canonical(block: Block) -> None:
    result = format_source(Source(path=block.path, text=block.text))
    assert result.text == block.text, f"{block.path}: `carbonc fmt` would change this example to:\n{result.text}"


def test_formatting_examples() -> None:
    named = {b.options["name"]: b for b in BLOCKS if "name" in b.options}
    pairs = [(named[b.options["formats"]], b) for b in BLOCKS if "formats" in b.options]
    assert pairs, "the layout section shows a before/after pair"
    for before, after in pairs:
        result = format_source(Source(path=before.path, text=before.text))
        assert result.text == after.text, f"{after.path}: `carbonc fmt` of {before.path} gives:\n{result.text}"


# ---------------------------------------------------------------- tables


def table(name: str) -> list[list[list[str]]]:
    """The rows of the table after `<!-- table:NAME -->`, each cell as its backticked words."""
    lines = _doc_text().split("\n")
    marker = f"<!-- table:{name} -->"
    assert marker in lines, f"docs/language.md has no {marker}"
    i = lines.index(marker) + 1
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    rows = []
    for line in lines[i + 2:]:  # skip the header and the --- row
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append([re.findall(r"`([^`]*)`", c) for c in cells])
    return rows


def test_verbs_table_matches_the_model() -> None:
    rows = {r[0][0]: r for r in table("verbs")}
    assert set(rows) == set(vocabulary.VERBS)
    for verb, spec in vocabulary.VERBS.items():
        _, target, clauses, required, context, states = rows[verb]
        assert {vocabulary.kind_of(t) for t in target} == set(spec.kinds), verb
        assert set(clauses) == set(spec.clauses), verb
        assert set(required) == set(spec.required), verb
        want_context = "create.mandate" if verb == "create" else spec.outcomes
        assert context == ([want_context] if want_context else []), verb
        assert set(states) == set(spec.states), verb


def test_outcomes_table_matches_the_model() -> None:
    found: dict[str, dict[str, set[str]]] = {}
    for row in table("outcomes"):
        context, outcome, clauses = row[0][0], row[2][0], row[3]
        assert outcome not in found.setdefault(context, {}), f"{context} {outcome} listed twice"
        found[context][outcome] = set(clauses)
    assert found == {c: {o: set(cl) for o, cl in outs.items()} for c, outs in vocabulary.OUTCOMES.items()}


def test_states_table_matches_the_model() -> None:
    found = {row[0][0]: row[1] for row in table("states")}
    assert found == {k: list(v) for k, v in vocabulary.STATES.items()}


def test_metrics_table_matches_the_model() -> None:
    found = [m for row in table("metrics") for m in row[1]]
    assert len(found) == len(set(found)), "a metric is listed twice"
    assert set(found) == set(vocabulary.METRICS)


def test_functions_table_matches_the_model() -> None:
    found = {row[0][0].split("(")[0] for row in table("functions")}
    assert found == set(vocabulary.FUNCTIONS)


def test_signature_modes_table_matches_the_model() -> None:
    found = [row[0][0] for row in table("signatures")]
    assert found == list(vocabulary.SIGNATURE_MODES)


def test_probe_fields_table_matches_the_model() -> None:
    rows = table("probe-fields")
    common = set(rows[0][1])
    listed: dict[str, set[str]] = {}
    for row in rows[1:]:
        for kind in row[0]:
            listed[kind] = common | set(row[1])
    for kind, fields in vocabulary.PROBE_FIELDS.items():
        assert listed.get(kind, common) == set(fields), kind
