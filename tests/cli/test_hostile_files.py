"""Files that are not `.carbon` source are refused without showing their content: a symbolic link
to another kind of file (a credentials file), a pseudo-file, a device, a binary file — as the
program given and through `use`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonc.cli import main

pytestmark = pytest.mark.usefixtures("deadline")

TOKEN = "ghp_SECRETTOKEN1234567890"


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.output


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / ".git-credentials"
    path.write_text(f"https://alice:{TOKEN}@github.com\n", encoding="utf-8")
    return path


def test_a_link_to_a_credentials_file_is_refused_unread(tmp_path: Path, credentials: Path) -> None:
    link = tmp_path / "x.carbon"
    link.symlink_to(credentials)
    code, out = check(str(link))
    assert code == 2 and "symbolic link to something that is not a .carbon file" in out
    assert TOKEN not in out and "alice" not in out


def test_a_link_used_as_a_module_is_refused_unread(tmp_path: Path, credentials: Path) -> None:
    (tmp_path / "x.carbon").symlink_to(credentials)
    main_file = tmp_path / "main.carbon"
    main_file.write_text('use "./x.carbon"\n\nscenario a {\n}\n', encoding="utf-8")
    code, out = check(str(main_file))
    assert code == 2 and "not a .carbon file" in out and TOKEN not in out


def test_a_link_to_a_carbon_file_still_works(tmp_path: Path) -> None:
    real = tmp_path / "real.carbon"
    real.write_text("scenario a {\n}\n", encoding="utf-8")
    (tmp_path / "link.carbon").symlink_to(real)
    assert check(str(tmp_path / "link.carbon"))[0] == 0


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero"])
def test_pseudo_files_and_devices_are_refused_unread(tmp_path: Path, target: str, monkeypatch) -> None:
    monkeypatch.setenv("CARBONC_TEST_SECRET", TOKEN)
    direct = check(target)
    link = tmp_path / "p.carbon"
    link.symlink_to(target)
    linked = check(str(link))
    for code, out in (direct, linked):
        assert code == 2 and "not read" in out and TOKEN not in out


def test_a_binary_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "b.carbon"
    path.write_bytes(f"scenario {TOKEN}".encode() + b"\xff\xfe\x00")
    code, out = check(str(path))
    assert code == 2 and "not UTF-8 text" in out and TOKEN not in out
    path.write_bytes(f"scenario {TOKEN}".encode() + b"\x00 {}")
    code, out = check(str(path))
    assert code == 2 and "NUL byte" in out and TOKEN not in out


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "f.carbon"
    os.mkfifo(fifo)
    code, out = check(str(fifo))
    assert code == 2 and "not a regular file" in out
