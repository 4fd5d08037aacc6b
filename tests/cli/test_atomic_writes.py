"""Every file carbonc writes is whole or absent: `fmt`, `plan --out` and `run --junit` write a
temporary file beside the target and rename it, so a full disk never leaves a cut-off file under
the final name, and a file that was there keeps its content and permissions."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from carbonc.cli import main

REPO = Path(__file__).resolve().parents[2]


def fill(disk: Path) -> None:
    """Fill the disk to the last block."""
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def messy_program(size: int) -> str:
    """A valid program of about `size` bytes that `fmt` would change everywhere."""
    phases = []
    n = 0
    while sum(map(len, phases)) < size:
        phases.append(f"phase p{n} {{ create orders count {n + 1} amount INR   499 }}\n")
        n += 1
    return "scenario big {\n" + "".join(phases) + "}\n"


def test_fmt_on_a_full_disk_keeps_the_source_whole(tiny_disk: Path) -> None:
    source = tiny_disk / "big.carbon"
    text = messy_program(120_000)
    source.write_text(text, encoding="utf-8")
    os.chmod(source, 0o640)
    fill(tiny_disk)
    result = CliRunner().invoke(main, ["fmt", str(source)])
    assert result.exit_code == 2
    assert "error: cannot write" in result.stderr and "Traceback" not in result.output
    assert source.read_text(encoding="utf-8") == text  # not truncated
    assert [p.name for p in tiny_disk.iterdir() if p.name.endswith(".tmp")] == []


def test_fmt_keeps_permissions_and_replaces_the_file(tmp_path: Path) -> None:
    source = tmp_path / "s.carbon"
    source.write_text(messy_program(200), encoding="utf-8")
    os.chmod(source, 0o600)
    result = CliRunner().invoke(main, ["fmt", str(source)])
    assert result.exit_code == 0, result.output
    assert oct(os.stat(source).st_mode & 0o777) == oct(0o600)
    assert "amount INR 499" in source.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.carbon"]


def test_plan_out_on_a_full_disk_leaves_no_partial_plan(tiny_disk: Path) -> None:
    out = tiny_disk / "plan.ndjson"
    result = CliRunner().invoke(main, ["plan", "refund-storm", "--set", "baseline_orders=20000", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "cannot write the plan" in result.stderr
    assert not out.exists() and list(tiny_disk.iterdir()) == []


def test_a_junit_report_that_cannot_be_written_fails_the_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "dispute-spike", "--set", "baseline_orders=10", "--db",
                                       str(tmp_path / "db.duckdb"), "--junit", str(tmp_path / "missing" / "j.xml")])
    assert result.exit_code == 1
    assert "error: cannot write the JUnit report" in result.stderr
