"""Probe templates (`{{ base }}/orders/{{ order.id }}`) as the checker and the compiler read them:
whether one parses, which variables it reads, which attributes it reads of one.

Jinja2 renders them (`exec.probes`) and is the authority on what they mean. Most are text and
holes of a name and its attributes alone, though, which are read here directly: importing Jinja2
costs ~16 ms of CPU, at every compile of a scenario with probes. Any other template (a filter,
a tag, a comment, whitespace control, a keyword…) goes to Jinja2."""

from __future__ import annotations

import keyword
import re

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: Text Jinja2 passes through as it is: anything but a `{` that opens a hole, a tag or a comment.
_TEXT = re.compile(r"(?:[^{]|\{(?![{%#]))*")
#: A hole that reads a name, or attributes of it: `{{ order.id }}`.
_HOLE = re.compile(rf"\{{\{{ *({_NAME}(?:\.{_NAME})*) *\}}\}}")
#: Names Jinja2 reads as constants, not variables.
_CONSTANTS = frozenset({"true", "false", "none", "True", "False", "None"})


def _paths(text: str) -> list[list[str]] | None:
    """The dotted names of a template's holes (`order.id` -> ["order", "id"]), or None when it is
    not only text and such holes (Jinja2 then reads it)."""
    paths: list[list[str]] = []
    at = 0
    while True:
        text_run = _TEXT.match(text, at)
        assert text_run is not None  # it matches the empty string too
        at = text_run.end()
        if at == len(text):
            return paths
        hole = _HOLE.match(text, at)
        if hole is None:
            return None
        path = hole[1].split(".")
        if any(keyword.iskeyword(part) or part in _CONSTANTS for part in path):
            return None
        paths.append(path)
        at = hole.end()


def template_error(text: str) -> str | None:
    """Why `text` is not a valid template (Jinja2's message), or None if it is."""
    if _paths(text) is not None:
        return None
    import jinja2

    try:
        jinja2.Environment(autoescape=False).parse(text)
    except jinja2.TemplateSyntaxError as err:
        return err.message or str(err)
    return None


def template_names(text: str) -> set[str]:
    """The variables `text` reads (none when it does not parse: `template_error` says why)."""
    paths = _paths(text)
    if paths is not None:
        return {path[0] for path in paths}
    import jinja2
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(jinja2.Environment(autoescape=False).parse(text)))
    except jinja2.TemplateSyntaxError:
        return set()


def template_attributes(text: str, name: str) -> set[str]:
    """The attributes `text` reads of the variable `name` (`order.id` -> {"id"})."""
    paths = _paths(text)
    if paths is not None:
        return {path[1] for path in paths if len(path) > 1 and path[0] == name}
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment(autoescape=False).parse(text)
    except jinja2.TemplateSyntaxError:
        return set()
    return {node.attr for node in tree.find_all(nodes.Getattr)
            if isinstance(node.node, nodes.Name) and node.node.name == name}
