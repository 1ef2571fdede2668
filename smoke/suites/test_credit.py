"""Credit: a correctly signed crediting event, sent as Stripe sends it, credits exactly once."""

from __future__ import annotations

import json

import pytest

from smoke.checks import Smoke, fail

pytestmark = [pytest.mark.simulated]


@pytest.mark.needs("state", "simulated_credit")
def test_signed_event_credits_exact_amount(smoke: Smoke) -> None:
    """A signed crediting event → 2xx → the state moves by exactly the expected amount, within the deadline."""
    baseline = smoke.read()
    event = smoke.crediting_event()
    sent = smoke.send(event)
    first_status = sent.delivery.status
    # Stripe redelivers a failed event with the same id; so do we, twice.
    for _ in range(2):
        if sent.delivery.ok or not 500 <= sent.delivery.status < 600:
            break
        sent = smoke.send(event)
    if sent.delivery.ok and first_status >= 500:
        if smoke.effect().moved(baseline, smoke.read()) == 0:
            fail(f"{event['type']} got HTTP {first_status}; Stripe's redelivery of the same event ({event['id']}) was "
                 f"acknowledged (HTTP {sent.delivery.status}) but nothing was credited: the target records the event "
                 "before processing it, so a payment whose first delivery fails is lost.")
    if not sent.delivery.ok:
        hint = ""
        if 400 <= sent.delivery.status < 500:
            compact = json.dumps(event, separators=(",", ":")).encode()
            retry = smoke.send(event, body=compact)
            if retry.delivery.ok:
                hint = (" The same event with compact JSON was accepted: the webhook verifies the signature over a "
                        "re-serialised body instead of the raw bytes Stripe signed.")
        fail(f"A correctly signed {event['type']} was rejected with HTTP {sent.delivery.status} "
             f"({sent.delivery.body[:120]!r}).{hint} Stripe would retry it and then give up: the credit is lost.")
    smoke.expect_credit(baseline, sent)


def test_acknowledges_within_window(smoke: Smoke) -> None:
    """The webhook answers a crediting event within the acknowledgement window (--ack-seconds)."""
    observe = smoke.target.profile.can("state") and smoke.target.profile.can("simulated_credit")
    baseline = smoke.read() if observe else None
    sent = smoke.send(smoke.crediting_event())
    limit = smoke.settings.ack_seconds
    if sent.delivery.elapsed > limit:
        fail(f"The webhook took {sent.delivery.elapsed:.2f}s to acknowledge {sent.event['type']} (limit {limit:g}s): "
             "Stripe may time out and redeliver; answer 2xx first and do slow work afterwards.")
    if not observe and not sent.delivery.ok:
        fail(f"A correctly signed {sent.event['type']} was not acknowledged (HTTP {sent.delivery.status}, "
             f"{sent.delivery.body[:120]!r}): Stripe would retry it and then disable the endpoint.")
    if observe and sent.delivery.ok:
        smoke.expect_credit(baseline, sent)


STRIPE_CONTENT_TYPE = "application/json; charset=utf-8"


def test_accepts_stripes_content_type(smoke: Smoke) -> None:
    """A signed event with the Content-Type Stripe really sends (``application/json; charset=utf-8``) is acknowledged."""
    profile = smoke.target.profile
    if profile.content_type == STRIPE_CONTENT_TYPE:
        pytest.skip("the profile sends Stripe's own Content-Type, so every other check already covers it")
    sent = smoke.send(smoke.crediting_event(), content_type=STRIPE_CONTENT_TYPE)
    if not sent.delivery.ok:
        fail(f"Real Stripe deliveries would be rejected: a correctly signed {sent.event['type']} sent with "
             f"Content-Type {STRIPE_CONTENT_TYPE!r}, as Stripe sends it, got HTTP {sent.delivery.status} "
             f"({sent.delivery.body[:120]!r}). The profile sends {profile.content_type!r} to get through; the webhook "
             "must accept a media type with parameters (compare the type only, ignoring '; charset=…').")

