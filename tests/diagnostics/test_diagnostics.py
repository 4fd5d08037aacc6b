"""Every diagnostic code has a fixture that triggers it, the text carbonc prints for it is a
snapshot, docs/diagnostics.md lists it with that example, and the CLI reports it as documented."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonc.cli import main
from carbonc.codes import Code

CODES = {code.value: code.summary for code in Code}

_spec = importlib.util.spec_from_file_location("carbonc_diagnostics_gen_docs", Path(__file__).with_name("gen_docs.py"))
assert _spec is not None and _spec.loader is not None
gen_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_docs)

CASES = gen_docs.cases()
FIXTURES = gen_docs.FIXTURES


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are given relative to the repository root, so diagnostics name no absolute path."""
    monkeypatch.chdir(gen_docs.REPO)


@pytest.mark.parametrize("case", CASES, ids=lambda case: Path(case).stem)
def test_fixture_reports_its_code(case: str, snapshot) -> None:
    code = gen_docs.code_of(case)
    command, result = gen_docs.check(case)
    codes = [d.code for d in result.diagnostics]
    assert code in codes, gen_docs.rendered(result)
    # One mistake, one report: nothing else, and no echo of it.
    assert codes == [code], gen_docs.rendered(result)
    assert (command == "plan") == (code in {"C0212", "C0318"}), "only planning should find these"
    assert gen_docs.rendered(result) == snapshot


def test_every_code_has_a_fixture_and_every_fixture_a_code() -> None:
    fixture_codes = {gen_docs.code_of(case) for case in CASES}
    assert sorted(set(CODES) - fixture_codes) == [], "codes without a fixture in tests/diagnostics/fixtures"
    assert sorted(fixture_codes - set(CODES)) == [], "fixtures named after a code that is not in CODES"
    assert gen_docs.stray_fixtures() == [], "fixture names are CODE_N.carbon (helper modules go in modules/)"


def test_missing_file_cases_are_missing() -> None:
    for name in gen_docs.MISSING:
        assert not (FIXTURES / name).exists()


def test_every_code_is_explained_in_the_docs() -> None:
    docs = gen_docs.DOCS.read_text(encoding="utf-8")
    assert sorted(set(CODES) ^ set(gen_docs.EXPLANATIONS)) == []
    for code, title in CODES.items():
        assert f"### {code}: {title}\n" in docs, code
    for case in CASES:
        assert f"$ carbonc check {case}\n" in docs or f"$ carbonc plan {case}\n" in docs, case


def test_docs_are_generated_from_the_fixtures() -> None:
    assert gen_docs.DOCS.read_text(encoding="utf-8") == gen_docs.generate(), (
        "docs/diagnostics.md is out of date: run python tests/diagnostics/gen_docs.py"
    )


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="carbonc")


@pytest.mark.parametrize("name", ["C0204_0", "C0101_0", "C0002_0", "C0205_0"])
def test_check_exits_2_on_an_error_and_prints_the_rendered_diagnostic(name: str) -> None:
    case = gen_docs.shown(FIXTURES / f"{name}.carbon")
    result = _cli("check", case)
    assert result.exit_code == 2, result.output
    _, expected = gen_docs.check(case)
    assert result.stderr == f"{gen_docs.rendered(expected)}\n\nchecked 1 file: 1 error, 0 warnings\n"
    header = result.stderr.splitlines()[0]
    assert re.fullmatch(rf"[\w/.-]+\.carbon:\d+:\d+: error\[{name[:5]}\]: \S.*", header), header


def test_check_exits_0_on_warnings_only() -> None:
    case = gen_docs.shown(FIXTURES / "W0401_0.carbon")
    result = _cli("check", case)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"{case}:3:9: warning[W0401]: parameter `refund_delay` is never used\n")
    assert result.stderr.endswith("checked 1 file: 0 errors, 1 warning\n")


def test_plan_exits_2_on_an_error_only_planning_finds() -> None:
    case = gen_docs.shown(FIXTURES / "C0318_0.carbon")
    assert _cli("check", case).exit_code == 0
    result = _cli("plan", case)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{case}:8:34: error[C0318]: ")
