"""Refunds, where the profile declares them: a refunded charge takes the credit back, once."""

from __future__ import annotations

import pytest

from smoke.checks import Smoke, fail
from smoke.waiting import wait_for

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_needs("state", "simulated_credit", "refunds"),
              pytest.mark.smoke_depends_on("dedupe")]


def test_refund_reverses_the_credit(smoke: Smoke) -> None:
    """Credit a payment, then send its charge.refunded (twice): the state returns to where it was."""
    effect = smoke.effect()
    if not effect.numeric:
        pytest.skip("the profile's effect is a state change, not an amount; a refund's effect cannot be computed")
    baseline = smoke.read()
    payment = smoke.payment()
    credited = smoke.send(smoke.crediting_event(payment))
    smoke.expect_credit(baseline, credited, "the payment to be refunded")
    refund_event = smoke.event("charge.refunded", payment)
    for _ in range(2):  # the second delivery is Stripe redelivering it
        sent = smoke.send(refund_event)
        if not sent.delivery.ok:
            fail(f"charge.refunded got HTTP {sent.delivery.status}: acknowledge it with 2xx.", "rejects_refund")
    outcome = wait_for(smoke.target.read_state, lambda v: v == baseline, smoke.settings.timeout)
    if not outcome.ok:
        after = outcome.value
        moved = effect.moved(baseline, after) if after is not None else None
        what = ("the refund was taken back twice: charge.refunded is not deduplicated" if moved is not None and moved < 0
                else "the credit was not taken back: the webhook ignores charge.refunded")
        fail(f"After the refund the state is {after}, expected {baseline}: {what}.",
             "refund_twice" if moved is not None and moved < 0 else "ignores_refunds")
    smoke.expect_unchanged(baseline, "After the refund settled")
