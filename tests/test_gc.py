"""The run's easing of the cyclic garbage collector: fewer young collections, what is alive on
entry (and whatever `frozen` is called on) never scanned, and everything as it was after."""

from __future__ import annotations

import gc
import weakref

from carbonc._gc import RUN_YOUNG_THRESHOLD, eased_gc, frozen


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_eased_collects_less_often_freezes_what_is_alive_and_restores_everything():
    before = gc.get_threshold()
    kept = [_Node() for _ in range(10)]
    assert gc.get_freeze_count() == 0
    with eased_gc():
        assert gc.get_threshold() == (RUN_YOUNG_THRESHOLD, *before[1:])
        on_entry = gc.get_freeze_count()
        assert on_entry >= len(kept)
        later = [_Node() for _ in range(10)]
        frozen()
        assert gc.get_freeze_count() >= on_entry + len(later)
        # Cycles made meanwhile are still collected.
        dropped = weakref.ref(_Node())
        gc.collect()
        assert dropped() is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert kept and later


def test_objects_frozen_by_the_caller_stay_frozen_and_ours_are_not_frozen():
    gc.freeze()
    try:
        theirs = gc.get_freeze_count()
        with eased_gc():
            assert gc.get_threshold()[0] == RUN_YOUNG_THRESHOLD
            [_Node() for _ in range(10)]
            frozen()
            assert gc.get_freeze_count() == theirs
        assert gc.get_freeze_count() == theirs
    finally:
        gc.unfreeze()
