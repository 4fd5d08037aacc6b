"""Probe templates read without Jinja2 when they are only text and `{{ name.attr }}` holes:
what is read so is what Jinja2 reads, and anything else goes to Jinja2."""

from __future__ import annotations

import subprocess
import sys

import jinja2
import pytest
from jinja2 import meta, nodes

from carbonc import templates
from carbonc.templates import template_attributes, template_error, template_names

#: Templates read directly: text (braces that open nothing included) and name holes.
SIMPLE = [
    "", "/orders", "{{ base }}", "{{base}}", "{{   base   }}/x", "{{ base }}/payments/{{ payment.ref }}",
    "{{ base }}{{ api.orders }}/{{ order.id }}", "{{ a.b.c }}", "{{ order.id }}?x={{ order.amount }}&y={{ x }}",
    '{"id": "{{ order.id }}", "n": 1}', "{ }", "a { b } c }} d", "trailing {", "{x}", "{{ _x1.y_2 }}",
    "{{ loop }}", "{{ order.if_ }}", "{{ Order.ID }}", "{{ match }}", "{{ x.type }}",
]
#: Templates Jinja2 reads (valid or not): filters, tags, comments, whitespace control, keywords,
#: constants, items, calls, other whitespace, unterminated holes.
OTHER = [
    "{{ x|upper }}", "{% if x %}a{% endif %}", "{# note #}{{ x }}", "{{- x -}}", "{{ true }}", "{{ None }}",
    "{{ x.None }}", "{{ if }}", "{{ not x }}", "{{ x.in }}", "{{ x[0] }}", "{{ x.0 }}", "{{ f() }}",
    "{{\tx }}", "{{\nx\n}}", "{{ x", "{{ }}", "{{ x }", "{{{ x }}}", "{{ 'a' }}", "{{ x + y }}",
    "{{ x.y|default(z) }}", "{% for o in orders %}{{ o.id }}{% endfor %}", "{{ é }}", "{% raw %}{{ x }}{% endraw %}",
    "{{ x }}{% endif %}", "}}{{ x",
]


def _jinja(text: str) -> tuple[str | None, set[str], dict[str, set[str]]]:
    try:
        tree = jinja2.Environment(autoescape=False).parse(text)
    except jinja2.TemplateSyntaxError as err:
        return err.message, set(), {}
    attrs: dict[str, set[str]] = {}
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name):
            attrs.setdefault(node.node.name, set()).add(node.attr)
    return None, set(meta.find_undeclared_variables(tree)), attrs


def _ours(text: str, names: set[str]) -> tuple[str | None, set[str], dict[str, set[str]]]:
    found = template_names(text)
    attrs = {name: got for name in names | found if (got := template_attributes(text, name))}
    return template_error(text), found, attrs


@pytest.mark.parametrize("text", SIMPLE + OTHER)
def test_what_is_read_is_what_jinja2_reads(text: str) -> None:
    expected = _jinja(text)
    assert _ours(text, expected[1] | set(expected[2])) == expected


@pytest.mark.parametrize("text", SIMPLE)
def test_simple_templates_are_read_directly(text: str) -> None:
    assert templates._paths(text) is not None


@pytest.mark.parametrize("text", OTHER)
def test_any_other_template_goes_to_jinja2(text: str) -> None:
    assert templates._paths(text) is None


def test_checking_a_scenario_with_simple_probes_does_not_load_jinja2() -> None:
    # Importing Jinja2 costs ~16 ms of CPU at every compile: the bundled probes do without it.
    code = ("import sys; from carbonc.api import load_plan; from carbonc.scenarios import find; "
            "load_plan(find('dispute-spike'), overrides={'baseline_orders': '20'}); print('jinja2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
