"""Reports a run: the terminal summary, the JSON document (`--output json`, and the body of
`--callback-url`), JUnit XML, and the progress line."""

from carbonc.report.run import (
    document,
    junit_xml,
    legacy_fields,
    post_callback,
    progress_line,
    terminal_text,
)

__all__ = ["document", "junit_xml", "legacy_fields", "post_callback", "progress_line", "terminal_text"]
