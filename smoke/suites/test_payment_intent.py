"""PaymentIntent purchases: a payment Stripe confirms credits exactly once; a simulated event alone never does."""

from __future__ import annotations

import pytest

from smoke.checks import Smoke, fail
from smoke.config import Settings
from smoke.embedded import Embedded
from smoke.waiting import hold_steady, wait_for


def _stripe(settings: Settings, embedded: Embedded | None) -> tuple[str | None, str | None]:
    if embedded is not None and embedded.stripe_api_key:
        return settings.stripe_api_key or embedded.stripe_api_key, settings.stripe_api_base or embedded.stripe_api_base
    return settings.stripe_api_key, settings.stripe_api_base


@pytest.mark.smoke_needs("state", "purchase")
def test_confirmed_payment_intent_credits_exact_amount(smoke: Smoke, smoke_settings: Settings,
                                                       smoke_embedded: Embedded | None) -> None:
    """Buy through the target, confirm the PaymentIntent on Stripe (test mode), and see exactly one credit."""
    from smoke.intents import confirm_intent
    from smoke.stripe_api import client

    purchase_step = smoke.target.profile.purchase
    if purchase_step is None or "payment_intent" not in purchase_step.extract or "checkout_url" in purchase_step.extract:
        pytest.skip("the purchase is not a bare PaymentIntent ([purchase] payment_intent without checkout_url)")
    key, base = _stripe(smoke_settings, smoke_embedded)
    if not key:
        pytest.skip("confirming the PaymentIntent needs STRIPE_API_KEY (sk_test_…) of the account the target uses")
    baseline = smoke.read()
    purchase = smoke.target.start_purchase()
    if not purchase.payment_intent:
        fail("The purchase answer has no PaymentIntent id; check [purchase].payment_intent in the profile.")
    confirmed = confirm_intent(key, purchase.payment_intent or "", api_base=base)
    if confirmed.status != "succeeded":
        fail(f"Stripe did not let the test card pay {purchase.payment_intent}: {confirmed.message}.")
    effect = smoke.effect()
    outcome = wait_for(smoke.target.read_state, lambda v: effect.reached(baseline, v), smoke_settings.timeout,
                       stop=lambda v: effect.moved(baseline, v) > 1)
    seen = outcome.value
    if outcome.ok:
        steady = hold_steady(smoke.target.read_state, seen, smoke_settings.settle)
        if steady.ok:
            _redelivery_changes_nothing(smoke, client(key, base), purchase.payment_intent or "", seen)
            return
        seen = steady.value
    moved = effect.moved(baseline, seen) if seen is not None else 0
    label = f"PaymentIntent {purchase.payment_intent} succeeded on Stripe"
    if moved > 1 and float(moved).is_integer():
        fail(f"{label}: credited {int(moved)} times ({effect.describe(baseline)} expected, saw {seen}).")
    if moved:
        fail(f"{label}: credited the wrong amount: expected {effect.describe(baseline)}, saw {seen}.")
    fail(f"{label}, but the credit state did not move ({effect.describe(baseline)} expected, still {seen} after "
         f"{smoke_settings.timeout:g}s): is the webhook endpoint registered for payment_intent.succeeded, and does "
         "the target find the account from the intent's metadata?")


def _redelivery_changes_nothing(smoke: Smoke, stripe_client: object, intent_id: str, credited: object) -> None:
    """Stripe may deliver the same event again: send the real one once more, signed, and expect no second credit."""
    from smoke.stripe_api import plain

    events = stripe_client.v1.events.list(params={"type": smoke.target.profile.credit_event, "limit": 100})  # type: ignore[attr-defined]
    real = next((e for e in map(plain, events.data) if (e.get("data") or {}).get("object", {}).get("id") == intent_id), None)
    if real is None:
        fail(f"Stripe has no {smoke.target.profile.credit_event} for {intent_id}, yet the target credited it.")
    again = smoke.send(real)
    smoke.expect_unchanged(credited, f"{again.summary} (Stripe's event {real['id']} delivered a second time): "
                                     "the target credits a redelivered payment again; dedupe on the event or intent id")


@pytest.mark.smoke_simulated
@pytest.mark.smoke_needs("state")
@pytest.mark.smoke_depends_on("credit")
def test_simulated_event_alone_does_not_credit(smoke: Smoke) -> None:
    """A target that re-checks with Stripe ignores a signed event for an intent Stripe never saw succeed."""
    if smoke.target.profile.can("simulated_credit"):
        pytest.skip("this target credits from the event itself ([supports] simulated_credit); test_credit covers it")
    baseline = smoke.read()
    sent = smoke.send(smoke.crediting_event())
    if sent.delivery.status >= 500:
        fail(f"{sent.summary}: the webhook crashed on an event whose payment Stripe does not confirm; acknowledge it.")
    smoke.expect_unchanged(baseline, f"{sent.summary} (an intent Stripe never saw succeed): the target trusts the "
                                     "event's body instead of re-retrieving the PaymentIntent from Stripe")
