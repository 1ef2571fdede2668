"""Small helpers the emulator's tests share."""

from __future__ import annotations

from typing import Any

import stripe
from _emulator_receiver import Receiver


def register(client: stripe.StripeClient, receiver: Receiver, events: list[str] | None = None,
             api_version: str | None = None) -> Any:
    """Register ``receiver`` as a webhook endpoint and give it the secret."""
    params: dict[str, Any] = {"url": receiver.url, "enabled_events": events or ["*"]}
    if api_version:
        params["api_version"] = api_version
    endpoint = client.v1.webhook_endpoints.create(params=params)
    receiver.secret = endpoint.secret
    return endpoint


def payment_session(client: stripe.StripeClient, amount: int = 1500, **extra: Any) -> Any:
    """A payment-mode Checkout Session with one inline-priced line item."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount,
                                                      "product_data": {"name": "Account top-up"}}}],
        "success_url": "http://127.0.0.1:9/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/cancel",
    }
    params.update(extra)
    return client.v1.checkout.sessions.create(params=params)


def pay_via_cli_route(client: stripe.StripeClient, session_id: str, token: str = "tok_visa", amount: int | None = None) -> Any:
    """Pay as Stripe's CLI does: payment page, payment method, confirm."""
    page = client.raw_request("get", f"/v1/payment_pages/{session_id}")
    page = client.deserialize(page, api_mode="V1")
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": token},
                                                  "billing_details": {"email": "buyer@example.test", "name": "Smoke"}})
    result = client.raw_request("post", f"/v1/payment_pages/{session_id}/confirm", payment_method=pm.id,
                                expected_amount=page.amount_total if amount is None else amount)
    return client.deserialize(result, api_mode="V1")
