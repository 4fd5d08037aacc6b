"""What a command costs at start-up: `check`, `fmt` and `scenarios` never import the executor's or
the store's libraries, running a saved plan never imports the compiler or lark, and the parser
comes from the on-disk grammar cache, not a rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: Run in a fresh interpreter: `python probe.py OUT.json ARGS...` runs `carbonc ARGS...` and writes
#: its exit code, every module it imported, and anything lark logged at warning level or above.
PROBE = """\
import json, logging, sys

import lark

records = []
class Collect(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
lark.logger.addHandler(Collect())
lark.logger.setLevel(logging.WARNING)

from carbonc.cli import main

out, args = sys.argv[1], sys.argv[2:]
try:
    main(args, prog_name="carbonc")
    code = 0
except SystemExit as exit:
    code = exit.code
with open(out, "w", encoding="utf-8") as f:
    json.dump({"code": code, "modules": sorted(sys.modules), "lark_log": records}, f)
"""

#: Heavy libraries that only `run`, `report`, `query` and friends may load. Checked by module name,
#: so this fails the day someone imports one, whether or not it is installed here.
FORBIDDEN = {"duckdb", "_duckdb", "trio", "httpx"}


@pytest.fixture
def probe(run_python, tmp_path: Path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")

    def run(*args: str, env: dict[str, str] | None = None) -> dict:
        out = tmp_path / "probe-out.json"
        out.unlink(missing_ok=True)
        proc = run_python(str(script), str(out), *args, env=env)
        assert out.exists(), f"probe did not finish:\n{proc.stderr}"
        return json.loads(out.read_text(encoding="utf-8")) | {"stderr": proc.stderr, "stdout": proc.stdout}

    return run


@pytest.mark.parametrize(("args", "codes", "proof"), [
    (["check", "dispute-spike"], {0}, "carbonc.passes"),
    # fmt's verdict is tested elsewhere; here it only has to have run the formatter.
    (["fmt", "--check", "dispute-spike"], {0, 1}, "carbonc.fmt"),
    (["scenarios"], {0}, "carbonc.syntax"),
    (["scenarios", "--format", "json"], {0}, "carbonc.syntax"),
    (["plan", "dispute-spike"], {0}, "carbonc.compiler._steps"),
    (["plan", "dispute-spike", "--format", "json"], {0}, "carbonc.compiler._steps"),
])
def test_commands_do_not_import_executor_or_store_libraries(probe, args, codes, proof):
    result = probe(*args)
    assert result["code"] in codes, result["stderr"]
    modules = set(result["modules"])
    assert proof in modules  # the command really did its work
    assert not {m.partition(".")[0] for m in modules} & FORBIDDEN


def test_grammar_is_loaded_from_the_disk_cache(probe, subprocess_env, tmp_path):
    cache_home = tmp_path / "xdg-cache"
    env = subprocess_env | {"XDG_CACHE_HOME": str(cache_home)}

    def grammar_files() -> list[Path]:
        return sorted(cache_home.rglob("grammar-*"))

    first = probe("check", "dispute-spike", env=env)
    assert first["code"] == 0, first["stderr"]
    cached = grammar_files()
    assert len(cached) == 1, f"expected one grammar cache file under {cache_home}, found {cached}"
    assert first["lark_log"] == []

    # Lark rewrites the cache file whenever it builds the grammar, so an untouched file after a
    # second process means that process loaded it instead. The parses the first one kept are
    # removed, or the second would not need the parser at all.
    for kept in cache_home.rglob("parse-*"):
        kept.unlink()
    stamp = 1_000_000_000
    os.utime(cached[0], (stamp, stamp))
    second = probe("check", "dispute-spike", env=env)
    assert second["code"] == 0, second["stderr"]
    assert "checked 1 file: 0 errors" in second["stderr"]
    assert "carbonc.syntax._parse" in second["modules"]  # it did parse
    assert second["lark_log"] == [], "lark could not load or save its cache"
    assert grammar_files() == cached
    assert cached[0].stat().st_mtime == stamp, "the second process rebuilt the grammar"


def test_an_unchanged_scenario_is_not_parsed_again(run_python, subprocess_env, tmp_path):
    # The probe itself imports lark (to watch its log): this one only lists what was imported.
    script = tmp_path / "modules.py"
    script.write_text("import sys\nfrom carbonc.cli import main\ntry:\n    main(sys.argv[2:], prog_name='carbonc')\n"
                      "except SystemExit as exit:\n    code = exit.code\n"
                      "open(sys.argv[1], 'w').write(' '.join([str(code), *sorted(sys.modules)]))\n", encoding="utf-8")
    env = subprocess_env | {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}
    out = tmp_path / "modules.txt"

    def modules(*args: str) -> set[str]:
        proc = run_python(str(script), str(out), *args, env=env)
        code, *names = out.read_text(encoding="utf-8").split()
        assert code == "0", proc.stderr
        return set(names)

    run = ("run", "dispute-spike", "--set", "baseline_orders=5", "--db", str(tmp_path / "runs.duckdb"))
    assert "lark" in modules(*run)  # parsed: the scenario, the stdlib it uses, the --set value
    again = modules(*run)
    assert "carbonc.exec._run" in again and "carbonc.compiler" in again  # compiled and ran again
    assert not {m for m in again if m == "lark" or m.startswith(("lark.", "carbonc.syntax._parse"))}
    # Another --set value is parsed (and kept) in its turn.
    assert "lark" in modules(*run[:3], "baseline_orders=6", *run[4:])


#: The compiler's side: what running a saved plan must never load (by module name, as above).
COMPILER = ("lark", "carbonc.compiler", "carbonc.syntax", "carbonc.passes", "carbonc.ir", "carbonc.fmt")


def test_running_a_saved_plan_never_imports_the_compiler(run_python, probe, tmp_path):
    plan = tmp_path / "plan.ndjson"
    made = probe("plan", "dispute-spike", "--out", str(plan))
    assert made["code"] == 0, made["stderr"]
    assert "carbonc.compiler" in made["modules"]  # the probe does see the compiler when it loads

    script = tmp_path / "run-probe.py"
    # The same probe, without the lark logging hook (which would import lark itself).
    script.write_text(PROBE.replace("import lark\n", "").replace(
        "lark.logger.addHandler(Collect())\nlark.logger.setLevel(logging.WARNING)\n", ""), encoding="utf-8")
    out = tmp_path / "run-out.json"
    proc = run_python(str(script), str(out), "run", str(plan), "--db", str(tmp_path / "runs.duckdb"))
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["code"] == 0, proc.stderr
    modules = set(result["modules"])
    assert "carbonc.exec._run" in modules and "carbonc.store" in modules  # it really ran and recorded
    loaded = sorted(m for m in modules if m.startswith(COMPILER))
    assert loaded == [], f"running a saved plan loaded the compiler's side: {loaded}"


#: What a run of a scenario need not load: where DuckDB's engine is a module of its own (`_duckdb`,
#: duckdb 2.x), the package's Python layer; the installed metadata (with the `email` parser it
#: reads it by); a saved plan's checks and the SQLite index they build.
UNNEEDED = ("duckdb", "importlib.metadata", "email", "sqlite3", "carbonc.plan.verify", "carbonc.plan.index")


def test_a_run_loads_only_what_it_uses(probe, tmp_path):
    pytest.importorskip("_duckdb", reason="duckdb 1.x: the engine is reached through the package")
    result = probe("run", "dispute-spike", "--set", "baseline_orders=5", "--db", str(tmp_path / "runs.duckdb"))
    assert result["code"] == 0, result["stderr"]
    modules = set(result["modules"])
    assert {"_duckdb", "carbonc.store", "carbonc.exec._run"} <= modules  # it really ran and recorded
    loaded = sorted(m for m in modules if m.startswith(tuple(f"{u}." for u in UNNEEDED)) or m in UNNEEDED)
    assert loaded == [], f"a run loaded more than it uses: {loaded}"
