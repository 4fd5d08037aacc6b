"""Every script in bench/ still imports: what it takes from carbonc exists under the name it uses
(a rename once left bench/render.py failing at its first line). Running them is bench's job."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_script_imports(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"_bench_{script.stem}"
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import each other (receiver.py)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)  # defines the benchmark; `main` runs only as a script
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
