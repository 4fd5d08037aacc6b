"""Parses `.carbon` text with Lark and lowers the tree into the IR: what `carbonc.syntax.parse`
does for a file the parse cache does not hold."""

from __future__ import annotations

import re
import sys

import lark
from lark.exceptions import UnexpectedInput

from carbonc.codes import Code
from carbonc.diagnostics import Diagnostic
from carbonc.ir import nodes as ir
from carbonc.source import Source
from carbonc.syntax import MAX_EXPRESSION_DEPTH, MAX_SYNTAX_ERRORS, ParseResult, _parser
from carbonc.syntax._errors import parse_error_diagnostic
from carbonc.syntax._lower import lower, token_span

_EXPRESSION_RULES = frozenset({"binary", "unary", "call", "list"})
#: Recursion allowed while lowering long expressions (a few frames per operator).
_RECURSION_LIMIT = 6000
#: A line that starts a top-level declaration: where parsing resumes after a syntax error.
_TOP_LEVEL = re.compile(r"^(use|scenario|profile|mix|ladder)\b", re.M)
_BLANK = re.compile(r"[^\n]")


def _expression_too_deep(tree: lark.Tree[lark.Token], source: Source) -> Diagnostic | None:
    """Find an expression nested more than MAX_EXPRESSION_DEPTH deep, walking the tree without
    recursion: `1+1+…` with thousands of operators is a tree thousands deep."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _EXPRESSION_RULES:
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                token = next((c for c in node.children if isinstance(c, lark.Token) and c.type[0] != "_"), None)
                if token is None:
                    token = next(node.scan_values(lambda v: isinstance(v, lark.Token)), None)
                span = token_span(token) if token is not None else source.span_at(0)
                return Diagnostic(
                    code=Code.NESTING_TOO_DEEP, message=f"expression nested more than {MAX_EXPRESSION_DEPTH} deep",
                    path=source.path, span=span, label="too deep here",
                    help="split the expression into smaller parts, e.g. with a `param`",
                )
        stack.extend((c, depth) for c in node.children if isinstance(c, lark.Tree))
    return None


def _resync_point(text: str, error_pos: int, previous: int) -> int | None:
    """Return where the next top-level declaration after a syntax error starts, if any.

    Each declaration is parsed from its own start, so the file reports its first syntax
    error per declaration rather than a cascade of echoes from one mistake.
    """
    line_start = text.rfind("\n", 0, max(0, error_pos)) + 1
    for m in _TOP_LEVEL.finditer(text, line_start):
        if m.start() > previous:
            return m.start()
    return None


def parse_text(source: Source) -> ParseResult:
    """Parse `source` (not too deeply nested: `carbonc.syntax.parse` checks) with Lark."""
    parser = _parser.get_parser()
    sink = _parser.COMMENTS
    sink.tokens = []
    errors: list[Diagnostic] = []
    tree = None
    text, cut = source.text, 0
    while True:
        try:
            parsed = parser.parse(text)
        except UnexpectedInput as err:
            diag = parse_error_diagnostic(err, source, parser)
            if not errors or errors[-1] != diag:
                errors.append(diag)
            # None only for a token without a position, and the lexer makes none such.
            resume = _resync_point(source.text, err.pos_in_stream or 0, cut)
            if resume is None or len(errors) >= MAX_SYNTAX_ERRORS:
                break
            cut = resume
            # Blank what came before (keeping newlines) so positions stay those of the file.
            text = _BLANK.sub(" ", source.text[:cut]) + source.text[cut:]
            continue
        if not errors:
            tree = parsed
        break
    comments = tuple(ir.Comment(str(t), token_span(t)) for t in sink.tokens)
    if errors or tree is None:
        return ParseResult(None, comments, tuple(errors))
    too_deep = _expression_too_deep(tree, source)
    if too_deep is not None:
        return ParseResult(None, comments, (too_deep,))
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    try:
        module, diags = lower(tree, source.path)
    except RecursionError:
        return ParseResult(None, comments, (Diagnostic(
            code=Code.NESTING_TOO_DEEP, message="expression nested too deeply", path=source.path,
            help="split the expression into smaller parts",
        ),))
    finally:
        sys.setrecursionlimit(old_limit)
    return ParseResult(module, comments, tuple(diags))
