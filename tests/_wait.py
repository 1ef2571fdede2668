"""Wait for a condition with a deadline instead of sleeping a fixed time (the harness's own backoff)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from smoke.waiting import wait_for

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy and return it; AssertionError after ``timeout`` s."""
    outcome = wait_for(predicate, bool, timeout, start=interval, cap=max(interval, 0.2))
    if not outcome.ok:
        raise AssertionError(f"condition not met within {timeout:g} s: {message or predicate!r} "
                             f"(last value: {outcome.value!r})")
    return outcome.value  # type: ignore[return-value]
