"""Writes docs/diagnostics.md from the diagnostic fixtures: every code, what causes it, how to
fix it, and each fixture with the text `carbonc check` prints for it.

    python tests/diagnostics/gen_docs.py          # rewrite docs/diagnostics.md
    python tests/diagnostics/gen_docs.py --check  # exit 1 if it is out of date

tests/diagnostics/test_diagnostics.py uses the same functions, so the snapshots, the docs and the
fixtures cannot drift apart.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from carbonc.api import CheckResult, check_path, compile_source, read_or_diagnose
from carbonc.codes import Code
from carbonc.diagnostics import diagnostic_text

CODES = {code.value: code.summary for code in Code}

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DOCS = REPO / "docs" / "diagnostics.md"

#: A fixture's name: the code it triggers, then a number for each distinct trigger.
FIXTURE_NAME = re.compile(r"^(?P<code>[CW]\d{4})_\d+\.carbon$")

#: Cases that cannot be a file on disk, and what stands in for them.
MISSING = {"C0001_1.carbon": "no file at this path"}

GROUPS = (
    ("C00", "Files"),
    ("C01", "Syntax"),
    ("C02", "Names"),
    ("C03", "Types and units"),
    ("W04", "Warnings"),
)

#: What causes each code and how to fix it; the title comes from carbonc.diagnostics.CODES.
EXPLANATIONS: dict[str, str] = {
    "C0001": "The path does not exist, is a directory, is larger than 16 MB, or the operating system "
             "refused to read it. Check the path; pass the `.carbon` files of a directory one by one or "
             "with a glob.",
    "C0002": "The file has bytes that are not UTF-8, usually because an editor saved it as Latin-1 or "
             "Windows-1252. The caret points at the first such byte; save the file as UTF-8.",
    "C0003": "A NUL byte means the file is binary or damaged (a bad copy, or a UTF-16 file). Remove the "
             "byte, or save a UTF-16 file as UTF-8.",
    "C0101": "A word or symbol appears where the grammar does not allow it. The message lists what "
             "could come there; for a known mistake (`=` for `==`, a `param` without `=`, …) the help "
             "names the fix.",
    "C0102": "The file ends in the middle of a declaration, most often because a `{` has no `}`. "
             "Close the block; the caret is on the last thing that was read.",
    "C0103": "A character that is not part of the language at all, such as `$`, `;` or a typographic "
             "quote. Money is written with an ISO 4217 code: `USD 25`, not `$25`.",
    "C0104": "A string has no closing `\"` on its line; strings cannot span lines. Close it, and "
             "write a line break inside a string as `\\n`.",
    "C0105": "Brackets are nested more than 64 deep, or an expression is so long that checking it "
             "would exhaust the stack. Split the expression, or give a part of it a name with `param`.",
    "C0106": "An integer, a duration in milliseconds or an amount in minor units does not fit in a signed 64-bit value. "
             "Use a smaller value.",
    "C0107": "A backslash in a string starts an escape carbonc does not know. The escapes are `\\\"`, "
             "`\\\\`, `\\n`, `\\t`, `\\r` and `\\uXXXX`; a backslash itself is written `\\\\`.",
    "C0108": "A `/*` has no closing `*/`, so the rest of the file would be a comment. Close it, or use "
             "`//` line comments.",
    "C0201": "A check (`expect`, `finding`) names something that is neither a parameter nor a metric "
             "of the run. Metrics are plural kinds, optionally with a state: `payments`, "
             "`payments.captured`, `deliveries.rejected`.",
    "C0202": "Two declarations share a name: two parameters or phases of one scenario, two top-level "
             "declarations of one file, or the same name from two used modules. Rename or remove one; "
             "a file's own declaration may shadow one it `use`s.",
    "C0203": "`use` names a standard-library module that does not exist, or a local file (a path "
             "starting with `.` or `/`, or ending in `.carbon`) that is not there. Local paths are "
             "relative to the file that has the `use`.",
    "C0204": "A bare name in a phase, a delivery setting, a filter or a parameter default is not a "
             "parameter of the scenario (or of the scenario it extends). Fix the spelling, or declare "
             "it with `param NAME = VALUE`.",
    "C0205": "Modules `use` each other in a circle. Move what both need into a third module that uses "
             "neither of them.",
    "C0206": "`phase NAME after OTHER` names a phase the scenario does not have.",
    "C0207": "The `after` lists of some phases form a circle, or a phase comes after itself, so none "
             "of them can run first. Remove one of the dependencies.",
    "C0208": "`use NAME` in a delivery block, `with NAME` or `retry NAME` names a profile, outcome mix "
             "or retry ladder that is declared neither in the file nor in a module it `use`s. The "
             "standard library's profiles are in `use \"faults\"`, its mixes and ladders in "
             "`use \"gateways\"`.",
    "C0209": "An action, a selection or `deliver for` names something that is not an entity kind. "
             "The kinds are `order`, `payment`, `refund`, `dispute`, `settlement` and `mandate`, "
             "singular or plural.",
    "C0210": "A selection such as `captured payments` names a state the kind does not have, often a "
             "gateway's own word (`succeeded`). The help lists the kind's states.",
    "C0211": "`extends` names a scenario that is declared neither in the file nor in a module it "
             "`use`s.",
    "C0212": "`carbonc plan` needs a scenario, and the file declares none: it may be a "
             "module of profiles, mixes and ladders, meant to be `use`d. Or `--scenario NAME` names a "
             "scenario the file does not have. `carbonc check` accepts such a module.",
    "C0213": "A scenario extends itself, directly or through other scenarios. Extend a different one.",
    "C0214": "A call names a function carbonc does not have. The functions are `round`, `floor`, "
             "`ceil`, `abs`, `min`, `max` and `rate`.",
    "C0301": "Money has a three-letter code that is not an active ISO 4217 currency, such as `RMB` "
             "(the code is `CNY`) or a transposed `IRN` (for `INR`).",
    "C0302": "An amount has more decimal places than its currency's minor unit: `JPY` and `KRW` have "
             "none, `INR` and `USD` two, `KWD` three. Round the amount.",
    "C0303": "A value has the wrong type for its place: a bare number where a duration (`3d`) or a "
             "ratio (`2%`) is needed, money compared with a plain number, a parameter default that "
             "depends on the run. The help shows the value written the right way.",
    "C0304": "An amount is a bare number. carbonc never guesses a currency: write `INR 2500`.",
    "C0305": "A share of entities, an outcome share or a ratio parameter lies below 0% or above 100%.",
    "C0306": "The shares of an outcome mix must add up to exactly 100%, or leave a non-negative "
             "remainder for the one outcome that takes the `rest`; the shares of signature modes "
             "must not exceed 100%.",
    "C0307": "Money of two currencies is combined: added, compared, listed in one `amount [...]` or "
             "used as the two ends of one range. carbonc never converts; use one currency.",
    "C0308": "A number lies outside what its setting allows: `repeat` below 1, a negative count or "
             "duration, an amount below one minor unit, an empty retry ladder or amount list, or a "
             "range whose low end is above its high end.",
    "C0309": "An outcome mix names an outcome the action cannot have. Each verb has its own, in "
             "carbonc's provider-neutral words (`pay`: `captured`, `authorized`, `failed`, "
             "`pending`); the help lists them.",
    "C0310": "A verb or an outcome is given a clause it does not take (`capture … amount`, "
             "`captured … reason`), or a form it does not take (a fixed amount on a `refund`). "
             "The help lists what it accepts.",
    "C0311": "A setting's value is not one of its options: a payment method, delivery order, "
             "signature mode, verdict or severity, an answer class in `fail on`, or a "
             "`deliver for` pattern that matches no event.",
    "C0312": "An action lacks a clause it needs: `create` needs `count` and `amount`, `dispute` a "
             "`reason`, `settle` an `after`, and `pay` an outcome mix.",
    "C0313": "Something that counts once is given twice: a clause of one action, a setting of one "
             "delivery block, a scenario's `about`, `category` or `seed`, or both `with MIX` and an "
             "outcome block. Keep one.",
    "C0314": "A probe's URL is not a valid template (Jinja2 syntax), usually because a `{{` or `}}` "
             "is missing.",
    "C0315": "A function is called with too few or too many arguments: `round`, `floor`, `ceil` and "
             "`abs` take one, `rate` two, `min` and `max` two to eight.",
    "C0316": "An expression divides by a literal zero.",
    "C0317": "A verb is applied to a kind it does not act on (`capture each order`), or to entities in "
             "a state it cannot act on (`refund … failed payments`).",
    "C0318": "Found while planning: a refund asks for more than is left of a payment (its amount, "
             "less what earlier refunds took). Refund at most what is left: `amount full`, or a smaller "
             "`amount partial`.",
    "W0401": "A parameter is declared but no expression of its scenario, or of a scenario extending "
             "it, uses it. Use it or remove it. Not reported while the file has errors, where a "
             "misspelt use would make a parameter look unused.",
    "W0402": "The same module is `use`d twice; the second line changes nothing. Remove it.",
}

_LOCAL_USE = re.compile(r'^use\s+"(\.[^"]*)"', re.M)
#: Control characters shown as their Unicode control pictures, as the renderer shows them.
_PICTURES = {i: 0x2400 + i for i in range(32) if chr(i) not in "\t\n\r"}


@contextmanager
def in_repo() -> Iterator[None]:
    """Run from the repository root, as `carbonc check tests/diagnostics/fixtures/…` would be."""
    old = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(old)


def shown(path: Path) -> str:
    """A fixture's path as given on the command line: relative to the repository."""
    return path.relative_to(REPO).as_posix()


def cases() -> list[str]:
    """Every fixture (files and the directory fixture) and every missing-file case, sorted."""
    names = {p.name for p in FIXTURES.iterdir() if FIXTURE_NAME.match(p.name)} | set(MISSING)
    return sorted(shown(FIXTURES / n) for n in names)


def stray_fixtures() -> list[str]:
    """Entries of the fixtures directory that are neither a fixture nor the helper `modules/`."""
    return sorted(p.name for p in FIXTURES.iterdir() if not FIXTURE_NAME.match(p.name) and p.name != "modules")


def code_of(case: str) -> str:
    match = FIXTURE_NAME.match(Path(case).name)
    assert match is not None, case
    return match.group("code")


def check(case: str) -> tuple[str, CheckResult]:
    """Check a case exactly as `carbonc check CASE` does (the caller runs in the repository root);
    when that finds no error, plan it as `carbonc plan CASE` does, for the codes only planning
    finds. Return the command and what it reported."""
    result = check_path(Path(case), case)
    if result.ok:
        source = read_or_diagnose(Path(case), case)
        assert not isinstance(source, CheckResult)
        planned = compile_source(source)
        if isinstance(planned, CheckResult):
            return "plan", planned
    return "check", result


def rendered(result: CheckResult) -> str:
    """Every diagnostic of `result` as `carbonc check` prints it."""
    return "\n\n".join(diagnostic_text(d, result.sources.get(d.path)) for d in result.diagnostics)


def _source_block(path: Path) -> tuple[str, str | None]:
    """The text of a fixture to show, and a note when it is not plain UTF-8 text."""
    if path.name in MISSING:
        return "", MISSING[path.name]
    if path.is_dir():
        return "", "a directory, not a file"
    data = path.read_bytes()
    try:
        text, note = data.decode("utf-8"), None
    except UnicodeDecodeError:
        text, note = data.decode("latin-1"), "saved as Latin-1, shown here decoded"
    if "\x00" in text:
        note = "contains a NUL byte, shown here as `␀`"
    return text.translate(_PICTURES), note


def _example(case: str) -> list[str]:
    path = REPO / case
    text, note = _source_block(path)
    out = [f"`{case}`" + (f" ({note})" if note else "") + (":" if text else "")]
    if text:
        kind = "warning" if code_of(case).startswith("W") else "error"
        out += ["", f"```carbon {kind}={code_of(case)}", text.rstrip("\n"), "```"]
        for target in _LOCAL_USE.findall(text):
            helper = (path.parent / target).resolve()
            if helper.is_file() and helper.parent != path.parent:
                out += ["", f"with `{shown(helper)}`:", "", "```carbon",
                        helper.read_text(encoding="utf-8").rstrip("\n"), "```"]
    command, result = check(case)
    out += ["", "```text", f"$ carbonc {command} {case}", rendered(result), "```", ""]
    return out


def _heading(code: str) -> str:
    return f"{code}: {CODES[code]}"


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def generate() -> str:
    """The text of docs/diagnostics.md (the caller runs in the repository root)."""
    all_cases = cases()
    out = [
        "# Diagnostics",
        "",
        "`carbonc check` reports every problem it finds in this form, rustc-style: where, the",
        "severity and code, what is wrong; then the line with the smallest useful span underlined,",
        "and a `help:` with the fix.",
        "",
        "```text",
        rendered(check(shown(FIXTURES / "C0204_0.carbon"))[1]),
        "```",
        "",
        "Codes starting with `C` are errors: `carbonc check` exits with status 2 if it finds any.",
        "Codes starting with `W` are warnings: alone, they leave the exit status 0.",
        "",
        "`carbonc check` finds all of them except the few that only planning can find (a refund",
        "larger than what is left of a payment, a file without a scenario); `carbonc plan` reports",
        "those too.",
        "",
        "Every code below has at least one example, taken from the fixtures in",
        "`tests/diagnostics/fixtures/`, with the output of `carbonc` run from the repository root.",
        "This page is generated by `python tests/diagnostics/gen_docs.py`, and a test fails when it",
        "is out of date.",
        "",
    ]
    for prefix, group in GROUPS:
        codes = [c for c in CODES if c.startswith(prefix)]
        out += [f"- [{group}](#{_slug(group)}): " + ", ".join(f"[{c}](#{_slug(_heading(c))})" for c in codes)]
    out.append("")
    for prefix, group in GROUPS:
        out += [f"## {group}", ""]
        for code in (c for c in CODES if c.startswith(prefix)):
            out += [f"### {_heading(code)}", "", EXPLANATIONS[code], ""]
            for case in (c for c in all_cases if code_of(c) == code):
                out += _example(case)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    with in_repo():
        text = generate()
    if "--check" in argv:
        current = DOCS.read_text(encoding="utf-8") if DOCS.is_file() else ""
        if current != text:
            print(f"{shown(DOCS)} is out of date: run python tests/diagnostics/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")
    print(f"wrote {shown(DOCS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
