"""Idempotency: the same event again, many copies at once, or a whole payment's events credit once."""

from __future__ import annotations

import random
import threading

import pytest

from smoke.checks import Sent, Smoke, fail
from smoke.events import CHECKOUT_PAYMENT_SEQUENCE

pytestmark = [pytest.mark.simulated, pytest.mark.needs("state", "simulated_credit")]


def test_redelivery_credits_once(smoke: Smoke) -> None:
    """Stripe delivers an event again (same id): acknowledged, credited only once."""
    baseline = smoke.read()
    event = smoke.crediting_event()
    first = smoke.send(event)
    if not first.delivery.ok:
        fail(f"The first delivery was rejected (HTTP {first.delivery.status}); see test_signed_event_credits_exact_amount.")
    smoke.expect_credit(baseline, first, "first delivery")
    again = smoke.send(event)
    if not again.delivery.ok:
        fail(f"A redelivery of {event['id']} got HTTP {again.delivery.status}: acknowledge duplicates with 2xx, "
             "or Stripe keeps retrying them.")
    smoke.expect_credit(baseline, again, "The same event delivered twice (the webhook does not dedupe on the event id)")


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
            sent = smoke.send(event)
        except BaseException as exc:  # reported below, not lost in a thread
            sent = exc
        with lock:
            results.append(sent)

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=smoke.settings.http_timeout * 2)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        fail(f"{len(errors)} of {copies} concurrent deliveries failed to complete: {errors[0]}")
    statuses = sorted(r.delivery.status for r in results if isinstance(r, Sent))
    if any(s >= 500 for s in statuses):
        fail(f"Concurrent copies of one event got {statuses}: a duplicate must be acknowledged, not crash.")
    smoke.expect_credit(baseline, results[0],  # type: ignore[arg-type]
                        f"{copies} concurrent copies of one event (dedupe is not atomic: check-then-insert race)")


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
            fail(f"{event['type']} got HTTP {last.delivery.status}: every event of a payment must be acknowledged.")
    assert last is not None
    smoke.expect_credit(baseline, last, f"The {len(events)} events of one payment (order {order}; --smoke-seed {seed}) "
                                        "— the webhook credits on more than one of them")
