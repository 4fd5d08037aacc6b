"""Pausing the cyclic garbage collector while many acyclic objects are made."""

from __future__ import annotations

import gc
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


@contextmanager
def eased_gc() -> Iterator[None]:
    """Collect cycles less often, and never scan what is alive on entry again, until the block
    ends (see `frozen`); then the objects frozen are scanned again, and the threshold is what it
    was."""
    thresholds = gc.get_threshold()
    # Unfreezing is all or nothing: a program that froze objects of its own before calling us
    # (a server about to fork, say) keeps them frozen, and ours are then not frozen at all.
    global _freezing
    outer, _freezing = _freezing, gc.get_freeze_count() == 0
    frozen()
    gc.set_threshold(RUN_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        if _freezing:
            gc.unfreeze()
        _freezing = outer
        gc.set_threshold(*thresholds)


#: Whether `eased_gc` freezes objects (see there).
_freezing = False


def frozen() -> None:
    """Within `eased_gc`: exempt everything alive now from the collector's scans too (the plan's
    entities once indexed, kept to the run's end). Full collections otherwise scanned them again
    and again. Reference counting still frees them."""
    if _freezing:
        gc.freeze()
