"""What a scenario or an endpoint says reaches the terminal and the JUnit report as text: control
characters (a NUL, an escape sequence, a bell) are shown as escapes, and the XML stays valid."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner

from carbonc.cli import main

SCENARIO = ('scenario f {\n  phase p {\n    create orders count 2 amount INR 1\n  }\n\n'
            '  finding when orders > 0 "nul \x00 bell \x07 esc \x1b[31m red" severity low\n}\n')


def test_control_characters_are_escaped_in_the_terminal_and_junit(tmp_path: Path) -> None:
    source = tmp_path / "f.carbon"
    source.write_bytes(SCENARIO.replace("\x00", "").encode())  # a NUL in source is refused (C0003)
    junit = tmp_path / "r.xml"
    result = CliRunner().invoke(main, ["run", str(source), "--db", str(tmp_path / "db.duckdb"), "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "bell \\x07 esc \\x1b[31m red" in result.stdout
    root = ET.parse(junit).getroot()  # parses: valid XML
    out = next(c.find("system-out").text for c in root.iter("testcase") if c.find("system-out") is not None)
    assert "\\x1b[31m" in out and "\x1b" not in out


def test_printable_escapes_every_control_character_but_newline_and_tab() -> None:
    from carbonc.report.run import printable

    assert printable("a\x00b\x7fc\r\n\td") == "a\\x00b\\x7fc\\x0d\n\td"


def test_a_callback_that_trickles_is_abandoned_at_its_deadline() -> None:
    import socket
    import threading
    import time

    from carbonc.report.run import post_callback

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
            if stop.wait(0.2):
                break
            conn.sendall(bytes([byte]))
        conn.close()

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    started = time.monotonic()
    problem = post_callback(f"http://127.0.0.1:{listener.getsockname()[1]}/cb", {"run": 1}, timeout_s=1.0)
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert problem is not None and "did not finish within 1 s" in problem
    assert elapsed < 3
