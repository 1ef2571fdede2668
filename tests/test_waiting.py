"""Waiting backs off, honours Retry-After on 429, and never exceeds the allowed request rate."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify

from smoke.profiles import load_profile
from smoke.servers import RunningServer, serve
from smoke.target import TargetClient
from smoke.waiting import RateGate, RateLimited, backoff, hold_steady, wait_for


def test_backoff_starts_fast_and_is_capped() -> None:
    gen = backoff(0.01, 2.0, 0.05)
    assert [next(gen) for _ in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]


def test_rate_gate_spaces_requests_per_route() -> None:
    now = [100.0]
    gate = RateGate(60, clock=lambda: now[0])
    assert [gate.delay("/a") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert gate.delay("/b") == 0.0
    gate.pause("/b", 30)
    with pytest.raises(RateLimited) as info:
        gate.acquire("/b")
    assert info.value.retry_after == 30.0


def test_wait_for_returns_as_soon_as_the_condition_holds() -> None:
    values = iter([1, 1, 2, 3])
    outcome = wait_for(lambda: next(values), lambda v: v == 3, timeout=5)
    assert outcome.ok and outcome.value == 3 and outcome.reads == 4 and outcome.elapsed < 1


def test_wait_for_honours_retry_after() -> None:
    calls: list[float] = []

    def read() -> int:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RateLimited(0.3)
        return 7

    outcome = wait_for(read, lambda v: v == 7, timeout=5)
    assert outcome.ok and outcome.rate_limited == 1
    assert calls[1] - calls[0] >= 0.3


def test_wait_for_gives_up_at_the_deadline() -> None:
    outcome = wait_for(lambda: 0, lambda v: v == 1, timeout=0.2)
    assert not outcome.ok and 0.2 <= outcome.elapsed < 0.6


def test_hold_steady_stops_at_the_first_change() -> None:
    values = iter([5, 5, 6, 6, 6])
    outcome = hold_steady(lambda: next(values), 5, duration=5, interval=0.01)
    assert not outcome.ok and outcome.value == 6 and outcome.elapsed < 1


@pytest.fixture
def limited_api() -> Iterator[tuple[RunningServer, list[float]]]:
    """A state route allowing 3 requests, then answering 429 with Retry-After: 60."""
    hits: list[float] = []
    app = Flask("limited")

    @app.get("/balance")
    def balance():  # type: ignore[no-untyped-def]
        hits.append(time.monotonic())
        if len(hits) > 3:
            return jsonify(error="slow down"), 429, {"Retry-After": "60"}
        return jsonify(balance=len(hits))

    with serve(app) as server:
        yield server, hits


def _client(url: str, per_minute: int | None, tmp_path) -> TargetClient:  # type: ignore[no-untyped-def]
    profile = tmp_path / "p.toml"
    profile.write_text('[state]\nrequest = "GET /balance"\nvalue = "balance"\n[effect]\ndelta = 1\n'
                       '[webhook]\npath = "/hook"\n')
    return TargetClient(load_profile(str(profile)), url, webhook_secret="whsec_abcdefghijkl",
                        rate_limit_per_minute=per_minute)


def test_client_stops_polling_when_told_to_retry_later(limited_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, hits = limited_api
    client = _client(server.url, None, tmp_path)
    outcome = wait_for(client.read_state, lambda v: v == 99, timeout=1.0)
    assert not outcome.ok and outcome.rate_limited == 1 and outcome.elapsed < 0.5
    assert len(hits) == 4, "after a 429 with Retry-After: 60 the harness must not ask again within the deadline"


def test_client_never_exceeds_the_configured_rate(limited_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, hits = limited_api
    client = _client(server.url, 600, tmp_path)  # one request every 0.1 s
    for _ in range(3):
        client.read_state()
    assert hits[2] - hits[0] >= 0.19
