"""Wait for a condition with a deadline: start fast, back off, honour Retry-After and rate limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class RateLimited(Exception):
    """The target answered 429; ``retry_after`` is how long it asked us to wait (seconds)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after


class RateGate:
    """Spaces requests per route so they never exceed ``per_minute`` (None: no limit)."""

    def __init__(self, per_minute: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._next: dict[str, float] = {}
        self._paused: dict[str, float] = {}
        self._lock = threading.Lock()

    def delay(self, route: str) -> float:
        """Reserve the next slot for ``route`` and return how long to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(route, now))
            self._next[route] = slot + self.interval
            return slot - now

    def pause(self, route: str, seconds: float) -> None:
        """Hold every request on ``route`` for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            until = self._clock() + seconds
            self._paused[route] = max(self._paused.get(route, 0.0), until)
            self._next[route] = max(self._next.get(route, 0.0), until)

    def acquire(self, route: str) -> None:
        """Wait for the next slot on ``route``; raise RateLimited while the target asked us to hold off."""
        with self._lock:
            held = self._paused.get(route, 0.0) - self._clock()
        if held > 0:
            raise RateLimited(held)
        wait = self.delay(route)
        if wait > 0:
            time.sleep(wait)


def backoff(start: float = 0.01, factor: float = 1.6, cap: float = 1.0) -> Iterator[float]:
    """Poll intervals: ``start``, then growing by ``factor`` up to ``cap``."""
    interval = start
    while True:
        yield interval
        interval = min(cap, interval * factor)


@dataclass
class Outcome(Generic[T]):
    """How a wait ended: the last value seen, whether the condition held, reads and time taken."""

    value: T | None
    ok: bool
    reads: int
    elapsed: float
    rate_limited: int = 0
    # True when a 429 asked for a wait past the deadline: the wait ended early and proved nothing.
    cut_short: bool = False


def wait_for(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    *,
    start: float = 0.01,
    cap: float = 1.0,
    stop: Callable[[T], bool] | None = None,
) -> Outcome[T]:
    """Call ``read`` until ``done(value)``, ``stop(value)`` or the deadline; 429s wait their Retry-After."""
    begin = time.monotonic()
    deadline = begin + timeout
    reads = limited = 0
    value: T | None = None
    intervals = backoff(start, cap=cap)
    while True:
        try:
            value = read()
            reads += 1
            if done(value):
                return Outcome(value, True, reads, time.monotonic() - begin, limited)
            if stop is not None and stop(value):
                return Outcome(value, False, reads, time.monotonic() - begin, limited)
            pause, throttled = next(intervals), False
        except RateLimited as exc:
            limited += 1
            pause, throttled = exc.retry_after, True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Outcome(value, False, reads, time.monotonic() - begin, limited)
        if pause > remaining and throttled:
            # Asked to come back after the deadline: stop now rather than break the rule.
            return Outcome(value, False, reads, time.monotonic() - begin, limited, cut_short=True)
        time.sleep(min(pause, remaining))


def hold_steady(
    read: Callable[[], T],
    expected: T,
    duration: float,
    *,
    interval: float = 0.1,
) -> Outcome[T]:
    """Check that ``read()`` stays equal to ``expected`` for ``duration`` seconds; stops at the first change."""
    begin = time.monotonic()
    outcome = wait_for(read, lambda v: v != expected, duration, start=interval, cap=max(interval, duration / 3))
    # "Done" here means it changed, which is the failure.
    return Outcome(outcome.value, not outcome.ok, outcome.reads, time.monotonic() - begin, outcome.rate_limited,
                   cut_short=outcome.cut_short)
