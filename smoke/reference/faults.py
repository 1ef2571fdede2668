"""The one fault table: every reference target's deliberate bugs (and harmless quirks), by style.

A style's ``FAULTS`` (``smoke.reference.topups.FAULTS``, …) is its row here. The harness's own tests iterate
this table to prove every fault of every style is caught by a check.
"""

from __future__ import annotations

# ``[target] embedded`` name → fault → what the faulty variant does wrong.
FAULTS: dict[str, dict[str, str]] = {
    "topups": {
        "no_signature_check": "credits without checking the Stripe-Signature header at all",
        "any_signature": "accepts any v1 signature (wrong secret, tampered body)",
        "no_timestamp_tolerance": "accepts signatures with a timestamp of any age (replays)",
        "accepts_v0": "accepts a v0 signature as if it were v1",
        "crashes_on_bad_header": "answers 500 to a malformed Stripe-Signature header",
        "reserialized_body": "verifies the signature over a re-serialised body instead of the raw bytes",
        "no_dedupe": "credits every delivery of the same event",
        "check_then_insert": "checks for a duplicate, then credits, then records: a race under concurrent duplicates",
        "busy_503": "holds a non-blocking lock through a call to Stripe while crediting and answers 503 to any delivery "
                    "that arrives meanwhile, instead of waiting its turn",
        "lost_update": "reads the balance, waits a moment, writes back old + amount without a lock: concurrent payments "
                       "overwrite each other's credit",
        "credits_unpaid": "credits a checkout.session.completed whose payment_status is unpaid",
        "credits_failed_payment": "credits payment_intent.payment_failed and async_payment_failed events",
        "credits_every_success": "credits payment_intent.succeeded as well as checkout.session.completed",
        "wrong_amount": "credits amount_total / 100 (dollars instead of cents)",
        "error_on_unknown": "answers 500 to event types it does not handle",
        "error_on_bad_json": "answers 500 to a body that is not JSON",
        "slow_ack": "answers the webhook only after slow work",
        "ack_without_credit": "answers 200 to a crediting event but never credits",
        "records_before_processing": "records the event id, then fails (500); Stripe's retry is acknowledged as a duplicate",
        "drops_on_hold": "answers 200 to a payment for an account on hold and never applies it",
        "records_first": "records the event id in its own transaction before crediting; when crediting fails (an account "
                         "on hold), Stripe's retry is acknowledged as a duplicate",
        "ignores_refunds": "acknowledges charge.refunded without taking the credit back",
        "credits_wrong_account": "credits the oldest account (the house account) instead of the event's metadata.orgId",
        "crashes_on_unplaceable": "answers 500 to a paid event whose metadata.orgId is missing or names no account",
        "credits_latest_account": "credits the newest account when a paid event's metadata.orgId is missing or names none",
        "ignores_async_success": "acknowledges checkout.session.async_payment_succeeded without crediting it",
        "crashes_on_non_event": "answers 500 to a JSON body that is not an event object, signed or not",
        "acknowledges_everything": "answers 200 to every request to the webhook, signed or not, and credits nothing",
        "catch_all_200": "verifies signatures, but a catch-all error handler answers 200 when verification fails",
        "compares_prefix": "compares only the first 16 hex characters of the v1 signature",
        "accepts_truncated": "accepts a v1 value that the right signature starts with (startswith)",
        "loose_tolerance": "accepts timestamps up to 10 minutes old (Stripe's tolerance is 5)",
        "crashes_on_rotation": "answers 500 to a Stripe-Signature header with more than one v1 value",
        "first_v1_only": "checks only the first v1 value of the header, so a rolled secret's events are rejected",
    },
    "invoices": {
        "paid_on_failure": "marks the invoice paid on payment_intent.payment_failed",
        "crashes_on_duplicate": "answers 500 to a redelivered event (an unhandled unique-key error)",
        "reads_latest_charge": "looks for the charge in latest_charge (newer API shape), so older-shape events never mark paid",
        "error_on_unknown": "answers 500 to event types it does not handle",
    },
    "subscriptions": {
        "credits_unpaid": "marks a payment paid on a checkout.session.completed whose payment_status is unpaid",
        "no_dedupe": "credits every delivery of the same event (no event-id or payment-state guard)",
        "dollars_as_cents": "stores the checkout amount (dollars) as cents, so a $5 payment credits 5 cents",
    },
    "credits": {
        "trusts_event": "credits from the event alone, without re-retrieving the PaymentIntent from Stripe",
        "no_signature_check": "credits without checking the Stripe-Signature header",
        "no_dedupe": "credits every delivery of the same payment",
        "wrong_uses": "credits 2 uses per purchase instead of 20",
        "acks_on_stripe_error": "answers 200 when the call to Stripe fails, crediting nothing (Stripe never retries a 2xx)",
        "records_before_processing": "records the event id, then the call to Stripe fails (500); Stripe's retry is "
                                     "acknowledged as a duplicate and nothing is credited",
    },
    "ack-only": {
        "accepts_bad_signatures": "answers 200 to every delivery, even one with a missing or bad signature",
        "error_on_bad_json": "answers 500 to a signed body that is not JSON",
        "slow_ack": "audits synchronously with a slow store and answers only afterwards",
    },
}

# Not bugs, but behaviour a correct target may show: the checks must stay green. Style → quirk → what it does.
QUIRKS: dict[str, dict[str, str]] = {
    "topups": {
        "transient_failure": "answers 500 to the first delivery of each crediting event, then credits on the retry",
    },
    "invoices": {
        "fails_invoice": "moves the invoice to 'failed' on payment_intent.payment_failed (a state machine: open → failed)",
    },
}


def faults_of(style: str) -> dict[str, str]:
    """The faults of one style (a copy: the table itself stays as declared)."""
    return dict(FAULTS[style])


def quirks_of(style: str) -> dict[str, str]:
    """The quirks of one style (none for most)."""
    return dict(QUIRKS.get(style, {}))
