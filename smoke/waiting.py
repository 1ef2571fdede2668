"""Wait for a condition with a deadline: start fast, back off, honour Retry-After and rate limits."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Generic, TypeVar

from smoke.verdicts import Inconclusive

__all__ = ["Outcome", "RateGate", "RateInfo", "RateLimited", "backoff", "hold_steady", "parse_rate_headers",
           "retry_after_seconds", "wait_for"]

# A 429 on a route paced at a figure the target did not give: pace at this share of it from then on.
BACKOFF = 0.8
# Each answer without a 429 raises a lowered rate by this factor, back towards the figure the route started with.
RECOVERY = 1.05
MIN_RATE = 1.0  # requests a minute: never slower than this

T = TypeVar("T")


class RateLimited(Inconclusive):
    """The target's rate limit asked us to wait ``retry_after`` seconds, past what the caller may wait.

    Inside a wait it is control flow (the wait sleeps it out within its deadline); escaping a check, it is that
    check's inconclusive verdict: a 429 is never a defect of the target."""

    def __init__(self, retry_after: float, what: str = "") -> None:
        super().__init__(
            f"Inconclusive: the target's rate limit (HTTP 429 with Retry-After, or RateLimit-Remaining: 0 until its "
            f"reset) asked to wait {retry_after:.3g}s{f' to {what}' if what else ''}, past the deadline. Nothing is "
            "known about the target; raise --smoke-timeout, or declare the target's real limits ([target.rate_limits], "
            "or --rate-limit).", "throttled")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateInfo:
    """What an answer's rate-limit headers say: the limit, its window, what is left and when it resets (seconds)."""

    limit: int | None = None
    window: float | None = None
    remaining: int | None = None
    reset: float | None = None

    @property
    def per_minute(self) -> float | None:
        """The target's own figure, when it gives both the limit and its window."""
        return self.limit * 60.0 / self.window if self.limit is not None and self.window else None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` value in seconds: delay-seconds or an HTTP date (None when absent or unreadable)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(text: str | None) -> float | None:
    """The first number in a header value (``60``, ``60, 60;w=60``), or None."""
    match = re.search(r"\d+(?:\.\d+)?", text or "")
    return float(match.group(0)) if match else None


def _params(text: str) -> dict[str, str]:
    """``key=value`` items of a structured header (``limit=60, remaining=3, reset=20`` or ``"default";r=3;t=20``)."""
    return {k.strip().lower(): v.strip().strip('"') for k, v in re.findall(r"([A-Za-z-]+)\s*=\s*(\"[^\"]*\"|[^,;\s]+)", text)}


def _seconds_until(value: float, now: float) -> float:
    """A reset value as seconds from now: delta-seconds, or an epoch time in seconds or milliseconds."""
    if value > 1e12:
        value = value / 1000.0
    if value > 1e9:
        return max(0.0, value - now)
    return value


def parse_rate_headers(headers: Mapping[str, str], now: float | None = None) -> RateInfo:
    """Read ``RateLimit-Limit/Remaining/Reset`` (IETF draft), ``X-RateLimit-*``, ``RateLimit`` and ``RateLimit-Policy``."""
    lower = {k.lower(): v for k, v in headers.items()}
    wall = time.time() if now is None else now
    limit = remaining = reset = window = None
    for prefix in ("ratelimit-", "x-ratelimit-", "x-rate-limit-"):
        limit = limit if limit is not None else _number(lower.get(prefix + "limit"))
        remaining = remaining if remaining is not None else _number(lower.get(prefix + "remaining"))
        reset = reset if reset is not None else _number(lower.get(prefix + "reset"))
        if window is None and prefix + "limit" in lower:
            window = _number(_params(lower[prefix + "limit"]).get("w"))
    combined = _params(lower.get("ratelimit", ""))
    limit = limit if limit is not None else _number(combined.get("limit"))
    remaining = remaining if remaining is not None else _number(combined.get("remaining") or combined.get("r"))
    reset = reset if reset is not None else _number(combined.get("reset") or combined.get("t"))
    policy = _params(lower.get("ratelimit-policy", ""))
    if policy:
        window = window if window is not None else _number(policy.get("w"))
        limit = limit if limit is not None else _number(policy.get("q")) or _number(lower.get("ratelimit-policy"))
    return RateInfo(
        limit=int(limit) if limit is not None else None,
        window=window,
        remaining=int(remaining) if remaining is not None else None,
        reset=_seconds_until(reset, wall) if reset is not None else None,
    )


@dataclass
class _Route:
    """One route's pace for one client: the figure it started with, the rate now, and the budget the target reported."""

    start: float | None  # requests a minute the run started with (None: not paced)
    rate: float | None  # requests a minute now
    told: bool = False  # the rate is the target's own figure (RateLimit-Limit with a window)
    held: float = 0.0  # no request before this moment (a 429's Retry-After)
    remaining: int | None = None  # requests the target said are left until ``reset``
    reset: float = 0.0
    limit: int = 0  # the target's budget per window, as it reported it (or the most it reported left, plus one)
    last: float = 0.0  # when the last request left
    issued: int = 0  # tickets handed out (one a request)
    applied: int = 0  # the newest ticket whose answer set ``remaining``
    throttled: int = 0  # 429s answered
    streak: int = 0  # 429s answered in a row


class RateGate:
    """Paces requests per route: the profile's figure for the route to start with, then what the target says.

    ``routes`` maps path patterns (``/api/billing/*``) to requests a minute; the most specific matching pattern
    wins, and routes no pattern names get ``per_minute`` — except those in ``unpaced`` (the webhook), which are not
    paced unless a pattern names them. ``ceiling`` (``--rate-limit``) paces every route at most that fast, whatever
    the target says. Each answer teaches the gate: a 429 holds the route for its ``Retry-After`` (seconds or an HTTP
    date) and lowers its rate; ``RateLimit-*`` / ``X-RateLimit-*`` headers give the target's own figure and the budget
    left until a reset, which is spent as the target allows (and waited for when it runs out); answers without them
    raise a lowered rate back towards the starting figure. With a ``horizon`` (the longest wait a check can afford),
    the last quarter of a budget is spread so that running out leaves a wait within it. Budgets and holds are kept per
    client (``who``: a target counts each buyer's key on its own); the spacing of a route is shared by its clients.
    """

    def __init__(self, per_minute: float | None = None, clock: Callable[[], float] = time.monotonic, *,
                 routes: Mapping[str, float] | None = None, unpaced: Iterable[str] = (), ceiling: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, wall: Callable[[], float] = time.time,
                 horizon: float | None = None) -> None:
        self.default = per_minute or None
        # The longest wait a check can afford (--smoke-timeout): the last of a budget is spread to keep waits within it.
        self.horizon = horizon
        self.ceiling = ceiling or None
        self.routes = dict(routes or {})
        self.unpaced = set(unpaced)
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._state: dict[tuple[str, str], _Route] = {}
        self._next: dict[str, float] = {}  # the next slot of each route, spaced at its rate
        self._capped: dict[str, float] = {}  # the next slot of each route, spaced by --rate-limit alone
        self._latest: dict[str, _Route] = {}  # the client whose answer on a route told the gate most recently
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        """The spacing of routes no pattern names (seconds; 0: not paced)."""
        first = self.ceiling or self.default
        return 60.0 / first if first else 0.0

    def configured(self, route: str) -> float | None:
        """The requests a minute ``route`` starts with: ``--rate-limit``, else its most specific pattern, else the default."""
        if self.ceiling:
            return self.ceiling
        path = route.split("?", 1)[0]
        matching = [p for p in self.routes if fnmatch.fnmatchcase(path, p)]
        if matching:
            return self.routes[max(matching, key=_specificity)]
        return None if path in self.unpaced else self.default

    def _route(self, route: str, who: str) -> _Route:
        state = self._state.get((route, who))
        if state is None:
            start = self.configured(route)
            state = self._state[(route, who)] = _Route(start, start)
            known = self._latest.get(route)
            if known is not None and known.remaining:
                # A new client starts from what the target last said on this route for another one: the same budget
                # where it counts per address, no more than a fresh key has where it counts per key (a spent budget
                # is not copied: a fresh key may have all of its own, and a 429 would say otherwise).
                state.rate, state.told, state.remaining, state.reset, state.limit = (
                    known.rate, known.told, known.remaining, known.reset, known.limit)
        return state

    def rate(self, route: str, who: str = "") -> float | None:
        """The requests a minute ``route`` is paced at now (None: not paced)."""
        with self._lock:
            return self._route(route, who).rate

    def spacing(self, route: str, who: str = "") -> float:
        """Seconds between two requests on ``route`` when the target has given no budget (0: not paced)."""
        with self._lock:
            return _seconds_apart(self._route(route, who).rate, self.ceiling)

    def held_for(self, route: str, who: str = "") -> float:
        """Seconds until ``route`` may be asked again (a 429's Retry-After, or a spent budget's reset)."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._hold(self._route(route, who), now) - now)

    def _hold(self, state: _Route, now: float) -> float:
        """The moment the target allows the next request (its Retry-After, or its reset once the budget is spent)."""
        hold = state.held
        if state.remaining is not None and state.reset > now and state.remaining <= 0:
            hold = max(hold, state.reset)
        return hold

    def _slot(self, route: str, state: _Route, now: float) -> float:
        if state.remaining is not None and state.reset <= now:
            state.remaining = None  # the target's budget has reset: pace by rate until it reports again
        slot = max(now, self._hold(state, now))
        granted = state.remaining is not None and state.remaining > 0
        if not granted:
            slot = max(slot, self._next.get(route, 0.0))
        elif self.ceiling:  # a budget the target granted is spent unspaced, but never faster than --rate-limit
            slot = max(slot, self._capped.get(route, 0.0))
        if granted and self.horizon and state.remaining is not None and state.remaining <= _reserve_of(state.limit):
            # The last quarter of the budget: spread it so that running out leaves a wait for the reset well within
            # what a check can wait (the horizon), rather than spending it at once and waiting past every deadline —
            # unless each step would itself be longer than the horizon: then spreading cannot help.
            beyond = state.reset - now - self.horizon / 2
            if 0 < beyond / state.remaining <= self.horizon:
                slot = max(slot, state.last + beyond / state.remaining)
        return slot

    def _reserve(self, route: str, state: _Route, slot: float) -> int:
        self._next[route] = max(self._next.get(route, 0.0), slot + _seconds_apart(state.rate, self.ceiling))
        self._capped[route] = max(self._capped.get(route, 0.0), slot + _seconds_apart(None, self.ceiling))
        state.last = slot
        if state.remaining is not None:
            if slot >= state.reset:
                state.remaining = None  # by then the target's budget has reset: its next answer says what is left
            else:
                state.remaining -= 1
        state.issued += 1
        return state.issued

    def delay(self, route: str, who: str = "") -> float:
        """Reserve the next slot for ``route`` and return how long to wait for it."""
        with self._lock:
            state, now = self._route(route, who), self._clock()
            slot = self._slot(route, state, now)
            self._reserve(route, state, slot)
            return slot - now

    def pause(self, route: str, seconds: float, who: str = "") -> None:
        """Hold every request on ``route`` for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            state = self._route(route, who)
            state.held = max(state.held, self._clock() + seconds)

    def acquire(self, route: str, patience: float = 0.0, who: str = "") -> int:
        """Wait for the next slot on ``route`` and return its ticket (for ``learn``).

        Raises RateLimited when the target asked to hold off for longer than ``patience`` seconds."""
        with self._lock:
            state, now = self._route(route, who), self._clock()
            held = self._hold(state, now) - now
            if held > 0 and held > patience:
                raise RateLimited(held)
            slot = self._slot(route, state, now)
            ticket = self._reserve(route, state, slot)
        if slot > now:
            self._sleep(slot - now)
        return ticket

    def learn(self, route: str, ticket: int, status: int, headers: Mapping[str, str], who: str = "") -> float | None:
        """Take in what an answer on ``route`` says about the target's limits; for a 429, the seconds to wait."""
        info = parse_rate_headers(headers, self._wall())
        with self._lock:
            state, now = self._route(route, who), self._clock()
            if info.per_minute:
                state.rate, state.told = info.per_minute, True
            if info.remaining is not None and info.reset is not None and ticket >= state.applied:
                # Requests sent after this one are not in the target's count yet: take them off what it says is left.
                state.applied = ticket
                state.remaining = max(0, info.remaining - (state.issued - ticket))
                state.limit = info.limit or max(state.limit, info.remaining + 1)
                self._latest[route] = state
                state.reset = now + info.reset
            if status != 429:
                state.streak = 0
                if not state.told and state.rate and state.start and state.rate < state.start:
                    state.rate = min(state.start, state.rate * RECOVERY)
                return None
            state.throttled += 1
            state.streak += 1
            wait = retry_after_seconds(headers_get(headers, "Retry-After"), self._wall())
            if wait is None and info.reset is not None and info.remaining == 0:
                wait = info.reset
            if not wait:  # no wait given: 1 s, doubling with each 429 in a row, up to a minute ("0": from 0.1 s)
                wait = min(60.0, (1.0 if wait is None else 0.1) * 2.0 ** (state.streak - 1))
            state.held = max(state.held, now + wait)
            if not state.told and state.rate:
                # Paced at a figure the target does not keep: slower from now on (an unpaced route just waits each
                # 429 out: its Retry-After is when the target's window frees, so nothing faster is lost).
                state.rate = max(MIN_RATE, state.rate * BACKOFF)
            return wait


def _reserve_of(limit: int) -> int:
    """The part of a budget of ``limit`` that is spread out rather than spent at once: its last quarter."""
    return max(1, -(-limit // 4))


def _seconds_apart(rate: float | None, ceiling: float | None) -> float:
    """The spacing of a route paced at ``rate`` requests a minute, never faster than ``ceiling`` (0: not paced)."""
    fastest = min(rate, ceiling) if rate and ceiling else rate or ceiling
    return 60.0 / fastest if fastest else 0.0


def headers_get(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lower), None)


def _specificity(pattern: str) -> tuple[int, int]:
    """More literal characters first, then the longer pattern: ``/api/billing/account`` beats ``/api/billing/*``."""
    return (len(pattern.replace("*", "").replace("?", "")), len(pattern))


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
