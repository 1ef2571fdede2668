"""Credit: a correctly signed crediting event, sent as Stripe sends it, credits exactly once."""

from __future__ import annotations

import pytest

from smoke.checks import Smoke, conclude, fail

pytestmark = [pytest.mark.smoke_simulated]


@pytest.mark.smoke_needs("state", "simulated_credit")
@pytest.mark.smoke_depends_on("route")
def test_signed_event_credits_exact_amount(smoke: Smoke) -> None:
    """A signed crediting event → 2xx → the state moves by exactly the expected amount, within the deadline.

    The foundation of every check that sends a signed event: when it fails, they are blocked. A failure names
    the cause the evidence supports (see smoke/diagnosis.py); a 5xx is redelivered as Stripe would.
    """
    assert smoke.foundations is not None
    conclude(smoke.foundations.finding("credit", smoke))


@pytest.mark.smoke_depends_on("route")
def test_acknowledges_within_window(smoke: Smoke) -> None:
    """The webhook answers a crediting event within the acknowledgement window (--ack-seconds)."""
    assert smoke.foundations is not None
    if smoke.observable:
        smoke.foundations.require("credit", smoke)
    else:  # no credit to see: acknowledging the event is the foundation, reported here
        conclude(smoke.foundations.finding("credit", smoke))
    baseline = smoke.read() if smoke.observable else None
    sent = smoke.send(smoke.crediting_event())
    limit = smoke.settings.ack_seconds
    if sent.delivery.elapsed > limit:
        fail(f"The webhook took {sent.delivery.elapsed:.2f}s to acknowledge {sent.event['type']} (limit {limit:g}s): "
             "Stripe may time out and redeliver; answer 2xx first and do slow work afterwards.", "slow_ack")
    if not sent.delivery.ok:
        fail(f"A correctly signed {sent.event['type']} was not acknowledged this time (HTTP {sent.delivery.status}, "
             f"{sent.delivery.body[:120]!r}), although an earlier one was: look at the target's logs for "
             f"{sent.event['id']}.", "inconsistent")
    if smoke.observable:
        smoke.expect_credit(baseline, sent)


STRIPE_CONTENT_TYPE = "application/json; charset=utf-8"


@pytest.mark.smoke_depends_on("credit")
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
             "must accept a media type with parameters (compare the type only, ignoring '; charset=…').",
             "content_type")

