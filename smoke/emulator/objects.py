"""Stripe objects built from Stripe's own example objects, with the placeholder noise cleared and fields set."""

from __future__ import annotations

import copy
import secrets
import string
from typing import Any

from smoke._data import stripe_object
from smoke.emulator import clock
from smoke.events import new_id

_EMPTY_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}

# Example values in Stripe's fixtures that a fresh object would never carry.
_CLEAN: dict[str, dict[str, Any]] = {
    "customer": {"discount": None, "shipping": None, "address": None, "currency": None},
    "checkout.session": {
        "adaptive_pricing": {"enabled": False}, "after_expiration": None, "automatic_tax": {
            "enabled": False, "liability": None, "provider": None, "status": None},
        "collected_information": None, "consent": None, "consent_collection": None, "currency_conversion": None,
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer_details": None, "invoice_creation": None, "managed_payments": None,
        "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "wallet_options": None,
        "payment_method_types": ["card"], "ui_mode": "hosted", "mode": "payment", "status": "open",
        "payment_status": "unpaid", "cancel_url": None, "success_url": None,
    },
    "payment_intent": {
        "amount_details": {"tip": {}}, "automatic_payment_methods": None, "canceled_at": None,
        "client_secret": None, "last_payment_error": None, "managed_payments": None, "next_action": None,
        "payment_method_configuration_details": None, "processing": None, "shipping": None,
        "transfer_data": None, "status": "requires_payment_method",
    },
    "charge": {
        "captured": True, "fraud_details": {}, "review": None, "shipping": None, "source": None,
        "transfer_data": None, "description": None, "billing_details": {
            "address": dict(_EMPTY_ADDRESS), "email": None, "name": None, "phone": None, "tax_id": None},
        "outcome": None, "receipt_url": None, "balance_transaction": None,
    },
    "payment_method": {"metadata": {}, "billing_details": {
        "address": dict(_EMPTY_ADDRESS), "email": None, "name": None, "phone": None, "tax_id": None}},
    "price": {"transform_quantity": None, "recurring": None, "type": "one_time"},
    "product": {"package_dimensions": None, "default_price": None, "description": None, "type": "service"},
    "refund": {"destination_details": {"card": {"reference": None, "reference_status": "pending",
                                               "reference_type": "acquirer_reference_number", "type": "refund"},
                                      "type": "card"}},
    "webhook_endpoint": {"description": None},
    "item": {"adjustable_quantity": None, "metadata": {}},
}


def now() -> int:
    """Unix seconds on the emulator's clock: the real time plus how far tests advanced it (see clock.py)."""
    return clock.now()


def build(resource: str, fields: dict[str, Any] | None = None, *, prefix: str | None = None) -> dict[str, Any]:
    """Stripe's example ``resource`` with noise cleared, a fresh id and ``created``, and ``fields`` set."""
    obj = stripe_object(resource)
    obj.update(_clean(resource))
    if prefix is not None:
        obj["id"] = new_id(prefix)
    if "created" in obj:
        obj["created"] = now()
    if "livemode" in obj:
        obj["livemode"] = False
    if "metadata" in obj and obj["metadata"] is None:
        obj["metadata"] = {}
    obj.update(fields or {})
    return obj


def _clean(resource: str) -> dict[str, Any]:
    return copy.deepcopy(_CLEAN.get(resource, {}))


def session_id() -> str:
    """A Checkout Session id as long as Stripe's (``cs_test_a1…``)."""
    alphabet = string.ascii_letters + string.digits
    return "cs_test_a1" + "".join(secrets.choice(alphabet) for _ in range(56))


def customer_id() -> str:
    """A ``cus_`` id of Stripe's length."""
    return new_id("cus", 14)


def url_fragment() -> str:
    """The opaque fragment Checkout URLs end with (base64-ish; the page never needs it)."""
    alphabet = string.ascii_letters + string.digits + "%"
    return "fid" + "".join(secrets.choice(alphabet) for _ in range(120))


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    """A Stripe list object."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def deleted(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``{"id", "object", "deleted": true}`` answer to a DELETE."""
    return {"id": obj["id"], "object": obj["object"], "deleted": True}
