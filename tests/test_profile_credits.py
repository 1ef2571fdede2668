"""The credits style (uses bought with a PaymentIntent): green on the faithful target, each fault caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smoke.embedded import Embedded
from smoke.errors import ConfigError
from smoke.intents import confirm_intent
from smoke.reference.credits import FAULTS, PRICE_MINOR

# fault → (the check meant to catch it, words its failure message must contain)
CAUGHT_BY = {
    "trusts_event": ("test_simulated_event_alone_does_not_credit", "trusts the event's body"),
    "no_signature_check": ("test_forged_event_is_rejected and missing_header", "does not check signatures"),
    "no_dedupe": ("test_confirmed_payment_intent_credits_exact_amount", "credits a redelivered payment again"),
    "wrong_uses": ("test_confirmed_payment_intent_credits_exact_amount", "credited the wrong amount"),
}
# Faults the Stripe-outage drill catches (tests/test_stripe_outage.py).
CAUGHT_BY_OUTAGE_DRILL = {"acks_on_stripe_error", "records_before_processing"}


def _run(run_suites: Callable[..., pytest.RunResult], running: Embedded, monkeypatch: pytest.MonkeyPatch,
         *args: str) -> pytest.RunResult:
    monkeypatch.setenv("STRIPE_API_KEY", running.stripe_api_key or "")
    monkeypatch.setenv("STRIPE_API_BASE", running.stripe_api_base or "")
    result = run_suites(*args, base_url=running.base_url, target="credits", secret=running.webhook_secret)
    return result


def test_every_fault_has_a_check() -> None:
    assert set(CAUGHT_BY) | CAUGHT_BY_OUTAGE_DRILL == set(FAULTS)


def test_faithful_target_is_green_and_credits_only_a_confirmed_payment(stack: Callable[..., Embedded],
                                                                       run_suites: Callable[..., pytest.RunResult],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(run_suites, stack(profile="credits"), monkeypatch, "-v")
    outcomes = result.parseoutcomes()
    # >= 15, + the failure paths: 2 unplaceable payments and 7 non-event bodies (the delayed payment skips)
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 24, result.stdout.str()
    out = result.stdout.str()
    assert "test_confirmed_payment_intent_credits_exact_amount PASSED" in out
    assert "test_simulated_event_alone_does_not_credit PASSED" in out


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_check_catches_fault(fault: str, stack: Callable[..., Embedded],
                             run_suites: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch) -> None:
    check, words = CAUGHT_BY[fault]
    result = _run(run_suites, stack(fault, profile="credits"), monkeypatch, "-k", check)
    assert result.parseoutcomes().get("failed", 0) >= 1, result.stdout.str()
    assert words in result.stdout.str(), result.stdout.str()


@pytest.mark.parametrize("key", ["sk_live_" + "x" * 24, "rk_live_" + "x" * 24])
def test_confirm_refuses_live_keys_before_sending(key: str) -> None:
    # 127.0.0.1:9 would refuse a connection: a ConfigError (not a network error) shows nothing was sent.
    with pytest.raises(ConfigError, match="live Stripe key"):
        confirm_intent(key, "pi_123", api_base="http://127.0.0.1:9")


def test_confirm_intent_on_the_emulator() -> None:
    from smoke.emulator import start_emulator
    from smoke.stripe_api import client

    emulator = start_emulator()
    try:
        stripe_client = client(emulator.api_key, emulator.url)

        def new_intent() -> str:
            return str(stripe_client.v1.payment_intents.create(params={
                "amount": PRICE_MINOR, "currency": "usd", "automatic_payment_methods": {"enabled": True}}).id)

        paid = new_intent()
        assert confirm_intent(emulator.api_key, paid, api_base=emulator.url).status == "succeeded"
        assert stripe_client.v1.payment_intents.retrieve(paid).status == "succeeded"
        declined = confirm_intent(emulator.api_key, new_intent(), api_base=emulator.url, card="4000 0000 0000 0002")
        assert declined.status == "declined" and "declined" in declined.message
        three_ds = confirm_intent(emulator.api_key, new_intent(), api_base=emulator.url, card="4000002500003155")
        assert three_ds.status == "requires_action"
        with pytest.raises(ConfigError, match="test card"):
            confirm_intent(emulator.api_key, paid, api_base=emulator.url, card="4111111111111112")
    finally:
        emulator.stop()
