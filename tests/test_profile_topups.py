"""The topups profile: the demo's contract with the API's rate limit declared, and a harness that paces itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from flask import Response, request

from smoke.profiles import load_profile
from smoke.servers import RunningServer


def _record(server: RunningServer) -> list[tuple[str, int, float]]:
    """Record (route, status, arrival time) of every request the target answers (hooked before its first request)."""
    seen: list[tuple[str, int, float]] = []
    arrived: dict[int, float] = {}

    def start() -> None:
        arrived[threading.get_ident()] = time.monotonic()

    def count(response: Response) -> Response:
        seen.append((request.path, response.status_code, arrived.pop(threading.get_ident(), time.monotonic())))
        return response

    server.app.before_request(start)
    server.app.after_request(count)
    return seen


def _busiest_window(seen: list[tuple[str, int, float]], seconds: float) -> int:
    """The most requests one route received within any ``seconds``-long window."""
    most = 0
    for route in {r for r, _, _ in seen}:
        times = sorted(t for r, _, t in seen if r == route)
        start = 0
        for end, t in enumerate(times):
            while t - times[start] > seconds:
                start += 1
            most = max(most, end - start + 1)
    return most


def test_topups_profile_declares_the_rate_limit() -> None:
    """Same contract as the demo, plus the API's 60 requests a minute per route."""
    topups, demo = load_profile("topups"), load_profile("demo")
    assert topups.rate_limit_per_minute == 60 and demo.rate_limit_per_minute is None
    assert (topups.state, topups.webhook_path, topups.credit_object) == (demo.state, demo.webhook_path, demo.credit_object)


@pytest.mark.parametrize("per_minute", [400])
def test_suites_pass_against_a_rate_limited_target_without_a_429_storm(
        per_minute: int, start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult]) -> None:
    """With the target's limit switched on, every check passes and the harness's pacing keeps 429s away."""
    server = start_topups(rate_limit_per_minute=per_minute)
    seen = _record(server)
    result = run_suites("--rate-limit", str(per_minute), "--duplicates", "4", target="topups", base_url=server.url)
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed", 0) >= 20, result.stdout.str()
    limited = [s for s in seen if s[1] == 429]
    assert not limited, f"the harness got {len(limited)} 429s: it does not pace itself"
    # Paced, not bursty: no route ever sees more than the declared rate allows in a short window
    # (the concurrency check fires 4 copies at once and state polls start at 10 ms without pacing).
    window = 1.5
    allowed = int(window * per_minute / 60) + 2
    assert _busiest_window(seen, window) <= allowed, (_busiest_window(seen, window), allowed)
