"""Wait for a condition with a deadline instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy and return it; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout:g} s: {message or predicate!r} (last value: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last
