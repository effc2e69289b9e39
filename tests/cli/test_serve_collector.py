"""What `optledger serve` does to the garbage collector before it serves (decision 0030)."""

import gc
from collections.abc import Iterator

import pytest

from optledger.cli.serve import tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_the_start_up_heap_is_frozen_and_the_young_generation_holds_more():
    before = gc.get_threshold()

    tune_collector()

    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == (50_000, *before[1:])
    assert gc.isenabled()  # what is made from now on is still collected
