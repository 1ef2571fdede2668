"""Non-crediting events: failed, unpaid, expired and unknown events are acknowledged and change nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.quiet import Fire, observe, quiet_checks

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_depends_on("credit")]


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


def _crediting(smoke: Smoke, case: NonCrediting) -> bool:
    return case.event_type == smoke.target.profile.credit_event and not case.overrides


def _fire(case: NonCrediting) -> Fire:
    def fire(smoke: Smoke) -> Sent | None:
        return None if _crediting(smoke, case) else smoke.send(smoke.event(case.event_type, overrides=case.overrides))

    return fire


# Each case's event, sent exactly as the check sends it: one settle window observes them all (smoke/quiet.py).
FIRES = {kind: _fire(case) for kind, case in CASES.items()}
quiet_checks("test_event_does_not_credit", "kind", FIRES)


@pytest.mark.parametrize("kind", list(CASES))
def test_event_does_not_credit(smoke: Smoke, kind: str) -> None:
    """The event is acknowledged (2xx, so Stripe stops retrying) and the credit state does not move."""
    case = CASES[kind]
    if _crediting(smoke, case):
        pytest.skip(f"{case.event_type} is this target's crediting event")
    observed = observe(smoke, FIRES[kind])
    assert observed is not None
    baseline, sent = observed.baseline, observed.sent
    what = f"{case.description[0].upper()}{case.description[1:]}"
    if sent.delivery.status >= 500:
        fail(f"{what} got HTTP {sent.delivery.status}: Stripe retries it for days; acknowledge events you do not "
             "act on with 2xx.", "crashes_on_non_crediting")
    if not sent.delivery.ok:
        fail(f"{what} got HTTP {sent.delivery.status}: a correctly signed event must be acknowledged with 2xx even "
             "when it changes nothing.", "rejects_non_crediting")
    if smoke.observable:
        seen = observed.moved()
        if seen is not None:
            effect = smoke.effect()
            if effect.numeric or seen == effect.to:
                fail(f"{what} credited the buyer: the credit state moved from {baseline} to {seen}.", f"credits_{kind}")
            fail(f"{what} moved the state from {baseline} to {seen!r}, which the profile does not list among the "
                 f"states a non-crediting event may lead to ([effect] may_become = {list(effect.may_become or [])}).",
                 "unexpected_state")
