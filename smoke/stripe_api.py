"""What the harness asks Stripe (or the local emulator) directly: session state, events, and the API payer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smoke.config import check_stripe_key
from smoke.errors import ConfigError, SmokeError, TargetUnreachable

# Test cards (Stripe test mode) → the token Stripe's CLI pays with.
TEST_CARDS = {
    "4242424242424242": ("tok_visa", "succeeds"),
    "4000000000000002": ("tok_chargeDeclined", "generic decline"),
    "4000000000009995": ("tok_chargeDeclinedInsufficientFunds", "insufficient funds"),
    "4000002500003155": ("tok_threeDSecure2Required", "requires 3D Secure"),
}


def normalise_card(card: str) -> str:
    """Digits of a test card number, or a ConfigError naming the cards accepted."""
    digits = re.sub(r"[\s-]", "", card or "")
    if digits not in TEST_CARDS:
        listed = ", ".join(f"{n} ({what})" for n, (_, what) in TEST_CARDS.items())
        raise ConfigError(f"--card must be a Stripe test card: {listed}. Real card numbers are never used.")
    return digits


# Every request of the harness's own Stripe client to a local API base carries this header, so the emulator's
# injected outages (smoke/emulator/faults.py) fail the target's calls and never the harness's.
HARNESS_HEADER = "Stripe-Smoke-Harness"


def client(api_key: str, api_base: str | None = None, timeout: float = 20.0) -> Any:
    """A StripeClient for a test-mode key (refusing live keys), aimed at ``api_base`` when given."""
    import stripe

    key = check_stripe_key(api_key)
    # A CA bundle in the environment (the emulator standing in for api.stripe.com over TLS) replaces the SDK's roots.
    bundle = None if (api_base or "").startswith("http://") else ca_bundle()
    # The SDK's own default waits 80 s per request; a smoke run should fail sooner than that.
    http = (_identified_http_client(timeout, bundle) if api_base or bundle
            else stripe.new_default_http_client(timeout=timeout))
    kwargs: dict[str, Any] = {"max_network_retries": 2, "http_client": http}
    if api_base:
        kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
    return stripe.StripeClient(key, **kwargs)


def ca_bundle() -> str | None:
    """The CA bundle named by ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` (the SDK itself ignores both), or None."""
    import os

    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name, "").strip()
        if value:
            if not os.path.isfile(value):
                raise ConfigError(f"{name} is {value!r}, which is not a file; point it at a PEM bundle (such as the "
                                  "emulator's ca-bundle.pem) or unset it.")
            return value
    return None


def _trusting_session(bundle: str) -> Any:
    """A requests Session verifying servers against ``bundle`` even when the SDK passes its own ``verify``."""
    import requests

    class TrustingSession(requests.Session):
        """Swaps the SDK's bundled roots for ``bundle``."""

        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            """Send, verifying against the bundle (unless verification was turned off)."""
            if kwargs.get("verify") is not False:
                kwargs["verify"] = bundle
            return super().request(method, url, *args, **kwargs)

    return TrustingSession()


def _identified_http_client(timeout: float, bundle: str | None = None) -> Any:
    """The SDK's requests-based HTTP client, sending ``Stripe-Smoke-Harness: 1`` with every request."""
    from collections.abc import Mapping

    import stripe

    class HarnessHttpClient(stripe.RequestsClient):
        """Marks each request as the harness's own."""

        def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                    **kwargs: Any) -> Any:
            """Send with the harness header."""
            return super().request(method, url, {**(headers or {}), HARNESS_HEADER: "1"}, post_data, **kwargs)

        def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                           **kwargs: Any) -> Any:
            """Stream with the harness header."""
            return super().request_stream(method, url, {**(headers or {}), HARNESS_HEADER: "1"}, post_data, **kwargs)

    return HarnessHttpClient(timeout=timeout, session=_trusting_session(bundle) if bundle else None)


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe SDK object (or raw response) as a plain dict, so ``.get`` works on every SDK version."""
    if obj is None:
        return {}
    if isinstance(obj, dict) and not hasattr(obj, "to_dict"):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    import json

    body = getattr(obj, "body", None)  # a StripeResponse from raw_request
    return json.loads(body) if isinstance(body, (str, bytes)) and body else {}


@dataclass
class SessionState:
    """A Checkout Session as Stripe sees it, and the crediting event if one exists."""

    status: str
    payment_status: str
    payment_intent: str | None
    amount_total: int | None
    event_id: str | None = None
    pending_webhooks: int | None = None
    metadata: dict[str, Any] | None = None  # the crediting event's data.object.metadata


def session_state(stripe_client: Any, session_id: str, credit_event: str, created_after: int) -> SessionState:
    """Retrieve the session and look for its crediting event (and how many deliveries Stripe still owes)."""
    import stripe

    try:
        session = stripe_client.v1.checkout.sessions.retrieve(session_id)
    except stripe.AuthenticationError:
        raise ConfigError("Stripe refused the API key; give a valid sk_test_/rk_test_ key of the account that owns the session.") from None
    except stripe.InvalidRequestError as exc:
        raise ConfigError(f"Stripe does not know session {session_id} ({exc.user_message or exc.code}); "
                         "is STRIPE_API_KEY from the same account and mode as the target?") from None
    except stripe.APIConnectionError as exc:
        raise TargetUnreachable(f"Could not reach Stripe to ask about {session_id} ({type(exc).__name__}); check "
                                "STRIPE_API_BASE and the network, then try again.") from None
    except stripe.StripeError as exc:
        raise SmokeError(f"Could not ask Stripe about {session_id} ({type(exc).__name__}); try again.") from None
    session = plain(session)
    intent = session.get("payment_intent")
    intent_id = intent if isinstance(intent, str) or intent is None else intent.get("id")
    state = SessionState(session.get("status") or "", session.get("payment_status") or "", intent_id,
                         session.get("amount_total"))
    ids = {session_id, intent_id} - {None}
    try:
        events = stripe_client.v1.events.list(params={"type": credit_event, "created": {"gte": created_after - 60},
                                                      "limit": 100})
    except stripe.StripeError:
        return state
    for event in (plain(e) for e in events.data):
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("id") in ids or obj.get("payment_intent") in ids:
            state.event_id, state.pending_webhooks = event.get("id"), event.get("pending_webhooks")
            state.metadata = obj.get("metadata") or None
            break
    return state


@dataclass
class ApiPayment:
    """The outcome of paying a session server-side."""

    status: str  # "succeeded" | "declined" | "requires_action"
    message: str
    payment_method: str | None = None


def pay_session(stripe_client: Any, session_id: str, card: str = "4242424242424242", email: str | None = None) -> ApiPayment:
    """Pay a Checkout Session in test mode without a browser, with the requests Stripe's CLI makes."""
    import stripe

    token = TEST_CARDS[normalise_card(card)][0]
    try:
        page = plain(stripe_client.raw_request("get", f"/v1/payment_pages/{session_id}"))
        amount = page.get("amount_total")
        pm = stripe_client.v1.payment_methods.create(params={
            "type": "card", "card": {"token": token},
            "billing_details": {"email": email or "buyer@example.com", "name": "Smoke Test",
                                "address": {"country": "US", "postal_code": "42424"}},
        })
        params: dict[str, Any] = {"payment_method": pm.id}
        if amount is not None:
            params["expected_amount"] = amount
        result = plain(stripe_client.raw_request("post", f"/v1/payment_pages/{session_id}/confirm", **params))
    except stripe.CardError as exc:
        return ApiPayment("declined", exc.user_message or "Your card has been declined.")
    except stripe.AuthenticationError:
        raise ConfigError("Stripe refused the API key; the API payer needs the secret test key (sk_test_…) of the account "
                          "that owns the session.") from None
    except stripe.InvalidRequestError as exc:
        raise SmokeError(f"Stripe would not pay {session_id} ({exc.user_message or exc.code}); is it still open?") from None
    except stripe.APIConnectionError as exc:
        raise TargetUnreachable(f"Could not reach Stripe to pay {session_id} ({type(exc).__name__}); check "
                                "STRIPE_API_BASE and the network, then try again.") from None
    except stripe.StripeError as exc:
        raise SmokeError(f"Paying {session_id} through the API failed ({type(exc).__name__}: {exc.user_message or ''}).") from None
    intent = result.get("payment_intent")
    status = intent.get("status") if isinstance(intent, dict) else None
    if status == "requires_action":
        return ApiPayment("requires_action", "The card needs 3D Secure, which only a browser can complete; use --via browser.", pm.id)
    return ApiPayment("succeeded", "paid", pm.id)
