"""Builds the Lark LALR parser for grammar/carbon.lark once per process, from an on-disk cache."""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from pathlib import Path

import lark

from carbonc._data import data_dir
from carbonc.syntax import _cache


class CommentSink:
    """Collects comment tokens the lexer skips, so the formatter can put them back."""

    def __init__(self) -> None:
        self.tokens: list[lark.Token] = []

    def __call__(self, token: lark.Token) -> lark.Token:
        self.tokens.append(token)
        return token


#: Comments of the parse in progress; `parse` swaps in a fresh list each time.
COMMENTS = CommentSink()


def grammar_path() -> Path:
    return data_dir("grammar") / "carbon.lark"


#: How the parser is built. Positions come from the tokens, which `carbonc.syntax._lower`
#: keeps (all of them, so a node's span includes its keyword and braces): Lark's own
#: `propagate_positions` doubled the parse time.
OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": False, "keep_all_tokens": True,
           "maybe_placeholders": False}


def _cache_file(text: str) -> str | bool:
    """A cache path keyed by the grammar, the options, Lark's and Python's versions, in a
    directory we can write.

    Lark's own check covers the Python version too; keying on it keeps two interpreters that
    share a cache directory from overwriting each other's file on every start."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    options = repr(sorted(OPTIONS.items()))
    key = hashlib.sha256(f"{lark.__version__}\0{py}\0{options}\0{text}".encode()).hexdigest()[:16]
    root = _cache.cache_dir()
    return False if root is None else os.path.join(root, f"grammar-{key}.lark-cache")


@cache
def get_parser() -> lark.Lark:
    """Return the process-wide parser (building it takes ~100 ms; loading the cache ~10 ms)."""
    text = grammar_path().read_text(encoding="utf-8")
    return lark.Lark(
        text,
        **OPTIONS,
        cache=_cache_file(text),
        lexer_callbacks={"LINE_COMMENT": COMMENTS, "BLOCK_COMMENT": COMMENTS},
    )
