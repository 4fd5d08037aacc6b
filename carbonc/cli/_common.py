"""What every command shares: rendering diagnostics, resolving scenario references, exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from carbonc._gc import freeze_at_exit

if TYPE_CHECKING:
    from carbonc.api import CheckResult

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CHANGES = 0, 1, 2, 3

_P = ParamSpec("_P")
_R = TypeVar("_R")


class EntryGroup(click.Group):
    """A command group that is a process's entry point (a console script, `python -m`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Calling the group in standalone mode (click's default) is a process's own entry: the
        # command ends with the process. A program running a command in-process (`main`, or a
        # call with `standalone_mode=False`) keeps its collector as it was.
        if kwargs.get("standalone_mode", True):
            freeze_at_exit()
        return super().__call__(*args, **kwargs)


def emit_diagnostics(result: CheckResult, stream: IO[Any] | None = None) -> tuple[int, int]:
    """Print a CheckResult's diagnostics; return (errors, warnings)."""
    from carbonc.diagnostics import diagnostic_text

    stream = stream or sys.stderr
    errors = warnings = 0
    for diag in result.diagnostics:
        click.echo(diagnostic_text(diag, result.sources.get(diag.path)) + "\n", file=stream)
        if diag.is_error:
            errors += 1
        else:
            warnings += 1
    return errors, warnings


def fail(message: str, help: str | None = None, code: int = EXIT_INVALID) -> NoReturn:
    """Print `error: message` (and help) to stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    if help:
        click.echo(f"  = help: {help}", err=True)
    sys.exit(code)


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`--set` values: `("a=1", "b=2")` -> `{"a": "1", "b": "2"}`; exit 2 on a malformed pair.
    The values stay text: the compiler types each like the parameter it sets."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            fail(f"`{pair}` is not of the form `name=value`", "write e.g. `--set dispute_rate=30%`")
        out[name] = value
    return out


def resolve_refs(refs: Iterable[str]) -> list[tuple[str, Path]]:
    """Map each FILE|NAME argument to a path; unknown names exit 2 with a did-you-mean."""
    from carbonc.scenarios import UnknownScenario, find

    out = []
    for ref in refs:
        try:
            out.append((ref, find(ref)))
        except UnknownScenario as err:
            fail(str(err), err.help)
    return out


def guard(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn an unexpected exception into a one-line internal-error message, not a traceback."""

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            _interrupted()
        except BrokenPipeError:
            # Output piped into `head` and the like: the reader has gone, which is not our bug.
            # Point stdout at nothing so the interpreter's final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILED)
        except BaseExceptionGroup as group:  # from a trio nursery: name what went wrong, not the group
            leaf: BaseException = group
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            if isinstance(leaf, KeyboardInterrupt):
                _interrupted()
            _internal_error(leaf)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
            _internal_error(exc)

    return wrapper


def _interrupted() -> NoReturn:
    click.echo("interrupted", err=True)
    sys.exit(130)


def _internal_error(exc: BaseException) -> NoReturn:
    from carbonc.errors import InternalError

    click.echo(f"error: {InternalError(f'{type(exc).__name__}: {exc}')}", err=True)
    sys.exit(EXIT_FAILED)
