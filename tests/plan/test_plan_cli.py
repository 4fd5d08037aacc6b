"""`carbonc plan` on the command line: formats, --set, --out, --diff and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from plan_helpers import REPO, as_format_1

from carbonc.cli import main

DISPUTE = REPO / "scenarios/dispute-spike.carbon"


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args))
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(main, list(args))


def test_text_plan_by_name() -> None:
    result = run("plan", "dispute-spike")
    assert result.exit_code == 0, result.output
    assert "Plan for scenario dispute-spike" in result.output
    assert "150 disputed" in result.output
    assert result.output.rstrip().endswith("3,300 deliveries.")


def test_json_plan_with_the_documented_overrides() -> None:
    result = run("plan", "dispute-spike", "--set", "baseline_orders=500", "--set", "dispute_rate=0.3",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["format_version"] == 2 and doc["scenario"] == "dispute-spike" and doc["seed"] == 7
    assert doc["params"]["baseline_orders"] == 500 and doc["params"]["dispute_rate"] == "30%"
    assert sum(doc["summary"]["entities"]["order"].values()) == 500
    assert sum(doc["summary"]["entities"]["dispute"].values()) == 150
    assert doc["summary"]["messages"]["dispute.created"] == 150


@pytest.mark.parametrize(("args", "words"), [
    (["--set", "baseline_order=5"], "did you mean `baseline_orders`?"),
    (["--set", "dispute_rate"], "is not of the form `name=value`"),
    (["--set", "dispute_rate=lots"], "`lots` is not a value for parameter `dispute_rate`"),
    (["--set", "baseline_orders=12.5"], "parameter `baseline_orders` is an int"),
    (["--seed", "x"], "Invalid value for '--seed'"),
    (["--format", "yaml"], "Invalid value for '--format'"),
])
def test_bad_flags_exit_2_with_a_message(args: list[str], words: str) -> None:
    result = run("plan", "dispute-spike", *args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output


def test_unknown_scenario_exits_2() -> None:
    result = run("plan", "dispute-spik")
    assert result.exit_code == 2
    assert "did you mean `dispute-spike`?" in result.output


def test_state_machine_violation_exits_2_with_a_located_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.carbon"
    bad.write_text(
        "scenario bad {\n"
        "  phase p {\n"
        "    create orders count 4 amount INR 100\n"
        "    pay each order { captured 50%, failed rest reason declined }\n"
        "    dispute each payment reason fraudulent\n"
        "  }\n"
        "}\n"
    )
    result = run("plan", str(bad))
    assert result.exit_code == 2
    assert "bad.carbon:5:13: error[C0317]: `dispute` would act on payments it cannot: 2 failed" in result.output


def test_out_writes_a_plan_that_plan_can_read_back(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    first = run("plan", "refund-storm", "--out", str(out))
    assert first.exit_code == 0, first.output
    again = run("plan", str(out))
    assert again.exit_code == 0, again.output
    assert again.output == first.output.replace(f"wrote {out}\n", "")


def test_out_to_an_unwritable_place_exits_2(tmp_path: Path) -> None:
    result = run("plan", "refund-storm", "--out", str(tmp_path / "missing" / "p.jsonl"))
    assert result.exit_code == 2
    assert "cannot write the plan" in result.output


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "dispute-spike.carbon"
    path.write_text(DISPUTE.read_text().replace(old, new))
    return path


def test_diff_of_identical_plans_is_empty() -> None:
    result = run("plan", "dispute-spike", "--diff", str(DISPUTE), "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output


def test_diff_against_a_carbon_file(tmp_path: Path, snapshot) -> None:
    new = _edited(tmp_path, "dispute_rate          = 15%", "dispute_rate          = 20%")
    result = run("plan", str(new), "--diff", str(DISPUTE), "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "~ param dispute_rate: 15% → 20%" in result.output
    assert "+ 50 disputes (reason fraudulent +50)" in result.output
    assert result.output.replace(str(new), "NEW").replace(str(DISPUTE), "OLD") == snapshot
    plain = run("plan", str(new), "--diff", str(DISPUTE))
    assert plain.exit_code == 0


def test_diff_of_delivery_policy(tmp_path: Path, snapshot) -> None:
    new = _edited(tmp_path, "    order sequence\n", "    order random\n    repeat 2\n")
    result = run("plan", str(new), "--diff", "dispute-spike", "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "~ webhook order" in result.output and "sequence → random" in result.output
    assert result.output.replace(str(new), "NEW") == snapshot


def test_diff_against_a_saved_plan(tmp_path: Path) -> None:
    saved = tmp_path / "old.jsonl"
    assert run("plan", "dispute-spike", "--out", str(saved)).exit_code == 0
    new = _edited(tmp_path, "baseline_orders       = 1000", "baseline_orders       = 1200")
    result = run("plan", str(new), "--diff", str(saved), "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "+ 200 orders" in result.output
    assert "~ param baseline_orders: 1000 → 1200" in result.output


def test_a_plan_saved_in_format_1_is_not_a_change(tmp_path: Path) -> None:
    # Its records digest is over another encoding: compared with a plan compiled now, or saved
    # in format 2, the same records are no change.
    saved = tmp_path / "now.jsonl"
    assert run("plan", "dispute-spike", "--out", str(saved)).exit_code == 0
    old = tmp_path / "format-1.jsonl"
    old.write_bytes(as_format_1(saved.read_bytes()))
    for args in (("dispute-spike", "--diff", str(old)), (str(saved), "--diff", str(old)),
                 (str(old), "--diff", "dispute-spike")):
        result = run("plan", *args, "--detailed-exitcode")
        assert result.exit_code == 0, (args, result.output)
    # A record changed without a count changing is still seen against format 1 (an editor who
    # also rewrote the digest).
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(as_format_1(saved.read_bytes().replace(b'"amount_minor":', b'"amount_minor":1', 1)))
    result = run("plan", "dispute-spike", "--diff", str(edited), "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "other entities or messages (amounts, times or IDs)" in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_a_git_revision(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    path = tmp_path / "dispute-spike.carbon"
    path.write_text(DISPUTE.read_text())
    git("add", ".")
    git("commit", "-qm", "one")
    path.write_text(DISPUTE.read_text().replace("lost_share            = 60%", "lost_share            = 80%"))
    result = run("plan", str(path), "--diff", "git:HEAD", "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "~ param lost_share: 60% → 80%" in result.output
    assert "~ disputes by state: lost 90 → 120, won 60 → 30" in result.output
    missing = run("plan", str(path), "--diff", "git:no-such-ref")
    assert missing.exit_code == 2
    assert "cannot read" in missing.output


def test_diff_against_garbage_exits_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b'{"type":"header", oops')
    result = run("plan", "dispute-spike", "--diff", str(junk))
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_provider_warns_about_events_it_never_sends() -> None:
    result = run("plan", "dispute-spike", "--provider", "juspay")
    assert result.exit_code == 0, result.output
    assert "warning: juspay has no dispute webhook: `dispute.created` is not sent (150 messages)" in result.output


def test_provider_refuses_signature_modes_it_cannot_produce() -> None:
    result = run("plan", "secret-rotation", "--provider", "juspay")
    assert result.exit_code == 2
    assert "error: signature mode `old_secret` does not apply to `juspay`" in result.output
    assert run("plan", "secret-rotation", "--provider", "mock").exit_code == 0
    sweep = run("plan", "webhook-fault-sweep", "--provider", "juspay")
    assert sweep.exit_code == 2 and "error: signature mode `reserialized` does not apply to `juspay`" in sweep.output


def test_unknown_provider_is_a_usage_error() -> None:
    result = run("plan", "dispute-spike", "--provider", "paypal")
    assert result.exit_code == 2
    assert "Invalid value for '--provider'" in result.output


def test_diff_sees_a_changed_map(tmp_path) -> None:
    base = ('use "oracles"\n\n{map}\n\nscenario s {{\n  phase p {{\n    create orders count 3 amount INR 10\n'
            '    pay each order {{ captured 100% }}\n  }}\n\n  use forward_only\n}}\n')
    old = tmp_path / "old.carbon"
    new = tmp_path / "new.carbon"
    old.write_text(base.format(map='map order_status { paid "paid" }'), encoding="utf-8")
    new.write_text(base.format(map='map order_status { paid "PAID" }\n\nmap api { orders "/v2/orders" }'),
                   encoding="utf-8")
    result = run("plan", str(new), "--diff", str(old), "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "a map its expectations use changed" in result.output
    assert "a map its templates use changed" in result.output


def test_a_compile_error_from_a_set_value_names_the_flag() -> None:
    result = run("plan", "dispute-spike", "--set", "baseline_orders=-5")
    assert result.exit_code == 2
    assert "`count` must be a whole number of zero or more" in result.output
    assert "compiled with --set baseline_orders=-5" in result.output


def test_plan_takes_the_delivery_overrides_and_saves_them(tmp_path) -> None:
    plain, doubled = tmp_path / "plain.ndjson", tmp_path / "doubled.ndjson"
    assert run("plan", "dispute-spike", "--set", "baseline_orders=10", "--out", str(plain)).exit_code == 0
    result = run("plan", "dispute-spike", "--set", "baseline_orders=10", "--webhook-repeat", "2",
                 "--webhook-order", "reverse", "--out", str(doubled))
    assert result.exit_code == 0, result.output
    assert "in reverse order, 2 times each (same event id)" in result.output
    diff = run("plan", str(doubled), "--diff", str(plain), "--detailed-exitcode")
    assert diff.exit_code == 3 and "duplicates: 0 → 34" in diff.output
    again = run("plan", str(doubled), "--webhook-repeat", "3")
    assert again.exit_code == 2 and "saved plan" in again.output


def test_the_diff_header_names_both_sides_as_given(tmp_path: Path) -> None:
    # Before, a scenario given by name was shown by a path the user never typed
    # (`scenarios/dispute-spike.carbon`, inside the installed package).
    result = run("plan", "dispute-spike", "--diff", "dispute-spike-severe")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Comparing dispute-spike with dispute-spike-severe\n")
