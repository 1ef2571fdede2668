"""The credits style (uses bought with a PaymentIntent): green on the faithful target, each fault caught."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from smoke.embedded import Embedded, start_embedded
from smoke.profiles import load_profile
from smoke.reference.credits import FAULTS

# fault → (the check meant to catch it, words its failure message must contain)
CAUGHT_BY = {
    "trusts_event": ("test_simulated_event_alone_does_not_credit", "trusts the event's body"),
    "no_signature_check": ("test_forged_event_is_rejected and missing_header", "does not check signatures"),
    "no_dedupe": ("test_confirmed_payment_intent_credits_exact_amount", "credits a redelivered payment again"),
    "wrong_uses": ("test_confirmed_payment_intent_credits_exact_amount", "credited the wrong amount"),
}


@pytest.fixture
def credits_stack() -> Iterator[Callable[..., Embedded]]:
    """The credits target (with faults) wired to its own local Stripe, as a deployment would be."""
    started: list[Embedded] = []

    def start(*faults: str) -> Embedded:
        running = start_embedded(load_profile("credits"), faults=set(faults))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _run(run_suites: Callable[..., pytest.RunResult], running: Embedded, monkeypatch: pytest.MonkeyPatch,
         *args: str) -> pytest.RunResult:
    monkeypatch.setenv("STRIPE_API_KEY", running.stripe_api_key or "")
    monkeypatch.setenv("STRIPE_API_BASE", running.stripe_api_base or "")
    result = run_suites(*args, base_url=running.base_url, target="credits", secret=running.webhook_secret)
    return result


def test_every_fault_has_a_check() -> None:
    assert set(CAUGHT_BY) == set(FAULTS)


def test_faithful_target_is_green_and_credits_only_a_confirmed_payment(credits_stack: Callable[..., Embedded],
                                                                       run_suites: Callable[..., pytest.RunResult],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(run_suites, credits_stack(), monkeypatch, "-v")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 15, result.stdout.str()
    out = result.stdout.str()
    assert "test_confirmed_payment_intent_credits_exact_amount PASSED" in out
    assert "test_simulated_event_alone_does_not_credit PASSED" in out


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_check_catches_fault(fault: str, credits_stack: Callable[..., Embedded],
                             run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    check, words = CAUGHT_BY[fault]
    result = _run(run_suites, credits_stack(fault), monkeypatch, "-k", check)
    assert result.parseoutcomes().get("failed", 0) >= 1, result.stdout.str()
    assert words in result.stdout.str(), result.stdout.str()
