"""Reports a run: the terminal summary of a run just made, its JSON document (`--output json`,
and the body of `--callback-url`), JUnit XML and the progress line (run.py); and a stored run's
report, read through the store's views (stored.py) and shown as text, JSON or HTML (text.py,
figures.py, html.py), or compared with another (compare.py)."""

from carbonc.report.run import (
    document,
    junit_xml,
    legacy_fields,
    post_callback,
    progress_line,
    terminal_text,
)

__all__ = ["document", "junit_xml", "legacy_fields", "post_callback", "progress_line", "terminal_text"]
