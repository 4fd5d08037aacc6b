"""A stored run's report (RunReport) as one self-contained HTML page: inline CSS and SVG, no
script, nothing fetched. Jinja2 escapes every value; endpoint text has its control characters
shown as escapes too, so a body holding markup or raw bytes renders as inert text."""

from __future__ import annotations

from functools import cache

import jinja2

from carbonc.report import charts
from carbonc.report.escape import printable
from carbonc.report.figures import RunReport
from carbonc.report.text import SUBJECTS


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("carbonc.report", "."), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["printable"] = lambda value: printable(str(value))
    return env


def report_html(report: RunReport) -> str:
    """The whole report as an HTML document."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report, subjects=SUBJECTS, outcomes=list(charts.OUTCOME_COLOURS),
        histogram=charts.latency_histogram(report.histogram),
        over_time=charts.deliveries_over_time(report.over_time),
        verdicts=charts.verdicts_by_fault(report.by_fault),
    )
