"""Sparing the cyclic garbage collector's work: paused while many acyclic objects are made
(`paused_gc`), eased while a run reads and sends its plan (`eased_gc`, `frozen`), spared at the
end of the process (`freeze_at_exit`)."""

from __future__ import annotations

import atexit
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building trees, or records in bulk.

    Parsing allocates hundreds of thousands of acyclic objects; the collector's repeated full
    scans of them cost a third of the front end's time. Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Allocations of containers between two young collections while a run is under way (Python's
#: default is 700). Its deliveries allocate short-lived ones by the million, almost all freed by
#: reference counting: the collector found ~2,400 objects to free in a run of 200,000 deliveries,
#: and took 4-6% of its CPU looking. Young collections scan what is alive when they run, so
#: fewer of them scan less.
RUN_YOUNG_THRESHOLD = 20_000


class _Easing:
    """The easing shared by every run under way in the process (runs may overlap, in threads):
    the first to start saves the collector's threshold and decides whether to freeze; the last
    to end unfreezes and restores it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs = 0
        self.thresholds = gc.get_threshold()
        #: Unfreezing is all or nothing: a program that froze objects of its own before a run
        #: (a server about to fork, say) keeps them frozen, and the run's are then not frozen.
        self.freezing = False


_EASING = _Easing()


@contextmanager
def eased_gc() -> Iterator[None]:
    """Collect cycles less often, and never scan what is alive on entry again, until the block
    ends (see `frozen`); once no run is under way, the objects frozen are scanned again, and the
    threshold is what it was."""
    e = _EASING
    with e.lock:
        if e.runs == 0:
            e.thresholds = gc.get_threshold()
            e.freezing = gc.get_freeze_count() == 0
            gc.set_threshold(RUN_YOUNG_THRESHOLD, *e.thresholds[1:])
        e.runs += 1
        if e.freezing:
            gc.freeze()
    try:
        yield
    finally:
        with e.lock:
            e.runs -= 1
            if e.runs == 0:
                if e.freezing:
                    gc.unfreeze()
                e.freezing = False
                gc.set_threshold(*e.thresholds)


def frozen() -> None:
    """Within `eased_gc`: exempt everything alive now from the collector's scans too (the plan's
    entities once indexed, kept to the run's end). Full collections otherwise scanned them again
    and again. Reference counting still frees them."""
    with _EASING.lock:
        if _EASING.freezing:
            gc.freeze()


_FREEZING_AT_EXIT = False


def freeze_at_exit() -> None:
    """When the process exits, exempt every object still alive from the collector, so the
    interpreter's own shutdown does not scan them. For a process's own entry point (a console
    script, `python -m`): calling it again does nothing more.

    Python collects cycles twice as it shuts down, after `atexit` handlers, scanning every object
    of every module loaded: ~60-80 ms of CPU for `carbonc run` (its libraries' objects), whatever
    the run's size, and 4 µs a delivery in a run of 20,000. Whatever they would find dies with
    the process anyway; files are closed and other `atexit` handlers run as before."""
    global _FREEZING_AT_EXIT
    if not _FREEZING_AT_EXIT:
        _FREEZING_AT_EXIT = True
        atexit.register(gc.freeze)
