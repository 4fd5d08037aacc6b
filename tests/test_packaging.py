"""The released artefacts work: `python -m build` makes an sdist and, from it, a wheel that carries
the grammar, the stdlib and the bundled scenarios; installed into a fresh venv, its `carbonc` and
`carbon` commands work from a directory that is not the repository.

Marked `packaging` (deselect with `-m "not packaging"`). It installs the wheel's dependencies
and the build backend from the package index, and takes about 15 s.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.stem for p in (REPO / "scenarios").glob("*.carbon"))
DATA = {"grammar": "*.lark", "stdlib": "*.carbon", "scenarios": "*.carbon"}


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, encoding="utf-8", timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Build the sdist and wheel, install the wheel into a new venv; return (bin dir, wheel, env)."""
    root = tmp_path_factory.mktemp("packaging")
    # Nothing from the test run may leak into the child processes: no PYTHONPATH pointing at the
    # checkout, no extra scenarios, a grammar cache of their own.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CARBON_SCENARIOS_DIR")}
    env |= {"XDG_CACHE_HOME": str(root / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONIOENCODING": "utf-8"}

    dist = root / "dist"
    # Without --sdist/--wheel, build makes the sdist and then the wheel *from the sdist*, so a
    # file missing from the sdist shows up as a broken wheel here.
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], cwd=root, env=env)
    wheels, sdists = list(dist.glob("carbonc-*.whl")), list(dist.glob("carbonc-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(dist.iterdir())

    # Seeding a venv with its own pip takes seconds; the running pip can install into it instead.
    venv = root / "venv"
    have_pip = importlib.util.find_spec("pip") is not None
    _run([sys.executable, "-m", "venv", *(["--without-pip"] if have_pip else []), str(venv)], cwd=root, env=env)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = str(bindir / "python")
    pip = [sys.executable, "-m", "pip", "--python", python] if have_pip else [python, "-m", "pip"]
    _run([*pip, "install", "--quiet", str(wheels[0])], cwd=root, env=env)
    return bindir, wheels[0], env


def test_the_wheel_carries_the_data_directories(installed):
    _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for name, pattern in DATA.items():
        expected = {f"carbonc/_data/{name}/{p.name}" for p in (REPO / name).glob(pattern)}
        assert expected, f"nothing matches {name}/{pattern} in the repository"
        assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"


def test_the_wheel_carries_the_report_views_and_template(installed):
    _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"carbonc/store/views.sql", "carbonc/report/report.html.j2"} <= names


def test_the_installed_package_is_used_not_the_checkout(installed, tmp_path):
    bindir, _, env = installed
    proc = _run([str(bindir / "python"), "-c",
                 "import carbonc.cli, carbonc._data as d; print(carbonc.cli.__file__); "
                 "print(d.data_dir('scenarios'))"], cwd=tmp_path, env=env)
    module, scenarios = proc.stdout.splitlines()
    venv = bindir.parent.resolve()
    assert Path(module).resolve().is_relative_to(venv)
    assert Path(scenarios).resolve().is_relative_to(venv)
    assert Path(scenarios).parts[-2:] == ("_data", "scenarios")


def test_carbonc_scenarios(installed, tmp_path):
    bindir, _, env = installed
    proc = _run([str(bindir / "carbonc"), "scenarios"], cwd=tmp_path, env=env)
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["NAME", "CATEGORY", "ABOUT"]
    assert [row.split()[0] for row in rows] == BUNDLED


def test_carbonc_check_every_bundled_scenario_by_name(installed, tmp_path):
    bindir, _, env = installed
    proc = _run([str(bindir / "carbonc"), "check", *BUNDLED], cwd=tmp_path, env=env)
    n = len(BUNDLED)
    assert proc.stderr.strip() == f"checked {n} file{'s' * (n != 1)}: 0 errors, 0 warnings"


def test_carbonc_check_a_path_and_an_unknown_name(installed, tmp_path):
    bindir, _, env = installed
    copy = tmp_path / "mine.carbon"
    copy.write_text((REPO / "scenarios" / f"{BUNDLED[0]}.carbon").read_text(encoding="utf-8"), encoding="utf-8")
    _run([str(bindir / "carbonc"), "check", str(copy)], cwd=tmp_path, env=env)

    proc = subprocess.run([str(bindir / "carbonc"), "check", "dispute-spik"], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "did you mean `dispute-spike`?" in proc.stderr


def test_carbon_scenarios_list(installed, tmp_path):
    bindir, _, env = installed
    proc = _run([str(bindir / "carbon"), "scenarios-list"], cwd=tmp_path, env=env)
    assert [row.split()[0] for row in proc.stdout.splitlines()] == BUNDLED


def test_python_m_carbonc(installed, tmp_path):
    bindir, _, env = installed
    version = re.search(r'^__version__ = "(.+)"$', (REPO / "carbonc" / "__init__.py").read_text(encoding="utf-8"),
                        re.MULTILINE)[1]
    proc = _run([str(bindir / "python"), "-m", "carbonc", "--version"], cwd=tmp_path, env=env)
    assert proc.stdout.strip() == f"carbonc, version {version}"


def test_the_readme_run_command_works_from_the_wheel(installed, tmp_path):
    # The README's first command, `carbonc run dispute-spike`: the simulated gateway and the
    # default database file, here under a HOME of the test's own.
    bindir, _, env = installed
    home = tmp_path / "home"
    home.mkdir()
    env = {**env, "HOME": str(home)}
    env.pop("CARBON_DB", None)
    proc = _run([str(bindir / "carbonc"), "run", "dispute-spike"], cwd=tmp_path, env=env)
    assert "completed" in proc.stdout
    assert "Scenario facts (the plan itself, not your handler): 5 passed, 0 failed" in proc.stdout
    assert "Handler checks (answers to webhooks): 0 passed, 0 failed, 1 not judged" in proc.stdout
    assert "Merchant state (probes of its API): 9 not judged: no webhook target" in proc.stdout
    assert (home / ".carbon" / "carbon.duckdb").is_file()
