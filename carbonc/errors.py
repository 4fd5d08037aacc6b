"""The exceptions carbonc raises, one tree rooted at `CarbonError`.

    CarbonError
    ├── CompileError     a .carbon program (or a --set value) is invalid; carries diagnostics
    ├── ExecutionError   a run could not be carried out
    ├── PlanError        a saved plan cannot be run as it is (`plan.verify`)
    ├── StoreError       the results database could not be read or written
    │   └── UnknownRun   no run has the id asked for
    └── InternalError    a bug in carbonc: the message asks for a report

Library code raises these and never prints; the CLI renders them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carbonc.diagnostics import Diagnostic


class CarbonError(Exception):
    """Base of every error carbonc raises on purpose."""


class CompileError(CarbonError):
    """A program failed to compile; `diagnostics` says where and why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0].message if diagnostics else "compile error"
        super().__init__(f"{len(diagnostics)} error(s); first: {first}")


class ExecutionError(CarbonError):
    """A run could not be carried out."""


class PlanError(CarbonError):
    """A saved plan that cannot be run as it is; the message names the line and what is wrong."""


class StoreError(CarbonError):
    """The results database could not be read or written."""


class UnknownRun(StoreError):
    """No run in the database has the id asked for; `latest` names the most recent ones."""

    def __init__(self, message: str, latest: list[str]):
        super().__init__(message)
        self.latest = latest


class InternalError(CarbonError):
    """A bug in carbonc."""

    def __init__(self, what: str):
        super().__init__(
            f"internal error: {what}; this is a bug in carbonc, please report it "
            "with the input that caused it"
        )
