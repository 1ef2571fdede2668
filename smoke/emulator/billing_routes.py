"""The ``/v1`` routes of server-side billing: saved payment methods, SetupIntents, subscriptions, paying invoices."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from smoke.emulator import billing, wallet
from smoke.emulator.api import Route, blueprint_of, created_filter, paginate
from smoke.emulator.store import Store


# -- payment methods ------------------------------------------------------------------
def list_payment_methods(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/payment_methods?customer=…&type=card``."""
    return paginate(wallet.payment_methods_of(store, params), params, "/v1/payment_methods")


def list_customer_payment_methods(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/customers/{id}/payment_methods``."""
    billing.get(store, "customer", object_id)
    return paginate(wallet.payment_methods_of(store, params, object_id), params,
                    f"/v1/customers/{object_id}/payment_methods")


def attach_payment_method(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_methods/{id}/attach``."""
    return wallet.attach(store, object_id, params.get("customer"))


def detach_payment_method(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/payment_methods/{id}/detach``."""
    return wallet.detach(store, billing.get(store, "payment_method", object_id, "PaymentMethod"))


# -- setup intents ------------------------------------------------------------------
def create_setup_intent(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/setup_intents``."""
    return wallet.create_setup_intent(store, params)


def retrieve_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``GET /v1/setup_intents/{id}``."""
    return billing.get(store, "setup_intent", object_id, "setupintent")


def update_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}``."""
    return wallet.update_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)


def confirm_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}/confirm``."""
    return wallet.confirm_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)


def cancel_setup_intent(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/setup_intents/{id}/cancel``."""
    return wallet.cancel_setup_intent(store, billing.get(store, "setup_intent", object_id, "setupintent"), params)


def list_setup_intents(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/setup_intents?customer=…&payment_method=…``."""
    matches = created_filter(params.get("created"))
    found = [s for s in store.table("setup_intent").values() if matches(s["created"])
             and all(not params.get(k) or s.get(k) == params[k] for k in ("customer", "payment_method"))]
    return paginate(found, params, "/v1/setup_intents")


# -- subscriptions ------------------------------------------------------------------
def create_subscription(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/subscriptions``."""
    return billing.create_subscription(store, params)


def update_subscription(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/subscriptions/{id}``."""
    return billing.update_subscription(store, billing.get(store, "subscription", object_id), params)


def cancel_subscription(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``DELETE /v1/subscriptions/{id}``."""
    return billing.cancel_subscription(store, billing.get(store, "subscription", object_id), params)


# -- invoices ------------------------------------------------------------------
def pay_invoice(store: Store, params: dict[str, Any], object_id: str) -> dict[str, Any]:
    """``POST /v1/invoices/{id}/pay``."""
    return billing.pay_invoice(store, billing.get(store, "invoice", object_id), params)


# The URL table (as moto's ``urls.py``): each rule, its methods and the handler that serves it.
URLS: list[Route] = [
    # payment methods
    ("/v1/payment_methods", ("GET",), list_payment_methods),
    ("/v1/customers/<object_id>/payment_methods", ("GET",), list_customer_payment_methods),
    ("/v1/payment_methods/<object_id>/attach", ("POST",), attach_payment_method),
    ("/v1/payment_methods/<object_id>/detach", ("POST",), detach_payment_method),
    # setup intents
    ("/v1/setup_intents", ("POST",), create_setup_intent),
    ("/v1/setup_intents/<object_id>", ("GET",), retrieve_setup_intent),
    ("/v1/setup_intents/<object_id>", ("POST",), update_setup_intent),
    ("/v1/setup_intents/<object_id>/confirm", ("POST",), confirm_setup_intent),
    ("/v1/setup_intents/<object_id>/cancel", ("POST",), cancel_setup_intent),
    ("/v1/setup_intents", ("GET",), list_setup_intents),
    # subscriptions
    ("/v1/subscriptions", ("POST",), create_subscription),
    ("/v1/subscriptions/<object_id>", ("POST",), update_subscription),
    ("/v1/subscriptions/<object_id>", ("DELETE",), cancel_subscription),
    # invoices
    ("/v1/invoices/<object_id>/pay", ("POST",), pay_invoice),
]


def blueprint() -> Blueprint:
    """Routes for payment methods (attach, detach, list), SetupIntents, subscriptions (create, update, cancel), invoices (pay)."""
    return blueprint_of("stripe_v1_billing", __name__, URLS)
