"""The parse cache: a file parsed before is read back as the parse it gave, and anything wrong
with the cache is a miss (parse again), never an error or a different result."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from carbonc.source import Source
from carbonc.syntax import ParseResult, _cache, parse
from carbonc.syntax._parse import parse_text

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "dispute-spike.carbon"


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "carbonc"


def _source(text: str | None = None, path: str = "dispute-spike.carbon") -> Source:
    return Source(path, SCENARIO.read_text(encoding="utf-8") if text is None else text, file=str(SCENARIO))


def _entries(root: Path) -> list[Path]:
    return sorted(root.glob("parse-*.msgpack"))


def test_a_parse_is_kept_and_read_back_as_it_was(cache_root):
    source = _source()
    first = parse(source)
    assert first.module is not None
    [entry] = _entries(cache_root)
    assert _cache.load(source, ParseResult) == first  # what the next parse returns
    assert parse(source) == first == parse_text(source)
    assert _entries(cache_root) == [entry]


def test_changed_text_or_path_is_parsed_afresh(cache_root):
    source = _source()
    parse(source)
    edited = _source(source.text.replace("baseline_orders", "base_orders"))
    assert parse(edited) == parse_text(edited)
    assert parse(_source(path="elsewhere.carbon")).module is not None
    assert len(_entries(cache_root)) == 3


@pytest.mark.parametrize("damage", [b"", b"\xc1not msgpack", msgspec.msgpack.encode({"module": 7}),
                                    msgspec.msgpack.encode(["a list", "of", "the", "wrong", "shape"])])
def test_a_damaged_entry_is_a_miss_and_is_rewritten(cache_root, damage):
    source = _source()
    good = parse(source)
    [entry] = _entries(cache_root)
    entry.write_bytes(damage)
    assert _cache.load(source, ParseResult) is None
    assert parse(source) == good
    assert _cache.load(source, ParseResult) == good


def test_an_entry_too_large_is_a_miss(cache_root, monkeypatch):
    source = _source()
    parse(source)
    monkeypatch.setattr(_cache, "_MAX_BYTES", 10)
    assert _cache.load(source, ParseResult) is None


def test_syntax_errors_are_not_kept(cache_root):
    result = parse(_source("scenario s { param = }"))
    assert result.module is None and result.diagnostics
    assert _entries(cache_root) == []


def test_without_a_cache_directory_it_parses_all_the_same(cache_root, monkeypatch):
    monkeypatch.setattr(_cache, "cache_dir", lambda: None)
    source = _source()
    assert parse(source) == parse_text(source)
    assert not cache_root.exists()


def test_the_newest_entries_are_kept(cache_root, monkeypatch):
    monkeypatch.setattr(_cache, "_KEEP", 3)
    sources = [_source(f"scenario s{n} {{ param v = {n} }}") for n in range(5)]
    for n, source in enumerate(sources):
        parse(source)
        # In the order written, whatever the file system's clock resolution.
        entry = _cache._entry(source)
        assert entry is not None
        os.utime(entry, ns=(n * 10**9, n * 10**9))
    assert len(_entries(cache_root)) == 3
    assert [_cache.load(s, ParseResult) is not None for s in sources] == [False, False, True, True, True]


def test_the_parser_code_is_part_of_the_key(cache_root, monkeypatch):
    source = _source()
    parse(source)
    monkeypatch.setattr(_cache, "_fingerprint", lambda: b"another parser")
    assert _cache.load(source, ParseResult) is None


@pytest.mark.parametrize(("text", "path"), [
    ('scenario s { about "\\ud800" }', "escape.carbon"),  # an escape lowered into a lone surrogate
    ("scenario s { param v = 1 }", "b\udcff.carbon"),  # a file name that is not UTF-8
])
def test_lone_surrogates_are_parsed_not_cached(cache_root, text, path):
    source = Source(path, text, file=path)
    result = parse(source)
    assert result == parse_text(source) and result.module is not None
    assert parse(source) == result  # again: a hit or a fresh parse, never an error


def test_the_shared_temporary_fallback_is_the_users_own(tmp_path, monkeypatch):
    if not hasattr(os, "getuid"):
        pytest.skip("no user ids here")
    monkeypatch.setenv("XDG_CACHE_HOME", "/dev/null/not-a-directory")
    monkeypatch.setattr(_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    root = _cache.cache_dir()
    assert root == str(tmp_path / f"carbonc-cache-{os.getuid()}")
    assert os.stat(root).st_mode & 0o777 == 0o700
    os.chmod(root, 0o777)  # opened to others (by someone, somehow): no longer trusted
    assert _cache.cache_dir() is None
    source = _source()
    assert parse(source) == parse_text(source)  # parsed all the same, nothing kept
    assert list(Path(root).iterdir()) == []


def test_a_killed_writes_leftovers_are_removed(cache_root):
    parse(_source())
    stale, fresh = cache_root / ".parse-stale", cache_root / ".parse-fresh"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(stale, (1, 1))
    parse(_source("scenario s { param v = 2 }"))
    assert not stale.exists() and fresh.exists()
