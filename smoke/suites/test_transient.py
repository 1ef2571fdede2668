"""The transient-failure drill: the first processing of a payment fails after the signature check; Stripe's retry,
once the cause is gone, must credit it exactly once.

A webhook that records the event id before processing it turns that retry into "a duplicate", answered 200, and
the payment is never credited. The profile says how to make processing fail for a moment (``[drills.transient]``:
a ``break`` step and a ``mend`` step); the check is skipped, with that reason, when it doesn't.
"""

from __future__ import annotations

import pytest

from smoke.checks import Smoke, fail
from smoke.verdicts import credit_mismatch

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_needs("state", "simulated_credit"),
              pytest.mark.smoke_depends_on("dedupe")]


def test_credit_survives_a_failed_first_delivery(smoke: Smoke) -> None:
    """A payment whose first processing fails is credited exactly once by Stripe's retry (same event, same id)."""
    profile = smoke.target.profile
    if profile.transient_break is None or profile.transient_mend is None:
        pytest.skip("the profile declares no way to make processing fail for a moment: add [drills.transient] with a "
                    "break and a mend step (docs/profiles.md, 'Drills')")
    baseline = smoke.read()
    event = smoke.crediting_event()
    smoke.target.run_step(profile.transient_break)
    try:
        first = smoke.send(event)
        during = smoke.changed(baseline) if first.delivery.ok else None
    finally:
        smoke.target.run_step(profile.transient_mend)
    broken = f"while [drills.transient] break ({profile.transient_break.action}) was in force"
    if first.delivery.ok and during is None:
        # Acknowledged while it could not process: it must still credit (a queue), or the payment is lost.
        credit = smoke.await_credit(baseline)
        if credit.code is None:
            fail(f"The crediting event {event['id']} was acknowledged (HTTP {first.delivery.status}) {broken}, and "
                 f"nothing was credited after it was mended ({smoke.effect().describe(baseline)} expected, still "
                 f"{credit.seen}): a webhook that cannot process an event must answer 5xx so Stripe retries it; "
                 "a 2xx is never retried, so this credit is lost.", "acknowledged_during_failure")
        if credit.code != "credited":
            fail(f"{first.summary} {broken}: {credit_mismatch(credit.code, smoke.effect(), baseline, credit.seen)}.",
                 credit.code)
        return
    if first.delivery.ok:
        # It credited despite the break: the break did not make processing fail, so nothing was drilled.
        pytest.skip(f"{broken} the webhook still credited {event['id']} (HTTP {first.delivery.status}): the "
                    "[drills.transient] break step does not make processing fail; point it at something that does")
    # Stripe retries a non-2xx with the same event (same id, same bytes); send it as that retry.
    retry = smoke.send(event)
    if not retry.delivery.ok:
        fail(f"The first delivery of {event['id']} failed (HTTP {first.delivery.status}) {broken}, as it should; but "
             f"the retry after it was mended failed too (HTTP {retry.delivery.status}): the webhook does not recover "
             "once the cause is gone.", "retry_fails")
    credit = smoke.await_credit(baseline)
    if credit.code is None:
        fail(f"The first delivery of {event['id']} failed (HTTP {first.delivery.status}) {broken}, and Stripe's "
             f"retry after it was mended was acknowledged (HTTP {retry.delivery.status}) but credited nothing "
             f"({smoke.effect().describe(baseline)} expected, still {credit.seen}): the webhook records the event "
             "before processing it, so the retry is taken for a duplicate and the payment is lost. Record the event "
             "id in the same transaction as the credit (or only after it).", "records_before_processing")
    if credit.code != "credited":
        fail(f"{retry.summary} (the retry after a failed first delivery): "
             f"{credit_mismatch(credit.code, smoke.effect(), baseline, credit.seen)}.", credit.code)
