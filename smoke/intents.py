"""Confirm a PaymentIntent in test mode, as a buyer's client would, so Stripe itself says it succeeded."""

from __future__ import annotations

from dataclasses import dataclass

from smoke.config import check_stripe_key
from smoke.errors import ConfigError, SmokeError, TargetUnreachable

# Test cards → Stripe's test PaymentMethods for them.
TEST_PAYMENT_METHODS = {
    "4242424242424242": "pm_card_visa",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000002500003155": "pm_card_threeDSecure2Required",
}

# Stripe wants a return_url when the intent accepts redirect-based methods (automatic_payment_methods, the
# default for new intents); a test card never redirects there, so any https URL will do.
RETURN_URL = "https://stripe-smoke.invalid/payment-intent/return"


@dataclass
class Confirmation:
    """What Stripe said when the intent was confirmed."""

    status: str  # the PaymentIntent's status, or "declined"
    message: str


def confirm_intent(api_key: str, intent_id: str, *, api_base: str | None = None,
                   card: str = "4242424242424242") -> Confirmation:
    """Confirm ``intent_id`` in test mode with the test PaymentMethod of ``card``; a decline is an answer, not an error.

    A live key (``sk_live_``/``rk_live_``) is refused before anything is sent: this would take real money.
    ``api_base`` aims at the local emulator offline; without it the call goes to Stripe (test mode).
    """
    import stripe

    from smoke.stripe_api import client, normalise_card

    key = check_stripe_key(api_key)
    method = TEST_PAYMENT_METHODS[normalise_card(card)]
    if not intent_id.startswith("pi_"):
        raise ConfigError(f"{intent_id!r} is not a PaymentIntent id (pi_…); check [purchase].payment_intent in the profile.")
    try:
        intent = client(key, api_base).v1.payment_intents.confirm(
            intent_id, params={"payment_method": method, "return_url": RETURN_URL})
    except stripe.CardError as exc:
        return Confirmation("declined", exc.user_message or "Your card has been declined.")
    except stripe.AuthenticationError:
        raise ConfigError("Stripe refused the API key; give the sk_test_… key of the account the target uses.") from None
    except stripe.InvalidRequestError as exc:
        raise SmokeError(f"Stripe would not confirm {intent_id} ({exc.user_message or exc.code}); "
                         "does the target create it in the same account and mode?") from None
    except stripe.APIConnectionError as exc:
        raise TargetUnreachable(f"Could not reach Stripe to confirm {intent_id} ({type(exc).__name__}); check "
                                "STRIPE_API_BASE and the network, then try again.") from None
    except stripe.StripeError as exc:
        raise SmokeError(f"Confirming {intent_id} failed ({type(exc).__name__}); try again.") from None
    return Confirmation(str(intent.status), f"PaymentIntent {intent_id} is {intent.status}")
