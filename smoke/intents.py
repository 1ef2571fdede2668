"""Confirm a PaymentIntent in test mode, as a buyer's client would, so Stripe itself says it succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smoke.errors import ConfigError, SmokeError

# Test cards → Stripe's test PaymentMethods for them.
TEST_PAYMENT_METHODS = {
    "4242424242424242": "pm_card_visa",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000002500003155": "pm_card_threeDSecure2Required",
}


@dataclass
class Confirmation:
    """What Stripe said when the intent was confirmed."""

    status: str  # the PaymentIntent's status, or "declined"
    message: str


def confirm_intent(stripe_client: Any, intent_id: str, card: str = "4242424242424242") -> Confirmation:
    """Confirm ``intent_id`` with the test PaymentMethod of ``card``; a decline is an answer, not an error."""
    import stripe

    from smoke.stripe_api import normalise_card

    method = TEST_PAYMENT_METHODS[normalise_card(card)]
    try:
        intent = stripe_client.v1.payment_intents.confirm(intent_id, params={"payment_method": method})
    except stripe.CardError as exc:
        return Confirmation("declined", exc.user_message or "Your card has been declined.")
    except stripe.AuthenticationError:
        raise ConfigError("Stripe refused the API key; give the sk_test_… key of the account the target uses.") from None
    except stripe.InvalidRequestError as exc:
        raise SmokeError(f"Stripe would not confirm {intent_id} ({exc.user_message or exc.code}); "
                         "does the target create it in the same account and mode?") from None
    except stripe.StripeError as exc:
        raise SmokeError(f"Confirming {intent_id} failed ({type(exc).__name__}); try again.") from None
    return Confirmation(str(intent.status), f"PaymentIntent {intent_id} is {intent.status}")
