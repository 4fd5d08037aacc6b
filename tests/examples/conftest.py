"""The demo merchant's modules (examples/merchant), for the tests that build it in-process."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo() -> Iterator[ModuleType]:
    """`examples.merchant.app`, imported from the checkout. `examples/` is no part of the carbonc
    package, so the checkout's root is on sys.path for this session only, after carbonc itself
    has been imported: an installed carbonc is still the one tested."""
    importlib.import_module("carbonc")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO))
        yield importlib.import_module("examples.merchant.app")
