"""`carbonc report` of real runs: a run against a real server on 127.0.0.1, recorded in a real
DuckDB file, then reported in every format; an endpoint answering markup, control characters
and invalid UTF-8 shows them as inert text."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb
import pytest
import servers
from click.testing import CliRunner
from run_scenarios import FORGERIES

from carbonc.cli import main

#: What a hostile (or merely broken) endpoint answers: a script, a NUL, an escape sequence, bytes
#: that are not UTF-8.
HOSTILE_BODY = b"<script>alert(1)</script>\x00\x1b[31mred\xff\xfe</pre><img src=http://example.invalid/x>"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="carbonc")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run of ten orders, with forgeries, against an endpoint answering everything 500 and a
    hostile body."""
    tmp = tmp_path_factory.mktemp("hostile")
    source = tmp / "forgeries.carbon"
    source.write_text(FORGERIES, encoding="utf-8")
    db = tmp / "runs.duckdb"
    with servers.lax(500, HOSTILE_BODY) as srv:
        result = invoke("run", str(source), "--webhook-url", srv.url + "/hooks", "--db", str(db), "--output", "json")
    assert result.exit_code == 0, result.output
    return db, json.loads(result.stdout)["run_id"]


def test_the_report_agrees_with_the_run_summary(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    with servers.flaky(failures=1) as srv:
        ran = invoke("run", "dispute-spike", "--set", "baseline_orders=40", "--webhook-url", srv.url, "--db", str(db),
                     "--output", "json", "--skip-probes")
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    result = invoke("report", "latest", "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["run"]["run_id"] == summary["run_id"]
    assert doc["totals"]["deliveries"] == summary["deliveries"]["total"]
    assert {e["event"]: e["outcomes"] for e in doc["by_event"]} == summary["deliveries"]["by_event"]
    assert {v["key"]: {"ok": v["ok"], "mismatched": v["mismatched"]} for v in doc["by_fault"]} == summary["verdicts"]
    assert {p: doc["latency"][p] for p in ("p50", "p95", "p99")} == pytest.approx(summary["latency_ms"], abs=0.01)
    # Every message was refused once by the flaky server, then acknowledged on its retry.
    fates = {f["fate"]: f for f in doc["fates"]}
    assert fates["acknowledged"]["retried"] == fates["acknowledged"]["messages"] > 0
    assert [c["name"] for c in doc["checks"]] == [c["name"] for c in summary["checks"]]


def test_terminal_report_escapes_what_the_endpoint_said(hostile_run: tuple[Path, str]) -> None:
    db, run_id = hostile_run
    result = invoke("report", run_id, "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    assert "<script>alert(1)</script>\\x00\\x1b[31mred" in result.stdout
    assert "Timeline of " in result.stdout and "gave up" in result.stdout


def test_html_report_shows_the_endpoint_body_as_escaped_text(hostile_run: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = hostile_run
    out = tmp_path / "r.html"
    result = invoke("report", run_id, "--db", str(db), "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # No tag that runs or fetches anything (the endpoint's `<img src=…>` is there only as `&lt;img src=…`).
    assert not re.search(r"<(script|img|link|iframe|object)|<[^>]*\b(src|href)=|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", page)


def test_the_html_report_in_a_real_browser(hostile_run: tuple[Path, str], tmp_path: Path) -> None:
    """Chromium opens the file: no console error, no request but the file itself, the charts,
    checks and timelines there, the endpoint's markup shown as text. A screenshot is left in
    tmp_path for a person to look at."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing in CI: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install chromium): the HTML report is not opened in a browser")
    playwright = pytest.importorskip("playwright.sync_api")
    db, run_id = hostile_run
    out = tmp_path / "report.html"
    assert invoke("report", run_id, "--db", str(db), "--format", "html", "--out", str(out)).exit_code == 0
    requests: list[str] = []
    console: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            svgs = page.locator("svg").count()
            checks = page.locator("table.checks tr").count()
            timelines = page.locator("section.timeline").count()
            snippet = page.locator("pre.snippet").first.text_content()
            scripts = page.evaluate("document.scripts.length")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [out.as_uri()]
    assert console == []
    assert svgs == 3 and page_has_bars(out)
    assert checks >= 3  # a header and the FORGERIES scenario's two expects
    assert timelines >= 1
    assert snippet is not None and snippet.startswith("<script>alert(1)</script>\\x00\\x1b[31mred")
    assert scripts == 0
    assert (tmp_path / "report.png").stat().st_size > 0


def page_has_bars(page: Path) -> bool:
    """Each chart drew something: the file holds SVG rectangles."""
    return page.read_text(encoding="utf-8").count("<rect") >= 3


def test_the_views_are_in_the_file_for_anyone_to_query(hostile_run: tuple[Path, str]) -> None:
    db, run_id = hostile_run
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select fate, messages from report_fates where run_id = ? order by fate", [run_id]).fetchall()
    finally:
        con.close()
    # Every genuine message got a 500 and was never retried (`retry none`); every forgery too.
    assert dict(rows).keys() == {"gave up", "forgery not refused"}
