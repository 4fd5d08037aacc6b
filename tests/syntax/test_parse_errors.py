"""Parse errors in plain words: the known-mistakes table, grouped expectations, recovery."""

from __future__ import annotations

import pytest

from carbonc.diagnostics import diagnostic_text
from carbonc.source import Source
from carbonc.syntax import parse
from carbonc.syntax._errors import KNOWN_MISTAKES

CASES = [(help, snippet) for help, snippets in KNOWN_MISTAKES.items() for snippet in snippets]


@pytest.mark.parametrize(("help", "snippet"), CASES, ids=[s for _, s in CASES])
def test_known_mistake_gets_its_help(help: str, snippet: str) -> None:
    result = parse(Source(path="t.carbon", text=snippet))
    assert result.module is None
    assert result.diagnostics, snippet
    assert result.diagnostics[0].help == help


def test_messages_name_no_lark_terminals() -> None:
    snippets = [
        "scenario s { param x = }",
        "scenario s { phase p { pay each order { captured 100% } ",
        "scenario s { deliver { order } }",
        "scenario s { phase p { refund each captured payment amount } }",
        "use 3",
    ]
    for snippet in snippets:
        for diag in parse(Source(path="t.carbon", text=snippet)).diagnostics:
            text = diagnostic_text(diag, None)
            for token_name in ("_RBRACE", "NAME", "STRING", "_LBRACE", "$END", "INT", "COMP_OP", "SLUG"):
                assert token_name not in text, (snippet, text)


def test_one_error_per_declaration_and_no_echoes() -> None:
    text = (
        "scenario a {\n"
        "  phase p { pay each order { captured 50%, failed 50% reason } }\n"
        "  phase q { pay each order { captured 50% failed } }\n"
        "}\n"
        "scenario b {\n"
        "  param x = \n"
        "}\n"
        "use 3\n"
    )
    diags = parse(Source(path="t.carbon", text=text)).diagnostics
    assert [(d.code, d.span.line) for d in diags] == [("C0101", 2), ("C0101", 7), ("C0101", 8)]


def test_unexpected_end_of_file_points_at_the_end() -> None:
    diags = parse(Source(path="t.carbon", text="scenario s {\n  phase p {\n")).diagnostics
    assert diags[0].code == "C0102"
    assert diags[0].help == "a `{` may be missing its `}`"
