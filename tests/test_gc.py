"""The run's easing of the cyclic garbage collector: fewer young collections, what is alive on
entry (and whatever `frozen` is called on) never scanned, and everything as it was after; and
a process's command leaving nothing for the collector to scan as the interpreter shuts down."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest
from click.testing import CliRunner

from carbonc import cli
from carbonc._gc import RUN_YOUNG_THRESHOLD, eased_gc, frozen


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def _is_frozen(obj: object) -> bool:
    """Tracked by the collector, but in none of the generations it scans."""
    return gc.is_tracked(obj) and not any(o is obj for g in range(3) for o in gc.get_objects(generation=g))


def test_eased_collects_less_often_freezes_what_is_alive_and_restores_everything():
    before = gc.get_threshold()
    kept = _Node()
    assert not _is_frozen(kept)
    with eased_gc():
        assert gc.get_threshold() == (RUN_YOUNG_THRESHOLD, *before[1:])
        assert _is_frozen(kept)
        later = _Node()
        assert not _is_frozen(later)
        frozen()
        assert _is_frozen(later)
        # Cycles made meanwhile are still collected.
        dropped = weakref.ref(_Node())
        gc.collect()
        assert dropped() is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert not _is_frozen(kept) and not _is_frozen(later)


def test_objects_frozen_by_the_caller_stay_frozen_and_ours_are_not_frozen():
    theirs = _Node()
    gc.freeze()
    try:
        with eased_gc():
            assert gc.get_threshold()[0] == RUN_YOUNG_THRESHOLD
            ours = _Node()
            frozen()
            assert not _is_frozen(ours)
        assert _is_frozen(theirs)
    finally:
        gc.unfreeze()


def test_overlapping_runs_restore_everything_once_the_last_ends():
    # Runs in two threads: A starts, B starts, A ends (B is still under way), B ends.
    before = gc.get_threshold()
    a, b = eased_gc(), eased_gc()
    a.__enter__()
    b.__enter__()
    made = _Node()
    a.__exit__(None, None, None)
    assert gc.get_threshold()[0] == RUN_YOUNG_THRESHOLD  # B is still running
    frozen()
    assert _is_frozen(made)
    b.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    frozen()  # outside any run: does nothing
    assert not _is_frozen(made)


_AT_EXIT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
import carbonc.cli.{module} as command
command.main({args})
"""


@pytest.mark.parametrize(("module", "args"), [("__init__", ["--version"]), ("__init__", ["check", "no-such-scenario"]),
                                              ("legacy", ["scenarios-list"])])
def test_a_command_run_as_a_process_leaves_everything_frozen_for_the_shutdown(module, args):
    # `main(...)` calls the group, as the console scripts and `python -m carbonc` do; whether
    # the command succeeds or not.
    code = _AT_EXIT.format(module=module, args=repr(args))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "frozen at exit: True" in done.stdout, done.stderr


def test_a_command_run_in_process_leaves_the_collector_as_it_was():
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0
    cli.main(["scenarios"], standalone_mode=False)  # click's idiom for a program calling a command
    assert gc.get_freeze_count() == 0


def test_a_program_calling_a_command_in_process_is_not_frozen_at_its_exit():
    code = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
import carbonc.cli
carbonc.cli.main(["scenarios"], standalone_mode=False)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "frozen at exit: False" in done.stdout, done.stderr
