"""`LoopCompletion`: a queued write's outcome, delivered straight to the event loop that
awaits it.

Why: the writer reports each write from its own thread. Through a
`concurrent.futures.Future` awaited with `asyncio.wrap_future`, every write cost two
futures, a condition (a lock and its waiters), and three callbacks; together about 6% of
the event loop's time under the unsubscribe load (BENCHMARKS.md, "perf-w1"). Here the
writer schedules the loop's own future's result with one `call_soon_threadsafe`, as
`wrap_future` ends up doing anyway.
"""

import asyncio
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["LoopCompletion"]

T = TypeVar("T")


class LoopCompletion(Generic[T]):
    """A `Completion` (domain ports) to await in the event loop that made it; any thread
    may report to it, once."""

    __slots__ = ("_future", "_loop", "_reported")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._future: asyncio.Future[T] = self._loop.create_future()
        self._reported = False

    def set_result(self, result: T, /) -> None:
        self._report(_set_result, result)

    def set_exception(self, exception: BaseException, /) -> None:
        self._report(_set_exception, exception)

    def done(self) -> bool:
        return self._reported

    def __await__(self) -> Generator[Any, None, T]:
        return self._future.__await__()

    def _report(self, settle: Callable[["asyncio.Future[T]", Any], None], outcome: object) -> None:
        self._reported = True
        # A closed loop has no one left to tell (asyncio.wrap_future drops it the same way).
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(settle, self._future, outcome)


def _set_result(future: "asyncio.Future[Any]", result: object) -> None:
    if not future.done():  # cancelled meanwhile: the request is gone
        future.set_result(result)


def _set_exception(future: "asyncio.Future[Any]", exception: BaseException) -> None:
    if not future.done():
        future.set_exception(exception)
