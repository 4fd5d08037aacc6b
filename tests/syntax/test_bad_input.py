"""No input may produce a Python traceback: broken, truncated, binary, huge or missing input gets
a diagnostic (with a position where there is one) and exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonc.api import check_path, check_source
from carbonc.cli import main
from carbonc.fmt import format_source
from carbonc.ir.walk import without_spans
from carbonc.source import Source
from carbonc.syntax import MAX_EXPRESSION_DEPTH, parse

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(ROOT.glob("scenarios/*.carbon"))
BUNDLED = [*SCENARIOS, *sorted(ROOT.glob("stdlib/*.carbon"))]
TWO_MB = 2 * 1024 * 1024

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def run_cli(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result


def assert_rejected(path: Path, code: str, where: tuple[int, int] | None) -> str:
    """`carbonc check path` exits 2 and its first diagnostic is `code` at line:col `where`."""
    checked = check_path(path)
    assert not checked.ok
    first = checked.diagnostics[0]
    assert first.code == code, checked.diagnostics
    assert (first.span.line, first.span.col) == where if where else first.span is None, first
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert f"error[{code}]" in result.stderr
    return result.stderr


def write(tmp_path: Path, content: str | bytes, name: str = "input.carbon") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- broken syntax

BROKEN = {
    "missing-close-brace": ("scenario s {\n  phase p {\n", "C0102", (2, 11)),
    "extra-close-brace": ("scenario s {\n}\n}\n", "C0101", (3, 1)),
    "stray-token": ("scenario s {\n  param a = 1 2\n}\n", "C0101", (2, 15)),
    "selection-without-entity": ("scenario s {\n  phase p { pay each }\n}\n", "C0101", (2, 22)),
    "missing-value": ("scenario s {\n  param a =\n}\n", "C0101", (3, 1)),
    "unknown-character": ("scenario s {\n  expect a @ b\n}\n", "C0103", (2, 12)),
    "control-character": ("scenario s {\n  expect a \x1b b\n}\n", "C0103", (2, 12)),
    "non-ascii-name": ("scenario s {\n  param café = 1\n}\n", "C0103", (2, 12)),
    "unterminated-string": ('scenario s {\n  about "never closed\n}\n', "C0104", (2, 9)),
    "unterminated-comment": ("scenario s {\n} /* never closed\n", "C0108", (2, 3)),
    "bad-escape": ('scenario s {\n  about "a\\qb"\n}\n', "C0107", (2, 11)),
    "short-unicode-escape": ('scenario s {\n  about "\\u12"\n}\n', "C0107", (2, 10)),
    "operator-at-end": ("scenario s {\n  expect 1 +\n}\n", "C0101", (3, 1)),
    "comparison-chain": ("scenario s {\n  expect 1 < 2 < 3\n}\n", "C0101", (2, 16)),
    "empty-parens": ("scenario s {\n  expect ()\n}\n", "C0101", (2, 11)),
    "number-after-money": ("scenario s {\n  param a = INR 25 00\n}\n", "C0101", (2, 20)),
    "about-twice": ('scenario s {\n  about "a"\n  about "b"\n}\n', "C0313", (3, 3)),
    "top-level-garbage": ("}}}{{{", "C0101", (1, 1)),
    "only-a-brace": ("{", "C0101", (1, 1)),
    "crlf-broken": ("scenario s {\r\n  param a = \r\n}\r\n", "C0101", (3, 1)),
    "bom-then-garbage": ("\ufeff= 1", "C0101", (1, 1)),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_syntax(tmp_path: Path, name: str):
    text, code, where = BROKEN[name]
    assert_rejected(write(tmp_path, text), code, where)


def test_the_caret_shows_control_characters_harmlessly(tmp_path: Path):
    stderr = assert_rejected(write(tmp_path, BROKEN["control-character"][0]), "C0103", (2, 12))
    assert "\x1b" not in stderr
    assert "U+001B" in stderr


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_prefix_of_a_scenario(path: Path):
    """Truncate a bundled scenario everywhere (at a stride): a diagnostic, never an exception."""
    text = path.read_text(encoding="utf-8")
    stride = max(1, len(text) // 60)
    for end in range(0, len(text), stride):
        result = check_source(Source(path="cut.carbon", text=text[:end]))
        for diag in result.diagnostics:
            if diag.code.startswith("C01"):
                assert diag.span is not None, (end, diag)
        assert format_source(Source(path="cut.carbon", text=text[:end])) is not None


def test_a_cut_file_through_the_cli(tmp_path: Path):
    text = (ROOT / "scenarios" / "refund-storm.carbon").read_text(encoding="utf-8")
    cut = text[: text.index("phase storm") + 11]
    line = cut.count("\n") + 1
    stderr = assert_rejected(write(tmp_path, cut), "C0102", (line, len(cut) - cut.rfind("\n") - 1))
    assert "unexpected end of file" in stderr


# ---------------------------------------------------------------- bytes that are not text


def test_non_utf8(tmp_path: Path):
    stderr = assert_rejected(write(tmp_path, b"scenario s {\n  about \"caf\xe9\"\n}\n"), "C0002", (2, 13))
    assert "byte 0xe9" in stderr


def test_non_utf8_after_multibyte_characters(tmp_path: Path):
    assert_rejected(write(tmp_path, "// ééé\n// ".encode() + b"\xff"), "C0002", (2, 4))


def test_nul_byte(tmp_path: Path):
    assert_rejected(write(tmp_path, b"scenario s {\n  expect 1\x00\n}\n"), "C0003", (2, 11))


def test_utf16_file(tmp_path: Path):
    assert_rejected(write(tmp_path, "scenario s {}\n".encode("utf-16")), "C0002", (1, 1))


@FUZZ
@given(data=st.binary(max_size=3000))
def test_random_bytes(tmp_path: Path, data: bytes):
    path = write(tmp_path, data)
    checked = check_path(path)
    assert all(d.span is not None for d in checked.diagnostics if d.code in ("C0002", "C0003")), checked.diagnostics
    result = run_cli("check", str(path))
    assert result.exit_code in (0, 2)


@FUZZ
@given(text=st.text(max_size=500))
def test_random_text(text: str):
    result = check_source(Source(path="random.carbon", text=text))
    if not result.ok:
        assert any(d.span is not None for d in result.diagnostics), result.diagnostics
    format_source(Source(path="random.carbon", text=text))


# ---------------------------------------------------------------- huge and deep input


@pytest.mark.parametrize(("name", "line", "code"), [
    ("letters", "a" * TWO_MB, "C0101"),
    ("digits", "1" * TWO_MB, "C0101"),
    ("sum", "1+" * (TWO_MB // 2) + "1", "C0101"),
])
def test_two_megabyte_line(tmp_path: Path, name: str, line: str, code: str):
    stderr = assert_rejected(write(tmp_path, line + "\n"), code, (1, 1))
    assert len(stderr) < 2000  # the line is shown as a window around the caret


@pytest.mark.parametrize(("name", "value", "code"), [
    ("name", "a" * TWO_MB, "C0201"),
    ("integer", "9" * TWO_MB, "C0106"),
    ("duration", "9" * TWO_MB + "s", "C0106"),
    ("money", "INR " + "9" * TWO_MB, "C0106"),
])
def test_two_megabyte_value(tmp_path: Path, name: str, value: str, code: str):
    path = write(tmp_path, f"scenario s {{\n  expect {value} > 0\n}}\n")
    stderr = assert_rejected(path, code, (2, 10))
    assert len(stderr) < 2000


def test_a_long_sum_inside_a_scenario(tmp_path: Path):
    """Thousands of operators: a tree too deep to walk recursively is reported, not crashed on."""
    path = write(tmp_path, "scenario s {\n  expect " + "1 + " * 20_000 + "1 > 0\n}\n")
    assert_rejected(path, "C0105", (2, 12 + 4 * (20_000 - MAX_EXPRESSION_DEPTH)))  # that `+`


@pytest.mark.parametrize("shape", ["1 + {}", "-{}", "not {}", "2 * {}", "{} - 1"])
def test_expressions_at_the_depth_limit(tmp_path: Path, shape: str):
    """The deepest expression accepted checks and formats; one level more is reported."""
    def nest(depth: int) -> str:
        text = "n"
        for _ in range(depth):
            text = shape.format(text)
        return text

    ok = write(tmp_path, f"scenario s {{\n  param n = 1\n  expect {nest(MAX_EXPRESSION_DEPTH - 1)} > 0\n}}\n")
    result = run_cli("check", str(ok))
    assert "C01" not in result.stderr, result.stderr
    assert run_cli("fmt", str(ok)).exit_code == 0
    too_deep = write(tmp_path, f"scenario s {{\n  param n = 1\n  expect {nest(MAX_EXPRESSION_DEPTH)} > 0\n}}\n")
    assert check_path(too_deep).diagnostics[0].code == "C0105"
    assert run_cli("fmt", "--check", str(too_deep)).exit_code == 2


@pytest.mark.parametrize(("name", "text", "where"), [
    ("parentheses", "(" * 5000 + ")" * 5000, (1, 65)),
    ("braces", "{" * 5000 + "}" * 5000, (1, 65)),
    ("brackets", "[" * 5000 + "]" * 5000, (1, 65)),
    ("parentheses-in-expression", "scenario s {\n  expect " + "(" * 5000 + "1" + ")" * 5000 + "\n}\n", (2, 73)),
    ("braces-in-mix", "mix m " + "{ a 1% then " * 5000 + "}" * 5000, (1, 775)),
])
def test_deep_nesting(tmp_path: Path, name: str, text: str, where: tuple[int, int]):
    assert_rejected(write(tmp_path, text), "C0105", where)


@pytest.mark.parametrize(("name", "line", "col"), [
    ("param", "  param a = 9999999999999999999999999999999999999999", 13),
    ("seed", "  seed 9999999999999999999999999999999999999999", 8),
    ("count", "  phase p { create orders count 9999999999999999999999999999999999999999 amount INR 1 }", 33),
    ("duration", "  phase p { create orders count 1 amount INR 1 over 9999999999999999999999999999999d }", 53),
    ("money", "  phase p { create orders count 1 amount INR 9999999999999999999999999999999999999999 }", 42),
    ("just-too-big", "  param a = 9_223_372_036_854_775_808", 13),
])
def test_huge_number(tmp_path: Path, name: str, line: str, col: int):
    path = write(tmp_path, f"scenario s {{\n{line}\n}}\n")
    assert_rejected(path, "C0106", (2, col))


def test_largest_integer_is_accepted(tmp_path: Path):
    path = write(tmp_path, "scenario s {\n  param a = 9_223_372_036_854_775_807\n  expect a > 0\n}\n")
    assert check_path(path).ok


# ---------------------------------------------------------------- not a file, or nothing in it


def test_directory(tmp_path: Path):
    stderr = assert_rejected(tmp_path, "C0001", None)
    assert "is a directory" in stderr


def test_missing_file(tmp_path: Path):
    stderr = assert_rejected(tmp_path / "missing.carbon", "C0001", None)
    assert "no such file" in stderr


def test_missing_scenario_name():
    result = run_cli("check", "no-such-scenario-name")
    assert result.exit_code == 2
    assert "no scenario named" in result.stderr


def test_symlink_loop(tmp_path: Path):
    loop = tmp_path / "loop.carbon"
    loop.symlink_to(loop)
    assert_rejected(loop, "C0001", None)


def test_device_is_not_read_forever():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    # Refused before a byte is read: a device is not a program file.
    stderr = assert_rejected(Path("/dev/zero"), "C0001", None)
    assert "not a regular file" in stderr


@pytest.mark.parametrize("text", ["", "\n\n   \n", "// only a comment\n", "/* a\n block */\n// and a line\n"])
def test_empty_and_comment_only_files(tmp_path: Path, text: str):
    """A module that declares nothing is valid (a module need not hold a scenario); there is
    nothing to plan in it, though, and `plan` says so."""
    path = write(tmp_path, text)
    assert check_path(path).diagnostics == ()
    result = run_cli("check", str(path))
    assert result.exit_code == 0
    assert "0 errors" in result.stderr
    planned = run_cli("plan", str(path))
    assert planned.exit_code == 2
    assert "error[C0212]" in planned.stderr


def test_bad_module_behind_use(tmp_path: Path):
    """Problems in a used file are reported where the `use` is, or in that file."""
    write(tmp_path, b"profile p {\xff}", "binary.carbon")
    write(tmp_path, "profile p { repeat }", "broken.carbon")
    (tmp_path / "dir.carbon").mkdir()
    write(tmp_path, 'use "./self.carbon"', "self.carbon")
    main_file = write(tmp_path, 'use "./binary.carbon"\nuse "./broken.carbon"\nuse "./dir.carbon"\n'
                                'use "./self.carbon"\nuse "./missing.carbon"\n')
    codes = [d.code for d in check_path(main_file).diagnostics]
    assert {"C0002", "C0101", "C0203"} <= set(codes), codes
    assert run_cli("check", str(main_file)).exit_code == 2


# ---------------------------------------------------------------- a real process


@pytest.mark.parametrize("content", [
    pytest.param(b"1+" * (TWO_MB // 2), id="two-megabyte-sum"),
    pytest.param(b"scenario s {\n  expect 1\x00\n}\n", id="nul-byte"),
    pytest.param("(" * 5000, id="deep-parentheses"),
])
def test_subprocess(tmp_path: Path, content):
    path = write(tmp_path, content)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "carbonc", "check", str(path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert re.search(r"input\.carbon:\d+:\d+: error\[C01|error\[C0003\]", done.stderr), done.stderr


# ---------------------------------------------------------------- mutations of real programs

_TOKEN = re.compile(r'\s+|"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/|[A-Za-z_][\w-]*|\d[\d_.]*[%a-z]*|.', re.S)
_EXTRA = ["{", "}", "(", ")", "[", "]", ",", '"', "/*", "//", "*/", "=", "==", "-", "not", "then",
          "rest", "0", "9" * 40, "INR", "INR 1.234", "1e5", "é", "\t", "\n", "\\", "@", "\x7f", "𝄞"]


@st.composite
def mutants(draw) -> str:
    """A bundled program with a few tokens deleted, inserted, doubled or swapped, or a character
    replaced or dropped."""
    tokens = _TOKEN.findall(draw(st.sampled_from(BUNDLED)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(tokens) - 1))
        match draw(st.sampled_from(["delete", "insert", "double", "swap", "char", "drop-char"])):
            case "delete":
                del tokens[i]
            case "insert":
                tokens.insert(i, draw(st.sampled_from(_EXTRA + tokens)))
            case "double":
                tokens.insert(i, tokens[i])
            case "swap":
                j = draw(st.integers(0, len(tokens) - 1))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            case "char":
                tok = tokens[i]
                k = draw(st.integers(0, len(tok)))
                tokens[i] = tok[:k] + draw(st.characters(codec="utf-8")) + tok[k + 1:]
            case "drop-char":
                k = draw(st.integers(0, max(0, len(tokens[i]) - 1)))
                tokens[i] = tokens[i][:k] + tokens[i][k + 1:]
        if not tokens:
            tokens = [""]
    return "".join(tokens)


@pytest.fixture(scope="module")
def mutant_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutants") / "mutant.carbon"


@FUZZ
@given(text=mutants())
def test_mutated_programs(mutant_file: Path, text: str):
    source = Source(path="mutant.carbon", text=text)
    result = check_source(source)
    assert all(d.span is not None for d in result.diagnostics if d.code.startswith("C01")), result.diagnostics
    formatted = format_source(source)
    if formatted.text is not None:
        # What parses also formats, stably, to the same program.
        again = Source(path="mutant.carbon", text=formatted.text)
        assert format_source(again).text == formatted.text
        before, after = parse(source).module, parse(again).module
        assert without_spans(after) == without_spans(before)
    mutant_file.write_text(text, encoding="utf-8")
    cli = run_cli("check", str(mutant_file))
    assert cli.exit_code in (0, 2)
    assert (cli.exit_code == 0) == check_path(mutant_file).ok
