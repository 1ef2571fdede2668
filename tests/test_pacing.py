"""Paced by what the target says: a 429 is waited out and sent again, never a failed check; per-route limits."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, jsonify, request

from smoke.profiles import load_profile
from smoke.servers import RunningServer, serve
from smoke.target import TargetClient
from smoke.verdicts import Inconclusive
from smoke.waiting import RateLimited

from _verdicts import read_junit

PROFILES = Path(__file__).parent.parent / "fixtures" / "profiles"


@pytest.fixture
def throttled_webhook() -> Iterator[tuple[RunningServer, list[str]]]:
    """A webhook answering its first delivery 429 (Retry-After from the query string), then 200."""
    hits: list[str] = []
    app = Flask("throttled")

    @app.post("/hook")
    def hook():  # type: ignore[no-untyped-def]
        hits.append(request.get_data(as_text=True))
        if len(hits) == 1:
            return jsonify(error="slow down"), 429, {"Retry-After": request.args.get("wait", "0")}
        return jsonify(ok=True)

    with serve(app) as server:
        yield server, hits


def _client(url: str, tmp_path: Path, patience: float = 5.0) -> TargetClient:
    profile = tmp_path / "p.toml"
    profile.write_text('[target]\nrate_limit_per_minute = 6\n[target.rate_limits]\n"/api/billing/*" = 60\n'
                       '[state]\nrequest = "GET /api/billing/account"\nvalue = "balance"\n[effect]\ndelta = 1\n'
                       '[webhook]\npath = "/hook"\n')
    return TargetClient(load_profile(str(profile)), url, webhook_secret="whsec_abcdefghijkl", patience=patience)


def test_a_delivery_answered_429_is_sent_again_once_its_retry_after_has_passed(throttled_webhook, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, hits = throttled_webhook
    client = _client(server.url, tmp_path)
    delivery = client.deliver(b'{"id": "evt_1"}', {"Content-Type": "application/json"})
    assert delivery.status == 200 and hits == ['{"id": "evt_1"}'] * 2  # the same bytes again, as Stripe retries
    assert [e.status for e in client.exchanges] == [429, 200]  # both attempts are evidence


def test_a_429_asking_to_wait_past_the_patience_is_inconclusive(throttled_webhook, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, hits = throttled_webhook
    client = _client(server.url, tmp_path, patience=2.0)
    with pytest.raises(RateLimited) as info:
        client.request("POST", "/hook?wait=120", step="webhook", content=b"{}")
    assert isinstance(info.value, Inconclusive) and info.value.retry_after == pytest.approx(120, abs=1)
    assert len(hits) == 1, "it must not ask again before the target's Retry-After"


def test_the_profiles_per_route_limits_pace_the_client(tmp_path: Path) -> None:
    client = _client("http://127.0.0.1:9", tmp_path)
    assert client.gate.configured("/api/billing/account") == 60  # the pattern
    assert client.gate.configured("/health") == 6  # rate_limit_per_minute: routes no pattern names
    assert client.gate.configured("/hook") is None  # the webhook: unpaced unless a pattern names it
    capped = TargetClient(client.profile, "http://127.0.0.1:9", webhook_secret=None, rate_limit_per_minute=30)
    assert capped.gate.configured("/hook") == capped.gate.configured("/api/billing/account") == 30  # --rate-limit


def _counting(server: RunningServer) -> Counter[str]:
    """Count the target's 429s and the answers that said the budget was spent (hooked before its first request)."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def count(response: Response) -> Response:
        with lock:
            seen["requests"] += 1
            seen["429"] += response.status_code == 429
            seen["spent"] += response.headers.get("RateLimit-Remaining") == "0"
            seen["state reads"] += request.path == "/api/billing/account"
        return response

    server.app.after_request_funcs.setdefault(None, []).insert(0, count)  # runs last: sees the limiter's headers
    return seen


def _verdicts(run_suites: Callable[..., pytest.RunResult], junit: Path, **kwargs: str) -> dict[str, tuple[str, str]]:
    result = run_suites("--duplicates", "4", f"--junitxml={junit}", **kwargs)
    assert result.ret == 0, result.stdout.str()
    return {name: (case.verdict, case.cause) for name, case in read_junit(junit).items()}


def test_the_suite_reaches_the_same_verdicts_against_a_target_that_limits_each_route_and_key(
        start_topups: Callable[..., RunningServer], run_suites: Callable[..., pytest.RunResult], tmp_path: Path) -> None:
    """4 requests a second per buyer route and key (webhook unlimited): declared in the profile with the target telling
    its budget (RateLimit-*), or not declared at all with the target saying only Retry-After — the same verdicts as
    unthrottled, every 429 waited out."""
    unthrottled = _verdicts(run_suites, tmp_path / "free.xml", base_url=start_topups().url)
    assert sum(v == "passed" for v, _ in unthrottled.values()) >= 30, unthrottled

    limited = {"rate_limit_per_minute": 4, "rate_limit_window": 1.0, "rate_limit_webhook": False,
               "rate_limit_routes": ("/api/billing/*", "/api/org/*")}
    profile = tmp_path / "limited.toml"  # the topups contract, declaring the target's real limits (4 per 1 s = 240/min)
    profile.write_text((PROFILES / "topups.toml").read_text().replace('"/api/billing/*" = 60', '"/api/billing/*" = 240')
                       .replace('"/api/org/*" = 60', '"/api/org/*" = 240').replace('name = "topups"', 'name = "limited"'))
    declared = start_topups(rate_limit_headers="ietf", **limited)
    told = _counting(declared)
    assert _verdicts(run_suites, tmp_path / "declared.xml", base_url=declared.url, target=str(profile)) == unthrottled
    assert told["spent"] > 0, f"the limit never bit: {told}"  # the harness used the whole budget, then waited
    assert told["429"] == 0, f"the harness ran into the limit it was told about: {told}"

    silent = start_topups(rate_limit_headers="none", **limited)
    learnt = _counting(silent)
    assert _verdicts(run_suites, tmp_path / "silent.xml", base_url=silent.url) == unthrottled
    assert learnt["429"] > 0, f"the limit never bit: {learnt}"  # and every one of them was waited out
