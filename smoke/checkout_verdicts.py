"""The verdicts of a real Checkout payment: verify's codes, their exit codes, and the message naming the ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smoke.effects import Effect
from smoke.verdicts import EXIT_INCONCLUSIVE, credit_mismatch, judge_credit

if TYPE_CHECKING:
    from smoke.receipts import Receipt

# Verdicts of verify and their exit codes, so CI can tell them apart.
EXIT_CODES = {"verified": 0, "not_paid": 10, "paid_not_credited": 11, "wrong_amount": 12,
              "credited_twice": 13, "not_credited": 14, "inconclusive": EXIT_INCONCLUSIVE}


@dataclass
class Verdict:
    """The outcome of verify: a code from EXIT_CODES and a message with the ids to look further."""

    code: str
    message: str

    @property
    def exit_code(self) -> int:
        """The process exit code for this verdict."""
        return EXIT_CODES[self.code]


def judge(effect: Effect, baseline: Any, seen: Any) -> str | None:
    """The credit state ``seen`` against the expected ``effect``: ``verified``, a mismatch code, or None (not yet)."""
    code = judge_credit(effect, baseline, seen)
    return "verified" if code == "credited" else code


def credit_text(effect: Effect, baseline: Any, value: Any) -> str:
    """``credit state 1000 (baseline 1000, expecting +500)`` for the status line."""
    if effect.numeric:
        delta = effect.delta
        expecting = f"+{int(delta) if isinstance(delta, float) and delta.is_integer() else delta}"
    else:
        expecting = str(effect.to)
    return f"credit state {str(value)[:80]} (baseline {str(baseline)[:80]}, expecting {expecting})"


def explain(code: str | None, receipt: Receipt, effect: Effect, seen: Any, stripe: Any, deadline: float,
            ledger: list[Any] | None = None) -> Verdict:
    """The verdict of ``code`` (None: no credit by the deadline), told with the ids and what Stripe says."""
    ids = f"session {receipt.session_id}"
    if stripe is not None and stripe.payment_intent:
        ids += f", payment intent {stripe.payment_intent}"
    if stripe is not None and stripe.event_id:
        ids += f", event {stripe.event_id}"
    expected = effect.describe(receipt.baseline)
    if code == "verified":
        return Verdict("verified", f"Verified: the credit state went {expected} for {receipt.buyer} ({ids}).")
    if code in ("credited_twice", "wrong_amount"):
        phrase = credit_mismatch(code, effect, receipt.baseline, seen)
        return Verdict(code, f"{phrase[0].upper()}{phrase[1:]} ({ids}).")
    if code == "inconclusive":
        return Verdict("inconclusive", f"Inconclusive: the target answered 429 and asked to wait past the deadline, so "
                                       f"the credit state could not be read (expected {expected}; {ids}). Nothing is "
                                       "known about the payment yet: run verify again later, or raise --deadline.")
    if stripe is None:
        return Verdict("not_credited", f"No credit after {deadline:g}s (still {seen}, expected {expected}; {ids}). "
                                       "Give STRIPE_API_KEY to tell 'not paid' from 'paid but not credited'.")
    if stripe.payment_status != "paid" and stripe.status == "expired":
        return Verdict("not_paid", f"Not paid: the Checkout Session expired and nobody paid it (Stripe says "
                                   f"{stripe.status}/{stripe.payment_status}; {ids}); it can no longer be paid, so "
                                   "start a new payment with 'stripe-smoke checkout create'.")
    if stripe.payment_status != "paid":
        return Verdict("not_paid", f"Not yet paid: Stripe says the session is {stripe.status}/{stripe.payment_status} "
                                   f"({ids}); pay it, then run verify again.")
    return Verdict("paid_not_credited", f"Paid but not credited after {deadline:g}s (still {seen}, expected {expected}; "
                                        f"{ids}). {_why_not_credited(stripe, ledger)}")


def _why_not_credited(stripe: Any, ledger: list[Any] | None) -> str:
    """Why a paid session left no credit: the webhook failing, the event acknowledged but not applied, or no event."""
    if stripe.pending_webhooks:
        return (f"Stripe still has {stripe.event_id} pending delivery (pending_webhooks={stripe.pending_webhooks}): "
                "the target's webhook is failing; look at the endpoint's delivery attempts in the Dashboard.")
    if not stripe.event_id:
        return "Stripe has no crediting event for it yet."
    why = f"Stripe delivered {stripe.event_id} and the target acknowledged it without crediting this buyer"
    if stripe.metadata:
        why += f" (the event's metadata: {', '.join(f'{k}={v}' for k, v in sorted(stripe.metadata.items()))})"
    if ledger == []:
        return why + ("; the buyer's ledger has no entry for this payment either, so the target credited another "
                      "account or none: check how it maps the event to an account.")
    if ledger:
        return why + f"; yet the buyer's ledger mentions it: {json.dumps(ledger[0], default=str)[:200]}."
    return why + "."
