"""The rate gate paces each route by the profile's figure, then by what the target says (fake clock: no real waits)."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from smoke.verdicts import Inconclusive
from smoke.waiting import RateGate, RateLimited, parse_rate_headers, retry_after_seconds

WALL = 1_700_000_000.0


class Clock:
    """A fake monotonic clock whose sleep moves time on (and records each sleep)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def wall(self) -> float:
        return WALL + self.now


def gate(clock: Clock, per_minute: float | None = None, **kwargs: object) -> RateGate:
    return RateGate(per_minute, clock, sleep=clock.sleep, wall=clock.wall, **kwargs)  # type: ignore[arg-type]


def test_the_most_specific_pattern_wins_and_the_webhook_is_unpaced_unless_named() -> None:
    clock = Clock()
    routes = {"/api/*": 120, "/api/billing/*": 60, "/api/billing/account": 30}
    paced = gate(clock, 600, routes=routes, unpaced={"/api/webhooks/stripe"})
    assert paced.configured("/api/billing/account") == 30
    assert paced.configured("/api/billing/topups/checkout") == 60
    assert paced.configured("/api/org/register") == 120
    assert paced.configured("/health") == 600  # no pattern: the profile's rate_limit_per_minute
    assert paced.configured("/api/webhooks/stripe") == 120  # "/api/*" names it, so it is paced
    unnamed = gate(clock, 600, routes={"/api/billing/*": 60}, unpaced={"/api/webhooks/stripe"})
    assert unnamed.configured("/api/webhooks/stripe") is None and unnamed.spacing("/api/webhooks/stripe") == 0
    capped = gate(clock, 600, routes=routes, unpaced={"/api/webhooks/stripe"}, ceiling=20)
    assert capped.configured("/api/webhooks/stripe") == 20 and capped.configured("/api/billing/account") == 20


def test_each_route_is_spaced_by_its_own_figure() -> None:
    clock = Clock()
    paced = gate(clock, 60, routes={"/fast": 600})
    assert [paced.delay("/slow") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert [round(paced.delay("/fast"), 3) for _ in range(3)] == [0.0, 0.1, 0.2]
    for _ in range(2):
        paced.acquire("/other")
    assert clock.slept == [1.0]


@pytest.mark.parametrize("header", ["30", "date"])
def test_a_429_holds_the_route_for_its_retry_after_in_seconds_or_as_a_date(header: str) -> None:
    clock = Clock()
    paced = gate(clock)
    value = "30" if header == "30" else format_datetime(dt.datetime.fromtimestamp(clock.wall() + 30, dt.UTC), usegmt=True)
    ticket = paced.acquire("/a")
    assert paced.learn("/a", ticket, 429, {"Retry-After": value}) == pytest.approx(30, abs=1)
    with pytest.raises(RateLimited) as info:
        paced.acquire("/a")  # no patience: the caller decides
    assert info.value.retry_after == pytest.approx(30, abs=1)
    assert isinstance(info.value, Inconclusive) and info.value.cause == "throttled" and "429" in info.value.msg
    paced.acquire("/a", patience=40)  # within its patience it waits, then goes
    assert clock.slept and clock.slept[-1] == pytest.approx(30, abs=1)
    assert paced.held_for("/b") == 0


def test_a_429_without_a_usable_wait_backs_off_doubling_and_a_success_starts_over() -> None:
    clock = Clock()
    paced = gate(clock)
    waits = [paced.learn("/a", paced.acquire("/a", patience=60), 429, {}) for _ in range(3)]
    assert waits == [1.0, 2.0, 4.0]
    paced.learn("/a", paced.acquire("/a", patience=60), 200, {})
    assert paced.learn("/a", paced.acquire("/a"), 429, {"Retry-After": "0"}) == 0.1  # never a retry storm


def test_a_429_on_a_paced_route_slows_it_and_answers_bring_it_back_towards_the_profile() -> None:
    clock = Clock()
    paced = gate(clock, routes={"/a": 60})
    ticket = paced.acquire("/a")
    paced.learn("/a", ticket, 429, {"Retry-After": "1"})
    lowered = paced.rate("/a")
    assert lowered is not None and lowered < 60
    for _ in range(40):
        paced.learn("/a", paced.acquire("/a", patience=5), 200, {})
    assert paced.rate("/a") == 60  # back to the profile's figure, never above it
    unpaced = gate(clock)
    unpaced.learn("/b", unpaced.acquire("/b"), 429, {"Retry-After": "2"})
    assert unpaced.rate("/b") is None and unpaced.held_for("/b") == 2  # no figure to lower: each 429 is waited out


def test_a_budget_the_target_reports_is_spent_unspaced_then_waited_for() -> None:
    clock = Clock()
    paced = gate(clock, routes={"/a": 6})  # the profile says one every 10 s
    first = paced.acquire("/a")
    paced.learn("/a", first, 200, {"RateLimit-Limit": "5", "RateLimit-Remaining": "3", "RateLimit-Reset": "20"})
    for _ in range(3):  # the target granted three more before its reset: no spacing
        paced.acquire("/a")
    assert clock.slept == []
    with pytest.raises(RateLimited) as info:
        paced.acquire("/a")  # spent: held until the reset
    assert info.value.retry_after == pytest.approx(20)
    paced.acquire("/a", patience=30)
    assert clock.slept == [pytest.approx(20)]


def test_the_last_quarter_of_a_budget_is_spread_so_running_out_waits_within_the_horizon() -> None:
    clock = Clock()
    paced = gate(clock, horizon=10.0)
    paced.learn("/a", paced.acquire("/a"), 200, {"RateLimit-Limit": "20", "RateLimit-Remaining": "19",
                                                  "RateLimit-Reset": "40"})
    for _ in range(14):  # down to the last quarter (5 of 20): at once
        paced.acquire("/a")
    assert clock.slept == []
    for _ in range(5):  # then spread over the time left until the reset
        paced.acquire("/a", patience=10)
    assert len(clock.slept) == 5 and all(wait > 0 for wait in clock.slept), clock.slept
    assert 0 < paced.held_for("/a") <= 5  # spent: the wait for the reset is within half the horizon
    free = gate(Clock())  # without a horizon the whole budget is spent at once
    free.learn("/a", free.acquire("/a"), 200, {"RateLimit-Limit": "20", "RateLimit-Remaining": "19",
                                                "RateLimit-Reset": "60"})
    assert [free.delay("/a") for _ in range(19)] == [0.0] * 19
    # Steps longer than the horizon would each pass a deadline: then it is spent too (a long wait is inconclusive).
    far = gate(Clock(), horizon=3.0)
    far.learn("/a", far.acquire("/a"), 200, {"RateLimit-Limit": "3", "RateLimit-Remaining": "2", "RateLimit-Reset": "60"})
    assert [far.delay("/a") for _ in range(2)] == [0.0, 0.0]


def test_answers_to_requests_sent_later_count_against_what_an_earlier_answer_reports() -> None:
    clock = Clock()
    paced = gate(clock)
    early, late = paced.acquire("/a"), paced.acquire("/a")
    paced.learn("/a", late, 200, {"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(int(clock.wall()) + 60)})
    paced.learn("/a", early, 200, {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": str(int(clock.wall()) + 60)})
    paced.acquire("/a")  # the late answer's budget holds: one left, then nothing until the reset
    with pytest.raises(RateLimited):
        paced.acquire("/a")


def test_the_targets_own_figure_replaces_the_profiles_and_the_ceiling_caps_it() -> None:
    clock = Clock()
    paced = gate(clock, routes={"/a": 6})
    paced.learn("/a", paced.acquire("/a"), 200, {"RateLimit-Policy": "120;w=60"})
    assert paced.rate("/a") == 120 and paced.spacing("/a") == 0.5
    capped = gate(clock, ceiling=30)
    capped.learn("/a", capped.acquire("/a"), 200, {"RateLimit-Limit": "120", "RateLimit-Remaining": "119",
                                                    "RateLimit-Reset": "60", "RateLimit-Policy": "120;w=60"})
    assert capped.delay("/a") == pytest.approx(2.0)  # --rate-limit: never faster, whatever budget the target grants


def test_a_granted_budget_under_rate_limit_is_spaced_by_the_ceiling_not_by_the_learnt_rate() -> None:
    clock = Clock()
    capped = gate(clock, routes={"/a": 60}, ceiling=120)
    capped.learn("/a", capped.acquire("/a"), 429, {})  # a bare 429 slows the learnt pace below --rate-limit
    clock.sleep(capped.held_for("/a"))
    assert capped.rate("/a") < 120
    capped.learn("/a", capped.acquire("/a"), 200, {"RateLimit-Limit": "5", "RateLimit-Remaining": "4",
                                                    "RateLimit-Reset": "60"})
    # The target granted four more: spent 0.5 s apart (--rate-limit 120/min), not at the slowed pace.
    assert [round(capped.delay("/a"), 3) for _ in range(4)] == [0.5, 1.0, 1.5, 2.0]


def test_budgets_and_holds_are_per_client_and_spacing_is_shared() -> None:
    clock = Clock()
    paced = gate(clock, routes={"/a": 60})
    paced.learn("/a", paced.acquire("/a", who="buyer1"), 429, {"Retry-After": "50"}, who="buyer1")
    with pytest.raises(RateLimited):
        paced.acquire("/a", who="buyer1")
    paced.acquire("/a", patience=5, who="buyer2")  # another key is not held, only spaced after buyer1's request
    assert clock.slept == [1.0]


@pytest.mark.parametrize("headers, expected", [
    ({"RateLimit-Limit": "60", "RateLimit-Remaining": "7", "RateLimit-Reset": "12"}, (60, None, 7, 12.0)),
    ({"ratelimit-limit": "60, 60;w=60", "ratelimit-remaining": "0", "ratelimit-reset": "3"}, (60, 60.0, 0, 3.0)),
    ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": str(int(WALL) + 30)},
     (100, None, 99, 30.0)),
    ({"X-RateLimit-Reset": str(int(WALL * 1000) + 5000)}, (None, None, None, 5.0)),
    ({"RateLimit": "limit=10, remaining=4, reset=9", "RateLimit-Policy": "10;w=1"}, (10, 1.0, 4, 9.0)),
    ({"RateLimit": '"default";r=2;t=40', "RateLimit-Policy": '"default";q=100;w=3600'}, (100, 3600.0, 2, 40.0)),
    ({"Content-Type": "application/json"}, (None, None, None, None)),
])
def test_rate_limit_headers_are_read_in_every_common_style(headers: dict[str, str], expected: tuple[object, ...]) -> None:
    info = parse_rate_headers(headers, WALL)
    assert (info.limit, info.window, info.remaining, info.reset) == expected


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    date = format_datetime(dt.datetime.fromtimestamp(WALL + 90, dt.UTC), usegmt=True)
    assert retry_after_seconds("12", WALL) == 12 and retry_after_seconds(date, WALL) == pytest.approx(90)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", WALL) == 0  # in the past: go now
    assert retry_after_seconds("soon", WALL) is None and retry_after_seconds(None) is None
