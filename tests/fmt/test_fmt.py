"""The formatter's contract: canonical layout, every comment kept, idempotent, and the formatted
text compiles to the same IR as the input."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import layout, program_tokens, programs

from carbonc.cli import main
from carbonc.fmt import format_source
from carbonc.ir.walk import without_spans
from carbonc.source import Source
from carbonc.syntax import parse

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted([*ROOT.glob("scenarios/*.carbon"), *ROOT.glob("stdlib/*.carbon")])

# Derandomized: CI must not turn red on a new draw. To search afresh, set derandomize=False
# locally and run a few times; add what it finds as an example test below.
GENERATED = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ir_of(text: str):
    """The module `text` compiles to, as builtins with every `span` dropped."""
    result = parse(Source("input.carbon", text))
    assert result.module is not None, result.diagnostics
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return without_spans(result.module)


def fmt(text: str) -> str:
    result = format_source(Source("input.carbon", text))
    assert result.text is not None, result.diagnostics
    return result.text


def comments_of(text: str) -> list[str]:
    """The comments of `text` in order; trailing whitespace on their lines is layout, not text."""
    return ["\n".join(line.rstrip() for line in c.text.split("\n"))
            for c in parse(Source("input.carbon", text)).comments]


def assert_formats_correctly(text: str) -> str:
    """Check every property of the formatter on `text`; return the formatted text."""
    once = fmt(text)
    assert fmt(once) == once, "formatting is not idempotent"
    assert ir_of(once) == ir_of(text), "the formatted program means something else"
    # Each comment's text appears as often as before, as a comment (not merely as a substring:
    # `/*a*//*b*/` holds a `//` that is no comment), in the same order.
    before, after = comments_of(text), comments_of(once)
    assert Counter(after) == Counter(before), "comments were lost or changed"
    assert after == before, "comments were reordered"
    for comment, times in Counter(before).items():
        assert once.count(comment) >= times
    assert_canonical_whitespace(once)
    return once


def assert_canonical_whitespace(text: str) -> None:
    """One newline at the end, no two blank lines in a row, no CR, no trailing whitespace; the
    text of comments is left out (a block comment may hold blank lines of its own)."""
    if not text:
        return
    for c in sorted(parse(Source("output.carbon", text)).comments, key=lambda c: -c.span.start):
        text = text[:c.span.start] + "#" + "\n#" * c.text.count("\n") + text[c.span.end:]
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\n\n\n" not in text
    assert "\r" not in text
    assert not [line for line in text.split("\n") if line != line.rstrip()]


# ---------------------------------------------------------------- bundled programs


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_programs_are_formatted(path: Path):
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text
    assert_formats_correctly(text)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_programs_survive_any_layout(path: Path):
    """Squash every bundled program onto as few lines as possible and format it back."""
    text = path.read_text(encoding="utf-8")
    comments = parse(Source("input.carbon", text)).comments
    # Newlines stay inside comments, after them, and before those on lines of their own.
    keep = {i for c in comments for i in range(c.span.start, c.span.end + 1)}
    keep |= {text.rfind("\n", 0, c.span.start) for c in comments}
    squashed = "".join(" " if ch == "\n" and i not in keep else ch for i, ch in enumerate(text))
    assert squashed.count("\n") < text.count("\n") / 2
    formatted = assert_formats_correctly(squashed)
    assert formatted.replace("\n\n", "\n") == text.replace("\n\n", "\n")


def test_bundled_programs_exist():
    names = {p.name for p in BUNDLED}
    assert {"refund-storm.carbon", "dispute-spike.carbon", "faults.carbon", "gateways.carbon"} <= names


# ---------------------------------------------------------------- generated programs


@GENERATED
@given(programs())
def test_generated_programs(text: str):
    assert_formats_correctly(text)


@GENERATED
@given(st.data())
def test_layout_does_not_matter(data):
    """Two layouts of the same comment-free tokens format alike (up to the blank lines kept)."""
    tokens = data.draw(program_tokens)
    first = fmt(data.draw(layout(tokens, with_comments=False)))
    second = fmt(data.draw(layout(tokens, with_comments=False)))
    assert first.replace("\n\n", "\n") == second.replace("\n\n", "\n")


def test_generated_programs_cover_the_grammar():
    """The strategy reaches every construct the brief lists (a check on the test itself)."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(program_tokens)
    def collect(tokens):
        seen.update(tokens)

    collect()
    wanted = {"use", "scenario", "extends", "about", "category", "tags", "param", "seed", "phase", "after", "deliver", "for", "expect", "finding", "when", "probe", "severity", "profile", "mix", "ladder", "create", "pay", "capture", "refund", "dispute", "settle", "cancel", "pause", "each", "all", "first", "of", "where", "count", "amount", "between", "and", "full", "partial", "method", "reason", "code", "over", "with", "then", "rest", "order", "within", "repeat", "delay", "jitter", "drop", "signature", "retry", "fail", "on", "verdict", "timeout", "or", "not", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "(", ")", "[", "]", ".", "true", "false", "GET", "POST"}
    assert wanted <= seen, wanted - seen
    literals = {
        "int with _": r"\d+(_\d+)+", "decimal": r"\d+\.\d+", "percent": r"\d+(\.\d+)?%",
        "INR": r"INR[ \t]+\S+", "KWD": r"KWD \d+\.\d{3}", "JPY": r"JPY \d+", "string": r'".*"',
        **{f"duration {u}": rf"\d+{u}" for u in ("ms", "s", "m", "h", "d")},
    }
    missing = [k for k, pattern in literals.items() if not any(re.fullmatch(pattern, t) for t in seen)]
    assert not missing


# ---------------------------------------------------------------- hand-written layouts

MESSY = {
    "odd-indentation": """\
use "faults"
        scenario   messy-one {
about "indentation all over the place"
      param rate=25%   "share"
   param orders_total = 1_000
          phase   first   {
create orders   count orders_total amount INR 2500
        pay each order { captured 100% }
    }
  deliver { use duplicates
  order sequence }
          expect orders==orders_total severity   high
}
""",
    "comments-in-odd-places": """\
// heading comment

/* a block
   comment over
     three lines */
scenario commented /* after the name */ {
  param a = 1 // trailing a
  // above b

  param bb = 2 /* trailing bb */ // and another
  phase p { // on the phase line
    pay /* inside */ each order {
      captured 50% // trailing captured
      // before failed
      failed rest
    } // after the block
  }
  expect a + /* in an expression */ bb > 0
  // before the closing brace
}
// at the end
""",
    "long-mix-breaks": """\
scenario long-mix {
  phase p {
    pay each order where amount > INR 100 { captured 70% after 5m, failed 20% code BAD_REQUEST_ERROR reason payment_declined, pending rest then { captured 50%, failed rest } }
  }
}
""",
    "short-mix-stays-inline": """\
mix short { captured 90%
  failed rest }
scenario short {
  phase p {
    pay each order {
      captured 100%
    }
    refund 10% of captured payments {
      processed 50% , failed rest
    }
  }
}
""",
    "expressions": """\
scenario exprs {
  param a = ((1 + 2)) * 3
  param b = -(-a) - (-2) / (4 * 5)
  param c = not (a > b) and (b < a or a == b)
  phase p {
    refund (a + b) of captured payments amount between (INR 1 + INR 2) and INR 9
    capture first (a * 2) of payments where not (amount > INR 5)
  }
  expect (a - (b - a)) >= (a - b) - a
}
""",
    "delivery-and-probes": """\
ladder fast [1s,2s, 4s ,]
profile p { order shuffle within 5m, delay 30s jitter 2m, drop 2%, repeat 2, signature valid 90%, signature missing 10% }
scenario deliveries {
  deliver for "refund.*" { retry fast fail on 5xx, 404, timeout verdict missing reject timeout 10s use p }
  deliver for disputes { retry [1m, 5m] }
  probe GET "/orders/{order.ref}" for each order where amount > INR 1 { expect status == 200 expect amount == INR 1 } severity high
  finding when orders < 10 "too few orders" severity low
}
""",
}


@pytest.mark.parametrize("name", sorted(MESSY))
def test_messy_inputs(name: str, snapshot):
    formatted = assert_formats_correctly(MESSY[name])
    assert formatted == snapshot


def test_long_mix_breaks_and_short_mix_stays_inline():
    long_one = fmt(MESSY["long-mix-breaks"])
    assert "pay each order where amount > INR 100 {\n" in long_one
    assert "      pending rest then { captured 50%, failed rest }\n" in long_one
    short = fmt(MESSY["short-mix-stays-inline"])
    assert "pay each order { captured 100% }" in short
    assert "refund 10% of captured payments { processed 50%, failed rest }" in short


def test_empty_and_comment_only_files():
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("// only\n/* comments */\n") == "// only\n/* comments */\n"


def test_syntax_errors_are_not_formatted():
    result = format_source(Source("bad.carbon", "scenario s { phase p { pay } }"))
    assert result.text is None
    assert [d.code for d in result.diagnostics] == ["C0101"]


# ---------------------------------------------------------------- the command line

UNFORMATTED = "scenario s {\n        param a=1\n  expect a>0 }\n"


def test_cli_check_reports_unformatted_file_and_writes_nothing(tmp_path: Path):
    path = tmp_path / "s.carbon"
    path.write_text(UNFORMATTED, encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 1, result.output
    assert "would reformat" in result.stdout
    assert path.read_text(encoding="utf-8") == UNFORMATTED
    assert "Traceback" not in result.output


def test_cli_check_passes_formatted_file(tmp_path: Path):
    path = tmp_path / "s.carbon"
    path.write_text(fmt(UNFORMATTED), encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_cli_rewrites_file(tmp_path: Path):
    path = tmp_path / "s.carbon"
    path.write_text(UNFORMATTED, encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == "scenario s {\n  param a = 1\n\n  expect a > 0\n}\n"
    again = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("check_only", [True, False])
def test_cli_syntax_error_exits_2_with_diagnostic(tmp_path: Path, check_only: bool):
    path = tmp_path / "bad.carbon"
    path.write_text("scenario s {\n  param = 1\n}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", *(["--check"] if check_only else []), str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:2:9: error[C0101]" in result.stderr
    assert "Traceback" not in result.output
    assert path.read_text(encoding="utf-8") == "scenario s {\n  param = 1\n}\n"


def test_cli_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "s.carbon"
    path.write_text(UNFORMATTED, encoding="utf-8")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # (As root nothing refuses a write: the rename that would put the new file in place fails.)
    import carbonc.files

    monkeypatch.setattr(carbonc.files.os, "replace", refuse)
    result = CliRunner().invoke(main, ["fmt", str(path)])
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.stderr and "Permission denied" in result.stderr
    assert "internal error" not in result.output
    assert path.read_text(encoding="utf-8") == UNFORMATTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.carbon"]  # no temporary file left


def test_a_comment_after_a_parenthesised_operand_stays_on_its_line():
    # Found by the generated programs: the expect's span ends at `0%`, before the closing
    # parentheses, and the comment after them moved to a line of its own on the second pass.
    text = 'scenario a { probe GET "x" for each order { expect ( not 1 != ( 1 != ( 0% //\n) ) ) } }\n'
    once = assert_formats_correctly(text)
    assert "expect not 1 != (1 != 0%)  //" in once
