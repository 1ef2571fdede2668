"""The top-ups target's rate limiter: a sliding window per route and key, with the headers that say what is left."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    """At most ``per_minute`` requests per route and key in any ``window`` seconds (60), answering 429 with Retry-After.

    Each answer on a limited route says what is left, in the style ``headers`` names: ``ietf`` (``RateLimit-Limit``,
    ``-Remaining``, ``-Reset`` in seconds, ``RateLimit-Policy: 60;w=60``), ``x`` (``X-RateLimit-*``, the reset as an
    epoch time) or ``none`` (only a 429's Retry-After). The reset is when the oldest counted request stops counting."""

    def __init__(self, per_minute: int | None, headers: str = "ietf", window: float = 60.0) -> None:
        if headers not in ("ietf", "x", "none"):
            raise ValueError(f"rate_limit_headers must be ietf, x or none, not {headers!r}")
        self.per_minute = per_minute
        self.window = window
        self.style = headers
        self.hits: dict[tuple[str, str], deque[float]] = {}
        self.lock = threading.Lock()

    def take(self, route: str, key: str) -> tuple[bool, int, float]:
        """Count one request: whether it is allowed, how many are left, and seconds until the oldest counted expires."""
        per_minute = self.per_minute or 0
        now = time.monotonic()
        with self.lock:
            log = self.hits.setdefault((route, key), deque())
            while log and now - log[0] >= self.window:
                log.popleft()
            allowed = len(log) < per_minute
            if allowed:
                log.append(now)
            return allowed, per_minute - len(log), self.window - (now - log[0])

    def retry_after(self, route: str, client: str) -> float | None:
        """Seconds to wait when one more request on ``route`` by ``client`` would pass the limit (counting it if not)."""
        if not self.per_minute:
            return None
        allowed, _, reset = self.take(route, client)
        return None if allowed else reset

    def headers(self, remaining: int, reset: float) -> dict[str, str]:
        """The headers that tell a client what is left of its budget and when the oldest request stops counting."""
        seconds = max(1, math.ceil(reset))
        if self.style == "ietf":
            return {"RateLimit-Limit": str(self.per_minute), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(seconds), "RateLimit-Policy": f"{self.per_minute};w={self.window:g}"}
        if self.style == "x":
            return {"X-RateLimit-Limit": str(self.per_minute), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(math.ceil(time.time() + reset))}
        return {}
