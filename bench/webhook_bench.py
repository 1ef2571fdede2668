"""Benchmark: the simulated-webhook checks vs. a bare httpx replay of the same HTTP exchanges.

Run: .venv/bin/python bench/webhook_bench.py [--rounds 3]

1. Runs the smoke suites (every check that talks to the webhook) in-process against the
   demo target, recording every HTTP request the harness makes.
2. Replays exactly those requests with plain httpx against a fresh demo target (same bodies
   and signatures, bearer tokens mapped to the fresh buyer's), sequentially.
3. Prints the ratio harness/bare, and the time from the credit being committed on the
   target to the harness seeing it (median over several credits).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

import httpx
import pytest

from smoke.reference import topups

SUITES = str(Path(__file__).resolve().parent.parent / "smoke" / "suites")


class Recorder:
    """Records every request sent through httpx.Client during the harness run."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes, str | None]] = []
        self._send = httpx.Client.send

    def __enter__(self) -> Recorder:
        recorder = self

        def send(client: httpx.Client, request: httpx.Request, **kwargs):  # type: ignore[no-untyped-def]
            response = recorder._send(client, request, **kwargs)
            token = response.json().get("token") if request.url.path == "/api/org/register" else None
            recorder.requests.append((request.method, str(request.url), dict(request.headers), request.read(), token))
            return response

        httpx.Client.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        httpx.Client.send = self._send  # type: ignore[method-assign]


def run_harness(secret: str, url: str) -> tuple[float, Recorder]:
    """Run the suites once against ``url``; return wall time and the recorded requests."""
    args = [SUITES, "-q", "-p", "no:cacheprovider", "--base-url", url, "--settle-seconds", "0",
            "-k", "not acknowledges", "--no-header", "-o", "console_output_style=classic"]
    with Recorder() as recorder:
        import os

        os.environ["STRIPE_WEBHOOK_SECRET"] = secret
        started = time.perf_counter()
        code = pytest.main(args)
        elapsed = time.perf_counter() - started
    if code != 0:
        sys.exit(f"the harness run failed (exit {code}); fix that before benchmarking")
    return elapsed, recorder


def replay(recorded: list[tuple[str, str, dict[str, str], bytes, str | None]], old_base: str, new_base: str) -> float:
    """Send the same requests with bare httpx, sequentially; return wall time."""
    tokens: dict[str, str] = {}
    started = time.perf_counter()
    with httpx.Client(timeout=15) as client:
        for method, url, headers, body, old_token in recorded:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host")}
            auth = headers.get("authorization", "")
            if auth[7:] in tokens:
                headers["authorization"] = "Bearer " + tokens[auth[7:]]
            response = client.request(method, url.replace(old_base, new_base), headers=headers, content=body)
            if old_token:
                tokens[old_token] = response.json()["token"]
    return time.perf_counter() - started


def detection_latency(samples: int = 9) -> list[float]:
    """Seconds from the target committing a credit to the harness's wait seeing it."""
    from smoke.checks import Smoke
    from smoke.config import resolve_settings
    from smoke.profiles import load_profile
    from smoke.target import open_target
    from smoke.waiting import wait_for

    secret = "whsec_" + secrets.token_urlsafe(24)
    server = topups.start(secret)
    try:
        target = open_target(load_profile("demo"), server.url, webhook_secret=secret)
        smoke = Smoke(target, resolve_settings({"settle": "0"}, {}))
        latencies = []
        for _ in range(samples):
            baseline = smoke.read()
            sent = smoke.send(smoke.crediting_event())
            outcome = wait_for(target.read_state, lambda v, b=baseline: v == b + smoke.amount, 5)
            seen = time.time()
            ledger = target.request("GET", "/api/billing/events", headers=target.auth_headers()).json()["events"]
            committed = ledger[-1]["committed_at"]
            assert outcome.ok and sent.delivery.ok
            latencies.append(seen - committed)
        target.close()
        return latencies
    finally:
        server.stop()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    ratios = []
    for _ in range(rounds):
        secret = "whsec_" + secrets.token_urlsafe(24)
        first, second = topups.start(secret), topups.start(secret)
        try:
            harness, recorder = run_harness(secret, first.url)
            bare = replay(recorder.requests, first.url, second.url)
        finally:
            first.stop()
            second.stop()
        ratios.append(harness / bare)
        print(f"harness {harness:.3f}s  bare {bare:.3f}s  ratio {harness / bare:.2f}  ({len(recorder.requests)} requests)")
    latencies = detection_latency()
    print(f"ratio (median of {rounds}): {statistics.median(ratios):.2f}")
    print(f"credit committed → seen by the harness: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
