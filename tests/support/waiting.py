"""One way for a test to wait for a condition: poll it until it holds or a deadline passes, then
fail naming what was awaited and what was last seen, instead of a bare sleep that is too short
on a loaded machine and too long everywhere else."""

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.05


class WaitTimeoutError(AssertionError):
    """A condition a test waited for did not hold in time (an AssertionError: a failed check)."""


Description = str | Callable[[], str]  # a callable is asked at the failure, to show the state then


def _timed_out(what: Description, timeout_s: float, last: Any) -> WaitTimeoutError:
    said = what() if callable(what) else what
    return WaitTimeoutError(f"not within {timeout_s} s: {said} (predicate's last answer: {last!r})")


async def wait_until(
    predicate: Callable[[], Any], timeout_s: float, what: Description, interval_s: float = POLL_S
) -> Any:
    """Calls `predicate` (plain or async) until it returns something truthy, and returns that.
    Its last answer goes into the failure message, so a predicate may return the state it
    looked at (e.g. a job's JSON) rather than a bare bool."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout_s, last)
        await asyncio.sleep(interval_s)


def wait_until_blocking(
    predicate: Callable[[], Any], timeout_s: float, what: Description, interval_s: float = POLL_S
) -> Any:
    """`wait_until` for plain (not async) tests and for threads."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout_s, last)
        time.sleep(interval_s)
