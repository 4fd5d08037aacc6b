"""Type-checks a scenario's checks: `expect` and `finding` conditions, and probes (their
templates, headers, body, window and expectations)."""

from __future__ import annotations

from typing import assert_never

from carbonc.codes import Code
from carbonc.domain import vocabulary
from carbonc.ir import nodes as ir
from carbonc.passes._exprs import BOOL, DURATION, ExprChecker
from carbonc.templates import template_error


class ProbeChecker(ExprChecker):
    """Checks a scenario's `expect`, `finding` and probe checks, and oracles' probes."""

    def check(self, check: ir.Check) -> None:
        match check:
            case ir.Expect(condition=cond, severity=sev):
                self.want(cond, BOOL, "`expect`")
            case ir.Finding(condition=cond, severity=sev):
                self.want(cond, BOOL, "`finding when`")
            case ir.Probe(severity=sev) as probe:
                self.probe(probe)
            case _:
                assert_never(check)
        if sev is not None:
            self.option(sev, vocabulary.SEVERITIES, "severity")

    def probe(self, probe: ir.Probe) -> None:
        self.template(probe.url, "URL")
        for header in probe.headers:
            if not header.name.value or any(c in header.name.value for c in ' \t\r\n:'):
                self.report(Code.INVALID_PROBE, f"`{header.name.value}` is not an HTTP header name", header.name,
                            label="not a header name", help="header names look like `X-Api-Key`")
            self.template(header.value, "header")
        if probe.body is not None:
            self.template(probe.body, "body")
            if probe.method in ("GET", "HEAD"):
                self.report(Code.INVALID_PROBE, f"a {probe.method} probe sends no body", probe.body, label="ignored",
                            help="use POST, PUT or PATCH to send a body")
        if probe.eventually is not None:
            self.want(probe.eventually, DURATION, "`eventually within`")
            self.non_negative(probe.eventually, "`eventually within`", minimum=1)
        self.in_probe = True
        try:
            for e in probe.expects:
                self.want(e, BOOL, "a probe `expect`")
        finally:
            self.in_probe = False
        if not probe.expects:
            self.report(Code.INVALID_PROBE, "this probe expects nothing", probe.url, label="nothing to judge",
                        help="add a line such as `expect status == 200`")

    def template(self, text: ir.StringLit, what: str) -> None:
        error = template_error(text.value)
        if error is not None:
            self.report(Code.INVALID_PROBE, f"the probe {what} is not a valid template: {error}", text,
                        label="template error", help="templates look like `{{ base }}/orders/{{ order.ref }}`")
