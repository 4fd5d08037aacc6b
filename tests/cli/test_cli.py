"""The `carbonc` and `carbon` commands as a user meets them: through click's CliRunner, and as a
real process started from outside the repository."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonc.cli import main
from carbonc.cli.legacy import main as legacy_main

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
BUNDLED = sorted(p.stem for p in SCENARIOS.glob("*.carbon"))

_ABOUT = re.compile(r'^\s*about\s+("(?:[^"\\\n]|\\.)*")', re.M)
_CATEGORY = re.compile(r"^\s*category\s+([A-Za-z_][A-Za-z0-9_-]*)", re.M)


def expected_listing() -> dict[str, tuple[str, str]]:
    """name -> (category, about), read straight from the files in scenarios/."""
    out = {}
    for name in BUNDLED:
        text = (SCENARIOS / f"{name}.carbon").read_text(encoding="utf-8")
        about, category = _ABOUT.search(text), _CATEGORY.search(text)
        out[name] = (category.group(1) if category else "", json.loads(about.group(1)) if about else "")
    return out


def invoke(*args: str, command=main):
    return CliRunner().invoke(command, list(args), prog_name="carbonc")


def test_the_repository_bundles_scenarios():
    assert BUNDLED, f"no .carbon files in {SCENARIOS}"
    assert "dispute-spike" in BUNDLED  # the README's first command uses it


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_commands(flag):
    result = invoke(flag)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: carbonc ")
    commands = re.findall(r"^  (\w+)\s", result.output.split("Commands:")[1], re.M)
    assert {"check", "fmt", "scenarios"} <= set(commands)


def test_version_is_the_distributions():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"carbonc, version {version('carbonc')}"


# ---------------------------------------------------------------- scenarios


def test_scenarios_json_lists_every_file_with_name_category_and_about():
    result = invoke("scenarios", "--format", "json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert all(set(e) == {"name", "category", "about"} for e in entries)
    assert [e["name"] for e in entries] == BUNDLED
    assert {e["name"]: (e["category"], e["about"]) for e in entries} == expected_listing()


def test_scenarios_text_has_a_header_and_one_row_per_file():
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["NAME", "CATEGORY", "ABOUT"]
    assert [row.split()[0] for row in rows] == BUNDLED
    for row, (name, (category, about)) in zip(rows, expected_listing().items(), strict=True):
        assert re.fullmatch(rf"{re.escape(name)}\s+{re.escape(category)}\s+{re.escape(about)}", row), row


def test_scenarios_rejects_an_unknown_format():
    result = invoke("scenarios", "--format", "xml")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output


# ---------------------------------------------------------------- check


@pytest.mark.parametrize("name", BUNDLED)
def test_check_a_bundled_scenario_by_name(name):
    result = invoke("check", name)
    assert result.exit_code == 0, result.output
    assert "checked 1 file: 0 errors" in result.output


@pytest.mark.parametrize("name", BUNDLED)
def test_check_a_bundled_scenario_by_absolute_path(name):
    result = invoke("check", str(SCENARIOS / f"{name}.carbon"))
    assert result.exit_code == 0, result.output
    assert "checked 1 file: 0 errors" in result.output


def test_check_by_relative_path_and_several_at_once(monkeypatch):
    monkeypatch.chdir(REPO)
    result = invoke("check", *(f"scenarios/{name}.carbon" for name in BUNDLED))
    n = len(BUNDLED)
    assert result.exit_code == 0, result.output
    assert f"checked {n} file{'s' * (n != 1)}: 0 errors" in result.output


def test_check_an_unknown_name_exits_2_with_a_suggestion():
    result = invoke("check", "dispute-spik")
    assert result.exit_code == 2
    assert "error: no scenario named `dispute-spik`" in result.output
    assert "did you mean `dispute-spike`?" in result.output


def test_check_an_unknown_name_without_a_close_match_points_to_the_list():
    result = invoke("check", "zzz-nothing-like-it")
    assert result.exit_code == 2
    assert "`carbonc scenarios` lists the bundled scenarios" in result.output


def test_check_an_invalid_file_exits_2_with_a_located_diagnostic(tmp_path):
    bad = tmp_path / "bad.carbon"
    bad.write_text('scenario broken {\n  about\n}\n', encoding="utf-8")
    result = invoke("check", str(bad))
    assert result.exit_code == 2
    assert re.search(r"bad\.carbon:3:1: error\[C\d{4}\]: ", result.output), result.output
    assert "checked 1 file: 1 error" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["check", "--bogus", "dispute-spike"],
    ["fmt", "--bogus", "dispute-spike"],
    ["scenarios", "--bogus"],
    ["check"],
    ["no-such-command"],
])
def test_usage_errors_exit_2(args):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Usage: carbonc" in result.output


# ---------------------------------------------------------------- fmt


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenarios_are_formatted(name):
    result = invoke("fmt", "--check", name)
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_fmt_check_reports_then_fmt_rewrites(tmp_path):
    original = (SCENARIOS / "dispute-spike.carbon").read_text(encoding="utf-8")
    messy = tmp_path / "messy.carbon"
    messy.write_text(re.sub(r"^ +", "", original, flags=re.M), encoding="utf-8")
    before = messy.read_text(encoding="utf-8")

    result = invoke("fmt", "--check", str(messy))
    assert result.exit_code == 1, result.output
    assert f"would reformat {messy}" in result.output
    assert messy.read_text(encoding="utf-8") == before

    result = invoke("fmt", str(messy))
    assert result.exit_code == 0, result.output
    assert f"reformatted {messy}" in result.output
    assert messy.read_text(encoding="utf-8") != before

    assert invoke("fmt", "--check", str(messy)).exit_code == 0
    assert invoke("check", str(messy)).exit_code == 0


def test_fmt_refuses_an_invalid_file(tmp_path):
    bad = tmp_path / "bad.carbon"
    bad.write_text('scenario broken {\n  about\n}\n', encoding="utf-8")
    result = invoke("fmt", str(bad))
    assert result.exit_code == 2
    assert bad.read_text(encoding="utf-8") == 'scenario broken {\n  about\n}\n'


# ---------------------------------------------------------------- the `carbon` alias


def test_carbon_scenarios_list():
    result = CliRunner().invoke(legacy_main, ["scenarios-list"], prog_name="carbon")
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert [row.split()[0] for row in rows] == BUNDLED
    for row, (name, (_, about)) in zip(rows, expected_listing().items(), strict=True):
        assert re.fullmatch(rf"{re.escape(name)}\s+{re.escape(about)}", row), row


def test_carbon_help_lists_scenarios_list():
    result = CliRunner().invoke(legacy_main, ["--help"], prog_name="carbon")
    assert result.exit_code == 0
    assert "scenarios-list" in result.output


# ---------------------------------------------------------------- as a real process


def test_python_m_carbonc_help(run_python):
    proc = run_python("-m", "carbonc", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: carbonc ")


def test_subprocess_check_by_name_from_outside_the_repository(run_python):
    proc = run_python("-m", "carbonc", "check", "dispute-spike")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip() == "checked 1 file: 0 errors, 0 warnings"


def test_subprocess_check_by_path(run_python):
    proc = run_python("-m", "carbonc", "check", str(SCENARIOS / f"{BUNDLED[-1]}.carbon"))
    assert proc.returncode == 0, proc.stderr
    assert "checked 1 file: 0 errors" in proc.stderr


def test_subprocess_unknown_name_goes_to_stderr_without_a_traceback(run_python):
    proc = run_python("-m", "carbonc", "check", "dispute-spik")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: no scenario named `dispute-spik` and no such file",
        "  = help: did you mean `dispute-spike`?",
    ]


def test_subprocess_unknown_flag_exits_2(run_python):
    proc = run_python("-m", "carbonc", "check", "--no-such-flag", "dispute-spike")
    assert proc.returncode == 2
    assert "No such option" in proc.stderr


def test_subprocess_scenarios_json(run_python):
    proc = run_python("-m", "carbonc", "scenarios", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [e["name"] for e in json.loads(proc.stdout)] == BUNDLED


def test_subprocess_carbon_scenarios_list(run_python):
    proc = run_python("-c", "from carbonc.cli.legacy import main; main(prog_name='carbon')", "scenarios-list")
    assert proc.returncode == 0, proc.stderr
    assert [row.split()[0] for row in proc.stdout.splitlines()] == BUNDLED
