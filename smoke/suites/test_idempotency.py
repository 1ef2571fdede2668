"""Idempotency: the same event again, many copies at once, or a whole payment's events credit once."""

from __future__ import annotations

import random
import threading

import pytest

from smoke.checks import Sent, Smoke, conclude, fail
from smoke.events import CHECKOUT_PAYMENT_SEQUENCE
from smoke.verdicts import credit_mismatch
from smoke.waiting import RateLimited

pytestmark = [pytest.mark.smoke_simulated, pytest.mark.smoke_needs("state", "simulated_credit")]


@pytest.mark.smoke_depends_on("credit")
def test_redelivery_credits_once(smoke: Smoke) -> None:
    """Stripe delivers an event again (same id): acknowledged, credited only once (the dedupe foundation)."""
    assert smoke.foundations is not None
    conclude(smoke.foundations.finding("dedupe", smoke))


@pytest.mark.smoke_depends_on("dedupe")
def test_concurrent_duplicates_credit_once(smoke: Smoke) -> None:
    """N copies of one event delivered at the same moment credit once (dedupe is atomic)."""
    copies = max(2, smoke.settings.duplicates)
    baseline = smoke.read()
    event = smoke.crediting_event()
    barrier = threading.Barrier(copies)
    results: list[Sent | BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(timeout=smoke.settings.http_timeout)
            sent: Sent | BaseException = smoke.send(event)
        except BaseException as exc:  # noqa: BLE001 — reported below, not lost in a thread
            sent = exc
        with lock:
            results.append(sent)

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=smoke.settings.http_timeout * 2)
    errors = [r for r in results if isinstance(r, BaseException)]
    throttled = [e for e in errors if isinstance(e, RateLimited)]
    if throttled:  # held back by a 429 past the deadline: inconclusive, never the target's defect
        raise throttled[0]
    if errors:
        fail(f"{len(errors)} of {copies} concurrent deliveries failed to complete: {errors[0]}")
    statuses = sorted(r.delivery.status for r in results if isinstance(r, Sent))
    crashed = sum(s >= 500 for s in statuses)
    credit = smoke.await_credit(baseline)
    if credit.code == "credited_twice":
        fail(f"{copies} concurrent copies of one event ({event['id']}) were "
             f"{credit_mismatch(credit.code, smoke.effect(), baseline, credit.seen)}, "
             "while a sequential redelivery is deduplicated (test_redelivery_credits_once): the dedupe is not atomic — "
             "a check-then-insert race. Insert the event id under a unique constraint in the same transaction as "
             "the credit (or lock the row) instead of checking first.", "dedupe_race")
    if credit.code is not None and credit.code != "credited":
        fail(f"{copies} concurrent copies of one event: {credit_mismatch(credit.code, smoke.effect(), baseline, credit.seen)}.",
             credit.code)
    if credit.code is None:
        fail(f"{copies} concurrent copies of one event ({statuses}) credited nothing, although one delivery alone "
             "credits (test_signed_event_credits_exact_amount): the copies block each other (a lock that every "
             "copy loses?), and the payment is lost.", "concurrent_loss")
    if crashed:
        fail(f"{copies} concurrent copies of one event were credited once, but {crashed} of them got a 5xx "
             f"({statuses}): the webhook crashes when a duplicate races the first copy (a unique-key error "
             "surfacing as a 500?). No money is lost, but Stripe retries each one; acknowledge a duplicate with 2xx.",
             "crashes_on_concurrent_duplicate")


@pytest.mark.smoke_depends_on("credit")
def test_payment_event_sequence_credits_once(smoke: Smoke) -> None:
    """Every event Stripe sends for one Checkout payment, in shuffled order, credits once."""
    seed = smoke.settings.seed if smoke.settings.seed is not None else random.randrange(1 << 30)
    baseline = smoke.read()
    payment = smoke.payment()
    credit_type = smoke.target.profile.credit_event
    types = list(CHECKOUT_PAYMENT_SEQUENCE)
    if credit_type not in types:
        types.append(credit_type)
    events = [smoke.event(t, payment) for t in types]
    random.Random(seed).shuffle(events)
    order = ", ".join(e["type"] for e in events)
    last: Sent | None = None
    for event in events:
        last = smoke.send(event)
        if last.delivery.status >= 500:
            fail(f"{event['type']} got HTTP {last.delivery.status}: every event of a payment must be acknowledged.",
                 "crashes_in_sequence")
    assert last is not None
    smoke.expect_credit(baseline, last, f"The {len(events)} events of one payment (order {order}; --smoke-seed {seed}) "
                                        "— the webhook credits on more than one of them", "credits_several_types")

