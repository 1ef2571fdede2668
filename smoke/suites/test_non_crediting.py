"""Non-crediting events: failed, unpaid, expired and unknown events are acknowledged and change nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from smoke.checks import Smoke, fail

pytestmark = [pytest.mark.simulated]


@dataclass(frozen=True)
class NonCrediting:
    """An event that must never credit."""

    event_type: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)


CASES = {
    "failed_payment": NonCrediting("payment_intent.payment_failed", "a failed payment (payment_intent.payment_failed)"),
    "unpaid_session": NonCrediting("checkout.session.completed", "a completed but unpaid session (payment_status: unpaid)",
                                   {"payment_status": "unpaid"}),
    "expired_session": NonCrediting("checkout.session.expired", "an expired session (checkout.session.expired)"),
    "async_payment_failed": NonCrediting("checkout.session.async_payment_failed",
                                         "a delayed payment that failed (checkout.session.async_payment_failed)"),
    "unknown_type": NonCrediting("customer.tax_id.created", "an event type the target does not handle (customer.tax_id.created)"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_event_does_not_credit(smoke: Smoke, kind: str) -> None:
    """The event is acknowledged (2xx, so Stripe stops retrying) and the credit state does not move."""
    case = CASES[kind]
    if case.event_type == smoke.target.profile.credit_event and not case.overrides:
        pytest.skip(f"{case.event_type} is this target's crediting event")
    observe = smoke.target.profile.can("state") and smoke.target.profile.can("simulated_credit")
    baseline = smoke.read() if observe else None
    event = smoke.event(case.event_type, overrides=case.overrides)
    sent = smoke.send(event)
    if sent.delivery.status >= 500:
        fail(f"{case.description[0].upper()}{case.description[1:]} got HTTP {sent.delivery.status}: Stripe retries "
             "it for days; acknowledge events you do not act on with 2xx.")
    if not sent.delivery.ok:
        fail(f"{case.description[0].upper()}{case.description[1:]} got HTTP {sent.delivery.status}: a correctly "
             "signed event must be acknowledged with 2xx even when it changes nothing.")
    if observe:
        smoke.expect_unchanged(baseline, f"{case.description[0].upper()}{case.description[1:]} credited the buyer")
