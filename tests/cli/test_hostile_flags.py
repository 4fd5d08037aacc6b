"""Bad flag values are exit 2 with a clear message, before anything is recorded: bounds on repeats,
seeds and counts; empty values; money more precise than its currency; a git revision that is an
option; a file that is not a DuckDB database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonc.cli import main

pytestmark = pytest.mark.usefixtures("deadline")

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.mark.parametrize(("args", "message"), [
    (["--webhook-repeat", "1000000000"], "1<=x<=100"),
    (["--seed", str(2**64)], "0<=x<=9223372036854775807"),
    (["--db", ""], "--db is empty"),
    (["--app", ""], "--app is empty"),
    (["--callback-url", ""], "--callback-url is empty"),
    (["--junit", ""], "--junit is empty"),
    (["--set", "baseline_orders=1000000000000"], "more than 10,000,000 entities"),
    (["--set", "avg_order_value_paise=1e999999999"], "is not a value for parameter"),
])
def test_a_bad_run_flag_exits_2_before_anything_is_recorded(args: list[str], message: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    full = ["run", "dispute-spike", *args] + ([] if "--db" in args else ["--db", str(db)])
    result = run(*full)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not db.exists()


def test_money_more_precise_than_its_currency_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "m.carbon"
    source.write_text("scenario m {\n  param amt = INR 10\n  phase p {\n    create orders count 1 amount amt\n  }\n}\n",
                      encoding="utf-8")
    result = run("plan", str(source), "--set", "amt=INR 10.001")
    assert result.exit_code == 2 and "C0302" in result.output and "3 decimal places; INR has 2" in result.output


def test_counts_and_repeats_past_the_limits_fail_check(tmp_path: Path) -> None:
    source = tmp_path / "big.carbon"
    source.write_text("scenario big {\n  phase p {\n    create orders count 1_000_000_000_000 amount INR 1\n  }\n"
                      "  deliver {\n    repeat 1000000000\n  }\n}\n", encoding="utf-8")
    result = run("check", str(source))
    assert result.exit_code == 2
    assert "`count` must be at most 10,000,000" in result.output and "`repeat` must be at most 100" in result.output
    assert "CARBONC_MAX_ENTITIES" in result.output  # how to raise it, for a real need


def test_a_git_revision_is_never_an_option(tmp_path: Path) -> None:
    target = tmp_path / "written-by-git"
    result = run("plan", str(REPO / "scenarios/refund-storm.carbon"), "--diff", f"git:--output={target}")
    assert result.exit_code == 2 and "does not name a git revision" in result.output
    assert not target.exists()


def test_a_file_of_another_database_is_not_opened_with_an_extension(tmp_path: Path) -> None:
    other = tmp_path / "shop.sqlite"
    other.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    result = run("run", "dispute-spike", "--set", "baseline_orders=5", "--db", str(other))
    assert result.exit_code == 1
    assert "is not a DuckDB database" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("url", ["http://" + "a" * 64 + ".example/x", "http://a..b/x"])
def test_a_host_that_cannot_be_a_name_is_exit_2(url: str, tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    result = run("run", "dispute-spike", "--set", "baseline_orders=5", "--webhook-url", url, "--db", str(db))
    assert result.exit_code == 2 and "is not a valid host name" in result.stderr
    assert not db.exists()


def test_names_too_long_for_the_file_system_are_clear_errors(tmp_path: Path) -> None:
    long_name = "a" * 300
    db = run("run", "dispute-spike", "--set", "baseline_orders=5", "--db", str(tmp_path / f"{long_name}.duckdb"))
    assert db.exit_code == 2 and "at most 255 bytes" in db.stderr
    env = run("run", "dispute-spike", "--set", "baseline_orders=5",
              env={"CARBON_DB": str(tmp_path / f"{long_name}.duckdb")})
    assert env.exit_code == 1 and "at most 255 bytes" in env.stderr and "internal error" not in env.output
    source = run("check", str(tmp_path / f"{long_name}.carbon"))
    assert source.exit_code == 2 and "File name too long" in source.output and "internal error" not in source.output
